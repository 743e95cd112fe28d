#!/usr/bin/env python3
"""Rebalancing benchmark: absent agents' work moves on.

    .venv/bin/python bench/rebalance.py                # full size (about 45 s on 2 cores)
    .venv/bin/python bench/rebalance.py --quick        # smoke run (100 agents, 2,000 held, 20,000 queued)
    .venv/bin/python bench/rebalance.py --keep-db --json /tmp/rebalance.json

Issue: "Rebalance after 200 of 1,000 agents go offline holding 20,000 items, with 500,000
queued items: print the time to move them all; target under 30 s on this machine."

Where: the server bench/db.py chooses (--dsn, DATABASE_URL, 127.0.0.1:5432, else the
embedded one); on it the bench creates its own database (`wfo_bench_rebalance`,
--dbname), migrates it and drops it at the end (--keep-db leaves it).

What is seeded (bulk SQL, then VACUUM ANALYZE; nothing goes through the ORM):

- 4 skills, 20 queues (`rb-q00`…), 10 teams. Team t serves the 6 consecutive queues
  starting at 2·t (wrapping), so every queue has 3 serving teams and every team 6 of the
  20 queues. Queue q requires skill q mod 4 at proficiency ≥ 2, and queues with q mod 5 = 0
  also skill (q + 1) mod 4 at ≥ 3. Agent a holds skill s at 2 + (a + s) mod 3, except that
  every 7th agent has its skill a mod 4 at 1 only. So eligibility filters by team (6 of 20
  queues) and by skills (most agents meet most requirements).
- 1,000 agents (auth_user in the 'Agent' group + agent profile + skills), in blocks of 100
  per team, capacity 40 (--capacity): the 800 available agents have room for 32,000 items.
  Every 5th agent (200, 20 per team) is offline since one hour ago (the grace is 15 min)
  and holds 100 items in progress (assignee, assigned_at, started_at set), each in a queue
  the agent is eligible for; its capacity is 100, so no rule but absence applies to it.
  The available agents hold nothing, were last seen now and last assigned 0–10 min ago.
- 500,000 queued items spread uniformly over the 20 queues. The 20,000 held items are
  interleaved evenly with them in id order (as real arrivals would be), not one block.
  Priorities, receipt, due and start-by times as bench/db.py seeds them.

What is measured, in a separate Django process (django.setup() with db.django_env, so
DEBUG off): the wall time of `allocation.services.rebalancing.rebalance()` (defaults:
now, batch_size=200), called again until the offline agents hold nothing (normally one
call; the number of calls is reported, at most --max-calls). Alongside: the time per
rule and per phase (choosing receivers vs the batch transactions), CPU of the Python
process and of its PostgreSQL backend from /proc (local server only), every SQL statement
timed client-side and grouped by its normalised text (pg_stat_statements is usually not
preloaded), and the table access counters (pg_stat_user_tables) of the run.

Checked afterwards, in SQL independent of the product code (a failure exits 1): no item
held by an offline agent; exactly one 'rebalanced' event (rule holder_absent, from the
right agent, to the item's new holder or queue) per moved item and none on other items;
every receiving agent available, in a team serving each of its items' queues, meeting
the queue's skills, and not above its capacity; no item sent back to the queue while an
eligible agent still had room; the service's counts equal the database's.

Printed: seed time, rebalance time, items moved (to agents / to the queue), moves per
second, PASS/FAIL against the 30 s target; the figures go to --json (default
bench/results/rebalance-<timestamp>.json). `run(args) -> dict` does the whole thing for
bench/run.py (args: the namespace `add_arguments` defines).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import alloc  # noqa: E402
import db  # noqa: E402

TARGET_S = 30.0
DEFAULTS = {"agents": 1000, "offline": 200, "held": 20_000, "queued": 500_000}
QUICK = {"agents": 100, "offline": 20, "held": 2_000, "queued": 20_000}
CAPACITY = 40
QUEUES = 20
TEAMS = 10
QUEUES_PER_TEAM = 6       # team t serves queues 2t … 2t+5 (mod 20): 3 teams per queue
SKILLS = 4
BATCH = 200               # rebalance()'s default batch_size
MAX_CALLS = 5
SOURCE = "bench-rebalance"

# Seeding --------------------------------------------------------------------------------

SEED_ORG = f"""
INSERT INTO allocation_skill (name, description)
SELECT 'rb-skill-' || s, '' FROM generate_series(0, {SKILLS - 1}) s;

