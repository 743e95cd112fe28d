#!/usr/bin/env python3
"""SLA alert scan benchmark (see bench/README.md, "SLA alert scan").

    .venv/bin/python bench/sla_scan.py                 # this part alone, full size (about 10 min)
    .venv/bin/python bench/sla_scan.py --quick         # smoke run
    .venv/bin/python bench/run.py --sla-only           # the same through run.py
    .venv/bin/python bench/run.py --skip-sla           # everything but this part

Issue: "Alert scan over 1,000,000 open items of which 1,000 cross a threshold: print the
scan time and the number of rows it read; target under 2 s per pass, and flat (within
1.5×) as completed history grows from 1M to 5M rows."

On its own database (`wfo_bench_sla`, created and dropped) it seeds by bulk SQL 1,000,000
open queued items, each with a running SLA clock whose next alert is in the future except
for exactly 1,000 that crossed a threshold 1–20 minutes before the bench's fixed "now"
(a Wednesday 12:00 UTC, inside the business calendar's working hours). Then, per size of
the completed history (default 1M, then 5M: completed items with stopped clocks), it
times `allocation.services.sla_alerts.sla_alerts_raise(now=NOW, batch_size=500)` in a
Django process: one untimed warm-up pass, then 3 timed passes (median), each on the same
work (the alerts and notifications are deleted and the 1,000 clocks put back between
passes), and counts what each pass read from pg_stat_user_tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import alloc  # noqa: E402
import db  # noqa: E402
import pass_timing  # noqa: E402

REPO = BENCH.parent
TIME_TARGET_S = 2.0      # per pass, at every history size
FLAT_TARGET = 1.5        # median at the largest history ÷ median at the smallest
DEFAULT_OPEN = 1_000_000
DEFAULT_CROSSING = 1_000
DEFAULT_HISTORY = [1_000_000, 5_000_000]
QUICK_OPEN, QUICK_CROSSING, QUICK_HISTORY = 50_000, 200, [20_000, 100_000]
DEFAULT_PASSES = 3
BATCH = 500              # batch_size passed to sla_alerts_raise (the service's default)

SOURCE = "bench-sla"
QUEUES = 20              # queue q is served by teams q % 5 and (q + 1) % 5: 2 supervisors per item
TEAMS = 5
AGENTS = 10              # only as completed_by of the history
THRESHOLDS = (50, 75, 90, 100)
# Queues with q % 5 == 4 (a fifth of the items) run on a business calendar: Monday–Friday
# 08:00–18:00 Europe/London, the Monday of the bench week a holiday. The others are 24×7.
CAL_ZONE = "Europe/London"
CAL_DAYS = range(5)
CAL_OPEN, CAL_CLOSE = wall_time(8), wall_time(18)


def bench_now(today: datetime | None = None) -> datetime:
    """The fixed "now" of every pass: the last Wednesday 12:00 UTC before today (12:00 or
    13:00 in London, inside the calendar's working hours, so no warning is deferred)."""
    today = (today or datetime.now(UTC)).astimezone(UTC)
    day = today.date() - timedelta(days=1)
    while day.weekday() != 2:
        day -= timedelta(days=1)
    return datetime.combine(day, wall_time(12), tzinfo=UTC)


def holiday_for(now: datetime):
    return now.date() - timedelta(days=2)   # the Monday of the bench week


def _working_time_module():
    """allocation/sla/working_time.py loaded on its own (pure; no Django needed): the seed
    computes the crossing clocks with the product's own arithmetic."""
    path = REPO / "allocation" / "sla" / "working_time.py"
    spec = importlib.util.spec_from_file_location("_bench_working_time", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # dataclasses look the module up while the class is built
    spec.loader.exec_module(mod)
    return mod


# Seeding --------------------------------------------------------------------------------

SEED_ORG = f"""
INSERT INTO allocation_businesscalendar (name, time_zone, description)
VALUES ('sla-bench-weekdays', '{CAL_ZONE}', 'SLA bench: Monday–Friday 08:00–18:00');
INSERT INTO allocation_workingwindow (calendar_id, weekday, start, "end")
SELECT c.id, d, '{CAL_OPEN}', '{CAL_CLOSE}' FROM allocation_businesscalendar c, generate_series(0, 4) d
 WHERE c.name = 'sla-bench-weekdays';

INSERT INTO allocation_team (name) SELECT 'sla-team-' || t FROM generate_series(0, {TEAMS - 1}) t;

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'sla-sup-' || s, 'Supervisor', s::text, 'sla-sup-' || s || '@bench.invalid', false, true, now()
  FROM generate_series(0, {TEAMS - 1}) s
UNION ALL
SELECT '!', false, 'sla-agent-' || a, 'Agent', a::text, '', false, true, now()
  FROM generate_series(0, {AGENTS - 1}) a;

INSERT INTO allocation_team_supervisors (team_id, user_id)
SELECT t.id, u.id FROM allocation_team t JOIN auth_user u ON u.username = 'sla-sup-' || substring(t.name from 10);

-- Handle time 5–30 min; the queue's plain target 4 h – 3 days.
INSERT INTO allocation_queue (code, name, description, is_active, allocation_mode,
                              standard_handle_time, reservation_timeout, sla_target, outcomes)
SELECT 'sla-q' || lpad(q::text, 2, '0'), 'SLA bench queue ' || q, '', true, 'pull',
       make_interval(mins => 5 + (q * 7) % 26), interval '10 minutes',
       make_interval(hours => 4 + (q * 13) % 69), '[]'::jsonb
  FROM generate_series(0, {QUEUES - 1}) q;

INSERT INTO allocation_queue_teams (queue_id, team_id)
SELECT q.id, t.id FROM allocation_queue q
  JOIN allocation_team t
    ON substring(t.name from 10)::int IN (substring(q.code from 6)::int % {TEAMS},
                                          (substring(q.code from 6)::int + 1) % {TEAMS});

-- One default policy per queue: 24×7 on the queue's target, or (q % 5 = 4) the business
-- calendar with 8, 16 or 24 working hours. Warnings at 50, 75, 90 %.
INSERT INTO allocation_slapolicy (queue_id, priority, target, calendar_id, warning_thresholds, pause_when_pended)
SELECT q.id, NULL,
       CASE WHEN n % 5 = 4 THEN make_interval(hours => 8 + 8 * (n % 3)) ELSE q.sla_target END,
       CASE WHEN n % 5 = 4 THEN (SELECT id FROM allocation_businesscalendar WHERE name = 'sla-bench-weekdays') END,
       '{{50,75,90}}', true
  FROM allocation_queue q CROSS JOIN LATERAL (SELECT substring(q.code from 6)::int AS n) k;

-- Threshold actions on every policy: at 75 % raise the priority by one and tell the
-- queue's supervisors; at the breach tell the holder (the supervisors, nobody holding it).
INSERT INTO allocation_slaaction (policy_id, threshold, position, kind, is_enabled, priority, notify, by_email,
                                  outside_working_time)
SELECT p.id, a.threshold, a.position, a.kind, true, NULL, a.notify, false, ''
  FROM allocation_slapolicy p
 CROSS JOIN (VALUES (75, 1, 'raise_priority', ''), (75, 2, 'notify', 'supervisors'),
                    (100, 1, 'notify', 'holder')) a(threshold, position, kind, notify);

CREATE UNLOGGED TABLE bench_sla_queue AS
SELECT substring(q.code from 6)::int AS n, q.id, q.standard_handle_time AS handle, p.target, p.calendar_id,
       p.id AS policy_id
  FROM allocation_queue q JOIN allocation_slapolicy p ON p.queue_id = q.id AND p.priority IS NULL;
CREATE UNLOGGED TABLE bench_sla_agent AS
SELECT substring(username from 11)::int AS n, id FROM auth_user WHERE username LIKE 'sla-agent-%';
CREATE UNLOGGED TABLE bench_sla_due (item_id bigint PRIMARY KEY, next_threshold smallint,
                                     next_alert_at timestamptz, priority smallint, due_at timestamptz,
                                     start_by timestamptz);
"""

# Open items: queued, received so that a fraction f in [0, 0.89) of the target has gone
# by at "now" (due = received + target; on the calendar queues that is wall-clock time,
# an approximation the scan never reads).
SEED_OPEN = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, received_at, due_at, start_by, outcome, created_at, updated_at)
SELECT q.id, '{SOURCE}', 'o' || g, 'cust-' || (g * 7919 %% 250000), 'SLA bench item ' || g, '{{}}'::jsonb,
       h.priority, 'queued', r.received, r.received + q.target, r.received + q.target - q.handle, '',
       r.received, r.received
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT (hashint8(g) & 2147483647) %% {QUEUES} AS qn,
              (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              ((hashint8(g + 2) & 2147483647) %% 8900) / 10000.0 AS f
       ) h
  JOIN bench_sla_queue q ON q.n = h.qn
 CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - q.target * h.f AS received) r
