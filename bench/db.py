"""The benchmark's database: which server, a dedicated database on it, migrations, seeding.

Server, in order: --dsn, DATABASE_URL, PostgreSQL at 127.0.0.1:5432 if it answers, else
the embedded server (wfo.embedded, data under var/pgbench). On that server the bench
creates its own database (`wfo_bench` unless told otherwise), and drops it at the end:
no other database is ever written.

Seeding is plain SQL (INSERT … SELECT generate_series), so a million items take well
under a minute; nothing goes through the ORM.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

# Shape of the seeded organisation (DESIGN.md, "Allocation semantics": 200 queues,
# 50 agents each eligible for about 40 queues).
QUEUES = 200
AGENTS = 50
TEAMS = 10                # 5 agents each
QUEUES_PER_TEAM = 60      # a sliding window of consecutive queues: each queue has 3 teams
SKILLS = 3                # queue q requires skill q % 3; every agent holds 2 of the 3
AGENT_CAPACITY = 30000    # PositiveSmallIntegerField: at most 32767; never the limit here
SOURCE = "bench"
STEP_2_MINUTES, STEP_3_MINUTES = 30, 120   # the routing steps' waits (SEED_STEPS)


@dataclass
class Target:
    url: str            # postgres:// URL of the bench database (Django's DATABASE_URL and a libpq URI)
    admin_url: str      # the same server's maintenance database, for CREATE/DROP DATABASE
    dbname: str
    how: str            # where the server came from, for the report
    keeper: object = None   # holds the embedded server alive while the bench runs


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, parts.fragment))


def choose_server(dsn: str | None, dbname: str) -> Target:
    sys.path.insert(0, str(REPO))
    from wfo.embedded import VAR_DIR, embedded_database_url, server_answers

    if dsn:
        base, how = dsn, "--dsn"
    elif os.environ.get("DATABASE_URL"):
        base, how = os.environ["DATABASE_URL"], "DATABASE_URL (server only; own database)"
    elif server_answers("127.0.0.1", 5432):
        base, how = "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL at 127.0.0.1:5432"
    else:
        base, how = embedded_database_url(VAR_DIR / "pgbench"), "embedded server (var/pgbench)"
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"bench: need a postgres:// URL, got {base!r}")
    return Target(url=_with_dbname(base, dbname), admin_url=_with_dbname(base, "postgres"),
                  dbname=dbname, how=how)


def connect(url: str, **kw) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, **kw)


def create_database(t: Target) -> None:
    with connect(t.admin_url) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(t.dbname)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(t.dbname)))


def drop_database(t: Target) -> None:
    with connect(t.admin_url) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(t.dbname)))


def django_env(t: Target, **extra: str) -> dict[str, str]:
    """Environment for every Django process of the bench (workers, migrate, gunicorn)."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "wfo.settings.local",
        "DJANGO_DEBUG": "false",           # DEBUG would record every query in memory
        "DATABASE_URL": t.url,
        "WFO_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    })
    env.update(extra)
    return env


def noise(t: Target) -> dict:
    """What else the machine and the server are doing while the bench runs (other people's
    jobs share them): load averages and the other active sessions on the server."""
    with connect(t.admin_url) as c:
        others = c.execute(
            "SELECT datname, left(regexp_replace(query, '\\s+', ' ', 'g'), 80) FROM pg_stat_activity"
            " WHERE state = 'active' AND pid <> pg_backend_pid() AND datname IS DISTINCT FROM %s",
            (t.dbname,)).fetchall()
    loads = [round(x, 2) for x in os.getloadavg()]
    return {"loadavg_1m": loads[0], "loadavg": loads, "other_active_sessions": len(others),
            "other_sessions": [f"{d}: {q}" for d, q in others]}


def counters_diff(before: dict, after: dict, columns: tuple[str, ...]) -> dict:
    """Per table, what changed in pg_stat_user_tables counters between two readings."""
    out = {}
    for table, row in after.items():
        old = before.get(table, dict.fromkeys(columns, 0))
        changed = {k: row[k] - old[k] for k in columns}
        if any(changed.values()):
            out[table] = changed
    return out


def migrate(t: Target) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO,
                   env=django_env(t), check=True)


# Bulk loading ---------------------------------------------------------------------------

