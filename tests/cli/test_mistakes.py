"""Command-line mistakes: one line on stderr naming the bad value and what would be accepted, exit
status 2, before anything starts (flowgraph scripts, ``semradio run SCRIPT -- ...`` and the
``semradio`` subcommands)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime.arguments import OneLineParser, finite_float, frame_count, output_file, positive_int, ratio

ROOT = Path(__file__).resolve().parents[2]
FG = ROOT / "flowgraphs"
SEMRADIO = [sys.executable, "-m", "semradio.cli"]
#: Seconds a mistake may take: Python, the imports and the check, never a flowgraph run.
QUICK_S = 8.0

#: (command, the bad value the line must name, a word of what would be accepted)
MISTAKES = [
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--codec", "no_such_codec"], "no_such_codec", "checkpoints"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--batch", "0"], "0", "positive"),
    ([sys.executable, str(FG / "jscc_awgn.py"), "--snr-db", "nan"], "nan", "finite"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--cbr", "one-sixth"], "one-sixth", "1/6"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--data", "imagenet"], "imagenet", "natural32"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--data", "folder:/no/such/folder"], "/no/such/folder",
     "existing"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--csv", "/no/such/folder/m.csv"], "/no/such/folder", "create"),
    ([sys.executable, str(FG / "jscc_rayleigh.py"), "--denoiser", "wiener"], "wiener", "cddm"),
    ([sys.executable, str(FG / "jscc_awgn.py"), "--encoder-codec", "jscc_natural32_awgn_cbr1-12"],
     "jscc_natural32_awgn_cbr1-12", "same codec"),
    ([sys.executable, str(FG / "jscc_awgn.py"), "--adapter", "/no/such/adapter.json"], "/no/such/adapter.json",
     "checkpoints"),
    ([sys.executable, str(FG / "jscc_awgn.py"), "--adapter", "jscc_natural32_awgn_cbr1-6"],
     "jscc_natural32_awgn_cbr1-6", "latent adapter"),
    ([sys.executable, str(FG / "jscc_awgn.py"), "--attack", "fgsm"], "fgsm", "pgd"),
    ([sys.executable, str(FG / "cddm_rayleigh.py"), "--frames", "many"], "many", "-1"),
    ([sys.executable, str(FG / "demo_gui.py"), "--sweep-snr", "0:20"], "0:20", "START:STOP:STEP"),
    ([*SEMRADIO, "run", str(FG / "jscc_rayleigh.py"), "--", "--batch", "-3"], "-3", "positive"),
    ([*SEMRADIO, "sweep", "/no/such/grid.toml"], "/no/such/grid.toml", "existing file"),
    ([*SEMRADIO, "sweep", "--cbr", "abc"], "abc", "1/6"),
    ([*SEMRADIO, "bench", "speed"], "speed", "runtime"),
    ([*SEMRADIO, "eval", "fid"], "fid", "cdiff"),
    ([*SEMRADIO, "digital", "ber"], "ber", "bler"),
    ([*SEMRADIO, "frobnicate"], "frobnicate", "run"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,bad,accepted", MISTAKES, ids=[" ".join(m[0][1:])[-60:] for m in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2_before_anything_starts(argv, bad, accepted):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    seconds = time.perf_counter() - t0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1, r.stderr
    assert bad in lines[0] and accepted in lines[0], lines[0]
    assert "Traceback" not in r.stderr and not re.search(r"\w+=", lines[0]), lines[0]  # command line, not API
    assert r.stdout == "", r.stdout  # no summary: nothing ran
    assert seconds < QUICK_S, f"{seconds:.1f} s: the flowgraph must not start"


def test_one_line_parser_error_has_no_usage_block(capsys):
    p = OneLineParser(prog="prog")
    p.add_argument("--batch", type=positive_int, required=True)
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--batch", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "prog: error: argument --batch: 0 is not a positive integer (use 1, 2, ...)\n"
    with pytest.raises(SystemExit):
        p.parse_args([])
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("check,text", [(positive_int, "0"), (positive_int, "1.5"), (finite_float, "inf"),
                                        (finite_float, "-nan"), (frame_count, "-2"), (ratio, "0"), (ratio, "1/0"),
                                        (dataset_spec, "folder:/no/such"), (dataset_spec, "cifar100"),
                                        (output_file, "/no/such/dir/out.csv"), (checkpoint_ref("codec"), "nope")])
def test_checks_reject_with_the_value_named(check, text):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        check(text)
    assert text.split(":")[-1] in str(exc.value) and "\n" not in str(exc.value)


def test_checks_accept_good_values(tmp_path):
    assert positive_int("3") == 3 and finite_float("-2.5") == -2.5 and frame_count("-1") == -1
    assert ratio("1/6") == "1/6" and dataset_spec("natural32") == "natural32"
    assert dataset_spec(f"folder:{tmp_path}:32") == f"folder:{tmp_path}:32"
    assert output_file(str(tmp_path / "m.csv")) == str(tmp_path / "m.csv")
    assert checkpoint_ref("codec")("jscc_natural32_awgn_cbr1-6") == "jscc_natural32_awgn_cbr1-6"