"""

# Their running clocks: the next threshold is the first at least 1 % of the target ahead
# of "now", so every next alert is in the future (the crossing ones are set afterwards).
SEED_OPEN_CLOCKS = """
INSERT INTO allocation_slaclock (item_id, calendar_id, target, thresholds, pause_when_pended, paused_working,
                                 paused_since, next_threshold, next_alert_at, stopped_at, policy_id)
SELECT w.id, q.calendar_id, q.target, '{50,75,90,100}', true, interval '0', NULL,
       t.pct, w.received_at + q.target * t.pct / 100, NULL, q.policy_id
  FROM allocation_workitem w
  JOIN bench_sla_queue q ON q.id = w.queue_id
 CROSS JOIN LATERAL (
       SELECT min(p) AS pct FROM unnest(ARRAY[50, 75, 90, 100]) p
        WHERE p / 100.0 >= extract(epoch FROM %(now)s::timestamptz - w.received_at)
                           / extract(epoch FROM q.target) + 0.01
       ) t
 WHERE w.id BETWEEN %(first)s AND %(last)s
"""

# Completed history: received 2–367 days before "now", closed 30 min – 34 h later by one
# of the agents; not held, so assignee NULL (workitem_assignee_iff_held).
SEED_HISTORY = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, assignee_id, completed_by_id, received_at, due_at, start_by,
                                 assigned_at, started_at, closed_at, outcome, created_at, updated_at)
SELECT q.id, '{SOURCE}', 'h' || g, 'cust-' || (g * 7919 %% 250000), 'SLA bench done ' || g, '{{}}'::jsonb,
       h.priority, 'completed', NULL, a.id, r.received, r.received + q.target,
       r.received + q.target - q.handle, r.closed - q.handle, r.closed - q.handle, r.closed, 'done',
       r.received, r.closed
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT (hashint8(g) & 2147483647) %% {QUEUES} AS qn,
              (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              make_interval(secs => (2 * 86400 + (hashint8(g + 2) & 2147483647) %% (365 * 86400))::double precision)
                AS age,
              make_interval(mins => (30 + (hashint8(g + 3) & 2147483647) %% 2010)::int) AS took
       ) h
  JOIN bench_sla_queue q ON q.n = h.qn
  JOIN bench_sla_agent a ON a.n = g %% {AGENTS}
 CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - h.age AS received,
                            %(now)s::timestamptz - h.age + h.took AS closed) r
"""

