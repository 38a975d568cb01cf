#!/usr/bin/env python3
"""GNU Radio side of the interop tests, of ``flowgraphs/gnuradio_bridge.py`` and of
``semradio bench bridges``: a script run by the system Python that has GNU Radio 3.10 (Debian:
``/usr/bin/python3``), never in semradio's virtual environment (``SCRIPT`` is its path; importing
this module imports no GNU Radio). It builds small GNU Radio flowgraphs around gr-zeromq blocks
and writes what it sent or received to files so the caller can compare bit for bit:

    /usr/bin/python3 gnuradio_peer.py send --address tcp://127.0.0.1:5555 --pattern push \\
        --pass-tags --items 4096 --out /tmp/sent          # vector_source_c + tags -> push_sink
    /usr/bin/python3 gnuradio_peer.py recv --address tcp://127.0.0.1:5556 --pattern pull \\
        --pass-tags --items 4096 --out /tmp/received      # pull_source -> vector_sink_c
    /usr/bin/python3 gnuradio_peer.py loop --tx tcp://127.0.0.1:5555 --rx tcp://127.0.0.1:5556 \\
        --packets 20 --packet-len 256 --out /tmp/loop     # both at once (the bridge demo)
    /usr/bin/python3 gnuradio_peer.py blast --address tcp://127.0.0.1:5555 --items 2000000
                                                           # throughput source (semradio bench bridges)
    /usr/bin/python3 gnuradio_peer.py check                # exit 0 if gnuradio.zeromq imports

Outputs: ``OUT.c64`` (raw complex64 samples) and ``OUT.json``: ``{"items": n, "tags":
[{"offset", "key", "value", "srcid"}]}`` with each PMT as the hex of ``pmt.serialize_str``.
``send`` puts tags of every PMT type on the stream (``--tag-set all``) or ``packet_len`` tags
every ``--packet-len`` items (``--tag-set packets``), or both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

#: Path of this script, for ``[GNU Radio's python3, SCRIPT, command, ...]``.
SCRIPT = os.path.abspath(__file__)

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(SCRIPT):
    # run as a script: its folder would shadow GNU Radio's own ``pmt`` with semradio's pmt.py
    sys.path.pop(0)


def _imports():
    import numpy as np
    import pmt
    from gnuradio import blocks, gr, zeromq

    return np, pmt, gr, blocks, zeromq


def samples(n: int, seed: int):
    """Deterministic test samples: complex64 with varied exponents (bit patterns matter)."""
    np = _imports()[0]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * rng.choice([1e-3, 1.0, 1e3], n)
    return x.astype(np.complex64)


def all_type_tags(n: int):
    """(offset, key, value, srcid) covering every PMT type GNU Radio serializes."""
    np, pmt = _imports()[:2]
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern("a"), pmt.from_long(1))
    d = pmt.dict_add(d, pmt.intern("b"), pmt.intern("x"))
    src = pmt.intern("gr_peer")
    values = [
        ("int32", pmt.from_long(7)), ("int64", pmt.from_long(-(2**40))),
        ("uint64", pmt.from_uint64(2**64 - 1)), ("double", pmt.from_double(-1.5e-7)),
        ("complex", pmt.from_complex(1.25 - 2.5j)), ("true", pmt.PMT_T), ("false", pmt.PMT_F),
        ("nil", pmt.PMT_NIL), ("symbol", pmt.intern("hello world")), ("dict", d),
        ("pair", pmt.cons(pmt.intern("k"), pmt.from_double(2.0))),
        ("list", pmt.list3(pmt.from_long(1), pmt.intern("two"), pmt.from_double(3.0))),
        ("tuple", pmt.make_tuple(pmt.from_long(1), pmt.PMT_T, pmt.intern("z"))),
        ("vector", pmt.init_u8vector(0, [])),
        ("u8", pmt.init_u8vector(3, [0, 1, 255])), ("s8", pmt.init_s8vector(3, [-128, 0, 127])),
        ("u16", pmt.init_u16vector(2, [0, 65535])), ("s16", pmt.init_s16vector(2, [-32768, 32767])),
        ("u32", pmt.init_u32vector(2, [0, 2**32 - 1])), ("s32", pmt.init_s32vector(2, [-(2**31), 2**31 - 1])),
        ("u64", pmt.init_u64vector(2, [0, 2**64 - 1])), ("s64", pmt.init_s64vector(2, [-(2**63), 2**63 - 1])),
        ("f32", pmt.init_f32vector(3, [1.5, -0.0, 3.4e38])), ("f64", pmt.init_f64vector(2, [1e-300, -2.0])),
        ("c32", pmt.init_c32vector(2, [1 + 2j, -3.5 - 0.25j])), ("c64", pmt.init_c64vector(2, [1e100 + 0j, -1j])),
    ]
    vec = pmt.make_vector(3, pmt.PMT_NIL)
    pmt.vector_set(vec, 0, pmt.from_long(5))
    pmt.vector_set(vec, 1, pmt.intern("v"))
    pmt.vector_set(vec, 2, pmt.init_f32vector(1, [0.5]))
    values[13] = ("vector", vec)
    offsets = [0, 1, 5, 100, n // 2, n - 1]
    out = []
    for i, (key, value) in enumerate(values):
        out.append(((offsets[i % len(offsets)] + i // len(offsets)) % n, key, value, src if i % 2 else pmt.PMT_F))
    return out


def _tag_objs(specs):
    gr = _imports()[2]
    tags = []
    for offset, key, value, srcid in specs:
        t = gr.tag_t()
        t.offset = offset
        t.key = key if not isinstance(key, str) else _imports()[1].intern(key)
        t.value = value
        t.srcid = srcid
        tags.append(t)
    return tags


def _dump(out: str, data, tags) -> None:
    np, pmt = _imports()[:2]
    np.asarray(data, dtype=np.complex64).tofile(out + ".c64")
    rows = [{"offset": int(t.offset), "key": pmt.serialize_str(t.key).hex(),
             "value": pmt.serialize_str(t.value).hex(), "srcid": pmt.serialize_str(t.srcid).hex()} for t in tags]
    with open(out + ".json", "w") as f:
        json.dump({"items": len(data), "tags": rows}, f)


def _sink(zeromq, pattern: str, address: str, pass_tags: bool, key: str):
    if pattern == "pub":
        return zeromq.pub_sink(8, 1, address, 100, pass_tags, -1, key)
    if pattern == "push":
        return zeromq.push_sink(8, 1, address, 100, pass_tags, -1)
    return zeromq.rep_sink(8, 1, address, 100, pass_tags, -1)


def _source(zeromq, pattern: str, address: str, pass_tags: bool, key: str):
    if pattern == "sub":
        return zeromq.sub_source(8, 1, address, 100, pass_tags, -1, key)
    if pattern == "pull":
        return zeromq.pull_source(8, 1, address, 100, pass_tags, -1)
    return zeromq.req_source(8, 1, address, 100, pass_tags, -1)


def cmd_send(a: argparse.Namespace) -> int:
    np, pmt, gr, blocks, zeromq = _imports()
    data = samples(a.items, a.seed)
    specs = []
    if a.tag_set in ("all", "both"):
        specs += all_type_tags(a.items)
    if a.tag_set in ("packets", "both"):
        specs += [(o, "packet_len", pmt.from_long(min(a.packet_len, a.items - o)), pmt.PMT_F)
                  for o in range(0, a.items, a.packet_len)]
    tags = _tag_objs(specs)
    tb = gr.top_block()
    src = blocks.vector_source_c(data.tolist(), False, 1, tags)
    sink = _sink(zeromq, a.pattern, a.address, a.pass_tags, a.key)
    tb.connect(src, sink)
    _dump(a.out, data, tags)  # what was sent (before running: the caller may wait on the file)
    time.sleep(a.delay)       # let subscribers (PUB) join
    tb.start()
    tb.wait()
    time.sleep(a.linger)      # keep the socket open while the last messages drain
    tb.stop()
    return 0


def _collect(tb, vsink, want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    tb.start()
    while len(vsink.data()) < want and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    tb.stop()
    tb.wait()


def cmd_recv(a: argparse.Namespace) -> int:
    np, pmt, gr, blocks, zeromq = _imports()
    tb = gr.top_block()
    src = _source(zeromq, a.pattern, a.address, a.pass_tags, a.key)
    vsink = blocks.vector_sink_c()
    tb.connect(src, vsink)
    _collect(tb, vsink, a.items, a.timeout)
    _dump(a.out, vsink.data(), vsink.tags())
    return 0 if len(vsink.data()) >= a.items else 3


def cmd_loop(a: argparse.Namespace) -> int:
    """QPSK packets with packet_len tags -> push_sink(tx); pull_source(rx) -> vector_sink."""
    np, pmt, gr, blocks, zeromq = _imports()
    n = a.packets * a.packet_len
    rng = np.random.default_rng(a.seed)
    bits = rng.integers(0, 2, (n, 2))
    data = (((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / np.sqrt(2)).astype(np.complex64)
    specs = [(o, "packet_len", pmt.from_long(a.packet_len), pmt.PMT_F) for o in range(0, n, a.packet_len)]
    specs += [(o, "gr_packet", pmt.from_long(o // a.packet_len), pmt.intern("gr_peer"))
              for o in range(0, n, a.packet_len)]
    tb = gr.top_block()
    src = blocks.vector_source_c(data.tolist(), False, 1, _tag_objs(specs))
    tx = zeromq.push_sink(8, 1, a.tx, 100, True, -1)
    rx = zeromq.pull_source(8, 1, a.rx, 100, True, -1)
    vsink = blocks.vector_sink_c()
    tb.connect(src, tx)
    tb.connect(rx, vsink)
    _dump(a.out + "_sent", data, _tag_objs(specs))
    _collect(tb, vsink, n, a.timeout)
    _dump(a.out, vsink.data(), vsink.tags())
    return 0 if len(vsink.data()) >= n else 3


def cmd_blast(a: argparse.Namespace) -> int:
    """Throughput source: vector_source_c(repeat) -> head(items) -> push_sink."""
    np, pmt, gr, blocks, zeromq = _imports()
    tb = gr.top_block()
    src = blocks.vector_source_c(samples(4096, 1).tolist(), True)
    head = blocks.head(gr.sizeof_gr_complex, a.items)
    sink = zeromq.push_sink(8, 1, a.address, 100, a.pass_tags, -1)
    tb.connect(src, head, sink)
    tb.start()
    tb.wait()
    time.sleep(a.linger)
    tb.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="exit 0 when gnuradio.zeromq imports")
    ps = sub.add_parser("send")
    pr = sub.add_parser("recv")
    for q in (ps, pr):
        q.add_argument("--address", required=True)
        q.add_argument("--pass-tags", action="store_true")
        q.add_argument("--key", default="", help="PUB/SUB key")
        q.add_argument("--items", type=int, default=4096)
        q.add_argument("--out", required=True, help="output path prefix")
    ps.add_argument("--pattern", choices=("pub", "push", "rep"), default="push")
    ps.add_argument("--seed", type=int, default=1)
    ps.add_argument("--tag-set", choices=("all", "packets", "both", "none"), default="all")
    ps.add_argument("--packet-len", type=int, default=512)
    ps.add_argument("--delay", type=float, default=0.0, help="seconds to wait before starting")
    ps.add_argument("--linger", type=float, default=0.5)
    pr.add_argument("--pattern", choices=("sub", "pull", "req"), default="pull")
    pr.add_argument("--timeout", type=float, default=20.0)
    pl = sub.add_parser("loop")
    pl.add_argument("--tx", required=True)
    pl.add_argument("--rx", required=True)
    pl.add_argument("--packets", type=int, default=20)
    pl.add_argument("--packet-len", type=int, default=256)
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--timeout", type=float, default=30.0)
    pl.add_argument("--out", required=True)
    pb = sub.add_parser("blast", help="throughput: repeat a vector into push_sink for --items items")
    pb.add_argument("--address", required=True)
    pb.add_argument("--items", type=int, default=2_000_000)
    pb.add_argument("--pass-tags", action="store_true")
    pb.add_argument("--linger", type=float, default=1.0)
    a = p.parse_args(argv)
    if a.cmd == "check":
        _imports()
        return 0
    return {"send": cmd_send, "recv": cmd_recv, "loop": cmd_loop, "blast": cmd_blast}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
