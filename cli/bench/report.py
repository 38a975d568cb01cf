"""What ``semradio bench`` prints: the checks a suite makes, each saying what failed and by how
much, the ``--quick`` settings, and the human-readable form of a result (``--json``: the JSON).

    >>> check("inproc 4 KiB semradio/raw", 0.21, ">=", 0.30)
    {'ok': False, 'what': 'inproc 4 KiB semradio/raw', 'value': 0.21, 'need': '>= 0.3', 'short_by': 0.09}
"""

from __future__ import annotations

import argparse
import json
from typing import Any

#: ``--quick``: option -> value for a run of seconds, applied to the options a suite has and the
#: user left at their default (figures from a quick run are indicative only).
QUICK: dict[str, Any] = {"seconds": 0.3, "repeat": 1, "repeats": 1, "reps": 1, "count": 200, "bursts": 4,
                         "frames": 60, "realtime_seconds": 5.0, "pause": 0.5, "warmup": 1.0, "batches": [1],
                         "sizes": [32]}


def apply_quick(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Set the :data:`QUICK` values on ``args`` where the suite has the option and it is still at
    its default; the options changed."""
    changed = []
    for dest, value in QUICK.items():
        if hasattr(args, dest) and getattr(args, dest) == parser.get_default(dest):
            setattr(args, dest, value)
            changed.append(dest)
    return changed


#: The comparisons :func:`check` knows.
OPS: dict[str, Any] = {">=": lambda v, lim: v >= lim, "<=": lambda v, lim: v <= lim,
                       ">": lambda v, lim: v > lim, "<": lambda v, lim: v < lim}


def check(what: str, value: float, op: str, limit: float) -> dict[str, Any]:
    """One check: ``value op limit`` (op ``>=``, ``<=``, ``>`` or ``<``), with by how much it is
    missed."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, not {op!r}")
    ok = OPS[op](value, limit)
    out: dict[str, Any] = {"ok": bool(ok), "what": what, "value": round(float(value), 4), "need": f"{op} {limit:g}"}
    if not ok:
        out["short_by"] = round(abs(float(limit) - float(value)), 4)
    return out


def failed_lines(checks: dict[str, dict[str, Any]]) -> list[str]:
    """One line per failed check of :func:`check`: what, the value, what was needed, by how much."""
    return [f"{c['what']}: {c['value']:g}, needs {c['need']} "
            + (f"(short by {c['short_by']:g})" if c["short_by"] else "(at the limit, which it must pass)")
            for c in checks.values() if not c["ok"]]


def checks_summary(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The two keys a suite adds for its checks (dicts of :func:`check`, by name).

    Parameters
    ----------
    checks : dict of str to dict
        The checks, each from :func:`check`, by a short name.

    Returns
    -------
    dict
        ``checks`` (name -> passed) and ``checks_failed`` (:func:`failed_lines`).

    Examples
    --------
    >>> checks_summary({"lost_0": check("native_iq frames lost", 3, "<=", 0)})
    {'checks': {'lost_0': False}, 'checks_failed': ['native_iq frames lost: 3, needs <= 0 (short by 3)']}
    """
    return {"checks": {k: c["ok"] for k, c in checks.items()}, "checks_failed": failed_lines(checks)}


def notes(obj: Any, path: str = "") -> list[str]:
    """Every ``*_note`` value in a result (a label a figure needs to be read right, e.g. that a
    latency is queueing delay), as ``"section key: note"``, first occurrence of each text only.

    Examples
    --------
    >>> notes({"batch_1": {"saturated": {"latency_note": "queueing"}}, "batch_2": {"x_note": "queueing"}})
    ['saturated latency: queueing']
    """
    found: list[tuple[str, str]] = []

    def walk(o: Any, where: str) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(k, str) and k.endswith("_note") and isinstance(v, str):
                    found.append((f"{where.rsplit('.', 1)[-1]} {k[:-5]}".strip(), v))
                else:
                    walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(o, list):
            for x in o:
                walk(x, where)

    walk(obj, path)
    seen: set[str] = set()
    return [f"{w}: {t}" for w, t in found if not (t in seen or seen.add(t))]


def _lines(obj: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(obj, dict):
        out = []
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v and any(isinstance(x, (dict, list)) for x in
                                                         (v.values() if isinstance(v, dict) else v)):
                out += [f"{pad}{k}:", *_lines(v, indent + 1)]
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: " + ", ".join(f"{a} {b}" for a, b in v.items() if not str(a).endswith("_note")))
                out += [f"{pad}  ({str(a)[:-5]}: {b})" for a, b in v.items() if str(a).endswith("_note")]
            else:
                out.append(f"{pad}{k}: {v if not isinstance(v, list) else ', '.join(map(str, v))}")
        return out
    if isinstance(obj, list):
        return [ln for x in obj for ln in _lines(x, indent)]
    return [f"{pad}{obj}"]


def human(out: dict[str, Any]) -> str:
    """The readable form of a bench result: a header, the failed checks first, then the figures."""
    res = out.get("results") or {}
    head = [f"semradio bench {out.get('suite')}: {out.get('seconds')} s on {out['machine']['cpus']} CPUs "
            f"(Python {out['machine']['python']})" + (" -- quick run, indicative only" if out.get("quick") else "")]
    failed = res.get("checks_failed") if isinstance(res, dict) else None
    if failed:
        head += ["FAILED checks:", *[f"  {f}" for f in failed]]
    elif isinstance(res, dict) and "checks_failed" in res:
        head.append("all checks passed")
    else:
        head.append("no pass/fail checks in this suite: figures only")
    found = notes(res)
    if found:
        head += ["Notes:", *[f"  {n}" for n in found]]
    # the pass/fail map is for --json callers; the header above already says what failed
    hide = ("checks_failed", "checks") if isinstance(res, dict) and "checks_failed" in res else ()
    body = {k: v for k, v in res.items() if k not in hide} if isinstance(res, dict) else res
    return "\n".join(head + _lines(body, 1))


def render(out: dict[str, Any], as_json: bool) -> str:
    """``--json``: the object on one line; else :func:`human`."""
    return json.dumps(out, default=str) if as_json else human(out)


__all__ = ["OPS", "QUICK", "apply_quick", "check", "checks_summary", "failed_lines", "human", "notes", "render"]
