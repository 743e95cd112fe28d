#!/usr/bin/env python3
"""Routing pass benchmark (see bench/README.md, "Routing pass").

    .venv/bin/python bench/routing.py                  # this part alone, full size (about 3.5–4.5 min)
    .venv/bin/python bench/routing.py --quick          # smoke run
    .venv/bin/python bench/run.py --routing-only       # the same through run.py
    .venv/bin/python bench/run.py --skip-routing       # everything but this part

Issue 20: "A periodic job advances items through steps … a pass reads only items whose
next step time has come (an index, as the SLA scan does), under 2 s at 1,000,000 open
items and flat as history grows (benchmark)."

On its own database (`wfo_bench_routing`, created and dropped) it seeds by bulk SQL 200
queues with routing on, each with 2 or 3 steps (waited conditions; one queue's step 2 on
a backlog condition, one's on a no-agent condition, one whose step 3 overflows to another
queue), and 1,000,000 open queued items received over the last 3 days, each at the step a
job running every minute would have left it at one minute before the bench's "now": so a
pass at "now" finds the items whose step time came in the last minute, a few hundred.
Then, per size of the closed history (default 1M, then 3M completed items), it times
`allocation.services.routing.routing_advance(now=NOW)` in a Django process: one untimed
warm-up pass, then 3 timed passes (median), each on the same state (the items that entered
are put back and their events deleted between passes), and counts what each pass read
from pg_stat_user_tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import alloc  # noqa: E402
import db  # noqa: E402
import pass_timing  # noqa: E402
import sla_scan  # noqa: E402

TIME_TARGET_S = 2.0      # per pass, at every history size
FLAT_TARGET = 1.5        # median at the largest history ÷ median at the smallest (as the SLA scan)
DEFAULT_OPEN = 1_000_000
DEFAULT_HISTORY = [1_000_000, 3_000_000]
QUICK_OPEN, QUICK_HISTORY = 50_000, [20_000, 100_000]
DEFAULT_PASSES = 3
DEFAULT_SPAN_HOURS = 72  # open items were received over this span: it sets how many are due per pass

SOURCE = "bench-routing"
QUEUES = 200             # routed queues rt-q000…; plus rt-overflow (routing off), where q002 overflows to
TEAMS = 10               # 5 agents each; team t serves the 60 queues from 20·t (wrapping), as bench/db.py
AGENTS_PER_TEAM = 5
NIGHT_AGENTS = 3         # the only team serving the no-agent queue: offline for 2 hours
SKILLS = 3
BACKLOG_QUEUE, NO_AGENT_QUEUE, OVERFLOW_QUEUE = 0, 1, 2
BACKLOG_OVER = 1_000     # the backlog queue's step 2: the items beyond its first 1,000 enter
NO_AGENT_MINUTES = 15
SPECIAL_DUE = 20         # items due now made so in each of the backlog, no-agent and overflow queues


def bench_now(today: datetime | None = None) -> datetime:
    """The "now" of every pass: the start of the current minute (so the presence and the
    step times seeded relative to it are what a live system would hold)."""
    return (today or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)


# Seeding --------------------------------------------------------------------------------

# Queue q: step 2 after waiting w2 minutes (15/30/60/120), adding team q/20 + 1; unless
# q % 3 = 0, step 3 after w3 more minutes (240/480), adding team q/20 + 2. Step 1 is the
# queue's own 3 teams (as bench/db.py). q000: step 2 on a backlog condition; q001: served by
# the night team alone, step 2 when no agent of it has been available for 15 min; q002:
# step 3 overflows to rt-overflow. `seed_w2` is how long after receipt an item entered
# step 2 in the seeded past (the no-agent queue's: at once).
SEED_ORG = f"""
INSERT INTO allocation_skill (name, description)
SELECT 'rt-skill-' || s, '' FROM generate_series(0, {SKILLS - 1}) s;

INSERT INTO allocation_team (name) SELECT 'rt-team-' || t FROM generate_series(0, {TEAMS - 1}) t;
INSERT INTO allocation_team (name) VALUES ('rt-night');

INSERT INTO allocation_queue (code, name, description, is_active, allocation_mode,
                              standard_handle_time, reservation_timeout, sla_target, outcomes, routing_enabled)
SELECT 'rt-q' || lpad(q::text, 3, '0'), 'Routing bench queue ' || q, '', true, 'pull',
       make_interval(mins => 5 + (q * 7) % 26), interval '10 minutes',
       make_interval(hours => 4 + (q * 13) % 69), '[]'::jsonb, true
  FROM generate_series(0, {QUEUES - 1}) q
UNION ALL
SELECT 'rt-overflow', 'Routing bench overflow', '', true, 'pull', interval '20 minutes', interval '10 minutes',
       interval '8 hours', '[]'::jsonb, false;

