#!/usr/bin/env python3
"""Load test: simulated agents doing get-next / start / complete against gunicorn.

    .venv/bin/python bench/load.py                    # 200 agents for 5 minutes
    .venv/bin/python bench/load.py --users 50 --seconds 30
    .venv/bin/python bench/run.py --load-only         # the same through run.py (--skip-load leaves it out)

Issue 9: "a bounded load test on loopback with 200 simulated agents doing
get-next/start/complete for 5 minutes against gunicorn on PostgreSQL: print throughput, p95
and p99, error count (target: 0 errors, 0 duplicates)."

On its own database (`wfo_bench_load`, created, migrated and dropped like the others):

- the bench organisation of bench/db.py (200 queues, 10 teams, 3 skills) with as many agents
  as users (at least its 50), each with a DRF token; agent a is in team a mod 10 and lacks
  skill a mod 3, as there, so each is eligible for 39–41 queues;
- a backlog of queued items (`--load-backlog`, default 200,000: 200 agents complete about
  46 a second on this 2-core machine, so 5 minutes take about 7 % of it and get-next never
  runs dry), each
  with the `created` event the intake service writes, so that `manage.py audit_items` can
  replay every item.

Gunicorn serves wfo.wsgi on a free loopback port with that database, DEBUG off, sync
workers (`--load-gunicorn-args`, default `--workers 4`: see DEFAULT_GUNICORN). Locust runs
bench/locustfile.py headless in one process (gevent), `-u users -r spawn-rate -t seconds`;
each user is an agent looping next → start → complete with no think time, so the server is
saturated and the latencies are mostly waiting for a worker. When the time is up users
finish the cycle they are in (`--stop-timeout`), so no item is left half done.

Printed: requests/s and completed items/s; p50/p95/p99/max per endpoint and overall;
errors by endpoint and status (any non-2xx or failed request; 204 is counted apart);
CPU seconds of locust, the gunicorn workers, their PostgreSQL backends and the rest of
the machine; and duplicates: (a) an item id that next/ returned twice (to two users, or to
one), (b) from the database: items with more than one completed event or more than one
get-next `assigned` event, event counts against the answers locust got, items not held or
completed by the agent that got them; (c) `manage.py audit_items` on the database (every
item's state equals the replay of its events). PASS when there are 0 errors, 0 duplicates
and the checks hold.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import alloc  # noqa: E402
import api  # noqa: E402
import db  # noqa: E402

REPO = BENCH.parent
LOCUSTFILE = BENCH / "locustfile.py"
DEFAULT_USERS, DEFAULT_SECONDS, DEFAULT_BACKLOG = 200, 300, 200_000
QUICK_USERS, QUICK_SECONDS, QUICK_BACKLOG = 50, 30, 20_000
# Sync workers, one request at a time each. A request is about 10 ms of worker CPU plus
# waits on PostgreSQL: on 2 cores (shared with PostgreSQL and locust) 2 per core keep both
# busy through the waits; 2 left CPU idle, 6 only added switching (bench/README.md).
DEFAULT_GUNICORN = "--workers 4"
DEFAULT_USER_CLASS = "AgentUser"
STOP_TIMEOUT_S = 30          # users finish their cycle when time is up
SAMPLE_EVERY_S = 1.0         # CPU sampling; short, because backends come and go (CONN_MAX_AGE)
PROGRESS_EVERY_S = 60


def add_arguments(p: argparse.ArgumentParser, prefix: str = "--load-") -> None:
    p.add_argument(f"{prefix}users", dest="load_users", type=int,
                   help=f"simulated agents (default {DEFAULT_USERS}; --quick {QUICK_USERS})")
    p.add_argument(f"{prefix}seconds", dest="load_seconds", type=int,
                   help=f"run time in seconds (default {DEFAULT_SECONDS}; --quick {QUICK_SECONDS})")
    p.add_argument(f"{prefix}backlog", dest="load_backlog", type=int,
                   help=f"queued items seeded (default {DEFAULT_BACKLOG:,}; --quick {QUICK_BACKLOG:,})")
    p.add_argument(f"{prefix}spawn-rate", dest="load_spawn_rate", type=float,
                   help="users started per second (default: all of them within 4 s)")
    p.add_argument(f"{prefix}gunicorn-args", dest="load_gunicorn_args", default=DEFAULT_GUNICORN,
                   help=f"gunicorn options (default {DEFAULT_GUNICORN!r})")
    p.add_argument(f"{prefix}user-class", dest="load_user_class", default=DEFAULT_USER_CLASS,
                   choices=["AgentUser", "AgentRequestsUser"],
                   help="locust user class: AgentUser (geventhttpclient, default) or AgentRequestsUser (requests)")
    p.add_argument(f"{prefix}dbname", dest="load_dbname", default="wfo_bench_load",
                   help="the load test's own database, created and dropped (default wfo_bench_load)")


def resolve(args) -> tuple[int, int, int, float]:
    """(users, seconds, backlog, spawn rate) from the arguments and --quick."""
    quick = getattr(args, "quick", False)
    users = args.load_users or (QUICK_USERS if quick else DEFAULT_USERS)
    seconds = args.load_seconds or (QUICK_SECONDS if quick else DEFAULT_SECONDS)
    backlog = args.load_backlog or (QUICK_BACKLOG if quick else DEFAULT_BACKLOG)
    spawn_rate = args.load_spawn_rate or max(1.0, users / 4)
    return users, seconds, backlog, spawn_rate


# Seeding ----------------------------------------------------------------------------------

# Agents beyond db.py's 50, by the same rules (team a mod 10, lacking skill a mod 3): the
# rules read the number after "bench-agent-", so these are named without padding.
_MORE_AGENTS = [
    """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                              is_active, date_joined)
       SELECT '!', false, 'bench-agent-' || a, 'Agent', a::text, '', false, true, now()
         FROM generate_series(%(first)s::int, %(last)s::int) a""",
    """INSERT INTO auth_user_groups (user_id, group_id)
       SELECT u.id, g.id FROM auth_user u JOIN auth_group g ON g.name = 'Agent'
        WHERE u.username LIKE 'bench-agent-%%' AND u.id > %(after)s""",
    f"""INSERT INTO allocation_agentprofile (user_id, team_id, capacity, presence, presence_since)
       SELECT u.id, t.id, {db.AGENT_CAPACITY}, 'available', now()
         FROM auth_user u
         JOIN allocation_team t ON t.name = 'bench-team-' || (substring(u.username from 13)::int %% {db.TEAMS})
        WHERE u.username LIKE 'bench-agent-%%' AND u.id > %(after)s""",
    f"""INSERT INTO allocation_agentskill (agent_id, skill_id, proficiency)
       SELECT u.id, s.id, CASE WHEN substring(s.name from 13)::int = substring(u.username from 13)::int %% {db.SKILLS}
                               THEN 1 ELSE 3 END
         FROM auth_user u CROSS JOIN allocation_skill s
        WHERE u.username LIKE 'bench-agent-%%' AND u.id > %(after)s""",
    # DRF tokens are 40 hex characters; md5 of random gives 32, so two halves.
    """INSERT INTO authtoken_token (key, created, user_id)
       SELECT left(md5(random()::text) || md5(random()::text), 40), now(), u.id
         FROM auth_user u WHERE u.username LIKE 'bench-agent-%%' AND u.id > %(after)s""",
]

# The created event items_intake writes (allocation/services/intake.py), dated when the
# item was inserted (after its receipt, as the audit requires).
_CREATED_EVENTS = """
INSERT INTO allocation_workitemevent (item_id, at, actor_id, system_actor, kind, from_status, to_status,
                                      reason, data)
