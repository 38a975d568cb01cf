"""The SigMF OFDM transmit / receive scripts: a capture written by one process decodes in another,
after ``sigmf_replay.py``'s AWGN replay, as a raw IQ file, truncated, corrupted, or with hostile
metadata; and the metadata they exchange is validated."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semradio.flowgraphs.ofdm_sigmf_common import (BURST_LABEL, numerology_from, parse_numerology_text,
                                                   positional_as_option, truth_from_annotations)

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
#: 8 images, 2 per burst: 4 bursts.
IMAGES, BATCH, BURSTS = 8, 2, 4


def _strict(name: str) -> None:
    raise AssertionError(f"not strict JSON: {name}")


def run_script(name: str, *args: str, timeout: float = 120, expect: int = 0) -> dict:
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / name), *args, "--json"],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == expect, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1], parse_constant=_strict)


def rx_in_process(capsys, *args: str, expect: int = 0) -> dict:
    from semradio.flowgraphs import ofdm_sigmf_rx

    assert ofdm_sigmf_rx.main([*args, "--json", "--device", "cpu"]) == expect
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1], parse_constant=_strict)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """A clean capture of 4 bursts written by the transmit script in its own process."""
    base = tmp_path_factory.mktemp("ofdm_sigmf") / "cap"
    out = run_script("ofdm_sigmf_tx.py", str(base), "--images", str(IMAGES), "--batch", str(BATCH),
                     "--device", "cpu")
    assert out["bursts"] == BURSTS and out["images"] == IMAGES and out["samples"] % 1024 == 0
    return base


def _copy(capture: Path, dst: Path) -> Path:
    for suffix in (".sigmf-meta", ".sigmf-data"):
        shutil.copy(str(capture) + suffix, str(dst) + suffix)
    return dst


# ----------------------------------------------------------------------------- fast checks
def test_truth_from_annotations_keeps_valid_bursts_and_counts_the_rest() -> None:
    good = {"core:sample_start": 100, "core:sample_count": 50, "core:label": BURST_LABEL, "semradio:burst": 3,
            "semradio:seq": 3, "semradio:items": 2, "semradio:images": "4,5", "semradio:dataset": "natural32",
            "semradio:split": "eval", "semradio:codec": "jscc_natural32_rayleigh_cbr1-6",
            "semradio:encoder_snr_db": 10.0, "semradio:ofdm": "fft_size=64,header_symbols=16"}
    replayed = dict(good, **{"core:sample_start": 120, "semradio:seq": 77})   # a replay renumbers seq
    hostile = [
        "not a dict", {"semradio:burst": True, "semradio:images": "1"},
        dict(good, **{"semradio:burst": 4, "semradio:images": "1,-2"}),
        dict(good, **{"semradio:burst": 5, "semradio:images": "9" * 40}),
        dict(good, **{"semradio:burst": 6, "semradio:split": "../etc"}),
        dict(good, **{"semradio:burst": 7, "semradio:codec": "../../evil.pt"}),
        dict(good, **{"semradio:burst": 8, "semradio:encoder_snr_db": float("nan")}),
        dict(good, **{"semradio:burst": 9, "semradio:items": 3}),
        dict(good, **{"semradio:burst": 10, "semradio:images": "1,2", "semradio:dataset": 5}),
        dict(good, **{"semradio:burst": 11}), dict(good, **{"semradio:burst": 11, "semradio:images": "6,8"}),
        {"core:sample_start": 0, "core:label": "something else"},
    ]
    t = truth_from_annotations([good, replayed, *hostile], total_samples=110)
    assert list(t.bursts) == [3, 7] and t.bursts[3].images == (4, 5) and t.bursts[3].start == 100
    assert t.bursts[3].codec == "jscc_natural32_rayleigh_cbr1-6" and t.bursts[7].codec is None
    assert t.conflicting == [11] and t.annotations == 14 and t.burst_annotations == 12
    assert t.invalid == {"annotation is not an object": 1, "burst id": 1, "images": 2, "split": 1, "codec (ignored)": 1,
                         "encoder_snr_db": 1, "items != number of images": 1, "dataset": 1,
                         "conflicting annotations of one burst": 1}
    assert t.beyond_data == 1   # the replayed copy starts at 120, past sample 110
    assert t.numerologies == {"fft_size=64,header_symbols=16"}
    assert truth_from_annotations({"x": 1}).invalid == {"annotations is not a list": 1}
    assert truth_from_annotations(None).bursts == {}


def test_numerology_and_positional_parsing() -> None:
    assert parse_numerology_text("fft_size=64,header_symbols=10") == {"fft_size": 64, "header_symbols": 10}
    for bad in ("fft_size=64;rm", "fft_size=1e9", "nope=3", "header_symbols=-1", 5, "x" * 300):
        assert parse_numerology_text(bad) is None
    assert numerology_from({"fft_size": 64, "cp_len": 16}) == ({"fft_size": 64, "cp_len": 16}, [])
    kw, notes = numerology_from({"fft_size": 1 << 40, "cp_len": "16", "header_symbols": 1})
    assert kw == {} and any("inconsistent" in n for n in notes) and any("fft_size" in n for n in notes)
    assert numerology_from([1, 2])[0] == {}
    from semradio.flowgraphs.ofdm_sigmf_rx import OFDMSigMFRxConfig

    assert positional_as_option(["--chunk", "1024", "/x/cap", "--json"], OFDMSigMFRxConfig, "capture") == \
        ["--capture", "/x/cap", "--chunk", "1024", "--json"]
    assert positional_as_option(["--chunk", "1024"], OFDMSigMFRxConfig, "capture") == ["--chunk", "1024"]


# ----------------------------------------------------------------------------- whole scripts
@pytest.mark.slow
def test_capture_metadata_says_what_was_sent(capture: Path) -> None:
    from sigmf.sigmffile import fromfile

    rec = fromfile(str(capture))                 # validates, checks core:sha512
    g = rec.get_global_field
    assert g("core:datatype") == "cf32_le" and g("core:sample_rate") == 10e6 and g("semradio:version")
    assert g("semradio:ofdm")["fft_size"] == 64 and g("semradio:reference") == "self"
    assert g("semradio:channel") == {"name": "none"} and g("semradio:bursts") == BURSTS
    anns = rec.get_annotations()
    assert [a["semradio:burst"] for a in anns] == list(range(BURSTS))
    assert [a["semradio:images"] for a in anns] == ["0,1", "2,3", "4,5", "6,7"]
    a = anns[0]
    assert a["core:label"] == BURST_LABEL and a["core:sample_start"] == 512 and a["semradio:items"] == BATCH
    assert a["semradio:dataset"] == "natural32" and a["semradio:split"] == "eval"
    assert a["semradio:codec"] == "jscc_natural32_rayleigh_cbr1-6" and a["semradio:encoder_snr_db"] == 10.0
    assert a["semradio:tx_channel"] == "none" and parse_numerology_text(a["semradio:ofdm"])["fft_size"] == 64


@pytest.mark.slow
def test_rx_process_decodes_the_tx_process_capture(capture: Path, tmp_path) -> None:
    out = run_script("ofdm_sigmf_rx.py", str(capture), "--device", "cpu", "--save-images", str(tmp_path / "img"))
    assert out["bursts_annotated"] == BURSTS and out["detections"] == BURSTS and out["header_crc_failures"] == 0
    assert out["bursts_delivered"] == BURSTS and out["images_decoded"] == IMAGES and out["missing_bursts"] == []
    assert out["codec_source"] == "annotations" and out["capture"]["checksum"] == "ok"
    assert out["psnr_db"] > 28 and out["ssim"] > 0.75 and out["images_scored"] == IMAGES
    assert abs(out["cfo_mean"]) < 1e-3
    assert out["reference"]["kind"] == "self" and out["channel_nmse_db"] < -60
    assert [b["seq"] for b in out["per_burst"]] == list(range(BURSTS))
    assert out["per_burst"][1]["images"] == [2, 3] and out["per_burst"][0]["start"] == 512
    assert out["saved_images"] == IMAGES and len(list((tmp_path / "img").glob("*.png"))) == IMAGES


@pytest.mark.slow
def test_the_capture_still_decodes_after_sigmf_replay_awgn(capture: Path, tmp_path, capsys) -> None:
    replayed = tmp_path / "awgn"
    rep = run_script("sigmf_replay.py", str(capture), "--channel", "awgn", "--snr-db", "20", "--out", str(replayed))
    assert rep["dropped_samples"] == 0
    out = run_script("ofdm_sigmf_rx.py", str(replayed), "--device", "cpu")
    # the replay keeps the burst annotations' scalar fields (not the global): all bursts, scored
    assert out["bursts_annotated"] == BURSTS and out["bursts_delivered"] == BURSTS and out["missing_bursts"] == []
    assert out["header_crc_failures"] == 0 and out["psnr_db"] > 27
    assert 17 < out["snr_db_estimated_mean"] < 24
    assert out["channel_nmse_db"] is None and "--reference" in out["channel_nmse_reason"]
    # the original (clean) capture is the replay's noiseless reference
    ref = rx_in_process(capsys, str(replayed), "--reference", str(capture))
    assert ref["reference"]["kind"] == "option" and -45 < ref["channel_nmse_db"] < -25
    assert ref["psnr_db"] == pytest.approx(out["psnr_db"], abs=1e-3)


@pytest.mark.slow
def test_a_raw_iq_file_decodes(capture: Path, tmp_path, capsys) -> None:
    from semradio.blocks.fileio.iq_files import encode_iq

    x = np.fromfile(str(capture) + ".sigmf-data", np.complex64)
    raw = tmp_path / "dump.ci16"
    encode_iq(x * 0.5, "ci16_le").tofile(raw)
    out = rx_in_process(capsys, str(raw), "--format", "ci16_le")
    assert out["capture"]["kind"] == "raw" and out["bursts_decoded"] == BURSTS and out["images_decoded"] == IMAGES
    assert out["bursts_annotated"] is None and out["psnr_db"] is None and "--truth" in out["psnr_reason"]
    assert out["channel_nmse_db"] is None and out["codec_source"] == "default"
    # what was sent, from the original recording's annotations
    out = rx_in_process(capsys, str(raw), "--format", "ci16_le", "--truth", str(capture))
    assert out["bursts_annotated"] == BURSTS and out["images_scored"] == IMAGES and out["psnr_db"] > 28


@pytest.mark.slow
def test_truncated_and_corrupted_captures_count_what_they_drop(capture: Path, tmp_path, capsys) -> None:
    data = Path(str(capture) + ".sigmf-data").read_bytes()
    meta = json.loads(Path(str(capture) + ".sigmf-meta").read_text())
    last = meta["annotations"][-1]
    # truncated in the middle of the last burst, plus 3 stray bytes
    cut = tmp_path / "cut"
    _copy(capture, cut)
    n = last["core:sample_start"] + last["core:sample_count"] // 2
    Path(str(cut) + ".sigmf-data").write_bytes(data[: 8 * n + 3])
    out = rx_in_process(capsys, str(cut))
    assert out["capture"]["checksum"] == "mismatch" and out["capture"]["trailing_bytes"] == 3
    assert out["bursts_delivered"] == BURSTS - 1 and out["incomplete"] == 1 and out["missing_bursts"] == [BURSTS - 1]
    assert out["psnr_db"] > 25 and out["channel_nmse_db"] is None and "checksum" in out["channel_nmse_reason"]
    # corrupted: NaNs over the start of burst 1, random bytes over burst 2's header
    bad = tmp_path / "bad"
    _copy(capture, bad)
    x = np.frombuffer(data, np.complex64).copy()
    s1, s2 = meta["annotations"][1]["core:sample_start"], meta["annotations"][2]["core:sample_start"]
    x[s1 + 100: s1 + 700] = np.nan
    b = x.view(np.uint8)
    rng = np.random.default_rng(0)
    idx = rng.integers(8 * (s2 + 544), 8 * (s2 + 1200), 3000)
    b[idx] = rng.integers(0, 256, idx.size).astype(np.uint8)
    Path(str(bad) + ".sigmf-data").write_bytes(b.tobytes())
    out = rx_in_process(capsys, str(bad))
    c = out["capture"]
    assert c["nonfinite_samples"] >= 600 and c["checksum"] == "mismatch"
    assert out["bursts_delivered"] == BURSTS - 2 and sorted(out["missing_bursts"]) == [1, 2]
    lost = [b for b in out["per_burst"] if b["status"] != "decoded"]
    assert out["sync_failures"] + out["header_crc_failures"] == len(lost) >= 1


@pytest.mark.slow
def test_hostile_metadata_neither_crashes_nor_steers_the_receiver(capture: Path, tmp_path, capsys) -> None:
    meta = json.loads(Path(str(capture) + ".sigmf-meta").read_text())
    evil = tmp_path / "evil"
    _copy(capture, evil)
    g = meta["global"]
    g["semradio:ofdm"] = {"fft_size": 1 << 40, "cp_len": -1}
    g["semradio:reference"] = {"kind": "companion", "path": "../../etc/passwd"}
    g["core:sample_rate"] = -1
    g["semradio:codec"] = "../evil"
    for a in meta["annotations"]:
        a["semradio:dataset"] = "folder:/etc"          # would read files named by the capture
        a["semradio:codec"] = "/tmp/evil_checkpoint"  # would load a checkpoint named by the capture
    Path(str(evil) + ".sigmf-meta").write_text(json.dumps(meta))
    out = rx_in_process(capsys, str(evil))
    assert out["bursts_delivered"] == BURSTS and out["codec_source"] == "default"
    assert out["psnr_db"] is None and "pass --data" in out["psnr_reason"]
    assert out["channel_nmse_db"] is None and out["capture"]["sample_rate"] == 10e6
    assert any("fft_size" in n for n in out["notes"]) and any("codec" in n for n in out["notes"])
    # --data vouches for the dataset: scored again
    out = rx_in_process(capsys, str(evil), "--data", "natural32")
    assert out["images_scored"] == IMAGES and out["psnr_db"] > 28
    # metadata that is not JSON: the samples are still decoded, as a raw file
    Path(str(evil) + ".sigmf-meta").write_text('{"global": {"core:datatype": [[[[')
    out = rx_in_process(capsys, str(evil))
    assert out["bursts_decoded"] == BURSTS and any("not JSON" in n for n in out["notes"])
    # a multi-channel or real-valued recording is refused with a message, not a traceback
    for field, value in (("core:num_channels", 2), ("core:datatype", "rf32_le")):
        Path(str(evil) + ".sigmf-meta").write_text(json.dumps({"global": {field: value}}))
        from semradio.flowgraphs import ofdm_sigmf_rx

        with pytest.raises(SystemExit) as exc:
            ofdm_sigmf_rx.main([str(evil), "--json"])
        assert exc.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_a_tdl_capture_carries_its_noiseless_companion_for_the_channel_nmse(tmp_path, capsys) -> None:
    from semradio.flowgraphs import ofdm_sigmf_tx

    base = tmp_path / "tdl"
    assert ofdm_sigmf_tx.main([str(base), "--images", "4", "--batch", "2", "--channel", "tdl-a", "--snr-db", "10",
                               "--cfo", "0.2", "--device", "cpu", "--json"]) == 0
    tx = json.loads(capsys.readouterr().out)
    assert tx["noiseless"] and Path(tx["noiseless"]).is_file() and tx["channel_snr_db"] == 10.0
    out = rx_in_process(capsys, str(base))
    assert out["bursts_delivered"] == 2 and out["reference"]["kind"] == "companion"
    assert -30 < out["channel_nmse_db"] < -8 and 0.17 < out["cfo_mean"] < 0.23
    assert 8 < out["snr_db_estimated_mean"] < 13 and out["psnr_db"] > 22
    # a companion that belongs to other samples is not used
    data = Path(str(base) + ".sigmf-data")
    x = np.fromfile(data, np.complex64)
    x[-1] += 1e-3
    x.tofile(data)
    out = rx_in_process(capsys, str(base))
    assert out["channel_nmse_db"] is None and "checksum" in out["channel_nmse_reason"]


def _random_value(rng: np.random.Generator, depth: int = 0):
    pick = rng.integers(0, 10)
    if depth > 2 or pick < 4:
        pool = [None, True, -1, 0, 2 ** 70, 1e308, -1e-9, "", "x" * 5000, "0,1", "1,,2", "folder:/", "natural32",
                "eval", "fft_size=64,header_symbols=3", [], {}]
        return pool[int(rng.integers(0, len(pool)))]
    if pick < 7:
        return [_random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    keys = ["core:sample_start", "core:sample_count", "semradio:burst", "semradio:images", "semradio:items",
            "semradio:dataset", "semradio:split", "semradio:codec", "semradio:ofdm", "semradio:encoder_snr_db",
            "core:label", "semradio:reference", "core:sample_rate", "semradio:noiseless_of"]
    return {keys[int(rng.integers(0, len(keys)))]: _random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 5)))}


@pytest.mark.slow
def test_fuzzed_metadata_gives_a_report_or_a_clean_error(capture: Path, tmp_path, capsys) -> None:
    from semradio.flowgraphs import ofdm_sigmf_rx

    meta = json.loads(Path(str(capture) + ".sigmf-meta").read_text())
    fz = _copy(capture, tmp_path / "fz")
    rng = np.random.default_rng(7)
    reports = 0
    for i in range(16):
        m = json.loads(json.dumps(meta))
        for a in m["annotations"]:
            for _ in range(3):
                keys = [*a, "semradio:images", "semradio:burst"]
                a[keys[int(rng.integers(0, len(keys)))]] = _random_value(rng)
        if i % 2:
            keys = list(m["global"])
            for _ in range(3):
                m["global"][keys[int(rng.integers(0, len(keys)))]] = _random_value(rng)
        if i % 5 == 0:
            m["annotations"] = _random_value(rng)
        if i % 3 == 0:
            m["captures"] = _random_value(rng)
        Path(str(fz) + ".sigmf-meta").write_text(json.dumps(m))
        try:
            rc = ofdm_sigmf_rx.main([str(fz), "--json", "--device", "cpu"])
        except SystemExit as exc:   # refused (an unusable datatype, channel count...): a message, exit 2
            assert exc.code == 2
            assert "error:" in capsys.readouterr().err
            continue
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1], parse_constant=_strict)
        assert rc == 0 and out["detections"] >= 1
        reports += 1
    assert reports >= 8