def loading_session(c: psycopg.Connection) -> bool:
    """Settings of a bulk-loading session: no waiting on the WAL, and no per-row foreign-key
    triggers where the server allows it (superuser only; the rows are consistent by
    construction). Returns whether the triggers are off."""
    c.execute("SET synchronous_commit = off")
    try:
        c.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def side_by_side(url: str, jobs: list[list[str | tuple[str, dict]]],
                 *, session: Callable[[psycopg.Connection], object]) -> None:
    """Each list of statements (a statement, or a pair of statement and parameters) on a
    connection of its own, set up by `session`, the lists at once (2 cores: two loads, or
    two index builds, side by side)."""
    errors: list[BaseException] = []

    def run(statements: list[str | tuple[str, dict]]) -> None:
        try:
            with connect(url) as c:
                session(c)
                for statement in statements:
                    query, params = statement if isinstance(statement, tuple) else (statement, None)
                    c.execute(query, params)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs if job]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


# Seeding --------------------------------------------------------------------------------

SEED_ORG = f"""
INSERT INTO allocation_skill (name, description)
SELECT 'bench-skill-' || s, '' FROM generate_series(0, {SKILLS - 1}) s;

INSERT INTO allocation_team (name) SELECT 'bench-team-' || t FROM generate_series(0, {TEAMS - 1}) t;

-- Handle time 5–30 min; SLA target 4 h – 3 days, so start-by spreads across queues.
INSERT INTO allocation_queue (code, name, description, is_active, allocation_mode,
                              standard_handle_time, reservation_timeout, sla_target, outcomes)
SELECT 'bench-q' || lpad(q::text, 3, '0'), 'Bench queue ' || q, '', true, 'pull',
       make_interval(mins => 5 + (q * 7) % 26), interval '10 minutes',
       make_interval(hours => 4 + (q * 13) % 69), '[]'::jsonb
  FROM generate_series(0, {QUEUES - 1}) q;

-- Team t serves the {QUEUES_PER_TEAM} consecutive queues starting at queue 20·t (wrapping).
INSERT INTO allocation_queue_teams (queue_id, team_id)
SELECT q.id, t.id
  FROM allocation_team t
  JOIN LATERAL (SELECT substring(t.name from 12)::int AS n) tn ON true
  JOIN allocation_queue q
    ON ((substring(q.code from 8)::int - tn.n * {QUEUES // TEAMS}) % {QUEUES} + {QUEUES}) % {QUEUES}
       < {QUEUES_PER_TEAM};

-- Queue q requires skill q mod 3 at proficiency ≥ 2.
INSERT INTO allocation_queueskill (queue_id, skill_id, min_proficiency)
SELECT q.id, s.id, 2
  FROM allocation_queue q
  JOIN allocation_skill s ON s.name = 'bench-skill-' || (substring(q.code from 8)::int % {SKILLS});

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'bench-agent-' || lpad(a::text, 2, '0'), 'Agent', a::text, '', false, true, now()
  FROM generate_series(0, {AGENTS - 1}) a;

INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.id FROM auth_user u JOIN auth_group g ON g.name = 'Agent'
 WHERE u.username LIKE 'bench-agent-%';

INSERT INTO allocation_agentprofile (user_id, team_id, capacity, presence, presence_since)
SELECT u.id, t.id, {AGENT_CAPACITY}, 'available', now()
  FROM auth_user u
  JOIN allocation_team t ON t.name = 'bench-team-' || (substring(u.username from 13)::int % {TEAMS})
 WHERE u.username LIKE 'bench-agent-%';

-- Agent a lacks skill a mod 3 (proficiency 1 there, below the minimum) and holds the
-- other two at 3: so it meets 2/3 of its team's 60 queues = 40.
INSERT INTO allocation_agentskill (agent_id, skill_id, proficiency)
SELECT p.user_id, s.id,
       CASE WHEN substring(s.name from 13)::int = substring(u.username from 13)::int % {SKILLS}
            THEN 1 ELSE 3 END
  FROM allocation_agentprofile p
  JOIN auth_user u ON u.id = p.user_id
 CROSS JOIN allocation_skill s;
"""

