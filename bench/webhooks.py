"""Outbound webhooks (bench/README.md, "Webhooks"); a section of bench/run.py
(--webhooks-only, --skip-webhooks).

Issue 21: "The allocation benchmark in the same run, with and without one active
subscription, differs by at most 10 %" and "`make bench`: events delivered per second and
the delay from commit to delivery (p50/p99) under a steady intake load". And, of the
outbox's design: "If the event table itself can serve as the outbox, with a delivery cursor
per subscription, measure both designs and keep the cheaper."

1. Allocation (get-next + start from 8 processes, alloc.measure) on the allocation bench's
   database, in three variants taken in turn, pair after pair, each on a freshly seeded
   backlog:
   - `none`: no subscription;
   - `subscribed`: one active subscription to every kind — the product's outbox, the event
     table itself: each event carries its transaction id, nothing else is written;
   - `trigger`: the other design, installed here for the measurement only: a statement
     trigger on the event table writes one outbox row per event and matching active
     subscription, in the same transaction (as a transactional outbox table does).
   The ratio is the mean rate of each variant ÷ the mean rate of `none`.
2. Delivery, on a small database of its own: a receiver process on loopback
   (tests/webhook_receiver.py), the periodic job run every second as beat runs it
   (allocation.tasks.webhooks_pump), one subscription to every kind.
   - Steady load: items taken in through the intake service at a fixed rate; for each, the
     time its transaction committed (when the service returned) and the time the receiver
     got its `created` event: the delay's p50/p99, and events delivered per second.
   - Backlog: that many items taken in with the job stopped, then the job started: events
     delivered per second until the last one is received.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import alloc
import db

RATIO_TARGET = 0.90
DEFAULT_BACKLOG, QUICK_BACKLOG = 200_000, 50_000
DEFAULT_ALLOCATIONS, QUICK_ALLOCATIONS = 5_000, 1_000
DEFAULT_PAIRS = 2
VARIANTS = ("none", "subscribed", "trigger")

# The other design, for the measurement: an outbox table written by a trigger in the
# transaction of every event, one row per matching active subscription.
TRIGGER_OUTBOX = """
CREATE TABLE bench_outbox (
    id bigserial PRIMARY KEY, subscription_id integer NOT NULL, event_id bigint NOT NULL, item_id bigint NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'pending', created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX bench_outbox_item ON bench_outbox (subscription_id, item_id, id) WHERE status = 'pending';
CREATE FUNCTION bench_outbox_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM allocation_webhooksubscription WHERE is_active) THEN
        INSERT INTO bench_outbox (subscription_id, event_id, item_id)
        SELECT s.id, e.id, e.item_id FROM fresh e JOIN allocation_webhooksubscription s
            ON s.is_active AND e.kind = ANY(s.kinds);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_outbox_write AFTER INSERT ON allocation_workitemevent
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION bench_outbox_write();
"""
TRIGGER_OUTBOX_DROP = """
DROP TRIGGER IF EXISTS bench_outbox_write ON allocation_workitemevent;
DROP FUNCTION IF EXISTS bench_outbox_write();
DROP TABLE IF EXISTS bench_outbox;
"""
SUBSCRIBE = """
INSERT INTO allocation_webhooksubscription (name, url, format, kinds, sources, secret, is_active, paused_reason,
                                            max_attempts, created_at)
