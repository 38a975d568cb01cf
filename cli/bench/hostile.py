"""Hostile inputs: what every class of untrusted input does to a running receiver, as counts,
and the peak RSS growth under the largest hostile messages.

    semradio bench hostile --json                 # every class, 2,000 messages each
    semradio bench hostile --count 20000 --json

Each class sends ``--count`` hostile messages (interleaved with valid frames) into a live
flowgraph over ``ipc://`` and reports how many were sent, how many the receiver counted as
malformed (by kind) or as bad tags, how many valid frames arrived, and whether the graph is still
running; spec classes try class names that are not registered blocks. The memory section runs a
fresh receiver process per message and reads its peak RSS (Linux ``VmHWM``, reset just before
the message arrives).

Checks (docs/security.md; ``checks_failed`` lists each miss with its value): every class ends
cleanly, loses no valid frame and balances (sent + valid = malformed + frames out); every class
name in a spec is refused; peak RSS growth stays below 4x the message.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import msgpack
import numpy as np

from semradio.runtime import Frame, wire

RECEIVER = """
import json, sys
from semradio.blocks import NullSink, ZMQSource
from semradio.runtime import Flowgraph
fmt, addr = sys.argv[1], sys.argv[2]
kw = dict(format="gnuradio", pass_tags=True, frame_len=4, idle_timeout_s=1.5) if fmt == "gnuradio" else dict(
    dtype="float32")
src = ZMQSource(addr, bind=True, hwm=2, name="src", **kw)
fg = Flowgraph("rx")
fg.connect(src, NullSink(name="sink"))
fg.start()
src.ready.wait(30)

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

with open("/proc/self/clear_refs", "w") as f:  # resets the peak (VmHWM) to the current RSS
    f.write("5")