CREATE UNLOGGED TABLE bench_rt_queue AS
SELECT substring(q.code from 5)::int AS n, q.id, q.standard_handle_time AS handle, q.sla_target AS target,
       k.kind, k.w2, k.w3, CASE WHEN k.kind = 'no_agent' THEN 0 ELSE k.w2 END AS seed_w2
  FROM allocation_queue q
 CROSS JOIN LATERAL (SELECT substring(q.code from 5)::int AS n) x
 CROSS JOIN LATERAL (
       SELECT CASE x.n WHEN {BACKLOG_QUEUE} THEN 'backlog' WHEN {NO_AGENT_QUEUE} THEN 'no_agent'
                       WHEN {OVERFLOW_QUEUE} THEN 'overflow' ELSE 'waited' END AS kind,
              (ARRAY[15, 30, 60, 120])[1 + x.n % 4] AS w2,
              CASE WHEN x.n IN ({BACKLOG_QUEUE}, {NO_AGENT_QUEUE}) OR x.n % 3 = 0 THEN NULL
                   ELSE (ARRAY[240, 480])[1 + x.n % 2] END AS w3
       ) k
 WHERE q.code LIKE 'rt-q%';
CREATE UNLOGGED TABLE bench_rt_overflow AS
SELECT id, standard_handle_time AS handle FROM allocation_queue WHERE code = 'rt-overflow';

