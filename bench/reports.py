#!/usr/bin/env python3
"""Reporting benchmark: rollups and report pages over a year of history.

    .venv/bin/python bench/reports.py                  # this part alone, full size
    .venv/bin/python bench/reports.py --quick          # smoke run (100,000 items)
    .venv/bin/python bench/run.py --reports-only       # the same through run.py
    .venv/bin/python bench/run.py --skip-reports       # everything but this part

Issue: "Generate 5,000,000 historical items with events (bulk SQL, under a few minutes)
and report the server time of the history page for 90 days × all queues and of the
wallboard; targets: history under 300 ms, wallboard under 200 ms on this machine."

On its own database (`wfo_bench_reports`, created, migrated and dropped) it seeds by bulk
SQL, with nothing per row in Python:

- 20 queues (`rpt-q00`…, handle time 5–30 min, SLA target 4 h – 3 days, a 24×7 SLA
  policy each), 4 skills, 25 teams of 20 agents (500 agents); team t serves queues
  t … t+3 (mod 20). A supervisor (`rpt-supervisor`, Supervisor group, supervisor of every
  team) transfers and cancels items and is the user the pages are requested as.
- Items (`--reports-items`, default 5,000,000) received evenly over the last
  `--reports-days` (365) days, item id in order of receipt. Each is first laid out in a
  staging table (its queue, agent and the time of every event), then the items and
  their events are inserted from it. About 2 % are cancelled while queued, 3 % are
  transferred to another queue while queued, 8 % of the completed were pended 3–40 h and
  came back (follow_up_due, started again); the rest are completed by an agent of a team
  serving the final queue: waited 0–115 % of the target, took 40–160 % of the handle time.
  About `--reports-open` (default 1 % of the items) are still open (90 % queued, the rest
  assigned, in progress or pended), most of them recent, each with a running SLA clock.
- Events (allocation_workitemevent) as the services write them: created (data queue_id),
  transferred (from/to queue ids and codes), cancelled, assigned, started, pended (until),
  follow_up_due, started, completed (outcome); inserted a fortnight at a time in order
  of `at`, as the table grows in production (its BRIN index relies on that).
- Presence history: 4 changes per agent per weekday (available, away, available, offline).

Secondary indexes are dropped around the load and rebuilt; foreign-key triggers are off
for the loading session (session_replication_role = replica: the rows are consistent by
construction); CHECK constraints stay on. Then VACUUM ANALYZE.

Measured in one Django process (db.django_env: wfo.settings.local, DJANGO_DEBUG=false):

1. `reporting.rollups.rollups_rebuild()` over the whole history, timed.
2. One more minute of work written "now" (new items with created events and clocks,
   in-progress items completed, a few presence changes), then `rollups_update()` timed,
   and a second run right after it.
3. Pages through Django's test Client as the supervisor: 2 warm-up requests, then
   `--reports-requests` (20) timed ones each; p50, p95, max; every response must be 200.
   Then one more request under CaptureQueriesContext for its query count and SQL time;
   for a page whose p50 misses its target, EXPLAIN (ANALYZE, BUFFERS) of its slowest query.
   Targets, on the p50: wallboard and its htmx fragment under 200 ms; history for the
   last 90 days, all queues, by day and by week, under 300 ms (skipped while the page
   does not exist: reverse("reports:history") fails). On the p95 (issue 23): the live
   agents view with all 500 agents, and its table as htmx refreshes it (by name, and
   idle first), under 150 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import alloc  # noqa: E402
import db  # noqa: E402

DEFAULT_ITEMS = 5_000_000
QUICK_ITEMS = 100_000
DEFAULT_DAYS = 365
OPEN_SHARE = 0.01             # default open backlog: 50,000 of 5,000,000
REQUESTS = 20
WARMUP = 2
WALLBOARD_TARGET_MS = 200.0
HISTORY_TARGET_MS = 300.0
AGENTS_TARGET_MS = 150.0      # issue 23: the live agents view, on the p95, for 500 agents and 50,000 open items
HISTORY_DAYS = 90             # since = today − 89 days, until = today
FRESH_ARRIVALS = 300          # the "one more minute"
FRESH_COMPLETIONS = 200
FRESH_PRESENCE = 20

SOURCE = "bench-reports"
QUEUES = 20
TEAMS = 25
AGENTS_PER_TEAM = 20
QUEUES_PER_TEAM = 4
SKILLS = 4
AGENT_CAPACITY = 5
SUPERVISOR = "rpt-supervisor"
SLAB = timedelta(days=14)     # events are inserted this much time at a time, in order of `at`
CHUNK = 1_000_000             # items per statement

OPEN_STATES = ("queued", "assigned", "in_progress", "pended")
HELD_STATES = ("assigned", "in_progress", "pended")
LOADED_TABLES = ["allocation_workitem", "allocation_workitemevent", "allocation_presencechange",
                 "allocation_slaclock"]

# Seeding --------------------------------------------------------------------------------

SEED_ORG = f"""
CREATE FUNCTION rpt_u(g bigint, k integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (hashint8extended(g, k) & 2147483647)::double precision / 2147483648.0 $$;

INSERT INTO allocation_skill (name, description)
SELECT 'rpt-skill-' || s, '' FROM generate_series(0, {SKILLS - 1}) s;

INSERT INTO allocation_team (name) SELECT 'rpt-team-' || lpad(t::text, 2, '0') FROM generate_series(0, {TEAMS - 1}) t;

INSERT INTO allocation_queue (code, name, description, is_active, allocation_mode,
                              standard_handle_time, reservation_timeout, sla_target, outcomes)
SELECT 'rpt-q' || lpad(q::text, 2, '0'), 'Report bench queue ' || q, '', true, 'pull',
       make_interval(mins => 5 + mod(q * 7, 26)), interval '10 minutes',
       make_interval(hours => 4 + mod(q * 13, 69)), '[]'::jsonb
  FROM generate_series(0, {QUEUES - 1}) q;

INSERT INTO allocation_slapolicy (queue_id, priority, target, calendar_id, warning_thresholds, pause_when_pended)
SELECT id, NULL, sla_target, NULL, '{{50,75,90}}', true FROM allocation_queue WHERE code LIKE 'rpt-q%';

INSERT INTO allocation_queue_teams (queue_id, team_id)
SELECT q.id, t.id
  FROM allocation_team t JOIN allocation_queue q
    ON mod(substring(q.code from 6)::int - substring(t.name from 10)::int + {QUEUES * 2}, {QUEUES})
       < {QUEUES_PER_TEAM}
 WHERE t.name LIKE 'rpt-team-%' AND q.code LIKE 'rpt-q%';

INSERT INTO allocation_queueskill (queue_id, skill_id, min_proficiency)
SELECT q.id, s.id, 2 FROM allocation_queue q
  JOIN allocation_skill s ON s.name = 'rpt-skill-' || mod(substring(q.code from 6)::int, {SKILLS})
 WHERE q.code LIKE 'rpt-q%';

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'rpt-agent-' || lpad(a::text, 3, '0'), 'Agent', a::text, '', false, true,
       now() - interval '2 years'
  FROM generate_series(0, {TEAMS * AGENTS_PER_TEAM - 1}) a
UNION ALL
SELECT '!', false, '{SUPERVISOR}', 'Report', 'Supervisor', 'rpt-supervisor@bench.invalid', false, true,
       now() - interval '2 years';

INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.id FROM auth_user u JOIN auth_group g ON g.name = 'Agent' WHERE u.username LIKE 'rpt-agent-%'
UNION ALL
SELECT u.id, g.id FROM auth_user u JOIN auth_group g ON g.name = 'Supervisor' WHERE u.username = '{SUPERVISOR}';

INSERT INTO allocation_team_supervisors (team_id, user_id)
SELECT t.id, u.id FROM allocation_team t JOIN auth_user u ON u.username = '{SUPERVISOR}'
 WHERE t.name LIKE 'rpt-team-%';

CREATE TABLE rpt_agent AS
SELECT substring(username from 11)::int AS n, id AS agent_id FROM auth_user WHERE username LIKE 'rpt-agent-%';

INSERT INTO allocation_agentprofile (user_id, team_id, capacity, presence, presence_since)
SELECT a.agent_id, t.id, {AGENT_CAPACITY}, 'offline', now() - interval '2 years'
  FROM rpt_agent a JOIN allocation_team t ON t.name = 'rpt-team-' || lpad((a.n / {AGENTS_PER_TEAM})::text, 2, '0');

INSERT INTO allocation_agentskill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.id, 3 FROM rpt_agent a CROSS JOIN allocation_skill s WHERE s.name LIKE 'rpt-skill-%';

-- Per queue: its SLA target, handle time and the agents of the teams serving it (who
-- complete its items).
CREATE TABLE rpt_queue AS
SELECT substring(q.code from 6)::int AS n, q.id, q.code::text AS code, q.sla_target, q.standard_handle_time AS handle,
       extract(epoch FROM q.sla_target)::double precision AS target_s,
       extract(epoch FROM q.standard_handle_time)::double precision AS handle_s,
       (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM allocation_queue_teams qt
          JOIN allocation_agentprofile p ON p.team_id = qt.team_id WHERE qt.queue_id = q.id) AS agents
  FROM allocation_queue q WHERE q.code LIKE 'rpt-q%';
ANALYZE rpt_queue;

CREATE UNLOGGED TABLE rpt_timeline (
    g bigint, received timestamptz, priority smallint, q0_id bigint, q0_code text, q_id bigint, q_code text,
    handle interval, due timestamptz, agent_id integer, state text, t_transfer timestamptz,
    t_cancel timestamptz, t_assign timestamptz, t_start timestamptz, t_pend timestamptz, pend_until timestamptz,
    t_follow timestamptz, t_restart timestamptz, t_complete timestamptz, outcome text
);
"""

# Item g: received at start + (g − 1 + u)·step, in queue q0 (3 %: transferred to q while
# queued); its closed life (wait 0–115 % of the target, handle 40–160 % of the queue's
# standard time, 8 % pended 3–40 h) or its cancellation (2 %, 5 min – 10 h after receipt).
# It is open when that life ends after now, or by chance weighted to recent receipts
# ((1 − age/window)², so about window/3 days of arrivals are open); an open item's events
# fall at fixed shares of its age. Every time an item has no such event is NULL.
# Times are seconds since the epoch (double precision: much cheaper than timestamps and
# intervals) until the last step. Each step is a derived table of its own (OFFSET 0 keeps
# the planner from merging them): merged, every reference to a step would repeat the
# expressions of the steps below it.
TIMELINE = f"""
INSERT INTO rpt_timeline
SELECT g, to_timestamp(rec), priority, q0_id, q0_code, q_id, q_code, handle, to_timestamp(rec + target), agent_id,
       state,
       CASE WHEN moved THEN to_timestamp(rec + 0.3 * CASE state WHEN 'completed' THEN assign
                                                              WHEN 'cancelled' THEN cancel
                                                              ELSE age * 0.5 END) END,
       CASE WHEN state = 'cancelled' THEN to_timestamp(rec + cancel) END,
       CASE WHEN state = 'completed' THEN to_timestamp(rec + assign)
            WHEN state IN ('assigned', 'in_progress', 'pended') THEN to_timestamp(rec + age * 0.5) END,
       CASE WHEN state = 'completed' THEN to_timestamp(rec + start)
            WHEN state IN ('in_progress', 'pended') THEN to_timestamp(rec + age * 0.6) END,
       CASE WHEN state = 'completed' AND pends THEN to_timestamp(rec + pend)
            WHEN state = 'pended' THEN to_timestamp(rec + age * 0.7) END,
       CASE WHEN state = 'completed' AND pends THEN to_timestamp(rec + until)
            WHEN state = 'pended' THEN to_timestamp(%(now)s + 3600 + 140400 * u_b) END,
       CASE WHEN state = 'completed' AND pends THEN to_timestamp(rec + follow) END,
       CASE WHEN state = 'completed' AND pends THEN to_timestamp(rec + restart) END,
       CASE WHEN state = 'completed' THEN to_timestamp(rec + ends) END,
       CASE WHEN state = 'completed' THEN (ARRAY['approved', 'declined', 'done'])[1 + floor(3 * u_b)::int] ELSE '' END
  FROM (
       SELECT l.*,
              CASE WHEN rec + ends <= %(now)s AND u_open >= power(greatest(0.0, 1.0 - age / %(window)s), 2)
                   THEN CASE WHEN cancels THEN 'cancelled' ELSE 'completed' END
                   WHEN u_status < 0.90 THEN 'queued' WHEN u_status < 0.92 THEN 'assigned'
                   WHEN u_status < 0.95 THEN 'in_progress' ELSE 'pended' END AS state
         FROM (
              SELECT a.*, assign + 20 + 340 * u_a AS start,
                     assign + 20 + 340 * u_a + 0.4 * took AS pend,
                     assign + 10820 + 340 * u_a + 0.4 * took + 133200 * u_b AS until,
                     assign + 10820 + 2140 * u_a + 0.4 * took + 133200 * u_b AS follow,
                     assign + 10840 + 2140 * u_a + 0.4 * took + 133420 * u_b AS restart,
                     CASE WHEN cancels THEN cancel
                          WHEN pends THEN assign + 10840 + 2140 * u_a + took + 133420 * u_b
                          ELSE assign + 20 + 340 * u_a + took END AS ends
                FROM (  -- seconds after receipt
                     SELECT r.*, q0.id AS q0_id, q0.code AS q0_code, q.id AS q_id, q.code AS q_code, q.handle,
                            q.agents[1 + floor(r.u_agent * cardinality(q.agents))::int] AS agent_id,
                            q0.target_s * (1.2 - 0.2 * r.priority) AS target, %(now)s - r.rec AS age,
                            q0.target_s * (1.2 - 0.2 * r.priority) * 1.15 * r.u_wait * r.u_wait AS assign,
                            q.handle_s * (0.4 + 1.2 * r.u_handle) AS took, 300 + 35700 * r.u_a AS cancel
                       FROM (
                            SELECT g, %(start)s + (g - 1 + rpt_u(g, 0)) * %(step)s AS rec,
                                   mod(hashint8extended(g, 1) & 2147483647, {QUEUES})::int AS qn0,
                                   rpt_u(g, 2) < 0.03 AS moved,
                                   (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + mod(hashint8extended(g, 3) & 2147483647,
                                                                                10)::int] AS priority,
                                   rpt_u(g, 4) < 0.02 AS cancels, rpt_u(g, 5) < 0.08 AS pends,
                                   rpt_u(g, 6) AS u_wait, rpt_u(g, 7) AS u_handle, rpt_u(g, 8) AS u_open,
                                   rpt_u(g, 9) AS u_status, rpt_u(g, 10) AS u_agent, rpt_u(g, 11) AS u_a,
                                   rpt_u(g, 12) AS u_b,
                                   1 + mod(hashint8extended(g, 13) & 2147483647, {QUEUES - 1})::int AS hop
                              FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
                            OFFSET 0) r
                       JOIN rpt_queue q0 ON q0.n = r.qn0
                       JOIN rpt_queue q ON q.n = CASE WHEN r.moved THEN mod(r.qn0 + r.hop, {QUEUES}) ELSE r.qn0 END
                     OFFSET 0) a
              OFFSET 0) l
       OFFSET 0) s
"""

ITEMS = f"""
INSERT INTO allocation_workitem (id, queue_id, source, external_id, customer_ref, title, payload, priority, status,
                                 assignee_id, received_at, due_at, start_by, assigned_at, started_at, pended_until,
                                 closed_at, completed_by_id, outcome, created_at, updated_at)
SELECT g, q_id, '{SOURCE}', 'r' || lpad(g::text, 10, '0'), 'cust-' || mod(g * 7919, 1000000),
       'Report bench item ' || g, '{{}}'::jsonb, priority, state,
       CASE WHEN state IN ('assigned', 'in_progress', 'pended') THEN agent_id END,
       received, due, due - handle, coalesce(t_follow, t_assign), t_start,
       CASE WHEN state = 'pended' THEN pend_until END, coalesce(t_complete, t_cancel),
       CASE WHEN state = 'completed' THEN agent_id END, outcome, received,
       greatest(received, t_transfer, t_cancel, t_assign, t_start, t_pend, t_follow, t_restart, t_complete)
  FROM rpt_timeline WHERE g BETWEEN %(first)s AND %(last)s ORDER BY g
"""

# The events whose `at` falls in [lo, hi), from the items that can have one there, in
# order of `at`: kind k of an item is the k-th time of its layout. Data as the services
# write it (intake, item_transfer, get-next, item_pend, rebalancing, item_complete), built
# only for the rows kept.
EVENTS = """
INSERT INTO allocation_workitemevent (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
SELECT s.g, e.at,
       CASE e.k WHEN 0 THEN NULL WHEN 1 THEN %(supervisor)s::integer WHEN 2 THEN %(supervisor)s::integer
                WHEN 6 THEN NULL ELSE s.agent_id END,
       CASE e.k WHEN 0 THEN 'intake' WHEN 6 THEN 'rebalancer' ELSE '' END,
       (ARRAY['created', 'transferred', 'cancelled', 'assigned', 'started', 'pended', 'follow_up_due', 'started',
              'completed'])[e.k + 1],
       (ARRAY['', 'queued', 'queued', 'queued', 'assigned', 'in_progress', 'pended', 'assigned',
              'in_progress'])[e.k + 1],
       (ARRAY['queued', 'queued', 'cancelled', 'assigned', 'in_progress', 'pended', 'assigned', 'in_progress',
              'completed'])[e.k + 1],
       '',
       CASE e.k WHEN 0 THEN jsonb_build_object('queue_id', s.q0_id)
                WHEN 1 THEN jsonb_build_object('from_queue', s.q0_code, 'from_queue_id', s.q0_id, 'from_agent', NULL,
                                               'to_queue', s.q_code, 'to_queue_id', s.q_id)
                WHEN 3 THEN jsonb_build_object('rule', 'next_best', 'queue_id', s.q_id, 'priority', s.priority)
                WHEN 5 THEN jsonb_build_object('until', s.pend_until)
                WHEN 6 THEN jsonb_build_object('rule', 'pended_follow_up_due', 'to_agent', s.agent_id)
                WHEN 8 THEN jsonb_build_object('outcome', s.outcome)
                ELSE '{}'::jsonb END
  FROM rpt_timeline s
 CROSS JOIN LATERAL (VALUES (s.received, 0), (s.t_transfer, 1), (s.t_cancel, 2), (s.t_assign, 3), (s.t_start, 4),
                            (s.t_pend, 5), (s.t_follow, 6), (s.t_restart, 7), (s.t_complete, 8)) e(at, k)
 WHERE s.g BETWEEN %(first)s AND %(last)s AND e.at >= %(lo)s AND e.at < %(hi)s
 ORDER BY e.at
"""

# Running clocks of the open items (24×7, thresholds 50/75/90/100): the next threshold is
# the first still ahead (of the pause, for pended items, whose clock waits paused).
CLOCKS = """
INSERT INTO allocation_slaclock (item_id, calendar_id, target, thresholds, pause_when_pended, paused_working,
                                 paused_since, next_threshold, next_alert_at, stopped_at)
SELECT s.g, NULL, s.due - s.received, '{50,75,90,100}', true, interval '0',
       CASE WHEN s.state = 'pended' THEN s.t_pend END, nt.pct,
       CASE WHEN s.state <> 'pended' THEN s.received + (s.due - s.received) * (nt.pct / 100.0) END, NULL
  FROM rpt_timeline s
 CROSS JOIN LATERAL (
       SELECT min(p) AS pct FROM unnest(ARRAY[50, 75, 90, 100]) p
        WHERE s.received + (s.due - s.received) * (p / 100.0) > coalesce(s.t_pend, %(now)s)) nt
 WHERE s.state IN ('queued', 'assigned', 'in_progress', 'pended')
 ORDER BY s.g
"""

# Each weekday: available from about 08:00, away at lunch, back, offline from about 17:00 (UTC).
PRESENCE = """
INSERT INTO allocation_presencechange (agent_id, presence, at, actor_id, system_actor)
SELECT a.agent_id, c.presence, c.at, CASE WHEN c.presence = 'offline' THEN NULL ELSE a.agent_id END,
       CASE WHEN c.presence = 'offline' THEN 'idle-timeout' ELSE '' END
  FROM generate_series(date_trunc('day', %(start)s::timestamptz), %(now)s::timestamptz, interval '1 day') d
 CROSS JOIN rpt_agent a
 CROSS JOIN LATERAL (SELECT a.n * 100000::bigint + (extract(epoch FROM d) / 86400)::bigint AS k) h
 CROSS JOIN LATERAL (VALUES
       ('available', d + make_interval(secs => 8 * 3600 + 1800 * rpt_u(h.k, 1))),
       ('away', d + make_interval(secs => 12 * 3600 + 1800 * rpt_u(h.k, 2))),
       ('available', d + make_interval(secs => 12 * 3600 + 2700 + 1800 * rpt_u(h.k, 2))),
       ('offline', d + make_interval(secs => 17 * 3600 + 1800 * rpt_u(h.k, 3)))
       ) c(presence, at)
 WHERE extract(isodow FROM d) < 6 AND c.at >= %(start)s AND c.at <= %(now)s
 ORDER BY c.at
"""

SET_PRESENCE = """
UPDATE allocation_agentprofile p SET presence = l.presence, presence_since = l.at, last_seen_at = l.at
  FROM (SELECT DISTINCT ON (agent_id) agent_id, presence, at FROM allocation_presencechange
         ORDER BY agent_id, at DESC, id DESC) l
 WHERE p.user_id = l.agent_id
"""


def _drop_secondary_indexes(c, tables: list[str]) -> list[tuple[str, str]]:
    """Drop the indexes that back no constraint (rebuilt after the load: much faster than
    maintaining them row by row); returns (table, definition) of each."""
    rows = c.execute(
        "SELECT i.relname, x.indrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x"
        "  JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = ANY(%s::regclass[]) AND NOT x.indisprimary"
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
        (tables,)).fetchall()
    for name, _, _ in rows:
        c.execute(db.sql.SQL("DROP INDEX {}").format(db.sql.Identifier(name)))
    return [(table, definition) for _, table, definition in rows]


def _loading_session(c) -> bool:
    """A bulk-loading session (db.loading_session) on UTC, the time zone the layout's days
    and weekdays are counted in: whether the foreign-key triggers are off."""
    c.execute("SET TIME ZONE 'UTC'")
    return db.loading_session(c)


def _index_building(c) -> None:
    """Room to sort, for the index builds and vacuums run side by side."""
    c.execute("SET maintenance_work_mem = '1GB'")


def seed(t: db.Target, *, items: int, days: int, open_n: int, now: datetime, say=print) -> dict:
    """Organisation, `items` items over `days` days with their events and clocks, presence."""
    started = time.perf_counter()
    start = now - timedelta(days=days)
    step = days * 86400 / items
    rate_per_day = items / days
    # Open share (1 − age/W)² integrates to W/3 days of arrivals; the items whose life
    # would end after now, and are not open by chance already, add a few hundred more.
    window_days = max(0.1, 3 * (open_n / rate_per_day - 0.05))
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now_t = time.perf_counter()
        phases[name] = round(now_t - mark, 1)
        mark = now_t

    with db.connect(t.url) as c:
        triggers_off = _loading_session(c)
        c.execute("SET maintenance_work_mem = '1GB'")
        c.execute("SET work_mem = '1GB'")   # each slab of events is sorted in memory
        c.execute(SEED_ORG)
        supervisor = c.execute("SELECT id FROM auth_user WHERE username = %s", (SUPERVISOR,)).fetchone()[0]
        indexes = _drop_secondary_indexes(c, LOADED_TABLES)
        phase("org_s")
        for first in range(1, items + 1, CHUNK):
            c.execute(TIMELINE, {"first": first, "last": min(items, first + CHUNK - 1), "start": start.timestamp(),
                                 "step": step, "now": now.timestamp(), "window": window_days * 86400})
        c.execute("CREATE INDEX ON rpt_timeline (g)")
        c.execute("ANALYZE rpt_timeline")
        longest = float(c.execute(
            "SELECT extract(epoch FROM max(greatest(t_transfer, t_cancel, t_assign, t_start, t_pend, t_follow,"
            " t_restart, t_complete) - received)) FROM rpt_timeline").fetchone()[0] or 0)
        phase("timeline_s")
        say(f"  laid out {items:,} items in {phases['timeline_s']} s (longest life {longest / 86400:.1f} days)")

        def g_at(at: datetime) -> int:
            return min(items, max(1, math.floor((at - start).total_seconds() / step) + 1))

        # Items and events are independent given the layout: one connection each, side by side.
        item_errors: list[BaseException] = []

        def load_items() -> None:
            try:
                with db.connect(t.url) as ci:
                    _loading_session(ci)
                    for first in range(1, items + 1, CHUNK):
                        ci.execute(ITEMS, {"first": first, "last": min(items, first + CHUNK - 1)})
            except BaseException as exc:  # re-raised in this thread
                item_errors.append(exc)

        th = threading.Thread(target=load_items)
        th.start()
        lo = start
        end = now + timedelta(seconds=1)
        slabs = 0
        while lo < end:
            hi = min(end, lo + SLAB)
            c.execute(EVENTS, {"first": g_at(lo - timedelta(seconds=longest + 60)), "last": g_at(hi),
                               "lo": lo, "hi": hi, "supervisor": supervisor})
            lo, slabs = hi, slabs + 1
        th.join()
        if item_errors:
            raise item_errors[0]
        phase("items_events_s")
        c.execute(CLOCKS, {"now": now})
        c.execute(PRESENCE, {"start": start, "now": now})
        c.execute(SET_PRESENCE)
        c.execute("SELECT setval(pg_get_serial_sequence('allocation_workitem', 'id'),"
                  " (SELECT max(id) FROM allocation_workitem))")
        counts = dict(c.execute("SELECT state, count(*) FROM rpt_timeline GROUP BY state").fetchall())
        c.execute("DROP TABLE rpt_timeline")
        phase("clocks_presence_s")
        say(f"  loaded items and events in {phases['items_events_s']} s ({slabs} slabs of events), clocks and "
            f"presence in {phases['clocks_presence_s']} s; rebuilding {len(indexes)} indexes")

    by_table: dict[str, list[str]] = {}
    for table, definition in indexes:
        by_table.setdefault(table, []).append(definition)
    # Two connections: the item table's indexes on one, the others on the other.
    db.side_by_side(t.url, [by_table.get("allocation_workitem", []),
                            [d for tb, ds in by_table.items() if tb != "allocation_workitem" for d in ds]],
                    session=_index_building)
    phase("index_s")
    db.side_by_side(t.url, [["VACUUM ANALYZE allocation_workitem", "VACUUM ANALYZE allocation_slaclock"],
                            ["VACUUM ANALYZE allocation_workitemevent", "VACUUM ANALYZE allocation_presencechange",
                             "ANALYZE"]], session=_index_building)
    phase("vacuum_s")
    with db.connect(t.url) as c:
        rows = {tb: c.execute(db.sql.SQL("SELECT count(*) FROM {}").format(db.sql.Identifier(tb))).fetchone()[0]
                for tb in LOADED_TABLES}
        events_by_kind = dict(c.execute(
            "SELECT kind, count(*) FROM allocation_workitemevent GROUP BY kind ORDER BY 2 DESC").fetchall())
        mb = dict(c.execute(
            "SELECT relname, round(pg_total_relation_size(oid) / 1048576.0) FROM pg_class"
            " WHERE relname = ANY(%s)", (LOADED_TABLES,)).fetchall())
        database_mb = c.execute("SELECT round(pg_database_size(current_database()) / 1048576.0)").fetchone()[0]
        disorder = c.execute(
            "SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY id) AS back FROM allocation_workitemevent) x"
            " WHERE back").fetchone()[0]
    total = round(time.perf_counter() - started, 1)
    open_items = sum(counts.get(s, 0) for s in OPEN_STATES)
    problems = []
    if rows["allocation_workitem"] != items:
        problems.append(f"{rows['allocation_workitem']} items, expected {items}")
    if rows["allocation_slaclock"] != open_items:
        problems.append(f"{rows['allocation_slaclock']} clocks for {open_items} open items")
    if disorder:
        problems.append(f"{disorder} events out of time order")
    return {"items": items, "days": days, "now": now.isoformat(), "open_target": open_n,
            "open_window_days": round(window_days, 2), "by_status": counts, "open_items": open_items,
            "rows": rows, "events_by_kind": events_by_kind, "events_per_item": round(rows["allocation_workitemevent"]
                                                                                     / items, 2),
            "mb": {k: float(v) for k, v in mb.items()}, "database_mb": float(database_mb), "event_slabs": slabs,
            "fk_triggers_off_while_loading": triggers_off,
            "phases_s": phases, "total_s": total, "problems": problems}


# The minute after: new work written "now", for the incremental rollup --------------------

FRESH = f"""
CREATE TEMP TABLE rpt_fresh_events (item_id bigint, at timestamptz, actor_id integer, system_actor text, kind text,
                                    from_status text, to_status text, data jsonb);

WITH new AS (
    INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority, status,
                                     received_at, due_at, start_by, outcome, created_at, updated_at)
    SELECT q.id, '{SOURCE}', 'fresh-' || k || '-' || %(stamp)s, 'cust-fresh-' || k, 'Fresh item ' || k, '{{}}'::jsonb,
           3, 'queued', x.at, x.at + q.sla_target, x.at + q.sla_target - q.handle, '', x.at, x.at
      FROM generate_series(1, %(arrivals)s) k
      JOIN rpt_queue q ON q.n = mod(k, {QUEUES})
     CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - interval '60 seconds'
                                + make_interval(secs => 60.0 * k / (%(arrivals)s + 1)) AS at) x
    RETURNING id, queue_id, received_at, due_at
), clocks AS (
    INSERT INTO allocation_slaclock (item_id, calendar_id, target, thresholds, pause_when_pended, paused_working,
                                     next_threshold, next_alert_at)
    SELECT id, NULL, due_at - received_at, '{{50,75,90,100}}', true, interval '0', 50,
           received_at + (due_at - received_at) / 2 FROM new
)
INSERT INTO rpt_fresh_events
SELECT id, received_at, NULL, 'intake', 'created', '', 'queued', jsonb_build_object('queue_id', queue_id) FROM new;

