"""The checkpoint search path: explicit path, $SEMRADIO_CHECKPOINTS, the user directory, the
shipped checkpoints; nothing written over an existing checkpoint; `semradio checkpoints`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from semradio.models import registry

SHIPPED = registry.SHIPPED_DIR
CODEC = "jscc_natural32_awgn_cbr1-6"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)
    return tmp_path / "home"


def copy_checkpoint(name: str, directory: Path, new_name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    new = new_name or name
    cfg = json.loads((SHIPPED / f"{name}.json").read_text())
    shutil.copy(SHIPPED / f"{name}.safetensors", directory / f"{new}.safetensors")
    cfg.update(name=new, weights=f"{new}.safetensors")
    (directory / f"{new}.json").write_text(json.dumps(cfg))
    return directory / f"{new}.json"


def test_search_order(home, tmp_path, monkeypatch) -> None:
    origins = [d.origin for d in registry.search_path()]
    assert origins[0] == "user" and origins[-1] == "shipped"
    assert registry.find_config(CODEC) == SHIPPED / f"{CODEC}.json"
    user = copy_checkpoint(CODEC, home / "checkpoints")  # a user model named like a shipped one
    assert registry.find_config(CODEC) == user
    env = copy_checkpoint(CODEC, tmp_path / "env")
    monkeypatch.setenv("SEMRADIO_CHECKPOINTS", f"{tmp_path / 'nowhere'}:{tmp_path / 'env'}")
    assert registry.find_config(CODEC) == env
    assert registry.find_config(SHIPPED / f"{CODEC}.safetensors") == SHIPPED / f"{CODEC}.json"  # a path is a path


def test_shadowing_is_reported_and_listed(home) -> None:
    copy_checkpoint(CODEC, home / "checkpoints")
    infos = [i for i in registry.list_checkpoints() if i.name == CODEC]
    assert [i.origin for i in infos] == ["user", "shipped"]
    assert infos[0].shadows == [f"shipped:{SHIPPED / (CODEC + '.json')}"]
    assert infos[1].family == "jscc" and infos[1].command.startswith("python tools/train.py jscc")


def test_missing_checkpoint_names_the_places_tried(home) -> None:
    with pytest.raises(FileNotFoundError, match="tried .*home/checkpoints/nope.json.*semradio checkpoints"):
        registry.find_config("nope")


def test_weights_name_cannot_leave_the_folder(tmp_path) -> None:
    js = tmp_path / "evil.json"
    js.write_text(json.dumps({"architecture": "deep_jscc", "weights": "../../etc/passwd"}))
    with pytest.raises(ValueError, match="file name next to the config"):
        registry.read_json(js)


def test_output_base_refuses_existing_and_odd_names(home) -> None:
    copy_checkpoint(CODEC, home / "checkpoints", "mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        registry.output_base("mine")
    assert registry.output_base("mine", overwrite=True) == home / "checkpoints" / "mine"
    assert registry.output_base("other") == home / "checkpoints" / "other"
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError):
            registry.output_base(bad)


def test_save_weights_never_replaces_without_overwrite_and_is_reproducible(home) -> None:
    import torch

    from semradio.models.checkpoint import load_codec, save_codec

    model = load_codec(CODEC)
    a = save_codec(model, home / "checkpoints" / "copy", {"train": {"command": "test"}})
    first = sha(a.with_suffix(".safetensors"))
    with pytest.raises(FileExistsError):
        save_codec(model, home / "checkpoints" / "copy", {})
    save_codec(model, home / "checkpoints" / "copy", {}, overwrite=True)
    assert sha(a.with_suffix(".safetensors")) == first  # same weights, same bytes
    again = load_codec("copy")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_semradio_checkpoints_lists_family_location_and_shadowing(home, capsys) -> None:
    from semradio.cli import main

    copy_checkpoint(CODEC, home / "checkpoints", "my_codec")
    copy_checkpoint(CODEC, home / "checkpoints")
    assert main(["checkpoints", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = next(r for r in rows if r["name"] == "my_codec")
    assert mine["family"] == "jscc" and mine["origin"] == "user" and mine["path"].startswith(str(home))
    assert main(["checkpoints", CODEC]) == 0
    text = capsys.readouterr().out
    assert "shadows" in text and "hidden by an earlier one" in text
    assert main(["checkpoints", "--path"]) == 0
    assert str(home / "checkpoints") in capsys.readouterr().out
    # a codec warm-started from another names it (the CBR 1/12 codec began as the 1/6 one)
    assert main(["checkpoints", "--json", "jscc_natural32_awgn_cbr1-12"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["init"] == "jscc_natural32_awgn_cbr1-6"
    assert main(["checkpoints", "jscc_natural32_awgn_cbr1-12"]) == 0
    assert "started from: jscc_natural32_awgn_cbr1-6" in capsys.readouterr().out
    # a fine-tuned decoder started from its base codec; an init recorded as a dict or nonsense
    assert main(["checkpoints", "--json", "jscc_natural32_rayleigh_cbr1-6_cddm",
                 "jscc_natural32_awgn_cbr1-6_wide"]) == 0
    inits = {r["name"]: r["init"] for r in json.loads(capsys.readouterr().out)}
    assert inits == {"jscc_natural32_rayleigh_cbr1-6_cddm": "jscc_natural32_rayleigh_cbr1-6",
                     "jscc_natural32_awgn_cbr1-6_wide": "wide6000_lr1e-3"}
    for bad in ([1], {"codec": 5}, 7):
        cfg = json.loads(copy_checkpoint(CODEC, home / "checkpoints", "odd").read_text())
        cfg["train"]["init"] = bad
        (home / "checkpoints" / "odd.json").write_text(json.dumps(cfg))
        assert main(["checkpoints", "--json", "odd"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["init"] is None


def test_the_listing_summarises_the_lowest_middle_and_highest_snr() -> None:
    from semradio.models.registry import _metric_summary

    by = {f"{s}": {"psnr_db": 20.0 + s / 10, "ssim": 0.5} for s in (20, 0, 15, 5, 10)}  # any order
    assert _metric_summary({"metrics": {"by_snr_db": by}}) == "PSNR 0 dB: 20.00, 10 dB: 21.00, 20 dB: 22.00"
    two = {"10": {"nmse_db": -20.0}, "20": {"nmse_db": -30.0}}
    assert _metric_summary({"metrics": {"by_snr_db": two}}) == "NMSE 10 dB: -20.00, 20 dB: -30.00"
    assert _metric_summary({"metrics": "not a dict"}) is None


def test_every_shipped_checkpoint_loads_with_its_weights() -> None:
    """A shipped checkpoint that is missing or broken is a failure, not a skip."""
    shipped = [i for i in registry.list_checkpoints([registry.SearchDir(SHIPPED, "shipped")])]
    names = {p.stem for p in SHIPPED.glob("*.json")}
    assert {i.name for i in shipped} == names and len(names) >= 26
    for i in shipped:
        assert i.error is None, i
        cfg = json.loads(i.path.read_text())
        assert sha(i.path.with_name(cfg["weights"])) == cfg["sha256"], i.name
        assert i.command, f"{i.name} records no training command"