SELECT id, created_at, NULL, 'bench-seed', 'created', '', 'queued', '',
       jsonb_build_object('source', source, 'external_id', external_id, 'queue_id', queue_id)
  FROM allocation_workitem ORDER BY id
"""


def seed(t: db.Target, *, agents: int, backlog: int) -> dict:
    started = time.perf_counter()
    db.migrate(t)
    org = db.seed_org(t)
    if agents > db.AGENTS:
        with db.connect(t.url) as c:
            after = c.execute("SELECT max(id) FROM auth_user").fetchone()[0]
            for statement in _MORE_AGENTS:
                c.execute(statement, {"first": db.AGENTS, "last": agents - 1, "after": after})
            c.execute("ANALYZE")
    items = db.reset_items(t, backlog)
    t0 = time.perf_counter()
    with db.connect(t.url) as c:
        c.execute("SET synchronous_commit = off")
        c.execute(_CREATED_EVENTS)
        c.execute("VACUUM ANALYZE allocation_workitemevent")
    items["created_events_s"] = round(time.perf_counter() - t0, 1)
    org["agents"] = max(agents, db.AGENTS)
    return {"organisation": org, "items": items, "seconds": round(time.perf_counter() - started, 1)}


# Running gunicorn and locust ---------------------------------------------------------------

def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


class CpuSampler:
    """CPU seconds per group of processes over the run, from /proc. A process first seen
    after the first sample counts from zero (a PostgreSQL backend started meanwhile: Django
    closes its connection after CONN_MAX_AGE and opens another), so sampling often loses
    only the last moment of a process that ended."""

    def __init__(self, groups: dict) -> None:
        self.groups = groups            # name -> callable returning the group's pids
        self.base: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.first = True
        self.machine0 = alloc.machine_cpu_s()
        self.machine1 = self.machine0
        # (wall clock, {group: CPU seconds so far}) at each sample: where in the run each
        # group's CPU went, second by second.
        self.timeline: list[tuple[float, dict[str, float]]] = []

    def sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                cpu = alloc.proc_cpu_s(pid)
                if cpu is None:
                    continue
                key = (name, pid)
                if key not in self.base:
                    self.base[key] = cpu if self.first else 0.0
                self.last[key] = cpu
        self.first = False
        self.machine1 = alloc.machine_cpu_s()
        self.timeline.append((time.time(), {"machine": (self.machine1 or 0) - (self.machine0 or 0), **self._used()}))

    def _used(self) -> Counter:
        """CPU seconds per group since the first sample."""
        used = Counter()
        for key, cpu in self.last.items():
            used[key[0]] += cpu - self.base[key]
        return used

    def result(self, seconds: float) -> dict:
        used = self._used()
        out = {name: round(used[name], 1) for name in self.groups}
        if None not in (self.machine0, self.machine1):
            machine = self.machine1 - self.machine0
            out["machine"] = round(machine, 1)
            out["other"] = round(machine - sum(used.values()), 1)
        out["cores"] = os.cpu_count()
        out["seconds"] = round(seconds, 1)
        return out


def _backend_pids(t: db.Target, conn) -> list[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (t.dbname,)).fetchall()
    return [r[0] for r in rows]


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(t: db.Target, *, tokens: list[str], seconds: int, spawn_rate: float, gunicorn_args: list[str],
          user_class: str, log_dir: Path, stamp: str, say=print) -> dict:
    """Start gunicorn, run locust against it, stop both; locust's records and the CPU used."""
    gunicorn = api.gunicorn_command()
    locust = Path(sys.executable).parent / "locust"
    if gunicorn is None or not locust.exists():
        return {"skipped": "gunicorn or locust is not installed (make install puts in the bench extra)"}
    log_dir.mkdir(parents=True, exist_ok=True)
    gunicorn_log = log_dir / f"gunicorn-load-{stamp}.log"
    locust_log = log_dir / f"locust-load-{stamp}.log"
    port = api.free_port()
    server = subprocess.Popen(
        [*gunicorn, "wfo.wsgi:application", "--bind", f"127.0.0.1:{port}", *gunicorn_args,
         "--log-level", "warning", "--error-logfile", str(gunicorn_log)],
        cwd=REPO, env=db.django_env(t), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="wfo-load-") as tmp:
        tokens_path, out_path = Path(tmp) / "tokens.json", Path(tmp) / "records.json"
        tokens_path.write_text(json.dumps(tokens))
        try:
            api.wait_ready(port, tokens[0])
            cmd = [str(locust), "-f", str(LOCUSTFILE), "--headless", "--host", f"http://127.0.0.1:{port}",
                   "-u", str(len(tokens)), "-r", f"{spawn_rate:g}", "-t", f"{seconds}s",
                   "--stop-timeout", str(STOP_TIMEOUT_S), "--only-summary", "--loglevel", "WARNING",
                   # Per-second history of the rate and the current percentiles: where a tail came from.
                   "--csv", str(log_dir / f"locust-load-{stamp}"), user_class]
            env = dict(os.environ, LOAD_TOKENS=str(tokens_path), LOAD_OUT=str(out_path))
            with open(locust_log, "w") as log, db.connect(t.admin_url) as watch:
                started = time.monotonic()
                client = subprocess.Popen(cmd, cwd=BENCH, env=env, stdout=log, stderr=subprocess.STDOUT)
                sampler = CpuSampler({
                    "locust": lambda: [client.pid],
                    "gunicorn_workers": lambda: [server.pid, *_children(server.pid)],
                    "postgres_backends": lambda: _backend_pids(t, watch),
                })
                deadline = started + seconds + STOP_TIMEOUT_S + 120
                next_note = started + PROGRESS_EVERY_S
                while client.poll() is None:
                    sampler.sample()
                    now = time.monotonic()
                    if now > deadline:
                        _stop(client)
                        raise RuntimeError(f"locust did not stop within {seconds + STOP_TIMEOUT_S + 120} s")
                    if now >= next_note:
                        say(f"  … {now - started:.0f} s, load {os.getloadavg()[0]:.2f}")
                        next_note += PROGRESS_EVERY_S
                    time.sleep(SAMPLE_EVERY_S)
                wall = time.monotonic() - started
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited during the run ({server.returncode}); see {gunicorn_log}")
        finally:
            _stop(server)
        if not out_path.exists():
            tail = locust_log.read_text()[-1500:]
            raise RuntimeError(f"locust wrote no records (exit {client.returncode}); {locust_log}:\n{tail}")
        records = json.loads(out_path.read_text())
    records.update(locust_exit=client.returncode, cpu_s=sampler.result(wall),
                   over_time=over_time(log_dir / f"locust-load-{stamp}_stats_history.csv", len(tokens)),
                   gunicorn=" ".join(["gunicorn", "wfo.wsgi:application", *gunicorn_args]),
                   gunicorn_log=str(gunicorn_log), locust_log=str(locust_log), locust_command=" ".join(cmd[1:]))
    return records