# Their clocks are stopped: no next alert, so they are not in slaclock_next_alert.
SEED_HISTORY_CLOCKS = """
INSERT INTO allocation_slaclock (item_id, calendar_id, target, thresholds, pause_when_pended, paused_working,
                                 paused_since, next_threshold, next_alert_at, stopped_at, policy_id)
SELECT w.id, q.calendar_id, q.target, '{50,75,90,100}', true, interval '0', NULL, NULL, NULL, w.closed_at,
       q.policy_id
  FROM allocation_workitem w
  JOIN bench_sla_queue q ON q.id = w.queue_id
 WHERE w.id BETWEEN %(first)s AND %(last)s
"""


# Alerts already raised: on open items for the thresholds their clock has passed, on the
# history for each threshold crossed before the item closed; all e-mailed (so none is
# pending), recipients left empty. Threshold times are wall-clock (24×7) arithmetic.
SEED_ALERTS = """
INSERT INTO allocation_slaalert (item_id, threshold, crossed_at, raised_at, recipient_ids, emailed_at)
SELECT k.item_id, p, w.received_at + k.target * p / 100, w.received_at + k.target * p / 100, '{}',
       w.received_at + k.target * p / 100 + interval '1 minute'
  FROM allocation_slaclock k
  JOIN allocation_workitem w ON w.id = k.item_id
 CROSS JOIN unnest(k.thresholds) p
 WHERE k.item_id BETWEEN %(first)s AND %(last)s
   AND CASE WHEN k.stopped_at IS NULL THEN p < k.next_threshold
            ELSE w.received_at + k.target * p / 100 <= k.stopped_at END
"""


def _drop_secondary_indexes(c, tables: list[str]) -> list[str]:
    """Drop the indexes that back no constraint (rebuilt after a big load: much faster
    than maintaining them row by row); returns their definitions."""
    rows = c.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
        "  JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = ANY(%s::regclass[]) AND NOT x.indisprimary"
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
        (tables,)).fetchall()
    for name, _ in rows:
        c.execute(db.sql.SQL("DROP INDEX {}").format(db.sql.Identifier(name)))
    return [d for _, d in rows]


def _load(c, *sqls: str, first: int, n: int, now: datetime, chunk: int) -> None:
    """Items g = first … first+n-1, their clocks (and alerts), in chunks (item ids follow g:
    the database is new and only this module inserts)."""
    for lo in range(first, first + n, chunk):
        hi = min(first + n - 1, lo + chunk - 1)
        for statement in sqls:
            c.execute(statement, {"first": lo, "last": hi, "now": now})


