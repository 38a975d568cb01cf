#!/usr/bin/env python3
"""GNU Radio flowgraph between semradio and a real radio (UHD or SoapySDR), over gr-zeromq.

Run it with the Python that has GNU Radio 3.10 (Debian: ``/usr/bin/python3``), not in semradio's
virtual environment; it imports nothing of semradio, like a GRC-generated top block::

    /usr/bin/python3 flowgraphs/gr_radio_bridge.py --device null --channel --snr-db 20
    /usr/bin/python3 flowgraphs/gr_radio_bridge.py --device uhd --device-args type=b200 \\
        --samp-rate 1e6 --freq 2.45e9 --tx-gain 50 --rx-gain 30
    /usr/bin/python3 flowgraphs/gr_radio_bridge.py --device soapy --device-args driver=hackrf \\
        --samp-rate 2e6 --freq 915e6 --tx-gain 20 --rx-gain 30

Flowgraph::

    TX: zeromq.pull_source(--tx-addr, connects; tags: packet_len per burst)
        -> [multiply_const(--tx-scale)] -> uhd.usrp_sink / soapy.sink (length tag "packet_len":
           each burst is sent as one burst, no underruns between bursts)
    RX: uhd.usrp_source / soapy.source -> zeromq.push_sink(--rx-addr, binds)

    --direction tx | rx builds one chain only (a TX-only or RX-only radio host).

    --device null (no hardware): the TX stream is looped back to the RX side,
        zeromq.pull_source -> [channels.channel_model (--channel)] -> [throttle(--samp-rate)]
        -> zeromq.push_sink

semradio's ends (``python flowgraphs/ofdm_gnuradio.py --role tx|rx|both``, see
``docs/radio.md``): its ZMQSink binds ``--tx-addr`` (default ``tcp://127.0.0.1:5600``), its
ZMQSource connects to ``--rx-addr`` (default ``tcp://127.0.0.1:5601``); samples are complex64
(GNU Radio's gr_complex, ``fc32`` on the radio). The radio modules are imported only when
selected; a missing one is reported with what to install.

Runs until SIGINT/SIGTERM, ``--duration`` seconds, ``--idle-timeout`` seconds without TX input
after the first (useful with ``--device null``), or end of file on stdin (``--watch-stdin``).
``--report PATH`` (JSON, rewritten about every 0.2 s and at the end): ``items_in`` (samples
received from semradio), ``items_out`` (samples sent to semradio), ``running``,
``stopped_by``, the settings.
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
from typing import Any

DEVICES = ("uhd", "soapy", "null")
#: GNU Radio length tag that marks one burst (semradio's ZMQSink writes it per frame).
LEN_TAG = "packet_len"


def parse_taps(text: str) -> list[complex]:
    """``"1,0.25+0.2j"`` -> complex taps (as given).

    Raises:
        ValueError: not 1..4096 finite, comma-separated complex numbers.
    """
    try:
        taps = [complex(t.strip().replace(" ", "")) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--taps must be comma-separated complex numbers, got {text!r:.200}") from None
    if not taps or len(taps) > 4096 or not all(math.isfinite(t.real) and math.isfinite(t.imag) for t in taps):
        raise ValueError(f"--taps needs 1..4096 finite complex taps, got {text!r:.200}")
    return taps


def _radio_module(device: str) -> Any:
    """``gnuradio.uhd`` or ``gnuradio.soapy``, imported now; SystemExit with what to install."""
    try:
        if device == "uhd":
            from gnuradio import uhd

            return uhd
        from gnuradio import soapy

        return soapy
    except ImportError as exc:
        pkg = {"uhd": "gr-uhd (Debian: the gnuradio package with libuhd; then uhd_images_downloader)",
               "soapy": "gr-soapy (Debian: the gnuradio package and soapysdr-module-<your radio>)"}[device]
        raise SystemExit(f"gr_radio_bridge: --device {device} needs GNU Radio's {pkg}; importing it under "
                         f"{sys.executable} failed: {exc}. Use --device null to run without a radio.") from None


def _uhd_blocks(a: argparse.Namespace, gr: Any) -> tuple[Any, Any]:
    uhd = _radio_module("uhd")
    sink = src = None
    if a.direction in ("tx", "both"):
        sink = uhd.usrp_sink(a.tx_device_args, uhd.stream_args(cpu_format="fc32", channels=[0]),
                             "" if a.no_tx_tags else LEN_TAG)
    if a.direction in ("rx", "both"):
        src = uhd.usrp_source(a.rx_device_args, uhd.stream_args(cpu_format="fc32", channels=[0]))
    for blk, freq, gain, ant in ((sink, a.tx_freq, a.tx_gain, a.tx_antenna), (src, a.rx_freq, a.rx_gain, a.rx_antenna)):
        if blk is None:
            continue
        blk.set_samp_rate(a.samp_rate)
        blk.set_center_freq(uhd.tune_request(freq, a.lo_offset), 0)
        blk.set_gain(gain, 0)
        if ant:
            blk.set_antenna(ant, 0)
        if a.bandwidth > 0:
            blk.set_bandwidth(a.bandwidth, 0)
    return sink, src


def _soapy_blocks(a: argparse.Namespace, gr: Any) -> tuple[Any, Any]:
    soapy = _radio_module("soapy")
    sink = src = None
    if a.direction in ("tx", "both"):
        sink = soapy.sink(a.tx_device_args, "fc32", 1, "", "", [""], [""])
        if not a.no_tx_tags:
            sink.set_length_tag_name(LEN_TAG)
    if a.direction in ("rx", "both"):
        src = soapy.source(a.rx_device_args, "fc32", 1, "", "", [""], [""])
    for blk, freq, gain, ant in ((sink, a.tx_freq, a.tx_gain, a.tx_antenna), (src, a.rx_freq, a.rx_gain, a.rx_antenna)):
        if blk is None:
            continue
        blk.set_sample_rate(0, a.samp_rate)
        blk.set_frequency(0, freq)
        blk.set_gain(0, gain)
        if ant:
            blk.set_antenna(0, ant)
        if a.bandwidth > 0:
            blk.set_bandwidth(0, a.bandwidth)
    return sink, src


def build(a: argparse.Namespace) -> tuple[Any, Any | None, Any | None]:
    """The top block and its gr-zeromq ends ``(tb, from_semradio, to_semradio)`` (None for a
    direction not built)."""
    from gnuradio import blocks, gr, zeromq

    radio = None
    if a.device != "null":  # first: a missing radio module fails before any socket is bound
        try:
            radio = (_uhd_blocks if a.device == "uhd" else _soapy_blocks)(a, gr)
        except RuntimeError as exc:
            tool = "uhd_find_devices" if a.device == "uhd" else "SoapySDRUtil --find"
            raise SystemExit(f"gr_radio_bridge: cannot open the {a.device} radio (TX {a.tx_device_args!r}, RX "
                             f"{a.rx_device_args!r}: {exc}); `{tool}` lists the radios this machine sees") from None
    tb = gr.top_block("gr_radio_bridge")
    from_semradio = to_semradio = None
    chain: list[Any] = []
    if a.direction in ("tx", "both"):
        from_semradio = zeromq.pull_source(gr.sizeof_gr_complex, 1, a.tx_addr, 100, not a.no_tx_tags, -1)
        chain.append(from_semradio)
        if a.tx_scale != 1.0:
            chain.append(blocks.multiply_const_cc(a.tx_scale))
    if a.direction in ("rx", "both"):
        to_semradio = zeromq.push_sink(gr.sizeof_gr_complex, 1, a.rx_addr, 100, a.rx_tags, -1)
    if a.device == "null":
        if a.channel:
            from gnuradio import channels

            nv = a.noise_voltage if a.noise_voltage is not None else (
                0.0 if math.isinf(a.snr_db) else math.sqrt(a.signal_power / 10.0 ** (a.snr_db / 10.0)))
            chain.append(channels.channel_model(nv, a.frequency_offset, a.epsilon, parse_taps(a.taps), a.seed, False))
        if a.throttle:
            chain.append(blocks.throttle(gr.sizeof_gr_complex, a.samp_rate, True))
        chain.append(to_semradio)
        tb.connect(*chain)
        return tb, from_semradio, to_semradio
    radio_sink, radio_src = radio
    if radio_sink is not None:
        tb.connect(*chain, radio_sink)
    if radio_src is not None:
        tb.connect(radio_src, to_semradio)
    return tb, from_semradio, to_semradio


def _write_json(path: str, obj: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _count(block: Any, side: str) -> int:
    """Items a gr-zeromq end produced (``"out"``) or consumed (``"in"``); 0 when not built."""
    if block is None:
        return 0
    return int(block.nitems_written(0) if side == "out" else block.nitems_read(0))


def run(a: argparse.Namespace) -> int:
    """Build, start, supervise and stop the flowgraph; 0 after a requested stop."""
    from gnuradio import gr

    tb, from_semradio, to_semradio = build(a)
    stop = threading.Event()
    reason: dict[str, str | None] = {"by": None}

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
    settings = {k: v for k, v in vars(a).items() if k not in ("report", "watch_stdin")}
    base = {"command": "gr_radio_bridge", "pid": os.getpid(), "gnuradio_version": gr.version(), **settings}
    t0 = time.monotonic()

    def report(running: bool) -> dict[str, Any]:
        out = dict(base, items_in=_count(from_semradio, "out"), items_out=_count(to_semradio, "in"),
                   running=running, stopped_by=reason["by"], seconds=round(time.monotonic() - t0, 3))
        if a.report:
            _write_json(a.report, out)
        return out

    tb.start()
    report(True)
    if not a.quiet:
        print(f"gr_radio_bridge: {a.device} running; semradio TX -> {a.tx_addr}, RX <- {a.rx_addr} "
              f"(Ctrl-C stops)", file=sys.stderr, flush=True)
    last_in, last_change = 0, time.monotonic()
    while not stop.wait(0.2):
        now = time.monotonic()
        n_in = _count(from_semradio, "out")
        if n_in != last_in:
            last_in, last_change = n_in, now
        if a.idle_timeout > 0 and n_in > 0 and now - last_change > a.idle_timeout:
            request("idle_timeout")
        elif a.duration > 0 and now - t0 > a.duration:
            request("duration")
        else:
            report(True)
    done = threading.Event()

    def halt() -> None:
        tb.stop()
        tb.wait()
        done.set()

    threading.Thread(target=halt, daemon=True, name="halt").start()
    clean = done.wait(10.0)
    out = report(False)
    if not a.quiet:
        print(f"gr_radio_bridge: stopped by {reason['by']}: {out['items_in']} samples from semradio, "
              f"{out['items_out']} to semradio", file=sys.stderr, flush=True)
    if not clean:
        print("gr_radio_bridge: the flowgraph did not stop within 10 s; exiting", file=sys.stderr, flush=True)
        os._exit(5)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=DEVICES, default="null", help="radio: uhd, soapy, or null (loopback)")
    p.add_argument("--direction", choices=("both", "tx", "rx"), default="both",
                   help="build the TX chain, the RX chain, or both (a TX-only or RX-only radio host)")
    p.add_argument("--device-args", default="", help="uhd: device address (type=b200,serial=...); soapy: "
                   "driver=NAME[,key=value...]")
    p.add_argument("--tx-device-args", default=None, help="TX radio, when it is another device (default "
                   "--device-args; e.g. two HackRFs, which are half duplex)")
    p.add_argument("--rx-device-args", default=None, help="RX radio (default --device-args)")
    p.add_argument("--tx-addr", default="tcp://127.0.0.1:5600", help="semradio's ZMQSink endpoint (we connect)")
    p.add_argument("--rx-addr", default="tcp://127.0.0.1:5601", help="our push_sink endpoint (we bind)")
    p.add_argument("--samp-rate", type=float, default=1e6, help="sample rate (S/s), both directions")
    p.add_argument("--freq", type=float, default=915e6, help="center frequency (Hz), both directions")
    p.add_argument("--tx-freq", type=float, default=None, help="TX center frequency (default --freq)")
    p.add_argument("--rx-freq", type=float, default=None, help="RX center frequency (default --freq)")
    p.add_argument("--lo-offset", type=float, default=0.0, help="uhd: LO offset (Hz; moves the DC spur away)")
    p.add_argument("--tx-gain", type=float, default=0.0, help="TX gain (dB, device scale)")
    p.add_argument("--rx-gain", type=float, default=20.0, help="RX gain (dB, device scale)")
    p.add_argument("--tx-antenna", default="", help="TX antenna (default: the device's)")
    p.add_argument("--rx-antenna", default="", help="RX antenna (default: the device's)")
    p.add_argument("--bandwidth", type=float, default=0.0, help="analog bandwidth (Hz; 0: the device's)")
    p.add_argument("--tx-scale", type=float, default=1.0, help="multiply TX samples (keep peaks below 1)")
    p.add_argument("--no-tx-tags", action="store_true", help="semradio sends no tag headers: stream continuously "
                   "(the radio then underruns between bursts)")
    p.add_argument("--rx-tags", action="store_true", help="push_sink sends tag headers (rx_time ... from the radio)")
    g = p.add_argument_group("--device null")
    g.add_argument("--channel", action="store_true", help="put channels.channel_model in the loopback")
    g.add_argument("--snr-db", type=float, default=math.inf, help="per-sample SNR (dB) of the channel's noise")
    g.add_argument("--signal-power", type=float, default=1.0, help="mean power per sample the SNR refers to")
    g.add_argument("--noise-voltage", type=float, default=None, help="channel_model noise_voltage (overrides --snr-db)")
    g.add_argument("--frequency-offset", type=float, default=0.0, help="cycles per sample")
    g.add_argument("--epsilon", type=float, default=1.0, help="sample-rate ratio (1 + ppm 1e-6)")
    g.add_argument("--taps", default="1", help="comma-separated complex FIR taps")
    g.add_argument("--seed", type=int, default=0, help="noise seed")
    g.add_argument("--throttle", action="store_true", help="pace the loopback at --samp-rate")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: never)")
    p.add_argument("--idle-timeout", type=float, default=0.0,
                   help="stop this many seconds after semradio's TX went quiet (0: never)")
    p.add_argument("--report", default=None, help="JSON report path")
    p.add_argument("--watch-stdin", action="store_true", help="stop at end of file on stdin")
    p.add_argument("--quiet", action="store_true", help="no status lines on stderr")
    return p


def check(a: argparse.Namespace) -> list[str]:
    """What is wrong with the arguments (empty when nothing); fills ``tx_freq``/``rx_freq``."""
    bad = []
    for name in ("tx_addr", "rx_addr"):
        v = getattr(a, name)
        if not v.startswith(("tcp://", "ipc://")) or len(v) > 1024:
            bad.append(f"--{name.replace('_', '-')} must be a tcp:// or ipc:// endpoint, got {v!r:.200}")
    a.tx_device_args = a.device_args if a.tx_device_args is None else a.tx_device_args
    a.rx_device_args = a.device_args if a.rx_device_args is None else a.rx_device_args
    a.tx_freq = a.freq if a.tx_freq is None else a.tx_freq
    a.rx_freq = a.freq if a.rx_freq is None else a.rx_freq
    for name in ("samp_rate", "freq", "tx_freq", "rx_freq", "signal_power"):
        v = getattr(a, name)
        if not (math.isfinite(v) and v > 0):
            bad.append(f"--{name.replace('_', '-')} must be finite and > 0, got {v}")
    for name in ("tx_gain", "rx_gain", "lo_offset", "tx_scale", "frequency_offset"):
        if not math.isfinite(getattr(a, name)):
            bad.append(f"--{name.replace('_', '-')} must be finite")
    for name in ("bandwidth", "duration", "idle_timeout"):
        v = getattr(a, name)
        if not (math.isfinite(v) and v >= 0):
            bad.append(f"--{name.replace('_', '-')} must be finite and >= 0, got {v}")
    if math.isnan(a.snr_db) or a.snr_db == -math.inf:
        bad.append(f"--snr-db must be a number or inf, got {a.snr_db}")
    if a.noise_voltage is not None and not (math.isfinite(a.noise_voltage) and a.noise_voltage >= 0):
        bad.append(f"--noise-voltage must be finite and >= 0, got {a.noise_voltage}")
    if abs(a.frequency_offset) > 0.5:
        bad.append(f"--frequency-offset must be in [-0.5, 0.5] cycles/sample, got {a.frequency_offset}")
    if not (math.isfinite(a.epsilon) and 0.5 <= a.epsilon <= 2.0):
        bad.append(f"--epsilon must be in [0.5, 2], got {a.epsilon}")
    if not 0 <= a.seed < 2**31:
        bad.append(f"--seed must be in 0..2^31-1, got {a.seed}")
    try:
        parse_taps(a.taps)
    except ValueError as exc:
        bad.append(str(exc))
    if a.device == "soapy" and not ("driver=" in a.tx_device_args and "driver=" in a.rx_device_args):
        bad.append("--device soapy needs --device-args driver=NAME (e.g. driver=hackrf, driver=lime, driver=uhd)")
    if any(len(v) > 1024 for v in (a.device_args, a.tx_device_args, a.rx_device_args)):
        bad.append("device arguments longer than 1024 characters")
    if a.device == "null" and a.direction != "both":
        bad.append("--device null loops TX back to RX: it needs --direction both")
    if a.device != "null" and (a.channel or a.throttle):
        bad.append("--channel and --throttle are for --device null (a radio has its own channel and clock)")
    return bad


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    p = parser()
    a = p.parse_args(argv)
    problems = check(a)
    if problems:
        p.error("; ".join(problems))
    try:
        import gnuradio  # noqa: F401
    except ImportError:
        raise SystemExit(f"gr_radio_bridge: {sys.executable} has no GNU Radio; run this script with the Python "
                         "that has GNU Radio 3.10 (Debian: /usr/bin/python3 with the gnuradio package)") from None
    return run(a)


if __name__ == "__main__":
    raise SystemExit(main())