def over_time(path: Path, users: int) -> dict | None:
    """How steady the run was, from locust's per-second history once every user runs: the
    rate (locust's, over the last 10 s) and the 99th percentile of the last 10 s at its
    lowest and highest. A dip in rate with a jump in p99 is the server stalling."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated" and int(r["User Count"]) == users]
    except (OSError, KeyError, ValueError):
        return None
    rates = sorted(float(r["Requests/s"]) for r in rows)
    p99s = sorted(float(r["99%"]) for r in rows if r["99%"] not in ("N/A", ""))
    if not rates or not p99s:
        return None
    return {"samples": len(rows), "rate_min": round(rates[0], 1), "rate_median": round(rates[len(rates) // 2], 1),
            "rate_max": round(rates[-1], 1), "p99_10s_min_ms": p99s[0], "p99_10s_max_ms": p99s[-1],
            "history_csv": str(path)}


# Checks -----------------------------------------------------------------------------------

def duplicates_seen(received: dict[str, list[int]]) -> dict:
    """(a) Item ids next/ returned more than once, by what the users saw."""
    owners: dict[int, list[str]] = {}
    for user, ids in received.items():
        for item_id in ids:
            owners.setdefault(item_id, []).append(user)
    twice = {i: u for i, u in owners.items() if len(u) > 1}
    across = [i for i, u in twice.items() if len(set(u)) > 1]
    return {"items_received": sum(len(ids) for ids in received.values()), "distinct_items": len(owners),
            "returned_more_than_once": len(twice), "to_different_users": len(across),
            "samples": [{"item": i, "users": twice[i]} for i in list(twice)[:10]]}


def database_checks(t: db.Target, *, received: dict[str, list[int]], agent_of_user: list[int],
                    answers: dict) -> dict:
    """(b) From the events and items afterwards: one get-next assignment and at most one
    completion per item; as many events as 2xx answers; each item with the agent that got it."""
    with db.connect(t.url) as c:
        counts = c.execute("""
            SELECT
              (SELECT count(*) FROM (SELECT item_id FROM allocation_workitemevent WHERE kind = 'completed'
                                      GROUP BY item_id HAVING count(*) > 1) x),
              (SELECT count(*) FROM (SELECT item_id FROM allocation_workitemevent
                                      WHERE kind = 'assigned' AND from_status = 'queued'
                                      GROUP BY item_id HAVING count(*) > 1) x),
              (SELECT count(*) FROM allocation_workitemevent WHERE kind = 'assigned'),
              (SELECT count(*) FROM allocation_workitemevent WHERE kind = 'started'),
              (SELECT count(*) FROM allocation_workitemevent WHERE kind = 'completed'),
              (SELECT count(*) FROM allocation_workitemevent
                WHERE kind NOT IN ('created', 'assigned', 'started', 'completed')),
              (SELECT count(*) FROM allocation_workitem WHERE status IN ('assigned', 'in_progress')),
              (SELECT count(*) FROM allocation_workitem WHERE status = 'queued')
        """).fetchone()
        with c.transaction(), c.cursor() as cur:
            cur.execute("CREATE TEMP TABLE load_received (item_id bigint, agent_id int) ON COMMIT DROP")
            with cur.copy("COPY load_received (item_id, agent_id) FROM STDIN") as copy:
                for user, ids in received.items():
                    for item_id in ids:
                        copy.write_row((item_id, agent_of_user[int(user)]))
            wrong_holder = cur.execute("""
                SELECT count(*) FROM load_received r JOIN allocation_workitem w ON w.id = r.item_id
                 WHERE coalesce(w.assignee_id, w.completed_by_id) IS DISTINCT FROM r.agent_id""").fetchone()[0]
    (completed_twice, assigned_twice, assigned, started, completed, other_events, held, queued) = counts
    out = {"items_completed_more_than_once": completed_twice, "items_assigned_more_than_once": assigned_twice,
           "events": {"assigned": assigned, "started": started, "completed": completed, "other": other_events},
           "answers_2xx": answers, "held_at_end": held, "queued_at_end": queued,
           "not_with_the_agent_that_got_it": wrong_holder}
    problems = []
    if completed_twice:
        problems.append(f"{completed_twice} items completed more than once")
    if assigned_twice:
        problems.append(f"{assigned_twice} items given out by get-next more than once")
    for kind, endpoint in (("assigned", "next"), ("started", "start"), ("completed", "complete")):
        # An answer lost on the way (a timeout) would leave an event without a 200: shown, and an error anyway.
        if out["events"][kind] != answers[endpoint]:
            problems.append(f"{out['events'][kind]} {kind} events for {answers[endpoint]} 200 answers to {endpoint}/")
    if wrong_holder:
        problems.append(f"{wrong_holder} items held or completed by another agent than the one next/ gave them to")
    out["problems"] = problems
    return out


def audit(t: db.Target, repo: Path = REPO) -> dict:
    """(c) manage.py audit_items, with `repo`'s code: every item's state equals the replay of
    its events."""
    started = time.perf_counter()
    proc = subprocess.run([db.PY, "manage.py", "audit_items", "--limit", "10"], cwd=repo,
                          env=db.django_env(t, PYTHONPATH=str(repo)), capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    m = re.search(r"Audited ([\d,]+) items .*?: ([\d,]+) mismatches", text)
    return {"ok": proc.returncode == 0, "exit": proc.returncode, "seconds": round(time.perf_counter() - started, 1),
            "items": int(m.group(1).replace(",", "")) if m else None,
            "mismatches": int(m.group(2).replace(",", "")) if m else None, "output": text[-2000:]}


# The section -------------------------------------------------------------------------------

def run(t: db.Target, *, users: int, seconds: int, backlog: int, spawn_rate: float, gunicorn_args: str,
        user_class: str = DEFAULT_USER_CLASS, keep_db: bool = False, log_dir: Path = BENCH / "results",
        stamp: str | None = None, say=print) -> dict:
    """The whole section on its own database: create, seed, load, check, drop. Returns the
    figures with 'pass' and 'failed_checks'."""
    started = time.perf_counter()
    stamp = stamp or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rep: dict = {"database": t.dbname, "users": users, "seconds": seconds, "backlog": backlog,
                 "spawn_rate": spawn_rate, "user_class": user_class, "failed_checks": [], "noise_before": db.noise(t)}
    say(f"load: {users} agents × next → start → complete for {seconds} s under gunicorn ({gunicorn_args}), "
        f"backlog {backlog:,}, database {t.dbname}; load {rep['noise_before']['loadavg']}, "
        f"{rep['noise_before']['other_active_sessions']} other active sessions")
    db.create_database(t)
    try:
        rep["seed"] = seed(t, agents=users, backlog=backlog)
        agents = db.agents(t)[:users]
        eligible = [n for _, _, n in agents]
        rep["eligible_queues_per_agent"] = {"min": min(eligible), "max": max(eligible)}
        say(f"  seeded in {rep['seed']['seconds']} s: {len(agents)} agents (eligible for {min(eligible)}–"
            f"{max(eligible)} queues each), {backlog:,} queued items with their created events")
        rec = drive(t, tokens=[k for _, k, _ in agents], seconds=seconds, spawn_rate=spawn_rate,
                    gunicorn_args=shlex.split(gunicorn_args), user_class=user_class, log_dir=log_dir, stamp=stamp,
                    say=say)
        if "skipped" in rec:
            say(f"  skipped — {rec['skipped']}")
            rep.update(rec)
            return rep
        received = rec.pop("received")
        rep["locust"] = rec
        rep["figures"] = figures(rec)
        rep["duplicates_seen"] = duplicates_seen(received)
        ok_answers = {e: rec["statuses"].get(path, {}).get("200", 0) for e, path in
                      (("next", "/api/v1/agent/next/"), ("start", "/api/v1/items/[id]/start/"),
                       ("complete", "/api/v1/items/[id]/complete/"))}
        rep["database_checks"] = database_checks(t, received=received, agent_of_user=[a for a, _, _ in agents],
                                                 answers=ok_answers)
        rep["audit"] = audit(t)
    finally:
        if keep_db:
            say(f"  (kept database {t.dbname})")
        else:
            db.drop_database(t)

    f, dup, chk, aud = rep["figures"], rep["duplicates_seen"], rep["database_checks"], rep["audit"]
    if f["errors"]:
        rep["failed_checks"].append(f"load: {f['errors']} errors")
    if dup["returned_more_than_once"]:
        rep["failed_checks"].append(f"load: {dup['returned_more_than_once']} items returned by next/ more than once")
    rep["failed_checks"].extend("load: " + p for p in chk["problems"])
    if not aud["ok"]:
        rep["failed_checks"].append(f"load: audit_items found {aud['mismatches']} mismatches (exit {aud['exit']})")
    if not f["completed"]:
        rep["failed_checks"].append("load: no item was completed")
    rep["pass"] = not rep["failed_checks"]
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    for line in report_lines(rep):
        say("  " + line)
    return rep


def figures(rec: dict) -> dict:
    """Throughput over the span from the first request to the last answer."""
    span = max(1e-9, (rec["last_request"] or 0) - (rec["first_request"] or 0))
    total = rec["total"]
    # CPU per request says more than the rates when other jobs share the machine.
    cpu_ms = {k: round(v / total["requests"] * 1000, 2) if total["requests"] else None
              for k, v in rec["cpu_s"].items() if k not in ("cores", "seconds")}
    return {"span_s": round(span, 1), "requests": total["requests"],
            "requests_per_s": round(total["requests"] / span, 1),
            "completed": rec["cycles"], "completed_per_s": round(rec["cycles"] / span, 1),
            "errors": sum(rec["errors"].values()), "errors_by_status": rec["errors"], "empty_204": rec["empty_204"],
            "cpu_ms_per_request": cpu_ms}


def report_lines(rep: dict) -> list[str]:
    f, rec, cpu = rep["figures"], rep["locust"], rep["locust"]["cpu_s"]
    lines = [f"throughput: {f['requests_per_s']:,} requests/s, {f['completed_per_s']:,} completed items/s "
             f"({f['requests']:,} requests, {f['completed']:,} items in {f['span_s']} s)"]
    for name, e in [*rec["endpoints"].items(), ("overall", rec["total"])]:
        lines.append(f"  {name:<32} {e['requests']:>8,} req  p50 {e['p50_ms']:>6.0f}  p95 {e['p95_ms']:>6.0f}  "
                     f"p99 {e['p99_ms']:>6.0f}  max {e['max_ms']:>7.0f} ms  failures {e['failures']}")
    steady = rec.get("over_time")
    if steady:
        lines.append(f"over time (10-s windows, all users running): {steady['rate_min']}–{steady['rate_median']}–"
                     f"{steady['rate_max']} requests/s (min–median–max), p99 of a window "
                     f"{steady['p99_10s_min_ms']:.0f}–{steady['p99_10s_max_ms']:.0f} ms")
    lines.append(f"errors: {f['errors']} {f['errors_by_status'] or ''} | 204 (nothing waiting): {f['empty_204']}")
    for sample in rec["error_samples"][:5]:
        lines.append(f"  error: {sample}")
    share = {k: f"{v / cpu['seconds']:.2f}" for k, v in cpu.items() if k not in ("cores", "seconds")}
    per = f["cpu_ms_per_request"]
    lines.append(f"CPU, cores busy on average over {cpu['seconds']} s (of {cpu['cores']}) and ms per request: "
                 f"locust {share.get('locust')} / {per.get('locust')}, gunicorn workers "
                 f"{share.get('gunicorn_workers')} / {per.get('gunicorn_workers')}, PostgreSQL backends "
                 f"{share.get('postgres_backends')} / {per.get('postgres_backends')}, other (not ours) "
                 f"{share.get('other')}, machine {share.get('machine')}"
                 + (" — locust warned of its CPU above 90 %" if rec["locust_cpu_warning"] else ""))
    dup, chk, aud = rep["duplicates_seen"], rep["database_checks"], rep["audit"]
    lines.append(f"duplicates: (a) next/ returned {dup['returned_more_than_once']} items more than once "
                 f"({dup['to_different_users']} to different users) of {dup['items_received']:,}; "
                 f"(b) database: {chk['items_assigned_more_than_once']} items assigned twice by get-next, "
                 f"{chk['items_completed_more_than_once']} completed twice; events {chk['events']} vs 200 answers "
                 f"{chk['answers_2xx']}; {chk['held_at_end']} held at the end, {chk['queued_at_end']:,} still queued")
    lines.append(f"audit_items: {aud['items']:,} items, {aud['mismatches']} mismatches in {aud['seconds']} s"
                 if aud["items"] is not None else f"audit_items: exit {aud['exit']}: {aud['output'][-300:]}")
    duplicates = (dup["returned_more_than_once"] + chk["items_assigned_more_than_once"]
                  + chk["items_completed_more_than_once"])
    lines.append(f"LOAD      {rep['users']} agents, {rep['seconds']} s: {f['requests_per_s']:,} req/s, "
                 f"{f['completed_per_s']:,} items/s, p95 {rec['total']['p95_ms']:.0f} ms, p99 "
                 f"{rec['total']['p99_ms']:.0f} ms, {f['errors']} errors, "
                 f"{duplicates} duplicates (target 0 and 0) {'PASS' if rep['pass'] else 'FAIL'}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, prefix="--")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_USERS} agents for {QUICK_SECONDS} s")
    p.add_argument("--dsn", help="server (postgres:// URL); default as bench/run.py")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--json", type=Path, help="results file (default bench/results/load-<timestamp>.json)")
    args = p.parse_args(argv)
    users, seconds, backlog, spawn_rate = resolve(args)
    t = db.choose_server(args.dsn, args.load_dbname)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rep = run(t, users=users, seconds=seconds, backlog=backlog, spawn_rate=spawn_rate,
              gunicorn_args=args.load_gunicorn_args, user_class=args.load_user_class, keep_db=args.keep_db,
              stamp=stamp, say=lambda m="": print(m, flush=True))
    out = args.json or BENCH / "results" / f"load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep.get('wall_s')} s; results in {out}")
    return 0 if rep.get("pass") else 1


if __name__ == "__main__":
    sys.exit(main())
