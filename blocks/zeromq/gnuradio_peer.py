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
    /usr/bin/python3 gnuradio_peer.py channel --rx tcp://127.0.0.1:5555 --tx tcp://127.0.0.1:5556 \\
        --snr-db 15 --frequency-offset 0.004 --epsilon 1.00002 --taps "1,0.25+0.2j" \\
        --report /tmp/chan.json --watch-stdin            # pull_source -> channel_model -> push_sink
    /usr/bin/python3 gnuradio_peer.py check                # exit 0 if gnuradio.zeromq imports

Outputs: ``OUT.c64`` (raw complex64 samples) and ``OUT.json``: ``{"items": n, "tags":
[{"offset", "key", "value", "srcid"}]}`` with each PMT as the hex of ``pmt.serialize_str``.
``send`` puts tags of every PMT type on the stream (``--tag-set all``) or ``packet_len`` tags
every ``--packet-len`` items (``--tag-set packets``), or both.

``channel`` (what ``flowgraphs/ofdm_link.py --gnuradio`` runs, see
``semradio.flowgraphs.ofdm_gnuradio``) is a long-running channel: ``zeromq.pull_source(--rx)``
-> ``gnuradio.channels.channel_model`` -> ``zeromq.push_sink(--tx, binds)``, running until
SIGTERM/SIGINT, end of file on stdin (``--watch-stdin``: the parent died or closed the pipe),
``--idle-timeout`` seconds without new input after the first item, or ``--timeout`` seconds in
all. Its report (``--report``, JSON, rewritten atomically about every 0.2 s while it runs and
once at the end) holds ``items_in`` (items the pull_source produced), ``items_out`` (items the
push_sink consumed, i.e. sent), ``running``, ``stopped_by``, the channel_model arguments and the
GNU Radio version. See :func:`cmd_channel` for how ``--snr-db`` becomes ``noise_voltage``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
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


def noise_voltage(snr_db: float, signal_power: float = 1.0) -> float:
    """``channel_model``'s ``noise_voltage`` for a per-sample SNR (see :func:`cmd_channel`):
    ``sqrt(signal_power / 10**(snr_db / 10))``; 0 for ``snr_db = +inf``."""
    if math.isinf(snr_db) and snr_db > 0:
        return 0.0
    return math.sqrt(signal_power / 10.0 ** (snr_db / 10.0))