def _crossing_ids(open_n: int, crossing: int) -> list[int]:
    """`crossing` item ids spread evenly over 1 … open_n."""
    ids = sorted({1 + (2 * i + 1) * open_n // (2 * crossing) for i in range(crossing)})
    if len(ids) != crossing or ids[-1] > open_n:
        raise SystemExit(f"bench: cannot pick {crossing} crossing items out of {open_n}")
    return ids


def _crossing_rows(rows, now: datetime) -> list[tuple]:
    """For each crossing item: a receipt such that its clock crossed one threshold
    (50, 75, 90 or the breach, in turn) 1–20 minutes before `now` and the next one is
    still ahead, computed with the product's working-time arithmetic (so the 24×7 and the
    calendar clocks are exactly what the services would have scheduled)."""
    wt = _working_time_module()
    calendar = wt.WorkingCalendar(
        zone=ZoneInfo(CAL_ZONE), windows=tuple(wt.Window(d, CAL_OPEN, CAL_CLOSE) for d in CAL_DAYS),
        holidays=frozenset({holiday_for(now)}))
    out = []
    for i, (item_id, target, on_calendar, handle) in enumerate(rows):
        cal = calendar if on_calendar else None
        pct = THRESHOLDS[i % len(THRESHOLDS)]
        crossed = now - timedelta(minutes=1 + i % 20)
        amount = target * pct / 100          # as sla.clock.threshold_at computes it
        received = _working_before(cal, crossed, amount)
        if wt.add_working(cal, received, amount) != crossed:
            raise SystemExit(f"bench: crossing clock of item {item_id} does not land on {crossed}")
        later = [t for t in THRESHOLDS if t > pct]
        if later and wt.add_working(cal, received, target * later[0] / 100) <= now:
            raise SystemExit(f"bench: item {item_id} would cross two thresholds")
        due = wt.add_working(cal, received, target)
        out.append((item_id, received, due, due - handle, pct, crossed))
    return out


def _working_before(cal, end: datetime, amount: timedelta) -> datetime:
    """The instant `amount` of working time before `end` (the inverse of add_working)."""
    if cal is None:
        return end - amount
    intervals = []
    for opens, closes in cal.intervals(end - timedelta(days=60)):
        if opens >= end:
            break
        intervals.append((opens, min(closes, end)))
    remaining = amount
    for opens, closes in reversed(intervals):
        if remaining <= closes - opens:
            return closes - remaining
        remaining -= closes - opens
    raise SystemExit("bench: crossing target longer than 60 days of working time")


def seed(t: db.Target, *, open_n: int, crossing: int, now: datetime, chunk: int = 250_000) -> dict:
    """Organisation, `open_n` queued items with running clocks, `crossing` of them due."""
    started = time.perf_counter()
    with db.connect(t.url) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        c.execute(SEED_ORG)   # no parameters: one simple-protocol batch
        c.execute("INSERT INTO allocation_holiday (calendar_id, date, name, source)"
                  " SELECT id, %s, 'SLA bench holiday', '' FROM allocation_businesscalendar"
                  " WHERE name = 'sla-bench-weekdays'", (holiday_for(now),))
        indexes = _drop_secondary_indexes(c, ["allocation_workitem", "allocation_slaclock", "allocation_slaalert"]) \
            if open_n >= 100_000 else []
        _load(c, SEED_OPEN, SEED_OPEN_CLOCKS, first=1, n=open_n, now=now, chunk=chunk)
        loaded = time.perf_counter()
        ids = _crossing_ids(open_n, crossing)
        rows = c.execute(
            "SELECT w.id, q.target, q.calendar_id IS NOT NULL, q.handle FROM allocation_workitem w"
            "  JOIN bench_sla_queue q ON q.id = w.queue_id WHERE w.id = ANY(%s) ORDER BY w.id", (ids,)).fetchall()
        values = _crossing_rows(rows, now)
        with c.cursor() as cur:
            cur.execute("CREATE TEMP TABLE crossing (item_id bigint, received timestamptz, due timestamptz,"
                        " start_by timestamptz, pct smallint, crossed timestamptz)")
            with cur.copy("COPY crossing FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        c.execute("UPDATE allocation_workitem w SET received_at = x.received, due_at = x.due, start_by = x.start_by,"
                  " created_at = x.received, updated_at = x.received FROM crossing x WHERE w.id = x.item_id")
        c.execute("UPDATE allocation_slaclock k SET next_threshold = x.pct, next_alert_at = x.crossed"
                  "  FROM crossing x WHERE k.item_id = x.item_id")
        c.execute("INSERT INTO bench_sla_due SELECT x.item_id, x.pct, x.crossed, w.priority, w.due_at, w.start_by"
                  "  FROM crossing x JOIN allocation_workitem w ON w.id = x.item_id")
        _load(c, SEED_ALERTS, first=1, n=open_n, now=now, chunk=open_n)
        t_idx = time.perf_counter()
        for definition in indexes:
            c.execute(definition)
        built = time.perf_counter()
        c.execute("VACUUM ANALYZE allocation_workitem")
        c.execute("VACUUM ANALYZE allocation_slaclock")
        c.execute("VACUUM ANALYZE allocation_slaalert")
        c.execute("ANALYZE")
        on_calendar = sum(1 for r in rows if r[2])
        alerts = c.execute("SELECT count(*) FROM allocation_slaalert").fetchone()[0]
        due = c.execute("SELECT count(*) FROM allocation_slaclock WHERE next_alert_at <= %s", (now,)).fetchone()[0]
        n = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'queued'").fetchone()[0]
        cal_share = c.execute("SELECT avg((calendar_id IS NOT NULL)::int) FROM allocation_slaclock").fetchone()[0]
    if n != open_n or due != crossing:
        raise SystemExit(f"bench: seeded {n} open items with {due} due clocks, expected {open_n} and {crossing}")
    done = time.perf_counter()
    return {"open_items": open_n, "crossing": crossing, "crossing_on_calendar": on_calendar,
            "calendar_share": round(float(cal_share), 3), "alerts_raised_before": alerts,
            "load_s": round(loaded - started, 1),
            "index_s": round(built - t_idx, 1), "vacuum_s": round(done - built, 1),
            "total_s": round(done - started, 1)}


def grow_history(t: db.Target, *, open_n: int, have: int, want: int, now: datetime,
                 chunk: int = 500_000) -> dict:
    """Add completed items with stopped clocks until the history holds `want`."""
    started = time.perf_counter()
    n = want - have
    with db.connect(t.url) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        indexes = _drop_secondary_indexes(c, ["allocation_workitem", "allocation_slaclock", "allocation_slaalert"]) \
            if n >= 100_000 else []
        _load(c, SEED_HISTORY, SEED_HISTORY_CLOCKS, SEED_ALERTS, first=open_n + have + 1, n=n, now=now, chunk=chunk)
        loaded = time.perf_counter()
        for definition in indexes:
            c.execute(definition)
        built = time.perf_counter()
        c.execute("VACUUM ANALYZE allocation_workitem")
        c.execute("VACUUM ANALYZE allocation_slaclock")
        c.execute("VACUUM ANALYZE allocation_slaalert")
        alerts = c.execute("SELECT count(*) FROM allocation_slaalert").fetchone()[0]
        got = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'completed'").fetchone()[0]
        clocks = c.execute("SELECT count(*) FROM allocation_slaclock").fetchone()[0]
        sizes = dict(c.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname IN"
            " ('allocation_workitem', 'allocation_slaclock', 'slaclock_next_alert', 'allocation_slaalert',"
            "  'slaalert_unsent')").fetchall())
    if got != want or clocks != open_n + want:
        raise SystemExit(f"bench: history {got} (clocks {clocks}), expected {want} ({open_n + want})")
    done = time.perf_counter()
    return {"added": n, "load_s": round(loaded - started, 1), "index_s": round(built - loaded, 1),
            "vacuum_s": round(done - built, 1), "total_s": round(done - started, 1),
            "alerts_in_table": alerts, "mb": {k: round(v / 2**20) for k, v in sizes.items()}}


# Measuring ------------------------------------------------------------------------------

RESTORE = """
DELETE FROM wfo_notification WHERE kind = 'sla_action';
DELETE FROM allocation_slaactionrun;
UPDATE allocation_workitem w SET priority = d.priority, due_at = d.due_at, start_by = d.start_by
  FROM bench_sla_due d
 WHERE w.id = d.item_id AND (w.priority, w.due_at, w.start_by) IS DISTINCT FROM (d.priority, d.due_at, d.start_by);
DELETE FROM wfo_notification WHERE kind = 'sla_alert' AND created_at = %(now)s;
DELETE FROM allocation_slaalert WHERE raised_at = %(now)s;
UPDATE allocation_slaclock k SET next_threshold = d.next_threshold, next_alert_at = d.next_alert_at
  FROM bench_sla_due d
 WHERE k.item_id = d.item_id
   AND (k.next_threshold, k.next_alert_at) IS DISTINCT FROM (d.next_threshold, d.next_alert_at);
"""

READ_TABLES = ("allocation_slaclock", "allocation_workitem")


def _restore(aux, now: datetime) -> None:
    """Put the database back as seeded: the pass's alerts and notifications gone, the
    crossing clocks due again; VACUUM so every pass meets the same tables (as autovacuum
    would keep them)."""
    for statement in RESTORE.strip().rstrip(";").split(";\n"):
        aux.execute(statement, {"now": now})
    aux.execute("VACUUM allocation_slaclock, allocation_slaalert, wfo_notification, allocation_slaactionrun,"
                " allocation_workitem")


def _verify(aux, res, acted, outbox: int, now: datetime, crossing: int) -> dict:
    a = aux.execute(
        "SELECT count(*), count(DISTINCT a.item_id), coalesce(sum(cardinality(a.recipient_ids)), 0),"
        "       count(*) FILTER (WHERE cardinality(a.recipient_ids) = 0),"
        "       count(*) FILTER (WHERE a.emailed_at IS NOT NULL),"
        "       count(d.item_id) FILTER (WHERE d.next_threshold = a.threshold AND d.next_alert_at = a.crossed_at)"
        "  FROM allocation_slaalert a LEFT JOIN bench_sla_due d ON d.item_id = a.item_id"
        " WHERE a.raised_at = %s", (now,)).fetchone()
    alerts, items, recipients, no_recipient, emailed, matching = a
    notes = aux.execute("SELECT count(*) FROM wfo_notification WHERE kind = 'sla_alert' AND created_at = %s",
                        (now,)).fetchone()[0]
    still_due = aux.execute("SELECT count(*) FROM allocation_slaclock WHERE next_alert_at <= %s", (now,)).fetchone()[0]
    moved = aux.execute(
        "SELECT count(*) FROM allocation_slaclock k JOIN bench_sla_due d ON d.item_id = k.item_id"
        " WHERE (d.next_threshold = 100 AND k.next_threshold IS NULL AND k.next_alert_at IS NULL)"
        "    OR (k.next_threshold > d.next_threshold AND k.next_alert_at > %s)", (now,)).fetchone()[0]
    problems = []
    if alerts != crossing or items != crossing or matching != crossing:
        problems.append(f"{alerts} alerts on {items} items ({matching} at the expected threshold), "
                        f"expected {crossing}")
    if len(res.alerts_raised) != crossing or res.clocks_read != crossing:
        problems.append(f"service says {len(res.alerts_raised)} raised of {res.clocks_read} clocks read")
    if no_recipient:
        problems.append(f"{no_recipient} alerts without recipients")
    if notes != recipients:
        problems.append(f"{notes} notifications for {recipients} recipients")
    if res.warnings_deferred:
        problems.append(f"{res.warnings_deferred} warnings deferred (now outside working time?)")
    if emailed != crossing or res.emails_sent != crossing or outbox != crossing:
        problems.append(f"{emailed} alerts stamped e-mailed, {res.emails_sent} sent, {outbox} in the outbox")
    if still_due:
        problems.append(f"{still_due} clocks still due after the pass")
    runs, undone = aux.execute("SELECT count(*), count(*) FILTER (WHERE done_at IS NULL) FROM allocation_slaactionrun"
                               ).fetchone()
    expected_runs = 2 * sum(1 for i in range(crossing) if THRESHOLDS[i % len(THRESHOLDS)] == 75) \
        + sum(1 for i in range(crossing) if THRESHOLDS[i % len(THRESHOLDS)] == 100)
    if runs != expected_runs or undone or len(acted.done) + len(acted.not_done) != runs:
        problems.append(f"{runs} action runs ({undone} not done; the job did {len(acted.done)} and "
                        f"could not {len(acted.not_done)}), expected {expected_runs} all done")
    if moved != crossing:
        problems.append(f"{moved} of {crossing} crossing clocks moved on to their next threshold")
    return {"ok": not problems, "problems": problems, "alerts": alerts, "notifications": notes,
            "emails": outbox, "warnings_deferred": res.warnings_deferred}


def worker(env: dict, url: str, now_iso: str, crossing: int, passes: int, results) -> None:
    """In a Django process: one untimed warm-up pass, `passes` timed ones (each on the
    restored state), one pass with nothing due, and EXPLAIN ANALYZE of the scan query."""
    os.environ.update(env)
    import django

    django.setup()
    import psycopg
    from django.core import mail
    from django.db import connection, transaction

    from allocation.models import SlaClock
    from allocation.services import sla_actions, sla_alerts

    now = datetime.fromisoformat(now_iso)
    out: dict = {"passes": []}
    # The e-mails go to the locmem backend (env); their share of the pass is timed apart.
    email_s = [0.0]
    send = sla_alerts.sla_alert_emails_send

    def timed_send(**kw):
        t = time.perf_counter()
        try:
            return send(**kw)
        finally:
            email_s[0] += time.perf_counter() - t

    sla_alerts.sla_alert_emails_send = timed_send
    def scan():
        return sla_alerts.sla_alerts_raise(now=now, batch_size=BATCH)

    try:
        with psycopg.connect(url, autocommit=True) as aux:
            timer = pass_timing.PassTimer(connection, aux, read_tables=READ_TABLES)
            for n in range(passes + 1):
                _restore(aux, now)
                mail.outbox = []
                email_s[0] = 0.0
                measured = timer.measure(scan)
                res = measured.result
                # Then the actions job, as beat runs it after the scan: timed on its own.
                t = time.perf_counter()
                acted = sla_actions.sla_actions_run(now=now)
                actions_s = time.perf_counter() - t
                check = _verify(aux, res, acted, len(mail.outbox), now, crossing)
                out["passes"].append({
                    "warmup": n == 0, **measured.fields, "email_s": round(email_s[0], 3),
                    "actions_s": round(actions_s, 3), "raise_s": round(measured.seconds - email_s[0], 3),
                    "actions_done": len(acted.done), "actions_not_done": len(acted.not_done),
                    "clocks_read": res.clocks_read,
                    "alerts_raised": len(res.alerts_raised), "emails_sent": res.emails_sent, "check": check,
                })
            # Nothing due: the fixed cost of a pass (the every-minute case).
            idle = timer.measure_idle(scan)
            out["idle_pass"] = {**idle.fields, "clocks_read": idle.result.clocks_read}
            # The scan's clock query as the service builds it, on the restored state (rolled back).
            _restore(aux, now)
            with transaction.atomic():
                qs = (SlaClock.objects.select_for_update(skip_locked=True).filter(next_alert_at__lte=now)
                      .order_by("next_alert_at")[:BATCH])
                sql, params = qs.query.get_compiler(using=qs.db).as_sql()
                with connection.cursor() as c:
                    c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    out["explain"] = "\n".join(r[0] for r in c.fetchall())
                transaction.set_rollback(True)
            _restore(aux, now)
    except Exception as exc:  # reported, not swallowed: the coordinator fails the section
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    results.put(out)


def measure(env: dict, url: str, *, now: datetime, crossing: int, passes: int) -> dict:
    env = dict(env, DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=worker, args=(env, url, now.isoformat(), crossing, passes, results), daemon=True)
    p.start()
    out = alloc._collect(results, [p], timeout=1800)[0]
    p.join(timeout=30)
    if "error" in out:
        raise SystemExit(f"bench: SLA scan worker failed: {out['error']}")
    timed = [x for x in out["passes"] if not x["warmup"]]
    out["median_s"] = round(statistics.median(x["seconds"] for x in timed), 3)
    out["median_raise_s"] = round(statistics.median(x["raise_s"] for x in timed), 3)
    out["median_email_s"] = round(statistics.median(x["email_s"] for x in timed), 3)
    out["median_actions_s"] = round(statistics.median(x["actions_s"] for x in timed), 3)
    out["rows_read"] = timed[-1]["rows_read"]
    out["rows_read_all_tables"] = timed[-1]["rows_read_all_tables"]
    out["statements"] = timed[-1]["statements"]
    out["ok"] = all(x["check"]["ok"] for x in out["passes"])
    out["problems"] = sorted({p for x in out["passes"] for p in x["check"]["problems"]})
    out["explain_ms"] = alloc.execution_ms(out.get("explain", ""))
    return out


# The section -------------------------------------------------------------------------

def defaults(quick: bool) -> tuple[int, int, list[int]]:
    return (QUICK_OPEN, QUICK_CROSSING, list(QUICK_HISTORY)) if quick else \
        (DEFAULT_OPEN, DEFAULT_CROSSING, list(DEFAULT_HISTORY))


def run(t: db.Target, *, open_n: int, crossing: int, history: list[int], passes: int = DEFAULT_PASSES,
        keep_db: bool = False, explain: bool = False, say=print) -> dict:
    """The whole section on its own database: create, migrate, seed, measure per history
    size, drop. Returns the figures (with 'pass' verdicts and 'failed_checks')."""
    started = time.perf_counter()
    now = bench_now()
    env = db.django_env(t)
    history = sorted(set(history))
    rep: dict = {"database": t.dbname, "now": now.isoformat(), "open_items": open_n, "crossing": crossing,
                 "history_sizes": history, "passes": passes, "batch_size": BATCH,
                 "calendar": f"{CAL_ZONE} Mon–Fri {CAL_OPEN:%H:%M}–{CAL_CLOSE:%H:%M}, holiday "
                             f"{holiday_for(now)}; queues q % 5 = 4", "phases": [], "failed_checks": []}
    say(f"sla scan: sla_alerts_raise(now={now:%a %Y-%m-%d %H:%M} UTC, batch_size={BATCH}) over {open_n:,} open "
        f"items, {crossing:,} crossing; history {' → '.join(f'{h:,}' for h in history)} completed items; "
        f"database {t.dbname}")
    db.create_database(t)
    try:
        t0 = time.perf_counter()
        db.migrate(t)
        rep["migrate_s"] = round(time.perf_counter() - t0, 1)
        rep["seed"] = seed(t, open_n=open_n, crossing=crossing, now=now)
        s = rep["seed"]
        say(f"  seeded {open_n:,} open items ({s['calendar_share']:.0%} on the business calendar; "
            f"{s['crossing_on_calendar']} of the crossing ones) in {s['total_s']} s")
        have = 0
        for size in history:
            grown = grow_history(t, open_n=open_n, have=have, want=size, now=now)
            have = size
            before = db.noise(t)
            m = measure(env, t.url, now=now, crossing=crossing, passes=passes)
            m.update(history=size, grow=grown, noise_before=before, noise_after=db.noise(t))
            rep["phases"].append(m)
            times = "/".join(f"{x['seconds']:.2f}" for x in m["passes"] if not x["warmup"])
            rr = m["rows_read"]
            say(f"  history {size:>9,}: scan {m['median_s']:.2f} s median ({times}; warm-up "
                f"{m['passes'][0]['seconds']:.2f}) = raise {m['median_raise_s']:.2f} + e-mail "
                f"{m['median_email_s']:.2f}; then the actions job {m['median_actions_s']:.2f} s "
                f"({m['passes'][-1]['actions_done']:,} done, {m['passes'][-1]['actions_not_done']:,} not) | rows read: "
                f"slaclock {rr['allocation_slaclock']:,}, workitem "
                f"{rr['allocation_workitem']:,} (all tables {m['rows_read_all_tables']:,}) | "
                f"{m['passes'][-1]['alerts_raised']:,} alerts, {m['passes'][-1]['check']['notifications']:,} "
                f"notifications, {m['statements']:,} statements + {m['passes'][-1]['commits']:,} commits "
                f"({m['passes'][-1]['sql_roundtrip_s']:.2f} s round trips) | clock query {m['explain_ms']} ms | "
                f"nothing "
                f"due: {m['idle_pass']['seconds'] * 1000:.1f} ms | history loaded in {grown['total_s']} s | load "
                f"{before['loadavg_1m']}→{m['noise_after']['loadavg_1m']} | checks "
                + ("OK" if m["ok"] else "FAILED: " + "; ".join(m["problems"])))
            if explain:
                say("\n".join("    " + line for line in m["explain"].splitlines()))
            if not m["ok"]:
                rep["failed_checks"].append(f"SLA scan checks at history {size}")
    finally:
        if keep_db:
            say(f"  (kept database {t.dbname})")
        else:
            db.drop_database(t)
    phases = rep["phases"]
    worst = max(p["median_s"] for p in phases)
    rep["time"] = {"worst_median_s": worst, "target_s": TIME_TARGET_S, "pass": worst < TIME_TARGET_S}
    if len(phases) >= 2:
        small, large = phases[0], phases[-1]
        ratio = large["median_s"] / small["median_s"]
        rep["flat"] = {"small_history": small["history"], "small_s": small["median_s"],
                       "large_history": large["history"], "large_s": large["median_s"],
                       "ratio": round(ratio, 3), "target": FLAT_TARGET, "pass": ratio <= FLAT_TARGET}
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    return rep


def summary_lines(rep: dict) -> list[str]:
    ok = lambda v: "PASS" if v else "FAIL"  # noqa: E731
    tm = rep["time"]
    per = ", ".join(f"{p['median_s']:.2f} s at {p['history']:,}" for p in rep["phases"])
    lines = [f"SLA SCAN  median per pass {per} history (target < {tm['target_s']:g} s) {ok(tm['pass'])}"]
    if "flat" in rep:
        f = rep["flat"]
        lines.append(f"SLA FLAT  {f['large_history']:,} vs {f['small_history']:,} history: {f['large_s']:.2f} / "
                     f"{f['small_s']:.2f} s = {f['ratio']:.2f} (target ≤ {f['target']}) {ok(f['pass'])}")
    return lines


def add_arguments(p: argparse.ArgumentParser, prefix: str = "--sla-") -> None:
    p.add_argument(f"{prefix}open", dest="sla_open", type=int, help="open items (default 1000000; --quick 50000)")
    p.add_argument(f"{prefix}crossing", dest="sla_crossing", type=int,
                   help="open items whose clock crossed a threshold (default 1000; --quick 200)")
    p.add_argument(f"{prefix}history", dest="sla_history", type=int, nargs="+", metavar="N",
                   help="completed-history sizes, measured in turn (default 1000000 5000000; --quick 20000 100000)")
    p.add_argument(f"{prefix}passes", dest="sla_passes", type=int, default=DEFAULT_PASSES,
                   help="timed passes per history size, after one warm-up (median; default 3)")
    p.add_argument(f"{prefix}dbname", dest="sla_dbname", default="wfo_bench_sla",
                   help="the SLA bench's own database, created and dropped (default wfo_bench_sla)")


def resolve(args) -> tuple[int, int, list[int]]:
    o, c, h = defaults(args.quick)
    return args.sla_open or o, args.sla_crossing or c, args.sla_history or h


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, prefix="--")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--dsn", help="server (postgres:// URL); default as bench/run.py")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the scan's clock query")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    p.add_argument("--json", type=Path, help="results file (default bench/results/sla-<timestamp>.json)")
    args = p.parse_args(argv)
    open_n, crossing, history = resolve(args)
    t = db.choose_server(args.dsn, args.sla_dbname)
    rep = run(t, open_n=open_n, crossing=crossing, history=history, passes=args.sla_passes,
              keep_db=args.keep_db, explain=args.explain, say=lambda m="": print(m, flush=True))
    for line in summary_lines(rep):
        print("  " + line)
    out = args.json or BENCH / "results" / f"sla-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"sla_scan": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep['wall_s']} s; results in {out}")
    if rep["failed_checks"]:
        return 1
    if args.strict and not (rep["time"]["pass"] and rep.get("flat", {}).get("pass", True)):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