INSERT INTO allocation_team (name) SELECT 'rb-team-' || t FROM generate_series(0, {TEAMS - 1}) t;

INSERT INTO allocation_queue (code, name, description, is_active, allocation_mode,
                              standard_handle_time, reservation_timeout, sla_target, outcomes)
SELECT 'rb-q' || lpad(q::text, 2, '0'), 'Rebalance bench queue ' || q, '', true, 'pull',
       make_interval(mins => 5 + (q * 7) % 26), interval '10 minutes',
       make_interval(hours => 4 + (q * 13) % 69), '[]'::jsonb
  FROM generate_series(0, {QUEUES - 1}) q;

CREATE TABLE rb_queue AS
SELECT substring(code from 5)::int AS n, id, sla_target, standard_handle_time AS handle
  FROM allocation_queue WHERE code LIKE 'rb-q%';

INSERT INTO allocation_queue_teams (queue_id, team_id)
SELECT q.id, t.id
  FROM allocation_team t
  JOIN rb_queue q
    ON ((q.n - substring(t.name from 9)::int * {QUEUES // TEAMS}) % {QUEUES} + {QUEUES}) % {QUEUES}
       < {QUEUES_PER_TEAM};

INSERT INTO allocation_queueskill (queue_id, skill_id, min_proficiency)
SELECT q.id, s.id, 2 FROM rb_queue q JOIN allocation_skill s ON s.name = 'rb-skill-' || (q.n % {SKILLS})
UNION ALL
SELECT q.id, s.id, 3 FROM rb_queue q JOIN allocation_skill s ON s.name = 'rb-skill-' || ((q.n + 1) % {SKILLS})
 WHERE q.n % 5 = 0;

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'rb-agent-' || lpad(a::text, 4, '0'), 'Agent', a::text, '', false, true, now()
  FROM generate_series(0, %(agents)s - 1) a;

CREATE TABLE rb_agent AS
SELECT substring(username from 10)::int AS n, id AS agent_id,
       ((substring(username from 10)::int + 1) * %(offline)s / %(agents)s)
         > (substring(username from 10)::int * %(offline)s / %(agents)s) AS offline
  FROM auth_user WHERE username LIKE 'rb-agent-%%';

INSERT INTO auth_user_groups (user_id, group_id)
SELECT a.agent_id, g.id FROM rb_agent a JOIN auth_group g ON g.name = 'Agent';

-- Blocks of agents per team; the offline ones since an hour (with room for what they
-- hold, so no rule but absence applies to them), the others available.
INSERT INTO allocation_agentprofile (user_id, team_id, capacity, presence, presence_since,
                                     last_assigned_at, last_seen_at)
SELECT a.agent_id, t.id,
       CASE WHEN a.offline THEN greatest(%(capacity)s, %(per_offline)s) ELSE %(capacity)s END,
       CASE WHEN a.offline THEN 'offline' ELSE 'available' END,
       now() - CASE WHEN a.offline THEN interval '1 hour' ELSE interval '2 hours' END,
       now() - CASE WHEN a.offline THEN interval '65 minutes'
                    ELSE make_interval(secs => ((a.n * 7919) %% 600)::double precision) END,
       CASE WHEN a.offline THEN now() - interval '1 hour' ELSE now() END
  FROM rb_agent a
  JOIN allocation_team t ON t.name = 'rb-team-' || (a.n * {TEAMS} / %(agents)s);

INSERT INTO allocation_agentskill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.id,
       CASE WHEN a.n %% 7 = 0 AND substring(s.name from 10)::int = a.n %% {SKILLS} THEN 1
            ELSE 2 + (a.n + substring(s.name from 10)::int) %% 3 END
  FROM rb_agent a CROSS JOIN allocation_skill s;

-- Who may take which queue, by the product's rule (team serves it, every skill met):
-- presence and capacity are what change during the run.
CREATE TABLE rb_eligible AS
SELECT p.user_id AS agent_id, q.id AS queue_id, q.n AS queue_n
  FROM allocation_agentprofile p
  JOIN allocation_queue_teams qt ON qt.team_id = p.team_id
  JOIN rb_queue q ON q.id = qt.queue_id
 WHERE NOT EXISTS (
       SELECT 1 FROM allocation_queueskill r
        WHERE r.queue_id = q.id AND NOT EXISTS (
              SELECT 1 FROM allocation_agentskill s
               WHERE s.agent_id = p.user_id AND s.skill_id = r.skill_id AND s.proficiency >= r.min_proficiency));
CREATE INDEX ON rb_eligible (agent_id, queue_id);

-- The offline agents in order (holder k mod O of the k-th held item) with their queues.
CREATE TABLE rb_offline AS
SELECT (row_number() OVER (ORDER BY a.agent_id) - 1)::int AS k, a.agent_id,
       (SELECT array_agg(e.queue_n ORDER BY e.queue_n) FROM rb_eligible e WHERE e.agent_id = a.agent_id) AS qns
  FROM rb_agent a WHERE a.offline;
"""

# Items g = first … last of held + queued: g is held iff ⌊g·H/T⌋ > ⌊(g−1)·H/T⌋ (H held
# spread evenly over T), the k-th held item (k = ⌊g·H/T⌋ − 1) belongs to offline agent
# k mod O, in one of its eligible queues in turn; the others are queued in queue hash(g)
# mod 20. Held items: assigned 70 min – 3 h ago, started 2 min later, received before.
SEED_ITEMS = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, assignee_id, received_at, due_at, start_by, assigned_at, started_at,
                                 outcome, created_at, updated_at)
SELECT q.id, '{SOURCE}', 'r' || g, 'cust-' || (g * 7919 %% 250000), 'Rebalance bench item ' || g, '{{}}'::jsonb,
       r.priority, CASE WHEN h.held THEN 'in_progress' ELSE 'queued' END, o.agent_id,
       r.received_at, r.received_at + q.sla_target * (1.2 - 0.2 * r.priority),
       r.received_at + q.sla_target * (1.2 - 0.2 * r.priority) - q.handle,
       r.assigned_at, r.assigned_at + interval '2 minutes', '', r.received_at, now()
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT g * %(held)s::bigint / %(total)s::bigint > (g - 1) * %(held)s::bigint / %(total)s::bigint AS held,
              g * %(held)s::bigint / %(total)s::bigint - 1 AS k
       ) h
  LEFT JOIN rb_offline o ON h.held AND o.k = h.k %% %(offline)s::int
 CROSS JOIN LATERAL (
       SELECT (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              CASE WHEN h.held THEN now() - make_interval(mins => (70 + g %% 110)::int) END AS assigned_at,
              CASE WHEN h.held
                   THEN now() - make_interval(mins => (70 + g %% 110)::int)
                        - make_interval(secs => ((hashint8(g + 2) & 2147483647) %% 86400)::double precision)
                   ELSE now() - make_interval(secs => ((hashint8(g + 2) & 2147483647) %% 259200)::double precision)
              END AS received_at,
              CASE WHEN h.held THEN o.qns[(1 + (h.k / %(offline)s::int) %% cardinality(o.qns))::int]
                   ELSE ((hashint8(g) & 2147483647) %% {QUEUES})::int END AS qn
       ) r
  JOIN rb_queue q ON q.n = r.qn
"""

SEED_HELD = """
CREATE TABLE rb_held AS
SELECT w.id AS item_id, w.assignee_id AS from_agent, w.queue_id
  FROM allocation_workitem w JOIN rb_offline o ON o.agent_id = w.assignee_id;
CREATE UNIQUE INDEX ON rb_held (item_id);
"""


def _drop_secondary_indexes(c, table: str) -> list[str]:
    """Drop the indexes of `table` that back no constraint; return their definitions."""
    rows = c.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary"
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)", (table,)).fetchall()
    for name, _ in rows:
        c.execute(db.sql.SQL("DROP INDEX {}").format(db.sql.Identifier(name)))
    return [d for _, d in rows]


def seed(t: db.Target, *, agents: int, offline: int, held: int, queued: int, capacity: int,
         chunk: int = 250_000) -> dict:
    started = time.perf_counter()
    total = held + queued
    with db.connect(t.url) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        with c.cursor() as cur:   # one statement at a time: the script has parameters
            for statement, takes in _statements(SEED_ORG):
                cur.execute(statement, {"agents": agents, "offline": offline, "capacity": capacity,
                                        "per_offline": -(-held // offline)} if takes else None)
        empty = c.execute("SELECT count(*) FROM rb_offline WHERE coalesce(cardinality(qns), 0) = 0").fetchone()[0]
        if empty:
            raise SystemExit(f"bench: {empty} offline agents are eligible for no queue")
        org = time.perf_counter()
        indexes = _drop_secondary_indexes(c, "allocation_workitem") if total >= 100_000 else []
        for first in range(1, total + 1, chunk):
            c.execute(SEED_ITEMS, {"first": first, "last": min(total, first + chunk - 1), "held": held,
                                   "total": total, "offline": offline})
        loaded = time.perf_counter()
        for definition in indexes:
            c.execute(definition)
        c.execute(SEED_HELD)
        indexed = time.perf_counter()
        c.execute("VACUUM ANALYZE")
        counts = dict(c.execute("SELECT status, count(*) FROM allocation_workitem GROUP BY status").fetchall())
        per_agent = c.execute("SELECT min(n), max(n) FROM (SELECT count(h.item_id) n FROM rb_offline o"
                              " LEFT JOIN rb_held h ON h.from_agent = o.agent_id GROUP BY o.agent_id) x").fetchone()
        org_facts = c.execute(
            "SELECT (SELECT count(*) FROM allocation_agentprofile WHERE presence = 'available'),"
            "       (SELECT count(*) FROM allocation_agentprofile WHERE presence <> 'available'),"
            "       (SELECT count(DISTINCT agent_id) FROM rb_eligible),"
            "       (SELECT round(avg(n), 1) FROM (SELECT count(*) n FROM rb_eligible GROUP BY agent_id) x),"
            "       (SELECT min(n) FROM (SELECT count(*) n FROM rb_eligible e JOIN allocation_agentprofile p"
            "          ON p.user_id = e.agent_id AND p.presence = 'available' GROUP BY e.queue_id) x)"
        ).fetchone()
    done = time.perf_counter()
    if counts.get("queued", 0) != queued or counts.get("in_progress", 0) != held or per_agent[1] is None:
        raise SystemExit(f"bench: seeded {counts}, expected {queued} queued and {held} in progress")
    return {"agents": agents, "available": org_facts[0], "offline": org_facts[1], "capacity": capacity,
            "queues": QUEUES, "teams": TEAMS, "skills": SKILLS, "held": held, "queued": queued,
            "held_per_offline_agent": {"min": per_agent[0], "max": per_agent[1]},
            "eligible_queues_per_agent_avg": float(org_facts[3]),
            "min_available_eligible_agents_per_queue": org_facts[4],
            "org_s": round(org - started, 1), "load_s": round(loaded - org, 1),
            "index_s": round(indexed - loaded, 1), "vacuum_s": round(done - indexed, 1),
            "total_s": round(done - started, 1)}


def _statements(script: str) -> list[tuple[str, bool]]:
    """The script's statements, each with whether it takes the parameters (it names one,
    or escapes a modulo as %%); the others go as they are."""
    return [(s, "%(" in s or "%%" in s) for s in script.split(";\n") if s.strip()]


# Measuring ------------------------------------------------------------------------------

_IN_LIST = re.compile(r"(%s, )+%s")
_SPACES = re.compile(r"\s+")


def _shape(sql: str) -> str:
    """A statement's text with IN lists folded, so each shape is one row (like pg_stat_statements)."""
    return _SPACES.sub(" ", _IN_LIST.sub("%s…", sql)).strip()


STATS = """
SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),
       n_tup_ins, n_tup_upd, n_tup_hot_upd
  FROM pg_stat_user_tables
"""
_COLS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_hot_upd")


def _table_stats(aux) -> dict:
    aux.execute("SELECT pg_stat_clear_snapshot()")
    return {r[0]: dict(zip(_COLS, r[1:], strict=True)) for r in aux.execute(STATS).fetchall()}


def _still_held(aux) -> int:
    return aux.execute("SELECT count(*) FROM allocation_workitem w JOIN rb_offline o ON o.agent_id = w.assignee_id"
                       " WHERE w.status IN ('assigned', 'in_progress', 'pended')").fetchone()[0]


def worker(env: dict, url: str, max_calls: int, results) -> None:
    """In a Django process: rebalance() until the offline agents hold nothing."""
    os.environ.update(env)
    import django

    django.setup()
    import psycopg
    from django.db import connection

    from allocation.services import rebalancing

    out: dict = {"calls": []}
    phase_s: dict[str, float] = defaultdict(float)
    phase_n: dict[str, int] = defaultdict(int)

    def timed_fn(owner, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:   # the product moved it: that part is simply not split out
            return

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                phase_s[label] += time.perf_counter() - t
                phase_n[label] += 1

        setattr(owner, name, wrapper)

    # rebalance() looks these up in its module at call time: per rule, and inside the rules
    # the receivers' reads (per queue), the choice per item, the batches (which include the
    # choices) and the sweep's id query. Names as in allocation/services/moves.py, or the
    # older private ones of rebalancing.py.
    for name in ("agents_idle_set_offline", "_absent_holders", "_over_capacity", "_follow_ups_due",
                 "_holders_no_longer_eligible", "move_held_batch", "_move_held_batch"):
        timed_fn(rebalancing, name, name)
    receivers = getattr(rebalancing, "Receivers", None) or getattr(rebalancing, "_Receivers", None)
    if receivers is not None:
        timed_fn(receivers, "_load", "Receivers._load (per queue, cached)")
        timed_fn(receivers, "pick", "Receivers.pick (per item, inside the batches)")

    per_sql: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0, 0])

    def timed_sql(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - t
            e = per_sql[_shape(sql)]
            e[0] += 1
            e[1] += spent
            e[2] = max(e[2], spent)
            e[3] += len(params) if many and params else 1

    try:
        with psycopg.connect(url, autocommit=True) as aux:
            connection.ensure_connection()
            with connection.cursor() as c:
                c.execute("SELECT pg_backend_pid()")
                backend = c.fetchone()[0]
            out["held_before"] = _still_held(aux)
            aux.execute("SELECT pg_stat_force_next_flush()")
            time.sleep(0.6)
            before = _table_stats(aux)
            cpu0 = (alloc.proc_cpu_s(os.getpid()), alloc.proc_cpu_s(backend), alloc.machine_cpu_s())
            for n in range(max_calls):
                if n and not out["calls"][-1]["held_after"]:
                    break
                with connection.execute_wrapper(timed_sql):
                    t0 = time.perf_counter()
                    res = rebalancing.rebalance(batch_size=BATCH)
                    seconds = time.perf_counter() - t0
                out["calls"].append({
                    "seconds": round(seconds, 3), "set_offline": res.set_offline,
                    "by_rule": {rule: {"to_agent": m.to_agent, "to_queue": m.to_queue, "skipped": m.skipped}
                                for rule, m in res.by_rule.items()},
                    "held_after": _still_held(aux),
                })
            cpu1 = (alloc.proc_cpu_s(os.getpid()), alloc.proc_cpu_s(backend), alloc.machine_cpu_s())
            with connection.cursor() as c:
                c.execute("SELECT pg_stat_force_next_flush()")
            time.sleep(0.6)
            out["table_stats"] = db.counters_diff(before, _table_stats(aux), _COLS)
            out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            out["phases"] = {k: {"calls": phase_n[k], "s": round(v, 3)} for k, v in
                             sorted(phase_s.items(), key=lambda kv: -kv[1])}
            # A second pass with nothing to move: the fixed cost of the every-few-minutes job.
            t0 = time.perf_counter()
            res = rebalancing.rebalance(batch_size=BATCH)
            out["idle_call_s"] = round(time.perf_counter() - t0, 3)
            out["idle_call_moved"] = res.moved
        if None not in cpu0 and None not in cpu1:
            py, pg, busy = (b - a for a, b in zip(cpu0, cpu1, strict=True))
            out["cpu"] = {"python_s": round(py, 2), "postgres_backend_s": round(pg, 2),
                          "other_processes_s": round(busy - py - pg, 2), "machine_busy_s": round(busy, 2)}
        out["statements"] = sum(v[0] for v in per_sql.values())
        out["sql_roundtrip_s"] = round(sum(v[1] for v in per_sql.values()), 3)
        out["top_statements"] = [
            {"total_s": round(v[1], 3), "calls": v[0], "mean_ms": round(v[1] / v[0] * 1000, 2),
             "max_ms": round(v[2] * 1000, 1), "sql": k[:300]}
            for k, v in sorted(per_sql.items(), key=lambda kv: -kv[1][1])[:12]]
    except Exception as exc:  # reported: the coordinator fails the run
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    results.put(out)


def measure(t: db.Target, max_calls: int) -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=worker, args=(db.django_env(t), t.url, max_calls, results), daemon=True)
    p.start()
    out = alloc._collect(results, [p], timeout=3600)[0]
    p.join(timeout=30)
    if "error" in out:
        raise SystemExit(f"bench: rebalance worker failed: {out['error']}")
    return out


# Checking -------------------------------------------------------------------------------

CHECKS = {
    "still held by offline agents":
        "SELECT count(*) FROM allocation_workitem w JOIN rb_offline o ON o.agent_id = w.assignee_id",
    "moved items without exactly one rebalanced event":
        "SELECT count(*) FROM rb_held h WHERE (SELECT count(*) FROM allocation_workitemevent e"
        " WHERE e.item_id = h.item_id AND e.kind = 'rebalanced') <> 1",
    "rebalanced events on items that were not held by an offline agent":
        "SELECT count(*) FROM allocation_workitemevent e WHERE e.kind = 'rebalanced'"
        " AND NOT EXISTS (SELECT 1 FROM rb_held h WHERE h.item_id = e.item_id)",
    "events whose rule, origin or destination disagrees with the item":
        "SELECT count(*) FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id"
        "  JOIN allocation_workitemevent e ON e.item_id = h.item_id AND e.kind = 'rebalanced'"
        " WHERE e.data->>'rule' IS DISTINCT FROM 'holder_absent'"
        "    OR (e.data->>'from_agent')::bigint IS DISTINCT FROM h.from_agent"
        "    OR e.from_status <> 'in_progress' OR e.to_status <> w.status"
        "    OR (w.status = 'assigned' AND (e.data->>'to_agent')::bigint IS DISTINCT FROM w.assignee_id)"
        "    OR (w.status = 'queued' AND e.data->>'to_queue' IS NULL)",
    "moved items neither assigned to an agent nor queued":
        "SELECT count(*) FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id"
        " WHERE NOT ((w.status = 'assigned' AND w.assignee_id IS NOT NULL AND w.assigned_at IS NOT NULL)"
        "         OR (w.status = 'queued' AND w.assignee_id IS NULL))",
    "items given to an agent not eligible for their queue (team or skills)":
        "SELECT count(*) FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id"
        " WHERE w.status = 'assigned' AND NOT EXISTS (SELECT 1 FROM rb_eligible e"
        "       WHERE e.agent_id = w.assignee_id AND e.queue_id = w.queue_id)",
    "items given to an agent not available":
        "SELECT count(*) FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id"
        "  JOIN allocation_agentprofile p ON p.user_id = w.assignee_id WHERE p.presence <> 'available'",
    "agents above their capacity":
        "SELECT count(*) FROM (SELECT assignee_id, count(*) n FROM allocation_workitem"
        " WHERE status IN ('assigned', 'in_progress') GROUP BY assignee_id) x"
        " JOIN allocation_agentprofile p ON p.user_id = x.assignee_id WHERE x.n > p.capacity",
    "items sent to the queue while an eligible available agent still had room":
        "SELECT count(*) FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id"
        " WHERE w.status = 'queued' AND EXISTS ("
        "   SELECT 1 FROM rb_eligible e JOIN allocation_agentprofile p ON p.user_id = e.agent_id"
        "    WHERE e.queue_id = w.queue_id AND p.presence = 'available'"
        "      AND (SELECT count(*) FROM allocation_workitem x WHERE x.assignee_id = p.user_id"
        "            AND x.status IN ('assigned', 'in_progress')) < p.capacity)",
}


def verify(t: db.Target, m: dict, *, held: int, queued: int) -> dict:
    with db.connect(t.url) as c:
        problems = {name: n for name, sql in CHECKS.items() if (n := c.execute(sql).fetchone()[0])}
        to_agent, to_queue = c.execute(
            "SELECT count(*) FILTER (WHERE w.status = 'assigned'), count(*) FILTER (WHERE w.status = 'queued')"
            "  FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id").fetchone()
        receivers = c.execute(
            "SELECT count(*), min(n), max(n), round(avg(n), 1) FROM (SELECT w.assignee_id, count(*) n"
            "  FROM rb_held h JOIN allocation_workitem w ON w.id = h.item_id WHERE w.status = 'assigned'"
            " GROUP BY w.assignee_id) x").fetchone()
        events, event_bytes = c.execute("SELECT count(*), round(avg(pg_column_size(data))) FROM"
                                        " allocation_workitemevent WHERE kind = 'rebalanced'").fetchone()
        queued_now = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'queued'").fetchone()[0]
    said = defaultdict(int)
    for call in m["calls"]:
        for rule, counts in call["by_rule"].items():
            for k, v in counts.items():
                said[(rule, k)] += v
    if (said[("holder_absent", "to_agent")], said[("holder_absent", "to_queue")]) != (to_agent, to_queue):
        problems["service counts differ from the database"] = (
            f"service {said[('holder_absent', 'to_agent')]}/{said[('holder_absent', 'to_queue')]}, "
            f"database {to_agent}/{to_queue} (to agents/to queue)")
    other = {f"{r}.{k}": v for (r, k), v in said.items() if v and r != "holder_absent" and k != "skipped"}
    if other:
        problems["moves by other rules"] = other
    if to_agent + to_queue != held:
        problems["moved"] = f"{to_agent + to_queue} of {held}"
    if queued_now != queued + to_queue:
        problems["queued items"] = f"{queued_now}, expected {queued} + {to_queue}"
    if m.get("idle_call_moved"):
        problems["a second rebalance moved more"] = m["idle_call_moved"]
    return {"ok": not problems, "problems": problems, "to_agent": to_agent, "to_queue": to_queue,
            "events": events, "event_data_bytes_avg": float(event_bytes or 0), "receiving_agents": receivers[0],
            "per_receiver_min": receivers[1], "per_receiver_max": receivers[2],
            "per_receiver_avg": float(receivers[3] or 0)}


# The run --------------------------------------------------------------------------------

def sizes(args) -> dict:
    base = QUICK if getattr(args, "quick", False) else DEFAULTS
    return {k: getattr(args, k, None) or v for k, v in base.items()}


def run(args, say=print) -> dict:
    """Create, migrate, seed, measure, check, drop; return the figures ("ok", "pass")."""
    started = time.perf_counter()
    n = sizes(args)
    capacity = getattr(args, "capacity", None) or CAPACITY
    if not 0 < n["offline"] < n["agents"] or capacity > 32767:
        raise SystemExit("bench: need 0 < offline < agents and capacity ≤ 32767")
    t = db.choose_server(getattr(args, "dsn", None), getattr(args, "dbname", None) or "wfo_bench_rebalance")
    rep: dict = {"server": t.how, "database": t.dbname, "sizes": n, "capacity": capacity, "batch_size": BATCH,
                 "target_s": TARGET_S, "noise_before": db.noise(t)}
    say(f"rebalance: {n['offline']:,} of {n['agents']:,} agents offline holding {n['held']:,} items, "
        f"{n['queued']:,} queued; capacity {capacity}; database {t.dbname} on {t.how}; "
        f"load {rep['noise_before']['loadavg']}, {rep['noise_before']['other_active_sessions']} other active sessions")
    db.create_database(t)
    try:
        t0 = time.perf_counter()
        db.migrate(t)
        rep["migrate_s"] = round(time.perf_counter() - t0, 1)
        rep["seed"] = s = seed(t, capacity=capacity, **n)
        say(f"  seeded in {s['total_s']} s (org {s['org_s']}, items {s['load_s']}, indexes {s['index_s']}, "
            f"vacuum {s['vacuum_s']}): {s['available']} available / {s['offline']} offline agents, each eligible "
            f"for {s['eligible_queues_per_agent_avg']} queues on average, at least "
            f"{s['min_available_eligible_agents_per_queue']} available eligible agents per queue")
        rep["noise_at_measure"] = db.noise(t)
        say(f"  measuring: load {rep['noise_at_measure']['loadavg']}, "
            f"{rep['noise_at_measure']['other_active_sessions']} other active sessions on the server")
        m = measure(t, getattr(args, "max_calls", None) or MAX_CALLS)
        rep["measure"] = m
        rep["check"] = verify(t, m, held=n["held"], queued=n["queued"])
    finally:
        if getattr(args, "keep_db", False):
            say(f"  (kept database {t.dbname}: {t.url})")
        else:
            db.drop_database(t)
    seconds = sum(c["seconds"] for c in m["calls"])
    ck = rep["check"]
    rep["rebalance_s"] = round(seconds, 3)
    rep["calls"] = len(m["calls"])
    rep["moved"] = ck["to_agent"] + ck["to_queue"]
    rep["moves_per_s"] = round(rep["moved"] / seconds, 1) if seconds else None
    rep["pass"] = seconds < TARGET_S
    rep["ok"] = ck["ok"]
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    for line in report_lines(rep):
        say(line)
    return rep


def report_lines(rep: dict) -> list[str]:
    m, ck, s = rep["measure"], rep["check"], rep["seed"]
    per_call = ", ".join(f"{c['seconds']:.2f} s" for c in m["calls"])
    lines = [f"  rebalance(): {rep['rebalance_s']:.2f} s over {rep['calls']} call(s) "
             f"({per_call}); "
             f"{m['statements']:,} statements, {m['sql_roundtrip_s']:.2f} s of SQL round trips; "
             f"a further call with nothing to move: {m['idle_call_s']:.2f} s"]
    if "cpu" in m:
        c = m["cpu"]
        lines.append(f"  CPU: Python {c['python_s']} s, PostgreSQL backend {c['postgres_backend_s']} s, other "
                     f"processes {c['other_processes_s']} s (machine busy {c['machine_busy_s']} s of "
                     f"{rep['rebalance_s'] * (os.cpu_count() or 1):.1f}); load after {m.get('loadavg_after')}")
    lines.append("  time per part: " + "; ".join(f"{k} {v['s']:.2f} s ({v['calls']}×)"
                                                for k, v in m["phases"].items()))
    lines.append("  slowest statements (total s, calls, mean ms):")
    for st in m["top_statements"][:6]:
        lines.append(f"    {st['total_s']:7.2f} {st['calls']:6} {st['mean_ms']:8.2f}  {st['sql'][:150]}")
    lines.append(f"  checks: {'OK' if ck['ok'] else 'FAILED: ' + json.dumps(ck['problems'], default=str)}")
    verdict = "PASS" if rep["pass"] else f"FAIL (by {rep['rebalance_s'] - rep['target_s']:.1f} s)"
    lines.append(
        f"REBALANCE  seed {s['total_s']:.1f} s | rebalance {rep['rebalance_s']:.2f} s | moved {rep['moved']:,} "
        f"(to agents {ck['to_agent']:,} across {ck['receiving_agents']} agents, {ck['per_receiver_min']}–"
        f"{ck['per_receiver_max']} each; to the queue {ck['to_queue']:,}) | {rep['moves_per_s']} moves/s | "
        f"target < {rep['target_s']:g} s {verdict} | checks {'OK' if ck['ok'] else 'FAILED'}")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", help="server (postgres:// URL); default as bench/db.py chooses")
    p.add_argument("--dbname", default="wfo_bench_rebalance", help="own database, created and dropped")
    p.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    p.add_argument("--agents", type=int, help="agents (default 1000; --quick 100)")
    p.add_argument("--offline", type=int, help="of them offline, holding items (default 200; --quick 20)")
    p.add_argument("--held", type=int, help="items the offline agents hold (default 20000; --quick 2000)")
    p.add_argument("--queued", type=int, help="queued items (default 500000; --quick 20000)")
    p.add_argument("--capacity", type=int, default=CAPACITY, help=f"every agent's capacity (default {CAPACITY})")
    p.add_argument("--max-calls", type=int, default=MAX_CALLS,
                   help=f"rebalance() calls at most until the offline agents hold nothing (default {MAX_CALLS})")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--strict", action="store_true", help="exit 3 when the 30 s target is missed")
    p.add_argument("--json", type=Path, help="results file (default bench/results/rebalance-<timestamp>.json)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    rep = run(args, say=lambda msg="": print(msg, flush=True))
    out = args.json or BENCH / "results" / f"rebalance-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rebalance": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep['wall_s']} s; results in {out}")
    if not rep["ok"]:
        return 1
    return 3 if args.strict and not rep["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