VALUES ('bench', %(url)s, 'json', %(kinds)s, '{}', 'whsec_bench', true, '', 12, now())
"""
EVENT_KINDS = ["created", "assigned", "started", "pended", "follow_up_due", "completed", "released", "transferred",
               "cancelled", "priority_changed", "reservation_expired", "rebalanced", "rejected", "resumed",
               "step_entered", "sla_warning", "sla_breach"]


def add_arguments(p) -> None:
    p.add_argument("--skip-webhooks", action="store_true", help="do not run the webhooks section")
    p.add_argument("--webhooks-only", action="store_true", help="only the webhooks section (bench/webhooks.py)")
    p.add_argument("--webhooks-backlog", type=int,
                   help=f"backlog for the allocation variants (default {DEFAULT_BACKLOG}; --quick {QUICK_BACKLOG})")
    p.add_argument("--webhooks-allocations", type=int,
                   help=f"timed allocations per measurement (default {DEFAULT_ALLOCATIONS}; --quick "
                        f"{QUICK_ALLOCATIONS})")
    p.add_argument("--webhooks-pairs", type=int, default=DEFAULT_PAIRS,
                   help=f"rounds of the three variants (default {DEFAULT_PAIRS})")
    p.add_argument("--webhooks-rate", type=float, default=50.0, help="steady intake, items per second (default 50)")
    p.add_argument("--webhooks-seconds", type=float, default=30.0, help="steady intake duration (default 30)")
    p.add_argument("--webhooks-burst", type=int, default=5_000, help="items delivered from a backlog (default 5000)")


def resolve(args) -> tuple[int, int]:
    return (args.webhooks_backlog or (QUICK_BACKLOG if args.quick else DEFAULT_BACKLOG),
            args.webhooks_allocations or (QUICK_ALLOCATIONS if args.quick else DEFAULT_ALLOCATIONS))


def order(pairs: int) -> list[str]:
    """none, subscribed, trigger, then the reverse, …: a drift in the machine favours none."""
    out: list[str] = []
    for i in range(pairs):
        out += list(VARIANTS) if i % 2 == 0 else list(reversed(VARIANTS))
    return out


def _variant_set(t: db.Target, variant: str) -> None:
    with db.connect(t.url) as c:
        c.execute(TRIGGER_OUTBOX_DROP)
        c.execute("DELETE FROM allocation_webhookdelivery")
        c.execute("DELETE FROM allocation_webhooksubscription")
        if variant != "none":
            c.execute(SUBSCRIBE, {"url": "http://127.0.0.1:9/unused", "kinds": EVENT_KINDS})
        if variant == "trigger":
            c.execute(TRIGGER_OUTBOX)


def allocation_run(t: db.Target, *, env: dict, agent_ids: list[int], backlog: int, allocations: int, pairs: int,
                   workers: int, round_size: int, say=print) -> dict:
    allocations = min(allocations, backlog // 2)
    rep: dict = {"backlog": backlog, "allocations": allocations, "pairs": pairs, "measurements": [],
                 "failed_checks": []}
    say(f"webhooks: allocation with no subscription, with one (the event table as the outbox), and with a trigger "
        f"outbox (the other design); backlog {backlog:,}, {allocations:,} allocations per measurement, × {pairs}")
    try:
        for variant in order(pairs):
            seeded = db.reset_items(t, backlog)
            _variant_set(t, variant)
            before = db.noise(t)
            m = alloc.measure(env=env, db_url=t.url, agent_ids=agent_ids, workers=workers, allocations=allocations,
                              round_size=round_size)
            with db.psycopg.connect(t.url) as vc:
                once = alloc.verify(vc, m.pop("taken"))
                outbox_rows = (vc.execute("SELECT count(*) FROM bench_outbox").fetchone()[0]
                               if variant == "trigger" else None)
            m.update(variant=variant, seed=seeded, noise_before=before, exactly_once=once, outbox_rows=outbox_rows)
            rep["measurements"].append(m)
            cpu = m["cpu_ms_per_allocation"]
            say(f"  {variant:>10}: {m['allocations']:,} in {m['seconds']:.1f} s = {m['rate_per_s']:,.0f}/s | CPU ms "
                f"per allocation: workers {cpu['workers_python']} + postgres {cpu['postgres_backends']} | "
                + (f"outbox rows {outbox_rows:,} | " if outbox_rows is not None else "")
                + "exactly once " + ("OK" if once["ok"] else "FAILED: " + "; ".join(once["problems"])))
            if not once["ok"]:
                rep["failed_checks"].append(f"exactly-once with webhooks {variant}")
    finally:
        _variant_set(t, "none")
    rates = {v: [m["rate_per_s"] for m in rep["measurements"] if m["variant"] == v] for v in VARIANTS}
    means = {v: statistics.fmean(r) for v, r in rates.items()}
    rep["rates"] = rates
    rep["ratio"] = {v: round(means[v] / means["none"], 3) for v in VARIANTS if v != "none"}
    rep["pass"] = rep["ratio"]["subscribed"] >= RATIO_TARGET
    return rep


# Delivery -------------------------------------------------------------------------------------

_INTAKE = """
import json, sys, time
import django
django.setup()
from allocation import services
from datetime import timedelta
from allocation.models import Queue
from core.actors import SystemActor
rate, seconds, burst, out = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
queue, _ = Queue.objects.get_or_create(code="bench-hooks", defaults={
    "name": "Bench hooks", "sla_target": timedelta(days=1), "standard_handle_time": timedelta(minutes=15)})
actor = SystemActor("bench")
committed = {}
def take(n):
    key = f"H-{n}-{out[-10:]}"
    draft = services.ItemDraft(queue=queue, source="bench", external_id=key, customer_ref=f"C-{n % 97}",
                               title=f"Case {n}")
    services.item_intake(actor=actor, draft=draft)
    committed[key] = time.time()
if burst:
    for n in range(burst):
        take(n)
else:
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        take(n)
        n += 1
        time.sleep(max(0.0, started + n / rate - time.perf_counter()))
json.dump(committed, open(out, "w"))
"""

# What beat does: the job every second (allocation.tasks.webhooks_pump, as the worker runs it).
_PUMP = """
import time
import django
django.setup()
from allocation.tasks import webhooks_pump
while True:
    started = time.monotonic()
    webhooks_pump()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""