def parse_taps(text: str) -> list[complex]:
    """``"1,0.25+0.2j"`` -> ``[1+0j, 0.25+0.2j]`` (taps as given: no normalisation here).

    Raises:
        ValueError: not comma-separated complex numbers, none, a non-finite one, or more than
            4096 taps.
    """
    try:
        taps = [complex(t.strip().replace(" ", "")) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--taps must be comma-separated complex numbers, got {text!r:.200}") from None
    if not taps or len(taps) > 4096 or not all(math.isfinite(t.real) and math.isfinite(t.imag) for t in taps):
        raise ValueError(f"--taps needs 1..4096 finite complex taps, got {text!r:.200}")
    return taps


def _write_json(path: str, obj: dict) -> None:
    """Write ``obj`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def cmd_channel(a: argparse.Namespace) -> int:
    """``zeromq.pull_source(--rx)`` -> ``channels.channel_model`` -> ``zeromq.push_sink(--tx)``
    until told to stop; complex64 items, ``--pass-tags`` on both ZeroMQ blocks. The report's
    ``tx`` is the endpoint push_sink bound (``--tx tcp://127.0.0.1:*``: the port the OS chose).

    ``channel_model(noise_voltage, frequency_offset, epsilon, taps, noise_seed, block_tags)`` is
    a fractional resampler (``epsilon``: input/output rate), the FIR ``taps``, a rotation by
    ``exp(j 2 pi frequency_offset n)`` and added Gaussian noise. Noise convention, measured with
    GNU Radio 3.10.5.1 (``channel_model(v, 0, 1, [1], 42, False)`` on 400,000 zero samples): the
    complex noise has total variance ``v**2``, ``v**2 / 2`` per component (v = 0.1: 0.01007,
    I 0.00504, Q 0.00503; v = 0.5: 0.2518, I 0.1261, Q 0.1257; ``analog.noise_source_c``
    (GR_GAUSSIAN, 0.5) alone: 0.2505). So ``noise_voltage = sqrt(signal_power / 10**(snr_db/10))``
    gives the per-sample SNR ``signal_power / E|n|^2 = 10**(snr_db/10)``, the definition of
    semradio's ``SampleChannel`` (``s2 = signal_power / 10^(snr_db/10)``, total complex
    variance). ``noise_seed`` 0 is a fixed seed in 3.10.5 (two runs give the same noise), as any
    other. The noise is drawn by a fast noise source from a pool of precomputed samples.

    Returns:
        0 after a requested stop (signal, stdin closed, ``--idle-timeout``), 4 when ``--timeout``
        ended it.
    """
    np, pmt, gr, blocks, zeromq = _imports()
    from gnuradio import channels

    nv = noise_voltage(a.snr_db, a.signal_power) if a.noise_voltage is None else a.noise_voltage
    taps = parse_taps(a.taps)
    tb = gr.top_block("semradio_channel")
    src = zeromq.pull_source(gr.sizeof_gr_complex, 1, a.rx, 100, a.pass_tags, -1)
    chan = channels.channel_model(nv, a.frequency_offset, a.epsilon, taps, a.seed, a.block_tags)
    sink = zeromq.push_sink(gr.sizeof_gr_complex, 1, a.tx, 100, a.pass_tags, -1)
    tb.connect(src, chan, sink)
    stop = threading.Event()
    reason = {"by": None}

    def request(by: str) -> None:
        if reason["by"] is None:
            reason["by"] = by
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: request("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: request("SIGINT"))
    if a.watch_stdin:
        def watch() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            request("stdin")

        threading.Thread(target=watch, daemon=True, name="stdin-watch").start()
    # the endpoint push_sink bound: ``--tx tcp://127.0.0.1:*`` lets the OS choose a free port (no race)
    tx_bound = sink.last_endpoint() or a.tx
    if "*" in tx_bound:
        sys.stderr.write(f"gnuradio_peer channel: push_sink reports no bound port for --tx {a.tx}\n")
        return 2
    base = {"command": "channel", "pid": os.getpid(), "gnuradio_version": gr.version(), "rx": a.rx, "tx": tx_bound,
            "pass_tags": a.pass_tags, "snr_db": a.snr_db, "signal_power": a.signal_power,
            "noise_voltage": nv, "frequency_offset": a.frequency_offset, "epsilon": a.epsilon,
            "taps": [[t.real, t.imag] for t in taps], "noise_seed": a.seed, "block_tags": a.block_tags}
    t0 = time.monotonic()

    def report(running: bool) -> dict:
        out = dict(base, items_in=int(src.nitems_written(0)), items_out=int(sink.nitems_read(0)),
                   running=running, stopped_by=reason["by"], seconds=round(time.monotonic() - t0, 3))
        if a.report:
            _write_json(a.report, out)
        return out

    tb.start()
    report(True)
    last_in, last_change = 0, time.monotonic()
    while not stop.wait(0.2):
        now = time.monotonic()
        items_in = int(src.nitems_written(0))
        if items_in != last_in:
            last_in, last_change = items_in, now
        if a.idle_timeout > 0 and items_in > 0 and now - last_change > a.idle_timeout:
            request("idle_timeout")
        elif a.timeout > 0 and now - t0 > a.timeout:
            request("timeout")
        else:
            report(True)
    # stop the flowgraph; a ZeroMQ call that does not return must not keep this process alive
    done = threading.Event()

    def halt() -> None:
        tb.stop()
        tb.wait()
        done.set()

    threading.Thread(target=halt, daemon=True, name="halt").start()
    clean = done.wait(5.0)
    out = report(False)
    if not clean:
        sys.stderr.write("gnuradio_peer channel: the flowgraph did not stop within 5 s; exiting\n")
        sys.stderr.flush()
        os._exit(5)
    if a.print_report:
        print(json.dumps(out), flush=True)
    return 4 if reason["by"] == "timeout" else 0


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
    pc = sub.add_parser("channel", help="pull_source -> channel_model -> push_sink until stopped")
    pc.add_argument("--rx", required=True, help="semradio's PUSH endpoint the pull_source connects to")
    pc.add_argument("--tx", required=True, help="endpoint the push_sink binds (semradio's PULL connects; "
                    "tcp://127.0.0.1:* lets the OS choose the port, reported as tx)")
    pc.add_argument("--pass-tags", action="store_true", help="tag headers on both ZeroMQ blocks")
    pc.add_argument("--snr-db", type=float, default=math.inf, help="per-sample SNR in dB (inf: no noise)")
    pc.add_argument("--signal-power", type=float, default=1.0, help="mean input power per sample")
    pc.add_argument("--noise-voltage", type=float, default=None, help="set channel_model's noise_voltage "
                    "directly (overrides --snr-db)")
    pc.add_argument("--frequency-offset", type=float, default=0.0, help="cycles per sample")
    pc.add_argument("--epsilon", type=float, default=1.0, help="resampling ratio (1 + ppm * 1e-6)")
    pc.add_argument("--taps", default="1", help="comma-separated complex FIR taps (as given)")
    pc.add_argument("--seed", type=int, default=0, help="noise_seed")
    pc.add_argument("--block-tags", action="store_true", help="channel_model's block_tags")
    pc.add_argument("--report", default=None, help="JSON report path")
    pc.add_argument("--print-report", action="store_true", help="print the final report on stdout")
    pc.add_argument("--watch-stdin", action="store_true", help="stop when stdin reaches end of file")
    pc.add_argument("--idle-timeout", type=float, default=0.0,
                    help="stop after this many seconds without input once items arrived (0: never)")
    pc.add_argument("--timeout", type=float, default=3600.0, help="stop after this many seconds (0: never)")
    a = p.parse_args(argv)
    if a.cmd == "channel":
        problems = _check_channel_args(a)
        if problems:
            p.error("; ".join(problems))
    if a.cmd == "check":
        _imports()
        return 0
    return {"send": cmd_send, "recv": cmd_recv, "loop": cmd_loop, "blast": cmd_blast,
            "channel": cmd_channel}[a.cmd](a)


def _check_channel_args(a: argparse.Namespace) -> list[str]:
    """What is wrong with the ``channel`` command's arguments (empty when nothing)."""
    bad = []
    for name in ("rx", "tx"):
        addr = getattr(a, name)
        if not addr.startswith(("tcp://", "ipc://", "inproc://")) or len(addr) > 1024:
            bad.append(f"--{name} must be a ZeroMQ endpoint (tcp://, ipc://), got {addr!r:.200}")
    if math.isnan(a.snr_db) or a.snr_db == -math.inf:
        bad.append(f"--snr-db must be a number or inf, got {a.snr_db}")
    if not (math.isfinite(a.signal_power) and a.signal_power > 0):
        bad.append(f"--signal-power must be finite and > 0, got {a.signal_power}")
    if a.noise_voltage is not None and not (math.isfinite(a.noise_voltage) and a.noise_voltage >= 0):
        bad.append(f"--noise-voltage must be finite and >= 0, got {a.noise_voltage}")
    if not (math.isfinite(a.frequency_offset) and abs(a.frequency_offset) <= 0.5):
        bad.append(f"--frequency-offset must be in [-0.5, 0.5] cycles/sample, got {a.frequency_offset}")
    if not (math.isfinite(a.epsilon) and 0.5 <= a.epsilon <= 2.0):
        bad.append(f"--epsilon must be in [0.5, 2], got {a.epsilon}")
    try:
        parse_taps(a.taps)
    except ValueError as exc:
        bad.append(str(exc))
    if not 0 <= a.seed < 2**31:
        bad.append(f"--seed must be in 0..2^31-1, got {a.seed}")
    for name in ("idle_timeout", "timeout"):
        v = getattr(a, name)
        if not (math.isfinite(v) and v >= 0):
            bad.append(f"--{name.replace('_', '-')} must be finite and >= 0, got {v}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