INSERT INTO allocation_queue_teams (queue_id, team_id)
SELECT q.id, t.id
  FROM bench_rt_queue q
  JOIN allocation_team t ON t.name LIKE 'rt-team-%'
   AND ((q.n - substring(t.name from 9)::int * {QUEUES // TEAMS}) % {QUEUES} + {QUEUES}) % {QUEUES} < 60
 WHERE q.kind <> 'no_agent'
UNION ALL
SELECT q.id, t.id FROM bench_rt_queue q JOIN allocation_team t ON t.name = 'rt-night' WHERE q.kind = 'no_agent'
UNION ALL
SELECT id, (SELECT id FROM allocation_team WHERE name = 'rt-team-0') FROM bench_rt_overflow;

INSERT INTO allocation_queueskill (queue_id, skill_id, min_proficiency)
SELECT q.id, s.id, 2 FROM bench_rt_queue q JOIN allocation_skill s ON s.name = 'rt-skill-' || (q.n % {SKILLS});

INSERT INTO allocation_routingstep (queue_id, position, condition, minutes, backlog_over, action, overflow_queue_id)
SELECT id, 2, CASE kind WHEN 'backlog' THEN 'backlog' WHEN 'no_agent' THEN 'no_agent' ELSE 'waited' END,
       CASE kind WHEN 'backlog' THEN NULL WHEN 'no_agent' THEN {NO_AGENT_MINUTES} ELSE w2 END,
       CASE kind WHEN 'backlog' THEN {BACKLOG_OVER} END, 'widen', NULL
  FROM bench_rt_queue
UNION ALL
SELECT id, 3, 'waited', w3, NULL, CASE kind WHEN 'overflow' THEN 'overflow' ELSE 'widen' END,
       CASE kind WHEN 'overflow' THEN (SELECT id FROM bench_rt_overflow) END
  FROM bench_rt_queue WHERE w3 IS NOT NULL;

INSERT INTO allocation_routingstep_added_teams (routingstep_id, team_id)
SELECT s.id, t.id
  FROM allocation_routingstep s
  JOIN bench_rt_queue q ON q.id = s.queue_id
  JOIN allocation_team t ON t.name = 'rt-team-' || ((q.n / {QUEUES // TEAMS} + s.position - 1) % {TEAMS})
 WHERE s.action = 'widen';

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'rt-agent-' || lpad(a::text, 2, '0'), 'Agent', a::text, '', false, true, now()
  FROM generate_series(0, {TEAMS * AGENTS_PER_TEAM + NIGHT_AGENTS - 1}) a;

INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.id FROM auth_user u JOIN auth_group g ON g.name = 'Agent' WHERE u.username LIKE 'rt-agent-%';

CREATE UNLOGGED TABLE bench_rt_agent AS
SELECT substring(username from 10)::int AS n, id FROM auth_user WHERE username LIKE 'rt-agent-%';

-- The day teams are available; the night team has been offline for 2 hours.
INSERT INTO allocation_agentprofile (user_id, team_id, capacity, presence, presence_since)
SELECT a.id, t.id, 30, CASE WHEN a.n < {TEAMS * AGENTS_PER_TEAM} THEN 'available' ELSE 'offline' END,
       %(now)s::timestamptz - CASE WHEN a.n < {TEAMS * AGENTS_PER_TEAM} THEN interval '1 hour'
                                   ELSE interval '2 hours' END
  FROM bench_rt_agent a
  JOIN allocation_team t ON t.name = CASE WHEN a.n < {TEAMS * AGENTS_PER_TEAM} THEN 'rt-team-' || (a.n %% {TEAMS})
                                          ELSE 'rt-night' END;

INSERT INTO allocation_agentskill (agent_id, skill_id, proficiency)
SELECT a.id, s.id, CASE WHEN substring(s.name from 10)::int = a.n % {SKILLS} THEN 1 ELSE 3 END
  FROM bench_rt_agent a CROSS JOIN allocation_skill s
"""

# Open items: queued, received over the span before "now", priority 1–5, due = received +
# the queue's target shortened by priority, start by = due − handle time. Each at the step
# a pass every minute up to L = now − 1 min has left it at: t2 = receipt + w2 came by L →
# step 2 (entered then); t3 = t2 + w3 came by L as well → step 3, or, for the overflow
# queue, step 1 of rt-overflow. The backlog queue's items are put at their step afterwards.
SEED_OPEN = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, received_at, due_at, start_by, outcome, created_at, updated_at,
                                 routing_step, step_entered_at)
SELECT CASE WHEN s.overflowed THEN o.id ELSE q.id END, '{SOURCE}', 'o' || g, 'cust-' || (g * 7919 %% 250000),
       'Routing bench item ' || g, '{{}}'::jsonb, h.priority, 'queued', r.received, r.due,
       r.due - CASE WHEN s.overflowed THEN o.handle ELSE q.handle END, '', r.received, r.received,
       s.step, s.entered
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT (hashint8(g) & 2147483647) %% {QUEUES} AS qn,
              (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              ((hashint8(g + 2) & 2147483647) %% 1000000) / 1000000.0 AS f
       ) h
  JOIN bench_rt_queue q ON q.n = h.qn
 CROSS JOIN bench_rt_overflow o
 CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - %(span)s::interval * h.f AS received) r0
 CROSS JOIN LATERAL (SELECT r0.received, r0.received + q.target * (1.2 - 0.2 * h.priority) AS due,
                            r0.received + make_interval(mins => q.seed_w2) AS t2,
                            r0.received + make_interval(mins => q.seed_w2 + coalesce(q.w3, 0)) AS t3,
                            %(now)s::timestamptz - interval '1 minute' AS l) r
 CROSS JOIN LATERAL (
       SELECT CASE WHEN q.kind = 'backlog' OR r.t2 > r.l THEN 1 WHEN q.w3 IS NULL OR r.t3 > r.l THEN 2
                   WHEN q.kind = 'overflow' THEN 1 ELSE 3 END AS step,
              CASE WHEN q.kind = 'backlog' OR r.t2 > r.l THEN r.received WHEN q.w3 IS NULL OR r.t3 > r.l THEN r.t2
                   ELSE r.t3 END AS entered,
              q.kind = 'overflow' AND r.t2 <= r.l AND r.t3 <= r.l AS overflowed
       ) s
"""

# The backlog queue: what a pass every minute has left — the items beyond its first
# BACKLOG_OVER (allocation order) that arrived by L are at step 2.
SEED_BACKLOG = f"""
UPDATE allocation_workitem w SET routing_step = 2, step_entered_at = w.received_at + interval '1 minute'
  FROM (SELECT id, row_number() OVER (ORDER BY start_by, priority DESC, received_at, id) AS rank
          FROM allocation_workitem
         WHERE queue_id = (SELECT id FROM bench_rt_queue WHERE kind = 'backlog') AND status = 'queued') b
 WHERE w.id = b.id AND b.rank > {BACKLOG_OVER} AND w.received_at <= %(now)s::timestamptz - interval '2 minutes'
"""

# A few items due now in each special queue too (the every-minute arrivals alone would
# leave them 0–2): 20 transferred into the no-agent and into the backlog queue half a
# minute ago (at step 1 again; the backlog queue's beyond its first X), and 20 of the
# overflow queue that waited at step 2 long enough to overflow.
SEED_SPECIAL = f"""
UPDATE allocation_workitem SET routing_step = 1, step_entered_at = %(now)s::timestamptz - interval '30 seconds'
 WHERE id IN (SELECT id FROM (SELECT w.id, row_number() OVER (PARTITION BY w.queue_id ORDER BY w.id) AS n
                                FROM allocation_workitem w JOIN bench_rt_queue q ON q.id = w.queue_id
                               WHERE q.kind IN ('no_agent', 'backlog') AND w.routing_step = 2) first
               WHERE n <= {SPECIAL_DUE});
WITH q AS (SELECT id, w3 FROM bench_rt_queue WHERE kind = 'overflow'),
     picked AS (SELECT w.id FROM allocation_workitem w JOIN q ON q.id = w.queue_id WHERE w.routing_step = 2
                 ORDER BY w.id LIMIT {SPECIAL_DUE})
UPDATE allocation_workitem w
   SET step_entered_at = %(now)s::timestamptz - make_interval(mins => q.w3) - interval '30 seconds'
  FROM picked, q
 WHERE w.id = picked.id
"""

# Closed history: completed 30 min – 34 h after receipt (2–367 days before now) by one of the
# day agents, at whatever step it reached; not held, so assignee NULL.
SEED_HISTORY = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, assignee_id, completed_by_id, received_at, due_at, start_by,
                                 assigned_at, started_at, closed_at, outcome, created_at, updated_at,
                                 routing_step, step_entered_at)
SELECT q.id, '{SOURCE}', 'h' || g, 'cust-' || (g * 7919 %% 250000), 'Routing bench done ' || g, '{{}}'::jsonb,
       h.priority, 'completed', NULL, a.id, r.received, r.received + q.target,
       r.received + q.target - q.handle, r.closed - q.handle, r.closed - q.handle, r.closed, 'done',
       r.received, r.closed, h.step, r.received + (r.closed - r.received) * (h.step - 1) / 4
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT (hashint8(g) & 2147483647) %% {QUEUES} AS qn,
              (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              make_interval(secs => (2 * 86400 + (hashint8(g + 2) & 2147483647) %% (365 * 86400))::double precision)
                AS age,
              make_interval(mins => (30 + (hashint8(g + 3) & 2147483647) %% 2010)::int) AS took,
              1 + (hashint8(g + 4) & 2147483647) %% 3 AS step
       ) h
  JOIN bench_rt_queue q ON q.n = h.qn
  JOIN bench_rt_agent a ON a.n = g %% {TEAMS * AGENTS_PER_TEAM}
 CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - h.age AS received,
                            %(now)s::timestamptz - h.age + h.took AS closed) r
"""

# The items a pass at "now" must enter, each with where it is and where it goes — the
# rule restated from the seeded steps, not read from the product: a waited step's items
# at the step before that entered it at least its minutes ago; the backlog step's items
# at step 1 beyond the first X of the queue in allocation order; the no-agent step's items
# at step 1 (nobody of the queue's teams available, or changing presence, for its minutes).
DUE = """
CREATE UNLOGGED TABLE bench_rt_due AS
WITH routed AS (
    SELECT s.*, s.position - 1 AS previous,
           CASE WHEN s.action = 'overflow' THEN s.overflow_queue_id ELSE s.queue_id END AS to_queue_id,
           CASE WHEN s.action = 'overflow' THEN 1 ELSE s.position END AS to_step
      FROM allocation_routingstep s
      JOIN allocation_queue q ON q.id = s.queue_id AND q.routing_enabled AND q.is_active
),
ranked AS (
    SELECT w.id, row_number() OVER (PARTITION BY w.queue_id ORDER BY w.start_by, w.priority DESC,
                                                                      w.received_at, w.id) AS rank
      FROM allocation_workitem w
     WHERE w.status = 'queued' AND w.queue_id IN (SELECT queue_id FROM routed WHERE condition = 'backlog')
)
SELECT w.id AS item_id, w.queue_id, w.routing_step, w.step_entered_at, w.start_by, w.updated_at,
       s.to_queue_id, s.to_step, s.condition
  FROM routed s
  JOIN allocation_workitem w ON w.queue_id = s.queue_id AND w.status = 'queued' AND w.routing_step = s.previous
  LEFT JOIN ranked b ON b.id = w.id
 WHERE (s.condition = 'waited' AND w.step_entered_at <= %(now)s::timestamptz - make_interval(mins => s.minutes))
    OR (s.condition = 'backlog' AND b.rank > s.backlog_over)
    OR (s.condition = 'no_agent' AND NOT EXISTS (
            SELECT 1 FROM allocation_agentprofile a
              JOIN allocation_queue_teams qt ON qt.team_id = a.team_id AND qt.queue_id = s.queue_id
             WHERE a.presence = 'available'
                OR a.presence_since > %(now)s::timestamptz - make_interval(mins => s.minutes)))
"""


def _loading(c) -> None:
    """A loading session (db.loading_session) with room to sort for the index builds."""
    db.loading_session(c)
    c.execute("SET maintenance_work_mem = '256MB'")


def _load(url: str, statement: str, *, first: int, n: int, now: datetime, span: timedelta, chunk: int) -> None:
    """Rows g = first … first+n-1 in chunks, the chunks dealt to two connections."""
    chunks = [(statement, {"first": lo, "last": min(first + n - 1, lo + chunk - 1), "now": now, "span": span})
              for lo in range(first, first + n, chunk)]
    db.side_by_side(url, [chunks[0::2], chunks[1::2]], session=_loading)


def _build(url: str, indexes: list[str]) -> None:
    """The dropped indexes again, dealt to two connections."""
    db.side_by_side(url, [indexes[0::2], indexes[1::2]], session=_loading)


def _sizes(c) -> dict:
    rows = c.execute(
        "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname IN"
        " ('allocation_workitem', 'workitem_step_wait', 'workitem_step_head', 'workitem_queue_head',"
        "  'workitem_queue_status')").fetchall()
    return {name: round(size / 2**20) for name, size in rows}


def seed(t: db.Target, *, open_n: int, now: datetime, span: timedelta, chunk: int = 125_000) -> dict:
    """Organisation with routing on every queue, `open_n` queued items at their steps, and
    the table of the items a pass at `now` must enter."""
    started = time.perf_counter()
    with db.connect(t.url) as c:
        _loading(c)
        with c.cursor() as cur:
            for statement in SEED_ORG.split(";\n"):
                cur.execute(statement, {"now": now} if "%(now)s" in statement else None)
        indexes = sla_scan._drop_secondary_indexes(c, ["allocation_workitem"]) if open_n >= 100_000 else []
        _load(t.url, SEED_OPEN, first=1, n=open_n, now=now, span=span, chunk=chunk)
        c.execute(SEED_BACKLOG, {"now": now})
        for statement in SEED_SPECIAL.split(";\n"):
            c.execute(statement, {"now": now})
        loaded = time.perf_counter()
        _build(t.url, indexes)
        built = time.perf_counter()
        c.execute("VACUUM ANALYZE allocation_workitem")
        c.execute("ANALYZE")
        c.execute(DUE, {"now": now})
        c.execute("ALTER TABLE bench_rt_due ADD PRIMARY KEY (item_id)")
        due = dict(c.execute("SELECT condition, count(*) FROM bench_rt_due GROUP BY 1").fetchall())
        to = dict(c.execute("SELECT to_step, count(*) FROM bench_rt_due GROUP BY 1").fetchall())
        overflowing = c.execute("SELECT count(*) FROM bench_rt_due WHERE to_queue_id <> queue_id").fetchone()[0]
        steps = dict(c.execute("SELECT routing_step, count(*) FROM allocation_workitem GROUP BY 1").fetchall())
        n = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'queued'").fetchone()[0]
        conditions = dict(c.execute("SELECT condition, count(*) FROM allocation_routingstep GROUP BY 1").fetchall())
    if n != open_n:
        raise SystemExit(f"bench: seeded {n} open items, expected {open_n}")
    done = time.perf_counter()
    return {"open_items": open_n, "span_hours": span.total_seconds() / 3600, "items_by_step": steps,
            "steps_by_condition": conditions, "due": sum(due.values()), "due_by_condition": due,
            "due_to_step": to, "due_overflowing": overflowing,
            "load_s": round(loaded - started, 1), "index_s": round(built - loaded, 1),
            "vacuum_s": round(done - built, 1), "total_s": round(done - started, 1)}


def grow_history(t: db.Target, *, open_n: int, have: int, want: int, now: datetime, chunk: int = 250_000) -> dict:
    """Add completed items until the closed history holds `want`."""
    started = time.perf_counter()
    n = want - have
    with db.connect(t.url) as c:
        _loading(c)
        indexes = sla_scan._drop_secondary_indexes(c, ["allocation_workitem"]) if n >= 100_000 else []
        _load(t.url, SEED_HISTORY, first=open_n + have + 1, n=n, now=now, span=timedelta(0), chunk=chunk)
        loaded = time.perf_counter()
        _build(t.url, indexes)
        built = time.perf_counter()
        c.execute("VACUUM ANALYZE allocation_workitem")
        got = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'completed'").fetchone()[0]
        sizes = _sizes(c)
    if got != want:
        raise SystemExit(f"bench: history {got}, expected {want}")
    done = time.perf_counter()
    return {"added": n, "load_s": round(loaded - started, 1), "index_s": round(built - loaded, 1),
            "vacuum_s": round(done - built, 1), "total_s": round(done - started, 1), "mb": sizes}


# Measuring ------------------------------------------------------------------------------

# Put the entered items back where they were and drop their events: every pass does the
# same work. VACUUM, so every pass meets the same tables (as autovacuum would keep them).
RESTORE = """
UPDATE allocation_workitem w
   SET queue_id = d.queue_id, routing_step = d.routing_step, step_entered_at = d.step_entered_at,
       start_by = d.start_by, updated_at = d.updated_at
  FROM bench_rt_due d
 WHERE w.id = d.item_id
   AND (w.queue_id, w.routing_step, w.step_entered_at) IS DISTINCT FROM (d.queue_id, d.routing_step, d.step_entered_at);
DELETE FROM allocation_workitemevent WHERE kind = 'step_entered'
"""
READ_TABLES = ("allocation_workitem",)


def _restore(aux) -> float:
    t = time.perf_counter()
    for statement in RESTORE.split(";\n"):
        aux.execute(statement)
    aux.execute("VACUUM allocation_workitem, allocation_workitemevent")
    return time.perf_counter() - t


def _verify(aux, res, now: datetime, due: int) -> dict:
    """Independently of the product: the expected items, and only they, entered their step
    (or overflowed), each with one step_entered event saying so."""
    moved, right, wrong_place = aux.execute(
        "SELECT count(*), count(d.item_id),"
        "       count(*) FILTER (WHERE d.item_id IS NOT NULL AND (w.queue_id, w.routing_step)"
        "                        IS DISTINCT FROM (d.to_queue_id, d.to_step))"
        "  FROM allocation_workitem w LEFT JOIN bench_rt_due d ON d.item_id = w.id"
        " WHERE w.status = 'queued' AND w.step_entered_at > %s", (now,)).fetchone()
    events, evented_items, matching = aux.execute(
        "SELECT count(*), count(DISTINCT e.item_id),"
        "       count(*) FILTER (WHERE (e.data ->> 'step')::int = d.to_step AND e.data ->> 'from_step' = "
        "                              d.routing_step::text)"
        "  FROM allocation_workitemevent e LEFT JOIN bench_rt_due d ON d.item_id = e.item_id"
        " WHERE e.kind = 'step_entered'").fetchone()
    problems = []
    if moved != due or right != due:
        problems.append(f"{moved} items moved on ({right} of the {due} expected)")
    if wrong_place:
        problems.append(f"{wrong_place} items not at the step (or queue) expected")
    if events != due or evented_items != due or matching != due:
        problems.append(f"{events} step_entered events on {evented_items} items ({matching} as expected), "
                        f"expected {due}")
    if res.moved != due or res.skipped or res.blocked:
        problems.append(f"service says {res.moved} entered, {res.skipped} skipped, blocked {res.blocked}")
    return {"ok": not problems, "problems": problems, "moved": moved, "events": events}


def _phase_label(phase: str, sql: str) -> str:
    return f"{phase}: {pass_timing.statement_kind(sql)}"


def worker(env: dict, url: str, now_iso: str, due: int, passes: int, results) -> None:
    """In a Django process: one untimed warm-up pass, `passes` timed ones (each on the
    restored state), one pass with nothing due, and EXPLAIN ANALYZE of each kind of the
    plan's reads as the service builds them."""
    os.environ.update(env)
    import django

    django.setup()
    import psycopg
    from django.db import connection, transaction

    from allocation import routing
    from allocation.models import StepCondition
    from allocation.services import routing as routing_service

    now = datetime.fromisoformat(now_iso)
    out: dict = {"passes": []}
    phase = ["enter"]
    plan_s = [0.0]
    plan = routing.plan

    def timed_plan(*args, **kw):   # the plan's share of the pass (reads only)
        t = time.perf_counter()
        phase[0] = "plan"
        try:
            return plan(*args, **kw)
        finally:
            phase[0] = "enter"
            plan_s[0] += time.perf_counter() - t

    routing.plan = timed_plan

    def advance():
        return routing_service.routing_advance(now=now)

    try:
        with psycopg.connect(url, autocommit=True) as aux:
            timer = pass_timing.PassTimer(connection, aux, read_tables=READ_TABLES,
                                          kind_of=lambda sql: _phase_label(phase[0], sql))
            for n in range(passes + 1):
                restore_s = _restore(aux)
                plan_s[0] = 0.0
                measured = timer.measure(advance)
                res = measured.result
                check = _verify(aux, res, now, due)
                read = measured.fields["table_stats"]
                out["passes"].append({
                    "warmup": n == 0, **measured.fields, "plan_s": round(plan_s[0], 3),
                    "enter_s": round(measured.seconds - plan_s[0], 3), "entered": res.moved,
                    "steps_entered": len(res.entered), "skipped": res.skipped,
                    "seq_scans": {tb: d["seq_scan"] for tb, d in read.items() if d["seq_scan"]},
                    "restore_s": round(restore_s, 2), "check": check,
                })
            # Nothing due: the fixed cost of a pass (every minute when nothing waited long enough).
            idle = timer.measure_idle(advance)
            out["idle_pass"] = {**idle.fields, "entered": idle.result.moved}
            # The plan's reads as the service builds them, on the restored state: the
            # first waited step, the backlog step and the no-agent step (rolled back).
            _restore(aux)
            steps = routing.steps_of()
            rules = routing.admissions({step.queue_id: step.queue for step in steps}.values())
            positions: dict[int, list[int]] = {}
            for step in steps:
                positions.setdefault(step.queue_id, []).append(step.position)
            out["explain"] = {}
            waited = [(s, routing.previous_position(s, positions[s.queue_id]))
                      for s in steps if s.condition == StepCondition.WAITED]
            explained = [("every waited step at once", routing._WAITED_IDS,
                          routing.waited_params(waited, now=now, limit=routing.STEP_LIMIT))]
            for condition in (StepCondition.BACKLOG, StepCondition.NO_AGENT):
                step = next(s for s in steps if s.condition == condition)
                previous = routing.previous_position(step, positions[step.queue_id])
                qs = routing.items_due(step, previous=previous, now=now,
                                       steps=rules[step.queue_id]).values_list("pk", flat=True)
                qs = qs[:routing.STEP_LIMIT]
                sql, params = qs.query.get_compiler(using=qs.db).as_sql()
                explained.append((f"{condition} ({step})", sql, params))
            for label, sql, params in explained:
                with transaction.atomic(), connection.cursor() as c:
                    c.execute("SET LOCAL jit = off")   # as the product reads the waited steps
                    c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    out["explain"][label] = "\n".join(r[0] for r in c.fetchall())
                    transaction.set_rollback(True)
            _restore(aux)
    except Exception as exc:  # reported, not swallowed: the coordinator fails the section
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    results.put(out)


def measure(env: dict, url: str, *, now: datetime, due: int, passes: int) -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=worker, args=(env, url, now.isoformat(), due, passes, results), daemon=True)
    p.start()
    out = alloc._collect(results, [p], timeout=1800)[0]
    p.join(timeout=30)
    if "error" in out:
        raise SystemExit(f"bench: routing pass worker failed: {out['error']}")
    timed = [x for x in out["passes"] if not x["warmup"]]
    out["median_s"] = round(statistics.median(x["seconds"] for x in timed), 3)
    out["median_plan_s"] = round(statistics.median(x["plan_s"] for x in timed), 3)
    out["median_enter_s"] = round(statistics.median(x["enter_s"] for x in timed), 3)
    last = timed[-1]
    out.update(entered=last["entered"], steps_entered=last["steps_entered"], rows_read=last["rows_read"],
               rows_read_all_tables=last["rows_read_all_tables"], statements=last["statements"],
               commits=last["commits"])
    out["ok"] = all(x["check"]["ok"] for x in out["passes"]) and out["idle_pass"]["entered"] == 0
    out["problems"] = sorted({p for x in out["passes"] for p in x["check"]["problems"]})
    if out["idle_pass"]["entered"]:
        out["problems"].append(f"a second pass at the same time entered {out['idle_pass']['entered']} more")
    out["explain_ms"] = {k: alloc.execution_ms(v) for k, v in out["explain"].items()}
    return out


# The section -------------------------------------------------------------------------

def defaults(quick: bool) -> tuple[int, list[int]]:
    return (QUICK_OPEN, list(QUICK_HISTORY)) if quick else (DEFAULT_OPEN, list(DEFAULT_HISTORY))


def run(t: db.Target, *, open_n: int, history: list[int], passes: int = DEFAULT_PASSES,
        span_hours: float = DEFAULT_SPAN_HOURS, keep_db: bool = False, explain: bool = False, say=print) -> dict:
    """The whole section on its own database: create, migrate, seed, measure per history
    size, drop. Returns the figures (with 'pass' verdicts and 'failed_checks')."""
    started = time.perf_counter()
    now = bench_now()
    env = db.django_env(t)
    history = sorted(set(history))
    span = timedelta(hours=span_hours)
    rep: dict = {"database": t.dbname, "now": now.isoformat(), "open_items": open_n, "history_sizes": history,
                 "passes": passes, "span_hours": span_hours, "phases": [], "failed_checks": []}
    say(f"routing pass: routing_advance(now={now:%Y-%m-%d %H:%M} UTC) over {open_n:,} open items in {QUEUES} "
        f"routed queues (received over {span_hours:g} h); history {' → '.join(f'{h:,}' for h in history)} closed "
        f"items; database {t.dbname}")
    db.create_database(t)
    try:
        t0 = time.perf_counter()
        db.migrate(t)
        rep["migrate_s"] = round(time.perf_counter() - t0, 1)
        rep["seed"] = s = seed(t, open_n=open_n, now=now, span=span)
        by_step = ", ".join(f"step {k} {v:,}" for k, v in sorted(s["items_by_step"].items()))
        say(f"  seeded in {s['total_s']} s: {sum(s['steps_by_condition'].values())} steps "
            f"({', '.join(f'{v} {k}' for k, v in sorted(s['steps_by_condition'].items()))}); items at {by_step}; "
            f"due now {s['due']:,} ({', '.join(f'{v:,} {k}' for k, v in sorted(s['due_by_condition'].items()))}; "
            f"{s['due_overflowing']} overflowing)")
        have = 0
        for size in history:
            grown = grow_history(t, open_n=open_n, have=have, want=size, now=now)
            have = size
            before = db.noise(t)
            m = measure(env, t.url, now=now, due=s["due"], passes=passes)
            m.update(history=size, grow=grown, noise_before=before, noise_after=db.noise(t))
            rep["phases"].append(m)
            times = "/".join(f"{x['seconds']:.2f}" for x in m["passes"] if not x["warmup"])
            cpu = m["passes"][-1]["cpu"]
            say(f"  history {size:>9,}: pass {m['median_s']:.2f} s median ({times}; warm-up "
                f"{m['passes'][0]['seconds']:.2f}) = plan {m['median_plan_s']:.2f} + enter {m['median_enter_s']:.2f} | "
                f"{m['entered']:,} items entered {m['steps_entered']} steps | rows read: workitem "
                f"{m['rows_read']['allocation_workitem']:,} (all tables {m['rows_read_all_tables']:,}) | "
                f"{m['statements']:,} statements + {m['commits']:,} commits "
                f"({m['passes'][-1]['sql_roundtrip_s']:.2f} s round trips) | CPU python {cpu.get('python_s')} + "
                f"postgres {cpu.get('postgres_s')} + other {cpu.get('other_s')} s | nothing due: "
                f"{m['idle_pass']['seconds'] * 1000:.0f} ms | history loaded in {grown['total_s']} s | load "
                f"{before['loadavg_1m']}→{m['noise_after']['loadavg_1m']} | checks "
                + ("OK" if m["ok"] else "FAILED: " + "; ".join(m["problems"])))
            say("    plan reads (EXPLAIN ANALYZE): " + "; ".join(f"{k} {v} ms" for k, v in m["explain_ms"].items()))
            if explain:
                for name, plan in m["explain"].items():
                    say(f"    --- {name}")
                    say("\n".join("    " + line for line in plan.splitlines()))
            if not m["ok"]:
                rep["failed_checks"].append(f"routing pass checks at history {size}")
    finally:
        if keep_db:
            say(f"  (kept database {t.dbname})")
        else:
            db.drop_database(t)
    phases = rep["phases"]
    worst = max(p["median_s"] for p in phases)
    rep["time"] = {"worst_median_s": worst, "target_s": TIME_TARGET_S,
                   "ratio_to_target": round(worst / TIME_TARGET_S, 3), "pass": worst < TIME_TARGET_S}
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
    per = ", ".join(f"{p['median_s']:.2f} s ({p['entered']:,} entered) at {p['history']:,}" for p in rep["phases"])
    lines = [f"ROUTING   median pass at {rep['open_items']:,} open, {per} history: {tm['ratio_to_target']:.2f} of "
             f"the {tm['target_s']:g} s target {ok(tm['pass'])}"]
    if "flat" in rep:
        f = rep["flat"]
        lines.append(f"ROUTING FLAT {f['large_history']:,} vs {f['small_history']:,} history: {f['large_s']:.2f} / "
                     f"{f['small_s']:.2f} s = {f['ratio']:.2f} (target ≤ {f['target']}) {ok(f['pass'])}")
    return lines


def add_arguments(p: argparse.ArgumentParser, prefix: str = "--routing-") -> None:
    p.add_argument(f"{prefix}open", dest="routing_open", type=int, help="open items (default 1000000; --quick 50000)")
    p.add_argument(f"{prefix}history", dest="routing_history", type=int, nargs="+", metavar="N",
                   help="closed-history sizes, measured in turn (default 1000000 3000000; --quick 20000 100000)")
    p.add_argument(f"{prefix}passes", dest="routing_passes", type=int, default=DEFAULT_PASSES,
                   help=f"timed passes per history size, after one warm-up (median; default {DEFAULT_PASSES})")
    p.add_argument(f"{prefix}span-hours", dest="routing_span_hours", type=float, default=DEFAULT_SPAN_HOURS,
                   help=f"open items were received over this many hours (default {DEFAULT_SPAN_HOURS}); shorter, "
                        f"more items are due per pass")
    p.add_argument(f"{prefix}dbname", dest="routing_dbname", default="wfo_bench_routing",
                   help="the routing bench's own database, created and dropped (default wfo_bench_routing)")


def resolve(args) -> tuple[int, list[int]]:
    o, h = defaults(args.quick)
    return args.routing_open or o, args.routing_history or h


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, prefix="--")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--dsn", help="server (postgres:// URL); default as bench/run.py")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the plan's reads")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    p.add_argument("--json", type=Path, help="results file (default bench/results/routing-<timestamp>.json)")
    args = p.parse_args(argv)
    open_n, history = resolve(args)
    t = db.choose_server(args.dsn, args.routing_dbname)
    rep = run(t, open_n=open_n, history=history, passes=args.routing_passes, span_hours=args.routing_span_hours,
              keep_db=args.keep_db, explain=args.explain, say=lambda m="": print(m, flush=True))
    for line in summary_lines(rep):
        print("  " + line)
    out = args.json or BENCH / "results" / f"routing-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"routing": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep['wall_s']} s; results in {out}")
    if rep["failed_checks"]:
        return 1
    if args.strict and not (rep["time"]["pass"] and rep.get("flat", {}).get("pass", True)):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