def _received(log: Path) -> dict[str, float]:
    got = {}
    for line in log.read_text().splitlines():
        request = json.loads(line)
        body = json.loads(request["body"])
        if body["type"] == "item.created":
            got.setdefault(body["data"]["item"]["external_id"], request["at"])
    return got


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def delivery_run(t: db.Target, *, rate: float, seconds: float, burst: int, say=print) -> dict:
    """On `t` (migrated, empty): the steady-load delay and the backlog's delivery rate."""
    env = db.django_env(t)
    folder = Path(tempfile.mkdtemp(prefix="wfo-bench-hooks-"))
    port = _free_port()
    log = folder / "received.jsonl"
    log.touch()
    with db.connect(t.url) as c:
        c.execute("DELETE FROM allocation_webhookdelivery")
        c.execute("DELETE FROM allocation_webhooksubscription")
        c.execute(SUBSCRIBE, {"url": f"http://127.0.0.1:{port}/ok", "kinds": EVENT_KINDS})
    rep: dict = {"rate_per_s": rate, "seconds": seconds, "burst": burst}
    receiver = subprocess.Popen([sys.executable, "-m", "tests.webhook_receiver", str(port), str(log)], env=env,
                                cwd=db.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    pump = None
    try:
        time.sleep(0.5)
        pump = _start(_PUMP, env)
        committed = _intake(env, rate, seconds, 0, folder / "steady.json")
        rep["steady"] = _wait_and_measure(log, committed, say)
        _stop(pump)
        pump = None
        committed = _intake(env, 0, 0, burst, folder / "burst.json")
        log.write_text("")
        started = time.time()
        pump = _start(_PUMP, env)
        burst_rep = _wait_and_measure(log, committed, say, since=started)
        rep["backlog"] = burst_rep
    finally:
        if pump is not None:
            _stop(pump)
        os.killpg(receiver.pid, signal.SIGTERM)
        receiver.wait(timeout=30)
    s, b = rep["steady"], rep["backlog"]
    say(f"  steady intake {rate:g}/s for {seconds:g} s: {s['delivered']:,}/{s['expected']:,} delivered, "
        f"{s['events_per_s']:,.0f} events/s; commit → receiver p50 {s['delay_ms']['p50']:,.0f} ms, "
        f"p99 {s['delay_ms']['p99']:,.0f} ms (the job runs every second)")
    say(f"  backlog of {burst:,}: delivered in {b['span_s']:.1f} s = {b['events_per_s']:,.0f} events/s")
    return rep


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(script: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=db.REPO, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def _intake(env: dict, rate: float, seconds: float, burst: int, out: Path) -> dict[str, float]:
    subprocess.run([sys.executable, "-c", _INTAKE, str(rate), str(seconds), str(burst), str(out)], env=env,
                   cwd=db.REPO, check=True)
    return json.loads(out.read_text())


def _wait_and_measure(log: Path, committed: dict[str, float], say, *, since: float | None = None,
                      timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:  # counting lines is cheap; parsing them all each time would load the machine
        with log.open("rb") as lines:
            if sum(1 for _ in lines) >= len(committed):
                break
        time.sleep(0.5)
    got = _received(log)
    delivered = {key: got[key] for key in committed if key in got}
    delays = [(delivered[key] - committed[key]) * 1000 for key in delivered]
    first = since if since is not None else min(committed.values())
    span = (max(delivered.values()) - first) if delivered else float("nan")
    return {"expected": len(committed), "delivered": len(delivered), "span_s": round(span, 2),
            "events_per_s": round(len(delivered) / span, 1) if delivered and span > 0 else 0.0,
            "delay_ms": {name: round(_pct(delays, p), 1) for name, p in (("p50", 50), ("p95", 95), ("p99", 99))}
            if delays else {}}


def summary_lines(rep: dict) -> list[str]:
    lines = []
    if "rates" in rep.get("allocation", {}):
        a = rep["allocation"]
        each = lambda v: "/".join(f"{x:,.0f}" for x in a["rates"][v])  # noqa: E731
        lines.append(
            f"WEBHOOKS  get-next + start at backlog {a['backlog']:,}: with one subscription {each('subscribed')} ÷ "
            f"without {each('none')} = {a['ratio']['subscribed']:.2f} (target ≥ {RATIO_TARGET}) "
            + ("PASS" if a["pass"] else "FAIL")
            + f"; the trigger-outbox design {each('trigger')} = {a['ratio']['trigger']:.2f}")
    if "steady" in rep.get("delivery", {}):
        s, b = rep["delivery"]["steady"], rep["delivery"]["backlog"]
        lines.append(f"WEBHOOKS  delivery: steady {rep['delivery']['rate_per_s']:g} items/s → commit-to-receiver "
                     f"p50 {s['delay_ms'].get('p50', 0):,.0f} ms, p99 {s['delay_ms'].get('p99', 0):,.0f} ms, "
                     f"{s['delivered']:,}/{s['expected']:,} delivered; a backlog goes out at "
                     f"{b['events_per_s']:,.0f} events/s")
    return lines
