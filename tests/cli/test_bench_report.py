"""``semradio bench``'s reporting: a failed check names what failed, the value, what was needed and
by how much; queueing latency is labelled; suites without checks say so. On synthetic results
(no benchmark runs here: speed is the benchmark's business)."""

from __future__ import annotations

import pytest

from semradio.cli.bench import bridges, e2e, hostile, realtime
from semradio.cli.bench.report import check, checks_summary, human, notes


def _out(results: dict) -> dict:
    return {"suite": "x", "seconds": 1.0, "machine": {"python": "3.11", "cpus": 2, "platform": "p"},
            "results": results}


def test_check_ops_and_margins() -> None:
    assert check("a", 3, "<", 4)["ok"] and not check("a", 4, "<", 4)["ok"]
    assert check("a", 5, ">", 4)["ok"] and not check("a", 4, ">", 4)["ok"]
    c = check("frames lost", 3, "<=", 0)
    assert c == {"ok": False, "what": "frames lost", "value": 3.0, "need": "<= 0", "short_by": 3.0}
    with pytest.raises(ValueError, match="op must be"):
        check("a", 1, "==", 1)


def test_human_lists_failed_checks_first_with_value_need_and_margin() -> None:
    res = {"rate": 1.0, **checks_summary({"ok": check("fine", 1, ">=", 1), "bad": check("rate", 0.25, ">=", 0.3)})}
    text = human(_out(res)).splitlines()
    assert text[1:3] == ["FAILED checks:", "  rate: 0.25, needs >= 0.3 (short by 0.05)"]
    assert res["checks"] == {"ok": True, "bad": False}
    assert "all checks passed" in human(_out({"checks_failed": []}))
    assert "no pass/fail checks in this suite" in human(_out({"rate": 1.0}))


def test_e2e_saturated_latency_is_labelled_queueing_in_json_and_text() -> None:
    point = e2e.label_latency({"saturated": {"latency_p50_ms": 900.0}, "paced": {"latency_p50_ms": 40.0}})
    assert point["saturated"]["latency_note"].startswith("queueing")
    assert point["paced"]["latency_note"].startswith("processing")
    assert point["saturated"]["latency_p50_ms"] == 900.0  # existing keys unchanged
    res = {"devices": {"cpu": {"batch_1": point, "batch_16": e2e.label_latency({"saturated": {}, "paced": {}})}}}
    found = notes(res)
    assert found == [f"saturated latency: {e2e.SATURATED_LATENCY_NOTE}", f"paced latency: {e2e.PACED_LATENCY_NOTE}"]
    text = human(_out(res))
    assert "Notes:" in text and "saturated latency: queueing" in text


def _hostile_class(**kw: object) -> dict:
    r = {"sent": 10, "valid_sent": 10, "frames_out": 10, "malformed_by_kind": {"msgpack": 10},
         "bad_tags": 0, "graph_errors": [], "ended_cleanly": True}
    r.update(kw)
    return r


def test_hostile_checks_follow_the_security_promises() -> None:
    good = {"native": {"random bytes": _hostile_class()},
            "gnuradio": {"tag dropped, frame kept": _hostile_class(frames_out=20, malformed_by_kind={})},
            "specs": {"class names tried": 10, "refused before construction": 10},
            "memory": {"4 MB": {"ratio": 1.2}}}
    assert hostile.checks(good)["checks_failed"] == []
    bad = {"native": {"random bytes": _hostile_class(frames_out=9, ended_cleanly=False)},
           "specs": {"class names tried": 10, "refused before construction": 9},
           "memory": {"4 MB": {"ratio": 4.5}}}
    failed = hostile.checks(bad)["checks_failed"]
    assert failed == ["native random bytes: graph errors or unclean end: 1, needs <= 0 (short by 1)",
                      "native random bytes: valid frames out: 9, needs >= 10 (short by 1)",
                      "native random bytes: sent + valid - malformed - frames out: 1, needs <= 0 (short by 1)",
                      "graph-spec class names refused before construction: 9, needs >= 10 (short by 1)",
                      "4 MB: peak RSS growth / message size: 4.5, needs < 4 (short by 0.5)"]


def test_realtime_checks_hold_each_run_to_one_miss_in_300_frames() -> None:
    point = {"fps": 30.0, "steps": 1, "runs": {"torch": [{"deadline_misses": 2}, {"deadline_misses": 0}],
                                               "onnx": [{"deadline_misses": None}]}}
    out = realtime.checks({"frames": 600, "points": [point]})
    assert out["checks"] == {"30 frames/s, s = 1, torch run 1": True, "30 frames/s, s = 1, torch run 2": True}
    out = realtime.checks({"frames": 300, "points": [point]})
    assert out["checks_failed"] == ["30 frames/s, s = 1, torch run 1: deadline misses of 300 frames: 2, "
                                    "needs <= 1 (short by 1)"]


def test_bridges_checks_count_lost_and_malformed_frames() -> None:
    out = {"config": {"seconds": 1}, "native_iq": {"frames": 100, "malformed": 0, "lost": 0},
           "raw_pyzmq_iq": {"frames": 50}, "from_gnuradio_iq": {"skipped": "no gnuradio"}}
    assert bridges.checks(out)["checks_failed"] == []
    out["native_iq"].update(lost=2)
    out["gnuradio_iq"] = {"frames": 0, "malformed": 1, "lost": 0}
    assert bridges.checks(out)["checks_failed"] == [
        "native_iq frames lost: 2, needs <= 0 (short by 2)",
        "gnuradio_iq frames received: 0, needs > 0 (at the limit, which it must pass)",
        "gnuradio_iq frames malformed: 1, needs <= 0 (short by 1)"]


def test_runtime_bench_refuses_a_baseline_that_is_not_a_checkout(tmp_path):
    import pytest

    from semradio.cli.bench.runtime import compare_with

    with pytest.raises(ValueError, match="not a semradio checkout"):
        compare_with(str(tmp_path), 1)