base = status("VmRSS")
print(json.dumps({"ready": True}), flush=True)
fg.wait(120)
peak = status("VmHWM")
print(json.dumps({"growth_kb": peak - base, "stats": src.stats, "sink": fg.stats()["sink"]["frames_in"]}), flush=True)
"""

MB4 = 4 * 2**20


def _gr_message(offset: int, nitems: int, tags: list[tuple[int, str, bytes]]) -> bytes:
    """A gr-zeromq message with tags given as (offset, key, serialized PMT value)."""
    from semradio.blocks.zeromq import pmt
    from semradio.blocks.zeromq import tag_header as grh

    head = struct.pack("<HBQQ", grh.GR_HEADER_MAGIC, grh.GR_HEADER_VERSION, offset, len(tags))
    body = b"".join(struct.pack("<Q", o) + pmt.encode(k) + v + pmt.encode(False) for o, k, v in tags)
    return head + body + np.zeros(nitems, np.complex64).tobytes()


def memory_messages() -> dict[str, tuple[str, list[bytes]]]:
    """The largest hostile messages by class: ``{name: (format, message parts)}``."""
    n = MB4
    vector_of_nils = b"\x08" + struct.pack(">I", n - 6) + b"\x06" * (n - 6)
    chain_of_nils = b"\x07\x06" * (n // 2) + b"\x06"
    header = msgpack.unpackb(wire.encode_frame(Frame(np.zeros((1, 2), np.float32), {"seq": 0}))[0])
    payload = np.zeros(2, np.float32).tobytes()
    return {
        "gnuradio PMT vector of nils (4 MB)": ("gnuradio", [_gr_message(0, 8, [(0, "evil", vector_of_nils)])]),
        "gnuradio PMT pair chain of nils (4 MB)": ("gnuradio", [_gr_message(0, 8, [(0, "evil", chain_of_nils)])]),
        "gnuradio 4 MB of samples at frame_len=4 (131,072 frames)": ("gnuradio", [_gr_message(0, n // 8, [])]),
        "native msgpack list of nils (20 MB)": ("native", [msgpack.packb(dict(header, tags={"x": [None] * (5 * n)}),
                                                                          use_bin_type=True), payload]),
        "native msgpack list of nils (4 MB)": ("native", [msgpack.packb(dict(header, tags={"x": [None] * n}),
                                                                         use_bin_type=True), payload]),
    }


def peak_rss_growth(fmt: str, parts: list[bytes]) -> dict[str, Any]:
    """Peak RSS growth (kB) of a fresh receiver process while it takes ``parts`` once, with its
    bridge counters and the frames its sink got."""
    import zmq

    with tempfile.TemporaryDirectory() as d:
        addr = f"ipc://{d}/rx"
        proc = subprocess.Popen([sys.executable, "-c", RECEIVER, fmt, addr], stdout=subprocess.PIPE, text=True)
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 5000)
        try:
            if not json.loads(proc.stdout.readline()).get("ready"):
                raise RuntimeError("the receiver did not start")
            push.connect(addr)
            push.send_multipart(parts)
            if fmt == "native":
                push.send_multipart(wire.encode_eos())
            out = json.loads(proc.stdout.readline())
            proc.wait(30)
            return out
        finally:
            push.close(5000)
            ctx.term()
            if proc.poll() is None:
                proc.kill()


# ------------------------------------------------------------------------------ classes
def _native_classes(rng: np.random.Generator) -> dict[str, Callable[[int], list[bytes]]]:
    good = [bytes(p) for p in wire.encode_frame(Frame(np.zeros((1, 4), np.float32), {"seq": 0}))]
    h = msgpack.unpackb(good[0])

    def hdr(**kw: Any) -> list[bytes]:
        return [msgpack.packb(dict(h, **kw), use_bin_type=True), good[1]]

    return {
        "random bytes": lambda i: [rng.bytes(int(rng.integers(0, 64)))],
        "bit flip in the header": lambda i: [bytes(b ^ (1 << int(rng.integers(8))) if j == int(
            rng.integers(len(good[0]))) else b for j, b in enumerate(good[0])), good[1]],
        "truncated payload": lambda i: [good[0], good[1][: int(rng.integers(0, len(good[1])))]],
        "wrong version": lambda i: hdr(v=99),
        "huge declared shape": lambda i: hdr(sh=[2**40, 2**40]),
        "t_ns out of int64": lambda i: hdr(tags={"t_ns": 2**64 - 1}),
        "seq not an int in the tag map": lambda i: hdr(seq=None, tags={"seq": [1]}),
        "seq out of range in the header": lambda i: hdr(seq=2**64 - 1),
        "tags nested 40 deep": lambda i: hdr(tags={"x": json.loads("[" * 40 + "]" * 40)}),
        "tag list of 100,000 nils": lambda i: hdr(tags={"x": [None] * 100_000}),
        "dtype other than declared (float64)": lambda i: [bytes(p) for p in wire.encode_frame(
            Frame(np.zeros((1, 4), np.float64), {"seq": 0}))],
        "item shape other than declared": lambda i: [bytes(p) for p in wire.encode_frame(
            Frame(np.zeros((1, 5), np.float32), {"seq": 0}))],
    }


def _gr_classes(rng: np.random.Generator) -> dict[str, Callable[[int], list[bytes]]]:
    from semradio.blocks.zeromq import pmt

    deep_chain = b"".join(b"\x07" + pmt.encode(k) for k in range(40)) + pmt.encode(99)
    return {
        "random bytes": lambda i: [rng.bytes(int(rng.integers(0, 64)))],
        "PMT vector nested 40 deep": lambda i: [_gr_message(8 * i, 8, [(8 * i, "x", b"\x08\x00\x00\x00\x01" * 40
                                                                         + pmt.encode(1))])],
        "improper pair chain 40 long (tag dropped, frame kept)": lambda i: [_gr_message(8 * i, 8, [
            (8 * i, "x", deep_chain)])],
        "seq tag 2^64-1 (replaced, frame kept)": lambda i: [_gr_message(8 * i, 8, [
            (8 * i, "seq", pmt.encode(pmt.UInt64(2**64 - 1)))])],
        "t_ns tag 2^64-1 (replaced, frame kept)": lambda i: [_gr_message(8 * i, 8, [
            (8 * i, "t_ns", pmt.encode(pmt.UInt64(2**64 - 1)))])],
        "tag-header offset near 2^64": lambda i: [_gr_message(2**64 - 4, 8, [])],
        "PMT vector of 70,000 nils": lambda i: [_gr_message(8 * i, 8, [(8 * i, "x", b"\x08" + struct.pack(
            ">I", 70_000) + b"\x06" * 70_000)])],
    }


def _run_class(fmt: str, make: Callable[[int], list[bytes]], count: int) -> dict[str, Any]:
    """Send ``count`` hostile messages, each followed by a valid frame, into a live receiver."""
    import zmq

    from semradio.blocks import CollectSink, ZMQSource
    from semradio.runtime import Flowgraph

    with tempfile.TemporaryDirectory() as d:
        addr = f"ipc://{d}/rx"
        kw: dict[str, Any] = (dict(format="gnuradio", pass_tags=True, frame_len=8, idle_timeout_s=2.0)
                              if fmt == "gnuradio" else dict(dtype="float32", shape=(4,)))
        src = ZMQSource(addr, bind=True, hwm=1000, name="src", **kw)
        col = CollectSink(name="col", max_frames=10)
        fg = Flowgraph("rx")
        fg.connect(src, col)
        fg.start()
        src.ready.wait(30)
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 10000)
        push.connect(addr)
        valid = 0
        for i in range(count):
            push.send_multipart(make(i))
            if fmt == "native":
                push.send_multipart(wire.encode_frame(Frame(np.zeros((1, 4), np.float32), {"seq": i})))
            else:
                push.send(_gr_message(2**40 + 8 * i, 8, []))  # a valid frame far from the hostile offsets
            valid += 1
        if fmt == "native":
            push.send_multipart(wire.encode_eos())
        ended = fg.wait(120)
        alive_error = [str(e) for e in fg.errors()]
        if not ended:
            fg.stop()
        push.close(10000)
        ctx.term()
        stats = src.stats
        return {"sent": count, "valid_sent": valid, "frames_out": fg.stats()["col"]["frames_in"],
                "malformed_by_kind": stats["malformed_by_kind"], "bad_tags": stats.get("bad_tags", 0),
                "graph_errors": alive_error, "ended_cleanly": bool(ended) and not alive_error}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=2000, help="hostile messages per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS section")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from semradio.runtime import graph_file
    from semradio.runtime.graph_file import GraphFileError

    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {"native": {}, "gnuradio": {}, "specs": {}, "memory": {}}
    for name, make in _native_classes(rng).items():
        out["native"][name] = _run_class("native", make, args.count)
    for name, make in _gr_classes(rng).items():
        out["gnuradio"][name] = _run_class("gnuradio", make, args.count)
    names = ["os:system", "subprocess:Popen", "builtins:exec", "builtins.eval", "pickle:loads", "shutil:rmtree",
             "importlib:import_module", "semradio.runtime.block:Block", "ctypes:CDLL", "socket:socket"]
    refused = 0
    for name in names:
        try:
            graph_file.parse({"blocks": {"x": {"class": name, "args": ["true"]}}})
        except GraphFileError:
            refused += 1
    out["specs"] = {"class names tried": len(names), "refused before construction": refused}
    if not args.no_memory and sys.platform == "linux":
        for name, (fmt, parts) in memory_messages().items():
            size = sum(len(p) for p in parts)
            r = peak_rss_growth(fmt, parts)
            out["memory"][name] = {"message_mb": round(size / 2**20, 2), "peak_rss_growth_mb": round(r["growth_kb"] / 1024, 2),
                                   "ratio": round(r["growth_kb"] * 1024 / size, 2),
                                   "malformed_by_kind": r["stats"]["malformed_by_kind"], "frames": r["sink"]}
    out["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.update(checks(out))
    return out


#: Peak RSS growth allowed under one hostile message, in multiples of its size (docs/security.md).
MEMORY_RATIO_LIMIT = 4.0


def checks(out: dict[str, Any]) -> dict[str, Any]:
    """What docs/security.md promises, checked on one :func:`run` result: in every class the graph
    ends cleanly, no valid frame is lost and sent + valid = malformed + frames out; every class
    name tried in a graph spec is refused; the peak RSS grows by less than
    :data:`MEMORY_RATIO_LIMIT` times a message. As ``checks`` and ``checks_failed``.

    Parameters
    ----------
    out : dict
        A :func:`run` result (its ``native``, ``gnuradio``, ``specs`` and ``memory`` sections).

    Returns
    -------
    dict
        ``checks`` (name -> passed) and ``checks_failed`` (one line per miss, with the value).

    Examples
    --------
    >>> r = {"sent": 5, "valid_sent": 5, "frames_out": 4, "malformed_by_kind": {"msgpack": 5},
    ...      "graph_errors": [], "ended_cleanly": True}
    >>> checks({"native": {"random bytes": r}})["checks_failed"]  # doctest: +NORMALIZE_WHITESPACE
    ['native random bytes: valid frames out: 4, needs >= 5 (short by 1)',
     'native random bytes: sent + valid - malformed - frames out: 1, needs <= 0 (short by 1)']
    """
    from .report import check, checks_summary

    detail: dict[str, dict[str, Any]] = {}
    for fmt in ("native", "gnuradio"):
        for name, r in out.get(fmt, {}).items():
            key, what = f"{fmt}:{name}", f"{fmt} {name}"
            detail[f"{key}:ended"] = check(f"{what}: graph errors or unclean end",
                                           len(r["graph_errors"]) + (not r["ended_cleanly"]), "<=", 0)
            detail[f"{key}:valid"] = check(f"{what}: valid frames out", r["frames_out"], ">=", r["valid_sent"])
            balance = r["sent"] + r["valid_sent"] - sum(r["malformed_by_kind"].values()) - r["frames_out"]
            detail[f"{key}:balance"] = check(f"{what}: sent + valid - malformed - frames out", abs(balance), "<=", 0)
    specs = out.get("specs") or {}
    if specs:
        detail["specs:refused"] = check("graph-spec class names refused before construction",
                                        specs["refused before construction"], ">=", specs["class names tried"])
    for name, m in (out.get("memory") or {}).items():
        detail[f"memory:{name}"] = check(f"{name}: peak RSS growth / message size", m["ratio"], "<",
                                         MEMORY_RATIO_LIMIT)
    return checks_summary(detail)