WITH picked AS (
    SELECT id, assignee_id, row_number() OVER (ORDER BY id) AS k FROM allocation_workitem
     WHERE status = 'in_progress' ORDER BY id LIMIT %(completions)s
), done AS (
    UPDATE allocation_workitem w
       SET status = 'completed', assignee_id = NULL, completed_by_id = p.assignee_id, outcome = 'done',
           closed_at = x.at, updated_at = x.at
      FROM picked p CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - interval '60 seconds'
                                               + make_interval(secs => 60.0 * p.k / (%(completions)s + 1)) AS at) x
     WHERE w.id = p.id
    RETURNING w.id, p.assignee_id, x.at
), stopped AS (
    UPDATE allocation_slaclock k SET stopped_at = d.at, next_threshold = NULL, next_alert_at = NULL
      FROM done d WHERE k.item_id = d.id
)
INSERT INTO rpt_fresh_events
SELECT id, at, assignee_id, '', 'completed', 'in_progress', 'completed', '{{"outcome": "done"}}'::jsonb FROM done;

INSERT INTO allocation_workitemevent (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
SELECT item_id, at, actor_id, system_actor, kind, from_status, to_status, '', data FROM rpt_fresh_events ORDER BY at;

INSERT INTO allocation_presencechange (agent_id, presence, at, actor_id, system_actor)
SELECT agent_id, 'away', %(now)s::timestamptz - make_interval(secs => 2.0 * n), agent_id, ''
  FROM rpt_agent WHERE n < %(presence)s ORDER BY n DESC;
"""


def fresh_minute(aux, now: datetime) -> dict:
    """Write the minute before `now`: arrivals, completions and presence changes."""
    with aux.transaction(), aux.cursor() as cur:
        for statement in [s for s in FRESH.split(";\n") if s.strip()]:
            cur.execute(statement, {"now": now, "arrivals": FRESH_ARRIVALS, "completions": FRESH_COMPLETIONS,
                                    "presence": FRESH_PRESENCE, "stamp": now.strftime("%Y%m%d%H%M%S")})
        kinds = dict(cur.execute("SELECT kind, count(*) FROM rpt_fresh_events GROUP BY kind").fetchall())
        cur.execute("DROP TABLE rpt_fresh_events")
    return {"events": kinds, "presence_changes": FRESH_PRESENCE}


# Measuring ------------------------------------------------------------------------------

def _percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {"p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1),
            "max": round(ordered[-1], 1), "min": round(ordered[0], 1), "n": len(ordered)}


def worker(env: dict, url: str, requests: int, results) -> None:
    """In a Django process: rebuild, the fresh minute and the incremental runs, the pages.
    Started as the web server starts a worker (wfo/wsgi.py: set up, then what loading made
    frozen out of the garbage collector's sight)."""
    os.environ.update(env)
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    import wfo.wsgi  # noqa: F401
    from reporting import rollups
    from reporting.models import AgentDay, PresenceDay, QueueDay, QueueHour

    out: dict = {}
    per_sql: dict[str, list] = {}

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = per_sql.setdefault(" ".join(sql.split())[:160], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - t

    def top_statements() -> list[dict]:
        top = sorted(per_sql.items(), key=lambda kv: -kv[1][1])[:6]
        per_sql.clear()
        return [{"s": round(v[1], 2), "calls": v[0], "sql": k} for k, v in top]

    try:
        with psycopg.connect(url, autocommit=True) as aux:
            t0 = time.perf_counter()
            with connection.execute_wrapper(timed):
                run = rollups.rollups_rebuild()
            out["rebuild"] = {"seconds": round(time.perf_counter() - t0, 2), "days": len(run.days),
                              "top_statements": top_statements(),
                              "rows": {m.__name__: m.objects.count() for m in (QueueDay, AgentDay, QueueHour,
                                                                                PresenceDay)}}
            now = timezone.now()
            out["fresh"] = fresh_minute(aux, now)
            updates = []
            for _ in range(2):
                t0 = time.perf_counter()
                with connection.execute_wrapper(timed):
                    run = rollups.rollups_update()
                updates.append({"seconds": round(time.perf_counter() - t0, 3), "skipped": run.skipped,
                                "days": [d.isoformat() for d in run.days], "events_read": run.events_read,
                                "presence_agents": run.presence_agents, "top_statements": top_statements()})
            out["update"], out["update_again"] = updates
            aux.execute("VACUUM ANALYZE allocation_workitem")   # as autovacuum would after the minute's writes

        client = Client()
        client.force_login(get_user_model().objects.get(username=SUPERVISOR))
        today = timezone.localdate()
        since = today - timedelta(days=HISTORY_DAYS - 1)
        pages = [("wallboard", "reports:wallboard", "", {}, WALLBOARD_TARGET_MS, "p50"),
                 ("wallboard live", "reports:wallboard-live", "", {"HX-Request": "true"}, WALLBOARD_TARGET_MS,
                  "p50")]
        for grain in ("day", "week"):
            pages.append((f"history 90 days by {grain}", "reports:history",
                          f"?since={since.isoformat()}&until={today.isoformat()}&grain={grain}", {},
                          HISTORY_TARGET_MS, "p50"))
        # Every agent (the supervisor supervises every team): the page, and its table as htmx refreshes it.
        pages += [("live agents, all 500", "reports:agents", "", {}, AGENTS_TARGET_MS, "p95"),
                  ("live agents table", "reports:agents-live", "", {"HX-Request": "true"}, AGENTS_TARGET_MS, "p95"),
                  ("live agents, idle first", "reports:agents-live", "?sort=idle_for", {"HX-Request": "true"},
                   AGENTS_TARGET_MS, "p95")]
        out["pages"] = []
        for name, url_name, query, headers, target, verdict_on in pages:
            page: dict = {"name": name, "target_ms": target, "verdict_on": verdict_on}
            out["pages"].append(page)
            try:
                path = reverse(url_name) + query
            except NoReverseMatch:
                page["skipped"] = f"page not built yet (no URL named {url_name!r})"
                continue
            page["url"] = path
            statuses = []
            for _ in range(WARMUP):
                statuses.append(client.get(path, headers=headers).status_code)
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                statuses.append(response.status_code)
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                response = client.get(path, headers=headers)
                counted_ms = (time.perf_counter() - t0) * 1000
            statuses.append(response.status_code)
            queries = sorted(((float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries), reverse=True)
            page.update(_percentiles(times))
            page.update(statuses=sorted(set(statuses)), all_200=all(s == 200 for s in statuses),
                        bytes=len(response.content), queries=len(queries),
                        counted_request_ms=round(counted_ms, 1), sql_ms=round(sum(ms for ms, _ in queries), 1),
                        slowest_queries=[{"ms": round(ms, 1), "sql": sql[:2000]} for ms, sql in queries[:5]])
            page["pass"] = page[verdict_on] < target
            if not page["pass"] and queries:
                with connection.cursor() as c:
                    c.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[0][1])
                    page["explain"] = "\n".join(r[0] for r in c.fetchall())
                    page["explain_ms"] = alloc.execution_ms(page["explain"])
    except Exception as exc:  # reported: the coordinator fails the section
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    results.put(out)


def measure(t: db.Target, requests: int) -> dict:
    env = db.django_env(t, DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
                        DATABASE_CONN_MAX_AGE="600",
                        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=worker, args=(env, t.url, requests, results), daemon=True)
    p.start()
    out = alloc._collect(results, [p], timeout=3600)[0]
    p.join(timeout=30)
    if "error" in out:
        raise SystemExit(f"bench: reports worker failed: {out['error']}")
    return out


# The section -------------------------------------------------------------------------

def resolve(args) -> tuple[int, int, int]:
    """(items, days, open items) from the arguments and --quick."""
    items = args.reports_items or (QUICK_ITEMS if getattr(args, "quick", False) else DEFAULT_ITEMS)
    days = args.reports_days or DEFAULT_DAYS
    open_n = args.reports_open or max(100, round(items * OPEN_SHARE))
    return items, days, open_n


def run(t: db.Target, *, items: int, days: int, open_n: int, requests: int = REQUESTS, keep_db: bool = False,
        explain: bool = False, say=print) -> dict:
    """The whole section on its own database: create, migrate, seed, measure, drop.
    Returns the figures (with 'pass' verdicts per page and 'failed_checks')."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    rep: dict = {"database": t.dbname, "items": items, "days": days, "open_target": open_n, "requests": requests,
                 "warmup": WARMUP, "targets_ms": {"wallboard": WALLBOARD_TARGET_MS, "history": HISTORY_TARGET_MS,
                                                  "live agents": AGENTS_TARGET_MS},
                 "verdict_on": "p50 (live agents: p95)", "failed_checks": [], "noise_before": db.noise(t)}
    say(f"reports: {items:,} items over {days} days (about {open_n:,} open), database {t.dbname}; load "
        f"{rep['noise_before']['loadavg']}, {rep['noise_before']['other_active_sessions']} other active sessions")
    db.create_database(t)
    try:
        t0 = time.perf_counter()
        db.migrate(t)
        rep["migrate_s"] = round(time.perf_counter() - t0, 1)
        rep["seed"] = s = seed(t, items=items, days=days, open_n=open_n, now=now, say=say)
        say(f"  generated in {s['total_s']} s ({', '.join(f'{k[:-2]} {v}' for k, v in s['phases_s'].items())} s): "
            + ", ".join(f"{tb.removeprefix('allocation_')} {n:,}" for tb, n in s["rows"].items())
            + f" rows; {s['open_items']:,} open ("
            + ", ".join(f"{k} {s['by_status'].get(k, 0):,}" for k in OPEN_STATES)
            + f"), completed {s['by_status'].get('completed', 0):,}, cancelled {s['by_status'].get('cancelled', 0):,};"
            f" {s['events_per_item']} events per item; database {s['database_mb']:,.0f} MB")
        if s["problems"]:
            rep["failed_checks"].extend(f"reports seed: {p}" for p in s["problems"])
            say("  seed problems: " + "; ".join(s["problems"]))
        rep["noise_at_measure"] = db.noise(t)
        m = measure(t, requests)
        rep.update(rebuild=m["rebuild"], fresh=m["fresh"], update=m["update"], update_again=m["update_again"],
                   pages=m["pages"])
        for line in detail_lines(rep, explain=explain):
            say(line)
        for page in rep["pages"]:
            if "skipped" not in page and not page["all_200"]:
                rep["failed_checks"].append(f"{page['name']}: statuses {page['statuses']}")
    finally:
        if keep_db:
            say(f"  (kept database {t.dbname}: {t.url})")
        else:
            db.drop_database(t)
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    return rep


def detail_lines(rep: dict, explain: bool = False) -> list[str]:
    b, u, u2 = rep["rebuild"], rep["update"], rep["update_again"]
    fresh = ", ".join(f"{k} {n}" for k, n in rep["fresh"]["events"].items())
    lines = [f"  rollups_rebuild(): {b['seconds']:.1f} s for {b['days']} days -> "
             + ", ".join(f"{k} {n:,}" for k, n in b["rows"].items()) + " rows; slowest statements (s, calls):"]
    lines.extend(f"    {st['s']:7.2f} {st['calls']:4}  {st['sql'][:110]}" for st in b["top_statements"][:4])
    lines += [
             f"  rollups_update() after one more minute ({fresh} events, {rep['fresh']['presence_changes']} presence "
             f"changes): {u['seconds'] * 1000:.0f} ms ({u['events_read']} events read, days "
             f"{', '.join(u['days']) or '-'}); run again right after: {u2['seconds'] * 1000:.0f} ms",
             f"  pages as {SUPERVISOR}, {rep['warmup']} warm-up + {rep['requests']} timed requests each; load "
             f"{rep['noise_at_measure']['loadavg']}, {rep['noise_at_measure']['other_active_sessions']} other "
             f"active sessions"]
    for page in rep["pages"]:
        if "skipped" in page:
            lines.append(f"  {page['name']}: skipped: {page['skipped']}")
            continue
        lines.append(
            f"  {page['name']} ({page['url']}): p50 {page['p50']} / p95 {page['p95']} / max {page['max']} ms over "
            f"{page['n']} requests | {page['queries']} queries, {page['sql_ms']} ms of SQL in a "
            f"{page['counted_request_ms']} ms request | {page['bytes']:,} bytes | statuses {page['statuses']} | "
            f"target {page['verdict_on']} < {page['target_ms']:g} ms {'PASS' if page['pass'] else 'FAIL'}")
        if not page["pass"]:
            slowest = page["slowest_queries"][0] if page["slowest_queries"] else None
            if slowest:
                lines.append(f"    slowest query {slowest['ms']} ms: {' '.join(slowest['sql'].split())[:400]}")
            if "explain" in page and (explain or not page["pass"]):
                lines.append("    EXPLAIN (ANALYZE, BUFFERS):")
                lines.extend("      " + line for line in page["explain"].splitlines())
    return lines


def summary_lines(rep: dict) -> list[str]:
    s = rep["seed"]
    lines = [f"REPORTS   generated {s['items']:,} items, {s['rows']['allocation_workitemevent']:,} events in "
             f"{s['total_s']} s | rebuild {rep['rebuild']['seconds']:.1f} s | incremental "
             f"{rep['update']['seconds'] * 1000:.0f} ms"]
    for page in rep["pages"]:
        if "skipped" in page:
            lines.append(f"REPORTS   {page['name']}: skipped: {page['skipped']}")
        else:
            lines.append(f"REPORTS   {page['name']}: p50 {page['p50']} / p95 {page['p95']} / max {page['max']} ms, "
                         f"{page['queries']} queries (target {page['verdict_on']} < {page['target_ms']:g} ms) "
                         f"{'PASS' if page['pass'] else 'FAIL'}")
    return lines


def verdicts(rep: dict) -> list[bool]:
    return [page["pass"] for page in rep.get("pages", []) if "skipped" not in page]


def add_arguments(p: argparse.ArgumentParser, prefix: str = "--reports-") -> None:
    p.add_argument(f"{prefix}items", dest="reports_items", type=int,
                   help=f"historical items to generate (default {DEFAULT_ITEMS}; --quick {QUICK_ITEMS})")
    p.add_argument(f"{prefix}days", dest="reports_days", type=int,
                   help=f"days of history they span, up to now (default {DEFAULT_DAYS})")
    p.add_argument(f"{prefix}open", dest="reports_open", type=int,
                   help="about this many of them still open (default 1%% of the items)")
    p.add_argument(f"{prefix}requests", dest="reports_requests", type=int, default=REQUESTS,
                   help=f"timed requests per page, after {WARMUP} warm-up ones (default {REQUESTS})")
    p.add_argument(f"{prefix}dbname", dest="reports_dbname", default="wfo_bench_reports",
                   help="the reporting bench's own database, created and dropped (default wfo_bench_reports)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, prefix="--")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--dsn", help="server (postgres:// URL); default as bench/run.py")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every page's slowest query")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    p.add_argument("--json", type=Path, help="results file (default bench/results/reports-<timestamp>.json)")
    args = p.parse_args(argv)
    items, days, open_n = resolve(args)
    t = db.choose_server(args.dsn, args.reports_dbname)
    rep = run(t, items=items, days=days, open_n=open_n, requests=args.reports_requests, keep_db=args.keep_db,
              explain=args.explain, say=lambda m="": print(m, flush=True))
    for line in summary_lines(rep):
        print("  " + line)
    out = args.json or BENCH / "results" / f"reports-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"reports": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep['wall_s']} s; results in {out}")
    if rep["failed_checks"]:
        return 1
    if args.strict and not all(verdicts(rep)):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
