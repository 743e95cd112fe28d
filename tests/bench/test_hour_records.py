"""The agent-hour's load generator runs as several locust processes (bench/agent_hour.py):
their records must add up to what one process playing every agent would have recorded."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def agent_hour():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_agent_hour", BENCH / "agent_hour.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def _records(times: dict[int, int], **extra) -> dict:
    return {"endpoints": {"item page": {"requests": sum(times.values()), "failures": 0, "max_ms": max(times),
                                        "response_times": {str(ms): n for ms, n in times.items()}}},
            "statuses": {"item page": {"200": sum(times.values())}}, "errors": {}, "error_samples": [],
            "counts": {"agent hours": 1}, "received": {}, "first_request": 10.0, "last_request": 20.0, **extra}


def _percentile_by_sorting(times: dict[int, int], fraction: float) -> int:
    """Locust's rule, the long way: the request at place int(n × fraction) of n, fastest first."""
    ordered = sorted(ms for ms, n in times.items() for _ in range(n))
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def test_the_percentiles_come_from_the_added_histograms(agent_hour):
    # One process saw the fast answers, the other the slow tail: each alone has a p99 far
    # from the run's.
    fast, slow = {5: 90, 6: 8}, {5: 1, 400: 1}
    merged = agent_hour.merge_records([_records(fast, received={"0": [1]}),
                                       _records(slow, received={"1": [2]}, first_request=5.0)])
    page = merged["endpoints"]["item page"]
    assert page["requests"] == 100 and page["max_ms"] == 400
    assert (page["p50_ms"], page["p95_ms"], page["p99_ms"]) == (5, 6, 400)
    assert merged["statuses"] == {"item page": {"200": 100}}
    assert merged["counts"] == {"agent hours": 2}
    assert merged["received"] == {"0": [1], "1": [2]}
    assert (merged["first_request"], merged["last_request"], merged["generators"]) == (5.0, 20.0, 2)


def test_the_percentile_rule_is_locusts(agent_hour):
    rng = random.Random(24)
    for _ in range(200):
        times = {rng.randint(1, 500): rng.randint(1, 30) for _ in range(rng.randint(1, 40))}
        for fraction in (0.5, 0.95, 0.99):
            assert agent_hour._percentile(times, fraction) == _percentile_by_sorting(times, fraction)


def test_the_processes_slow_requests_are_kept_together_in_time_order(agent_hour):
    merged = agent_hour.merge_records([_records({5: 1}, slow=[[12.0, "item page", 250.0]]),
                                       _records({5: 1}, slow=[[11.0, "inbox page", 300.0]]),
                                       _records({5: 1})])
    assert merged["slow"] == [[11.0, "inbox page", 300.0], [12.0, "item page", 250.0]]


# The pended item's follow-up, as the agents play it: bench/hourfile.py imports locust,
# which patches the process it is imported into for gevent, so it is read in a process of
# its own.
_FOLLOW_UP_PLAN = """
import json, hourfile as h
out = {}
for compression in (60, 120):
    tick_s = 30.0 / compression
    for late_ticks in (0, 0.5, 1):
        pended = (h.CYCLE_TICKS[h.PEND_CYCLE] + h.FINISH_AFTER_TICKS + late_ticks) * tick_s
        for fraction in (0.0, 0.3, 0.99):  # where in its second the pend was sent
            now = 1_000_000 + fraction + pended
            due_tick = (h.follow_up_at(now, tick_s) - 1_000_000) / tick_s
            taken_by = next(c for c, tick in enumerate(h.CYCLE_TICKS) if tick >= due_tick)
            out[f"{compression} {late_ticks} {fraction}"] = [due_tick, taken_by]
print(json.dumps({"plan": out, "pend": h.PEND_CYCLE, "release": h.RELEASE_CYCLE,
                  "finish": h.FINISH_AFTER_TICKS, "ticks": h.CYCLE_TICKS}))
"""


def test_the_follow_up_comes_due_in_the_agents_hour_and_a_completing_cycle_takes_it():
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-c", _FOLLOW_UP_PLAN], cwd=BENCH, capture_output=True, text=True,
                          check=True, timeout=60)
    found = json.loads(done.stdout)
    ticks, pend_cycle = found["ticks"], found["pend"]
    for case, (due_tick, taken_by) in found["plan"].items():
        # After the pend, in the same hour (120 ticks), on a whole second.
        assert ticks[pend_cycle] + found["finish"] < due_tick < 120, case
        # Taken by a cycle that completes it: neither the pend's nor the release's.
        assert taken_by not in (pend_cycle, found["release"]), case