# Items: uniform over queues, priorities 1–5 (normal most common), received over the
# last 3 days; due = received + the queue's SLA target shortened by priority;
# start by = due − the queue's handle time. Unique (source, external_id). With
# past_step_one, the oldest third (received 2–3 days ago) waited past the routing steps
# SEED_STEPS gives every queue: received 2–2.5 days ago at step 2, earlier at step 3,
# entered when their wait came (30 min, 30 + 120 min after receipt); the rest at step 1.
SEED_ITEMS = f"""
INSERT INTO allocation_workitem (queue_id, source, external_id, customer_ref, title, payload, priority,
                                 status, received_at, due_at, start_by, outcome, created_at, updated_at,
                                 routing_step, step_entered_at)
SELECT q.id, '{SOURCE}', 'b' || g, 'cust-' || (g * 7919 %% 250000), 'Bench item ' || g, '{{}}'::jsonb,
       r.priority, 'queued', r.received_at,
       r.received_at + q.sla_target * (1.2 - 0.2 * r.priority),
       r.received_at + q.sla_target * (1.2 - 0.2 * r.priority) - q.standard_handle_time,
       '', now(), now(), s.step,
       r.received_at + CASE s.step WHEN 3 THEN interval '{STEP_2_MINUTES + STEP_3_MINUTES} minutes'
                                   WHEN 2 THEN interval '{STEP_2_MINUTES} minutes' ELSE interval '0' END
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
 CROSS JOIN LATERAL (
       SELECT (hashint8(g) & 2147483647) %% {QUEUES} AS qn,
              (ARRAY[1, 2, 3, 3, 3, 3, 4, 4, 5, 2])[1 + (hashint8(g + 1) & 2147483647) %% 10] AS priority,
              (hashint8(g + 2) & 2147483647) %% 259200 AS age_s
       ) a
 CROSS JOIN LATERAL (SELECT a.priority, now() - make_interval(secs => a.age_s::double precision) AS received_at) r
 CROSS JOIN LATERAL (
       SELECT CASE WHEN NOT %(past_step_one)s OR a.age_s < 172800 THEN 1
                   WHEN a.age_s < 216000 THEN 2 ELSE 3 END AS step
       ) s
  JOIN bench_queue_by_n q ON q.n = a.qn
"""

# Routing steps on every queue, both widening, both on a waited condition: step 2 (after
# 30 min) adds the team after the queue's three serving ones, step 3 (after 120 more) the
# one after that — teams q/20 + 1 and q/20 + 2 (mod 10), neither of which serves the queue
# at step 1. So each agent is admitted by step 1 to its 40 queues (as without steps), only
# from step 2 to about 13 more and only from step 3 to about 13 more (the same skill rule
# applies). The routing stays off until `routing_set` turns it on.
SEED_STEPS = f"""
INSERT INTO allocation_routingstep (queue_id, position, condition, minutes, backlog_over, action, overflow_queue_id)
SELECT q.id, p, 'waited', CASE p WHEN 2 THEN {STEP_2_MINUTES} ELSE {STEP_3_MINUTES} END, NULL, 'widen', NULL
  FROM allocation_queue q CROSS JOIN generate_series(2, 3) p
 WHERE q.code LIKE 'bench-q%';

INSERT INTO allocation_routingstep_added_teams (routingstep_id, team_id)
SELECT s.id, t.id
  FROM allocation_routingstep s
  JOIN allocation_queue q ON q.id = s.queue_id
  JOIN allocation_team t
    ON t.name = 'bench-team-' || ((substring(q.code from 8)::int / {QUEUES // TEAMS} + s.position - 1) % {TEAMS})
"""


def seed_org(t: Target) -> dict:
    with connect(t.url) as c:
        c.execute(SEED_ORG)
        # Tokens for the API clients (rest_framework.authtoken: 40 hex characters).
        with c.cursor() as cur:
            cur.execute("SELECT user_id FROM allocation_agentprofile ORDER BY user_id")
            ids = [r[0] for r in cur.fetchall()]
            cur.executemany("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, now(), %s)",
                            [(secrets.token_hex(20), i) for i in ids])
        c.execute("ANALYZE")   # planner statistics for the configuration tables, as autovacuum would
        return {"queues": QUEUES, "agents": len(ids), "teams": TEAMS, "skills": SKILLS}


def reset_items(t: Target, n: int, chunk: int = 250_000, *, past_step_one: bool = False) -> dict:
    """Empty the item and event tables and seed `n` queued items (with `past_step_one`, the
    oldest third at routing step 2 or 3); return timings."""
    started = time.perf_counter()
    with connect(t.url) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        # CASCADE: the tables that reference items (SLA clocks and alerts, push rejections, …) are emptied too.
        c.execute("TRUNCATE allocation_workitemevent, allocation_workitem RESTART IDENTITY CASCADE")
        c.execute("UPDATE allocation_agentprofile SET last_assigned_at = NULL")
        c.execute("DROP TABLE IF EXISTS bench_queue_by_n")
        c.execute("CREATE UNLOGGED TABLE bench_queue_by_n AS SELECT id, substring(code from 8)::int AS n,"
                  " sla_target, standard_handle_time FROM allocation_queue WHERE code LIKE 'bench-q%'")
        # Secondary indexes are dropped and rebuilt around a large load (much faster than
        # maintaining eleven b-trees row by row); the constraint indexes stay.
        rebuild = n >= 100_000
        indexes: list[tuple[str, str]] = []
        if rebuild:
            indexes = c.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
                "  JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = 'allocation_workitem'::regclass AND NOT x.indisprimary"
                "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
            ).fetchall()
            for name, _ in indexes:
                c.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for first in range(1, n + 1, chunk):
            c.execute(SEED_ITEMS, {"first": first, "last": min(n, first + chunk - 1), "past_step_one": past_step_one})
        loaded = time.perf_counter()
        for _, definition in indexes:
            c.execute(definition)
        c.execute("DROP TABLE bench_queue_by_n")
        c.execute("VACUUM ANALYZE allocation_workitem")
        c.execute("VACUUM ANALYZE allocation_workitemevent")
        c.execute("VACUUM ANALYZE allocation_agentprofile")
        count = c.execute("SELECT count(*) FROM allocation_workitem WHERE status = 'queued'").fetchone()[0]
        steps = dict(c.execute("SELECT routing_step, count(*) FROM allocation_workitem GROUP BY 1").fetchall())
    done = time.perf_counter()
    if count != n:
        raise SystemExit(f"bench: seeded {count} items, expected {n}")
    return {"items": n, "items_by_step": steps, "load_s": round(loaded - started, 2),
            "index_vacuum_s": round(done - loaded, 2), "total_s": round(done - started, 2)}


def steps_seed(t: Target) -> dict:
    """Routing steps 2 and 3 on every queue (SEED_STEPS), routing off."""
    with connect(t.url) as c:
        c.execute(SEED_STEPS)
        c.execute("ANALYZE allocation_routingstep, allocation_routingstep_added_teams")
        return {"steps": c.execute("SELECT count(*) FROM allocation_routingstep").fetchone()[0],
                "added_teams": c.execute("SELECT count(*) FROM allocation_routingstep_added_teams").fetchone()[0]}


def routing_set(t: Target, *, on: bool) -> None:
    """Turn every queue's routing on or off (the product's switch; the steps stay)."""
    with connect(t.url) as c:
        c.execute("UPDATE allocation_queue SET routing_enabled = %s", (on,))
        c.execute("ANALYZE allocation_queue")


def agents(t: Target) -> list[tuple[int, str, int]]:
    """(user id, token key, eligible queue count) per agent, computed with the same rules
    as allocation.eligibility.queues_eligible_for (team serves the queue, every skill met)."""
    with connect(t.url) as c:
        return c.execute("""
            SELECT p.user_id, k.key,
                   (SELECT count(*) FROM allocation_queue q
                      JOIN allocation_queue_teams qt ON qt.queue_id = q.id AND qt.team_id = p.team_id
                     WHERE q.is_active AND q.allocation_mode = 'pull'
                       AND NOT EXISTS (
                           SELECT 1 FROM allocation_queueskill r
                            WHERE r.queue_id = q.id AND NOT EXISTS (
                                  SELECT 1 FROM allocation_agentskill s
                                   WHERE s.agent_id = p.user_id AND s.skill_id = r.skill_id
                                     AND s.proficiency >= r.min_proficiency)))
              FROM allocation_agentprofile p
              JOIN authtoken_token k ON k.user_id = p.user_id
             ORDER BY p.user_id""").fetchall()
