#!/usr/bin/env python3
"""How many agents one server core carries: the server's CPU for an agent's working hour.

    .venv/bin/python bench/agent_hour.py                       # this checkout, pages and API agents
    .venv/bin/python bench/agent_hour.py --repo /tmp/baseline  # another checkout's code, the same way
    .venv/bin/python bench/agent_hour.py --quick               # a smoke run
    make bench BENCH_ARGS="--hour-only"                        # the same through run.py

Issue 24. On its own database (`wfo_bench_hour`, created, migrated with the measured
checkout's code and dropped), seeded through that code's own intake service: 20 queues,
10 teams of agents (each team serves 6 queues; skills that every agent meets), a backlog
of queued items, per agent a DRF token and a signed-in session.

The server is the measured checkout under gunicorn with **production settings**
(`wfo.settings.production`, behind a TLS proxy as it would be: the client sends
`X-Forwarded-Proto: https`), sync workers (`--gunicorn-args`, default one per core),
plus its Celery worker running the periodic jobs (`celery worker -B`, concurrency 1).
Locust (bench/hourfile.py) plays each agent working the fixed cadence of an agent-hour,
time-compressed (`--compression`, default 60: an hour in a minute) and paced by the clock,
in `--generators` processes (default one per core) whose records are added up.

Per kind of agent (through the pages; through the API):
1. **Calibration**: a few agents for 1.5 compressed hours, then as many as that says keep
   the server's processes at `--target-load` (0.7) of the machine's cores, again (the CPU
   an agent-hour takes grows with the load): the agent count for the run.
2. **Run** at that count (or `--agents`) for `--hours` compressed hours (default 4), the
   first one a warm-up. Over the rest, from the operating system's accounting of the
   server's processes only (never the load generator's): the gunicorn workers, the
   PostgreSQL backends of the web (application_name wfo-web) and of the jobs (wfo-jobs),
   PostgreSQL's own processes (writer, checkpointer, autovacuum), the Celery processes.
   **Server CPU per agent-hour** = that CPU ÷ the agent-hours simulated (agents × window ×
   compression ÷ 3600); **agents per server core** = 3600 ÷ it. Latency p50/p95/p99 per
   request type at that load, errors, and per request type what the web workers
   accounted (bench/hour_gunicorn.py): CPU ms in the worker and in its backend, statements,
   bytes.
3. **Checks** afterwards: no item completed twice, none taken off the queue by get-next
   twice unless released between, no item held by an agent that was not given it,
   `manage.py audit_items` (every item's state equals the replay of its events).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import api  # noqa: E402
import db  # noqa: E402
import load  # noqa: E402
from hour_requests import BARE_REQUEST  # noqa: E402

HOURFILE = BENCH / "hourfile.py"
GUNICORN_CONFIG = BENCH / "hour_gunicorn.py"
# One sync worker per core, as the README's deploy line says: on 2 cores, 4 workers spent
# about a tenth more CPU on the same requests (bench/README.md, "Agents per server core").
DEFAULT_GUNICORN = f"--workers {os.cpu_count() or 2}"
COMPRESSION, HOURS, TARGET_LOAD = 60, 4, 0.7
CALIBRATION_AGENTS, CALIBRATION_HOURS = 8, 1.5
QUEUES, TEAMS, QUEUES_PER_TEAM = 20, 10, 6
SEED_AGENTS, SEED_BACKLOG = 1_500, 60_000
QUICK = {"compression": 120, "hours": 3, "calibration_agents": 6, "seed_agents": 200, "seed_backlog": 12_000}
SAMPLE_EVERY_S = 1.0
# One locust process (a gevent loop) fell behind pacing 120 page agents or 188 slow API
# agents: its own wait showed in the latency it measured. One process a core.
GENERATORS = os.cpu_count() or 2
GENERATOR_NICENESS = -5
# The cadence, as bench/hourfile.py plays it: what one agent-hour asks of the server.
HOUR_REQUESTS = {
    "pages": {"inbox refresh": 120, "get next (page)": 13, "item page": 26, "action form": 2, "start (page)": 13,
              "complete (page)": 11, "pend (page)": 1, "release (page)": 1, "inbox page": 13,
              "customer page": 2, "notifications page": 2, "scorecard page": 1, "quality inbox page": 1},
    "api": {"presence poll (api)": 120, "get next (api)": 13, "start (api)": 13, "complete (api)": 11,
            "pend (api)": 1, "release (api)": 1},
}
# A kind with this suffix plays the same agent with every queue set to start pulled work at
# once (Queue.starts_on_pull, a lever of issue 24): get next hands the item over in progress,
# so the cycle has no start, and through the pages one item page fewer.
STARTS_ON_PULL = "+starts-on-pull"
for _kind in ("pages", "api"):
    HOUR_REQUESTS[_kind + STARTS_ON_PULL] = {
        name: (13 if name == "item page" else n) for name, n in HOUR_REQUESTS[_kind].items()
        if not name.startswith("start (")}


# The cadence's floor: API agents whose polls cost only the request itself — each sent to
# a path the portal does not have, answered 404 by Django through its middleware, reading
# nothing (README, "The floor of the cadence").
POLL_FLOOR = "+poll-floor"
HOUR_REQUESTS["api" + POLL_FLOOR] = {
    (BARE_REQUEST if name == "presence poll (api)" else name): n for name, n in HOUR_REQUESTS["api"].items()}


def _generator_first() -> None:
    """The load generator shares the cores with the server it measures: given the scheduler's
    first claim (where the system allows it), its own wait stays out of the latency it
    records; a generator behind its steps measured its own queue, not the server's."""
    with contextlib.suppress(OSError):  # not allowed here: the default priority; steps late say so
        os.nice(GENERATOR_NICENESS)


def played_kind(kind: str) -> str:
    """The agent bench/hourfile.py plays for a kind: "pages" or "api"."""
    return kind.removesuffix(STARTS_ON_PULL).removesuffix(POLL_FLOOR)


# Seeding, inside the measured checkout ---------------------------------------------------

def _seed(options: dict) -> dict:
    """Run by the measured checkout's Python (`--seed`): the organisation, the agents with a
    token and a session each, and the backlog through the intake service. Only what every
    commit since the baseline has: models, the intake service, a system actor."""
    import django

    django.setup()
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from allocation import services
    from allocation.models import AgentProfile, AgentSkill, Queue, QueueSkill, Skill, Team

    try:  # before the core app (which this checkout's own install would otherwise lend)
        from allocation.actors import SystemActor
    except ImportError:
        from core.actors import SystemActor

    started = time.perf_counter()
    skills = [Skill.objects.create(name=f"hour-skill-{n}") for n in range(3)]
    queues = []
    for n in range(QUEUES):
        queue = Queue.objects.create(code=f"hour-q{n:02d}", name=f"Hour queue {n}",
                                     standard_handle_time=timedelta(minutes=5 + n % 20),
                                     sla_target=timedelta(hours=8 + n))
        QueueSkill.objects.create(queue=queue, skill=skills[n % 3], min_proficiency=2)
        queues.append(queue)
    teams = [Team.objects.create(name=f"Hour team {t}") for t in range(TEAMS)]
    for t, team in enumerate(teams):  # team t serves the 6 queues from 2·t (the link is the queue's)
        for k in range(QUEUES_PER_TEAM):
            queues[(2 * t + k) % QUEUES].teams.add(team)
    User = get_user_model()
    agent_group = Group.objects.filter(name="Agent").first()
    engine = import_module(settings.SESSION_ENGINE)
    backend = settings.AUTHENTICATION_BACKENDS[-1]  # the model backend a password sign-in is recorded with
    agents = []
    for a in range(options["agents"]):
        user = User.objects.create(username=f"hour-agent-{a}", first_name="Agent", last_name=str(a))
        if agent_group:
            user.groups.add(agent_group)
        profile = AgentProfile.objects.create(user=user, team=teams[a % TEAMS], capacity=5, presence="available")
        AgentSkill.objects.bulk_create(AgentSkill(agent=profile, skill=skill, proficiency=3) for skill in skills)
        token = Token.objects.create(user=user)
        session = engine.SessionStore()
        session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        agents.append({"id": user.pk, "token": token.key, "session": session.session_key})
    actor = SystemActor("bench-hour")
    intake_started = time.perf_counter()
    for first in range(0, options["backlog"], 100):
        drafts = [services.ItemDraft(queue=queues[n % QUEUES], source="bench-hour", external_id=f"h{n}",
                                     customer_ref=f"CUST-{n % 5000}", title=f"Case {n}",
                                     payload={"amount": f"{n % 500}.00", "reason": "10.4"}, priority=1 + n % 5)
                  for n in range(first, min(options["backlog"], first + 100))]
        services.items_intake(actor=actor, drafts=drafts)
    return {"agents": agents, "seconds": round(time.perf_counter() - started, 1),
            "intake_s": round(time.perf_counter() - intake_started, 1)}


# Running the server ----------------------------------------------------------------------

def _url_with(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in params.items())


def server_env(t: db.Target, repo: Path, static_root: Path, records: Path, broker: str, app: str,
               compression: int) -> dict:
    # What each agent does by its own clock keeps the agents' compressed clock: its last visit
    # is written once a minute of it, as in production. The periodic jobs keep the server's
    # (real) clock: n agents at compression k carry the load of n × k agents, whose server
    # runs its minute's jobs once a minute.
    return db.django_env(
        t, PYTHONPATH=str(repo), DJANGO_SETTINGS_MODULE="wfo.settings.production",
        DATABASE_URL=_url_with(t.url, application_name=app), CELERY_BROKER_URL=broker,
        DJANGO_SECRET_KEY="bench-hour-" + "x" * 40, DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(static_root), HOUR_RECORDS_DIR=str(records), WFO_LOG_LEVEL="WARNING",
        WFO_AGENT_SEEN_EVERY_SECONDS=str(60 / compression),
    )


def broker_url() -> str:
    """Redis where it answers (as production runs), else kombu's filesystem broker."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/14"
    except OSError:
        return "filesystem://"


def _pids(parent: subprocess.Popen) -> list[int]:
    return [parent.pid, *load._children(parent.pid)]


def _pg_groups(t: db.Target, watch) -> dict:
    def backends(app: str):
        return lambda: [r[0] for r in watch.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s", (t.dbname, app))]

    def own():  # the writer, checkpointer, autovacuum: the server's own work for everyone
        return [r[0] for r in watch.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'")]
    return {"postgres_web": backends("wfo-web"), "postgres_jobs": backends("wfo-jobs"), "postgres_own": own}


def locust_run(*, port: int, agents_file: Path, first_agent: int, kind: str, agents: int, seconds: float,
               compression: int, generators: int, log_dir: Path, stamp: str, sample, say) -> dict:
    """Locust with `agents` users of `kind` for `seconds`, shared among `generators`
    processes (each plays its own seats: one gevent loop serves a process's agents in turn,
    and a loop that falls behind adds its own wait to the latency it measures);
    `sample(started, pids)` is called every second meanwhile. Returns the processes'
    records added up (merge_records)."""
    locust = Path(sys.executable).parent / "locust"
    shares = [n for i in range(generators) if (n := agents // generators + (i < agents % generators))]
    clients, outs, logs = [], [], []
    started = time.monotonic()
    try:
        for i, share in enumerate(shares):
            out = log_dir / f"hour-{stamp}-{kind}-{agents}-{i}.json"
            log = log_dir / f"locust-hour-{stamp}-{kind}-{agents}-{i}.log"
            cmd = [str(locust), "-f", str(HOURFILE), "--headless", "--host", f"http://127.0.0.1:{port}",
                   "-u", str(share), "-r", str(max(1, share // 2)), "-t", f"{int(seconds)}s", "--stop-timeout", "0",
                   "--only-summary", "--loglevel", "WARNING"]
            env = dict(os.environ, HOUR_AGENTS=str(agents_file), HOUR_FIRST_AGENT=str(first_agent + sum(shares[:i])),
                       HOUR_KIND=played_kind(kind), HOUR_COMPRESSION=str(compression), HOUR_OUT=str(out),
                       HOUR_POLL_FLOOR="1" if kind.endswith(POLL_FLOOR) else "")
            with open(log, "w") as f:
                clients.append(subprocess.Popen(cmd, cwd=BENCH, env=env, stdout=f, stderr=subprocess.STDOUT,
                                                preexec_fn=_generator_first))
            outs.append(out)
            logs.append(log)
        while any(c.poll() is None for c in clients):
            sample(started, [c.pid for c in clients if c.poll() is None])
            if time.monotonic() > started + seconds + 120:
                raise RuntimeError(f"locust did not stop; see {logs}")
            time.sleep(SAMPLE_EVERY_S)
    finally:
        for client in clients:
            load._stop(client)
    parts = []
    for client, out, log in zip(clients, outs, logs, strict=True):
        if not out.exists():
            raise RuntimeError(f"locust wrote no records (exit {client.returncode}); {log}:\n{log.read_text()[-1500:]}")
        parts.append(json.loads(out.read_text()))
    return merge_records(parts)


def merge_records(parts: list[dict]) -> dict:
    """The records of a run's locust processes as one: counts added, each request type's
    response-time histograms added and its percentiles read from the sum by locust's own
    rule (a percentile of percentiles would be no percentile)."""
    endpoints: dict[str, dict] = {}
    for part in parts:
        for name, e in part["endpoints"].items():
            into = endpoints.setdefault(name, {"requests": 0, "failures": 0, "max_ms": 0, "response_times": Counter()})
            into["requests"] += e["requests"]
            into["failures"] += e["failures"]
            into["max_ms"] = max(into["max_ms"], e["max_ms"])
            into["response_times"].update({int(ms): n for ms, n in e["response_times"].items()})
    for e in endpoints.values():
        times = e.pop("response_times")
        e.update({f"p{p}_ms": _percentile(times, p / 100) for p in (50, 95, 99)})
    statuses: dict[str, Counter] = defaultdict(Counter)
    errors, counts, received, samples, slow = Counter(), Counter(), {}, [], []
    for part in parts:
        for name, by_status in part["statuses"].items():
            statuses[name].update(by_status)
        errors.update(part["errors"])
        counts.update(part["counts"])
        received.update(part["received"])  # keyed by seat: no two processes share one
        samples.extend(part["error_samples"])
        slow.extend(part.get("slow", []))
    return {"endpoints": dict(sorted(endpoints.items())), "statuses": {k: dict(v) for k, v in statuses.items()},
            "errors": dict(errors), "error_samples": samples, "counts": dict(counts), "received": received,
            "slow": sorted(slow), "generators": len(parts),
            "first_request": min((p["first_request"] for p in parts if p["first_request"]), default=None),
            "last_request": max((p["last_request"] for p in parts if p["last_request"]), default=None)}


def _percentile(response_times: dict[int, int], fraction: float) -> int:
    """locust.stats.calculate_response_time_percentile, over a histogram (importing locust
    here would patch this process for gevent)."""
    total = sum(response_times.values())
    counted = 0
    for ms in sorted(response_times, reverse=True):
        counted += response_times[ms]
        if total - counted <= int(total * fraction):
            return ms
    return 0


class Seats:
    """Hands each run agents no earlier run used (a run stopped at its end leaves items in
    their hands, which would count against their capacity in the next)."""

    def __init__(self, total: int) -> None:
        self.total, self.next = total, 0

    @property
    def left(self) -> int:
        return self.total - self.next

    def take(self, n: int) -> int:
        if n > self.left:
            raise RuntimeError(f"{n} agents wanted, {self.left} of {self.total} left unused: "
                               "seed more (--hour-seed-agents)")
        first, self.next = self.next, self.next + n
        return first


def measure_kind(t, *, kind: str, repo: Path, env: dict, jobs_cpu, agents_file: Path, seats: Seats,
                 options: dict, log_dir: Path, stamp: str, say) -> dict:
    """Calibrate, then run at the agent count for the target load; CPU, latency and the
    web workers' accounting."""
    gunicorn = api.gunicorn_command()
    compression, hour_s = options["compression"], 3600 / options["compression"]
    records = Path(env["HOUR_RECORDS_DIR"]) / kind
    records.mkdir(parents=True, exist_ok=True)
    out: dict = {"kind": kind}
    if kind.endswith(STARTS_ON_PULL):  # this kind's runs only (a commit without the setting fails here)
        with db.connect(t.url) as c:
            c.execute("UPDATE allocation_queue SET starts_on_pull = true")

    def one_run(agents: int, hours: float, warmup_hours: float) -> dict:
        for old in records.glob("*.json"):
            old.unlink()
        port = api.free_port()
        server = subprocess.Popen(
            [*gunicorn, "-c", str(GUNICORN_CONFIG), "wfo.wsgi:application", "--bind", f"127.0.0.1:{port}",
             *shlex.split(options["gunicorn_args"]), "--log-level", "warning",
             "--error-logfile", str(log_dir / f"gunicorn-hour-{stamp}.log")],
            cwd=repo, env=dict(env, HOUR_RECORDS_DIR=str(records)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            api.wait_ready(port, path="/health/", headers={"X-Forwarded-Proto": "https"}, ok=range(200, 500))
            with db.connect(t.admin_url) as watch:
                groups = {"gunicorn": lambda: _pids(server), **_pg_groups(t, watch), **jobs_cpu}
                window = {"from": None, "sampler": None, "locust_pids": []}

                def sample(started: float, locust_pids: list[int]) -> None:
                    elapsed = time.monotonic() - started
                    window["locust_pids"] = locust_pids
                    if window["sampler"] is None and elapsed >= warmup_hours * hour_s:
                        window["sampler"] = load.CpuSampler({**groups, "locust": lambda: window["locust_pids"]})
                        window["from"], window["wall_from"] = time.monotonic(), time.time()
                    if window["sampler"] is not None:
                        window["sampler"].sample()
                        window["to"], window["wall_to"] = time.monotonic(), time.time()

                first_agent = seats.take(agents)
                rec = locust_run(port=port, agents_file=agents_file, first_agent=first_agent, kind=kind, agents=agents,
                                 seconds=hours * hour_s, compression=compression,
                                 generators=options["generators"], log_dir=log_dir, stamp=stamp,
                                 sample=sample, say=say)
        finally:
            load._stop(server)
        seconds = window["to"] - window["from"]
        cpu = window["sampler"].result(seconds)
        server_cpu = sum(cpu.get(k, 0) for k in ("gunicorn", "postgres_web", "postgres_jobs", "postgres_own",
                                                 "celery"))
        agent_hours = agents * seconds / hour_s
        per_type = defaultdict(lambda: [0, 0.0, 0.0, 0, 0, 0])
        server_ms: dict[str, Counter] = defaultdict(Counter)
        server_slow = []
        by_second: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0.0]))
        for path in records.glob("*.json"):
            worker = json.loads(path.read_text())
            for name, values in worker["totals"].items():
                per_type[name] = [a + b for a, b in zip(per_type[name], values, strict=True)]
            for name, times in worker["server_ms"].items():
                server_ms[name].update({int(ms): n for ms, n in times.items()})
            server_slow.extend(worker["slow"])
            for second, types in worker["by_second"].items():
                for name, values in types.items():
                    into = by_second[int(second)][name]
                    by_second[int(second)][name] = [a + b for a, b in zip(into, values, strict=True)]
        def in_window(rows: list[list]) -> list[list]:  # the measured window's, by the wall clock they carry
            return sorted(r for r in rows if window["wall_from"] <= r[0] <= window["wall_to"])

        rec["slow"] = in_window(rec["slow"])
        return {"agents": agents, "window_s": round(seconds, 1), "agent_hours": round(agent_hours, 2),
                "cpu_s": cpu, "server_cpu_s": round(server_cpu, 2),
                "server_cpu_s_per_agent_hour": round(server_cpu / agent_hours, 3),
                "server_cores_busy": round(server_cpu / seconds, 2),
                "locust": rec, "per_type": {k: v for k, v in per_type.items()},
                "window_wall": [window["wall_from"], window["wall_to"]],
                "server_ms": {name: {f"p{p}_ms": _percentile(times, p / 100) for p in (50, 95, 99)}
                              for name, times in server_ms.items()},
                "server_slow": in_window(server_slow),
                "server_by_second": {second: dict(types) for second, types in sorted(by_second.items())
                                     if window["wall_from"] <= second <= window["wall_to"]},
                "cpu_timeline": [[round(at, 2), {k: round(v, 2) for k, v in cpu.items()}]
                                 for at, cpu in window["sampler"].timeline]}

    if options.get("agents"):
        agents = options["agents"]
    else:
        # Twice: the CPU an agent-hour takes grows with the load (two cores shared by four
        # workers, PostgreSQL and the load generator), so a count found at a light load
        # overshoots; the second step measures at about the count wanted.
        agents, out["calibration"] = options["calibration_agents"], []
        for _ in range(2):
            step = one_run(agents, CALIBRATION_HOURS, 0.5)
            out["calibration"].append(_summary(step))
            busy_per_agent = step["server_cores_busy"] / step["agents"]
            agents = max(1, int(options["target_load"] * (os.cpu_count() or 2) / busy_per_agent))
            say(f"  {kind}: calibration {step['agents']} agents → {step['server_cpu_s_per_agent_hour']} s of server "
                f"CPU per agent-hour, {step['server_cores_busy']} cores busy; {agents} agents for "
                f"{options['target_load']:.0%} of {os.cpu_count()} cores")
    run = one_run(agents, options["hours"], 1)
    out["run"] = run
    if kind.endswith(STARTS_ON_PULL):
        with db.connect(t.url) as c:
            c.execute("UPDATE allocation_queue SET starts_on_pull = false")
    return out


def _summary(run: dict) -> dict:
    return {k: run[k] for k in ("agents", "window_s", "agent_hours", "server_cpu_s", "server_cpu_s_per_agent_hour",
                                "server_cores_busy", "cpu_s")}


# The section -------------------------------------------------------------------------------

def run(t: db.Target, *, repo: Path = db.REPO, options: dict, keep_db: bool = False,
        log_dir: Path = BENCH / "results", say=print) -> dict:
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                            text=True).stdout.strip()
    rep: dict = {"database": t.dbname, "checkout": str(repo), "commit": commit, "options": options,
                 "failed_checks": [], "noise_before": db.noise(t)}
    say(f"agent-hour: commit {commit}, compression {options['compression']}, database {t.dbname}; "
        f"load {rep['noise_before']['loadavg']}")
    log_dir.mkdir(parents=True, exist_ok=True)
    db.create_database(t)
    tmp = Path(tempfile.mkdtemp(prefix="wfo-hour-"))
    broker = broker_url()
    celery = None
    try:
        base_env = server_env(t, repo, tmp / "static", tmp / "records", broker, "wfo-web",
                              options["compression"])
        subprocess.run([db.PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=repo,
                       env=dict(base_env, DATABASE_URL=t.url), check=True)
        subprocess.run([db.PY, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=repo, env=base_env,
                       check=True)
        seeded = subprocess.run([db.PY, __file__, "--seed", json.dumps({"agents": options["seed_agents"],
                                                                         "backlog": options["seed_backlog"]})],
                                cwd=repo, env=dict(base_env, DATABASE_URL=t.url), capture_output=True, text=True)
        if seeded.returncode:
            raise RuntimeError(f"seeding failed in {repo}:\n{seeded.stderr[-3000:]}")
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        agents_file = tmp / "agents.json"
        agents_file.write_text(json.dumps(seed.pop("agents")))
        rep["seed"] = seed
        with db.connect(t.url) as c:
            c.execute("VACUUM ANALYZE")
        say(f"  seeded {options['seed_agents']} agents and {options['seed_backlog']:,} items in {seed['seconds']} s")
        jobs_env = server_env(t, repo, tmp / "static", tmp / "records", broker, "wfo-jobs",
                              options["compression"])
        celery_log = log_dir / f"celery-hour-{stamp}.log"
        celery = subprocess.Popen(
            [str(Path(db.PY).parent / "celery"), "-A", "wfo", "worker", "-B", "--concurrency", "1",
             "--loglevel", "WARNING", "--schedule", str(tmp / "beat-schedule"), "--logfile", str(celery_log)],
            cwd=repo, env=jobs_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        jobs_cpu = {"celery": lambda: _pids(celery)}
        rep["kinds"] = {}
        seats = Seats(options["seed_agents"])
        for kind in options["kinds"]:
            rep["kinds"][kind] = measure_kind(t, kind=kind, repo=repo, env=base_env, jobs_cpu=jobs_cpu,
                                              agents_file=agents_file, seats=seats, options=options,
                                              log_dir=log_dir, stamp=stamp, say=say)
            for line in kind_lines(rep["kinds"][kind]):
                say("  " + line)
        load._stop(celery)
        celery = None
        rep["checks"] = checks(t, rep)
        rep["audit"] = load.audit(t, repo)
    finally:
        if celery is not None:
            load._stop(celery)
        if keep_db:
            say(f"  (kept database {t.dbname})")
        else:
            db.drop_database(t)
    rep["failed_checks"].extend(rep["checks"]["problems"])
    if not rep["audit"]["ok"]:
        rep["failed_checks"].append(f"agent-hour: audit_items found {rep['audit']['mismatches']} mismatches")
    for kind, k in rep["kinds"].items():
        errors = sum(k["run"]["locust"]["errors"].values())
        if errors:
            rep["failed_checks"].append(f"agent-hour {kind}: {errors} errors {k['run']['locust']['errors']}")
    rep["pass"] = not rep["failed_checks"]
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    for line in summary_lines(rep):
        say("  " + line)
    return rep


def checks(t: db.Target, rep: dict) -> dict:
    """Exactly once, from the events: no item completed twice; none given out by get-next
    twice from the queue unless released in between; every item held or completed by the
    agent the load generator saw get it last."""
    with db.connect(t.url) as c:
        completed_twice = c.execute("""
            SELECT count(*) FROM (SELECT item_id FROM allocation_workitemevent WHERE kind = 'completed'
                                   GROUP BY item_id HAVING count(*) > 1) x""").fetchone()[0]
        # Taken from the queue again only after going back to it: released by its agent, its
        # reservation expired (an agent stopped between get-next and start at a run's end),
        # moved by rebalancing — any event that left it queued.
        taken_twice = c.execute("""
            SELECT count(*) FROM (
              SELECT item_id,
                     count(*) FILTER (WHERE kind = 'assigned' AND from_status = 'queued') AS taken,
                     count(*) FILTER (WHERE to_status = 'queued' AND kind <> 'created') AS returned
                FROM allocation_workitemevent GROUP BY item_id) x
             WHERE taken > returned + 1""").fetchone()[0]
        kinds = dict(c.execute("SELECT kind, count(*) FROM allocation_workitemevent GROUP BY kind").fetchall())
        # The cadence's pended items given back to their agent on their follow-up.
        kinds["follow-ups taken back"] = c.execute("""
            SELECT count(*) FROM allocation_workitemevent WHERE kind = 'assigned' AND from_status = 'pended'
            """).fetchone()[0]
    problems = []
    if completed_twice:
        problems.append(f"agent-hour: {completed_twice} items completed more than once")
    if taken_twice:
        problems.append(f"agent-hour: {taken_twice} items given out by get-next twice without going back "
                        "to the queue between")
    return {"items_completed_twice": completed_twice, "items_taken_twice": taken_twice, "events": kinds,
            "problems": problems}


# Reporting ---------------------------------------------------------------------------------

def _slow_lines(run: dict) -> list[str]:
    """Where the tail is: how many requests the agents waited on for 200 ms or more, how many
    the workers themselves took 100 ms or more on, and the seconds of the run that held most
    of the first — the server's CPU in them beside its mean (a burst of work, or a stall)."""
    slow, in_worker = run["locust"].get("slow", []), run.get("server_slow", [])
    if not slow:
        return [f"  no request waited on 200 ms or more; {len(in_worker)} took the worker 100 ms or more"]
    by_second = Counter(int(at) for at, *_ in slow)
    requests_cpu = {int(second): sum(worker + backend for _, worker, backend in types.values())
                    for second, types in run.get("server_by_second", {}).items()}
    mean = sum(requests_cpu.values()) / max(1, len(requests_cpu))
    seconds = [f"{n} sent at {dt.datetime.fromtimestamp(second):%H:%M:%S} (the requests of that second "
               f"{requests_cpu.get(second, 0):.2f} s of CPU)" for second, n in sorted(by_second.most_common(3))]
    lost = run["locust"].get("counts", {}).get("slow requests not kept", 0)
    cut = f" (and {lost:,} more the generators did not keep)" if lost else ""
    return [f"  {len(slow)} requests waited on for 200 ms or more{cut}, "
            f"{len(in_worker)} took the worker 100 ms or more; "
            f"the requests of a second take {mean:.2f} s of CPU on average; most slow: " + "; ".join(seconds)]


def kind_lines(k: dict) -> list[str]:
    run = k["run"]
    cpu, per = run["cpu_s"], run["server_cpu_s_per_agent_hour"]
    lines = [f"{k['kind']}: {run['agents']} agents, {run['agent_hours']} agent-hours in {run['window_s']} s: "
             f"server CPU {run['server_cpu_s']} s = {per} s per agent-hour → "
             f"{3600 / per:,.0f} agents per server core; server busy {run['server_cores_busy']} cores "
             f"(gunicorn {cpu.get('gunicorn')}, PostgreSQL web {cpu.get('postgres_web')}, jobs "
             f"{cpu.get('postgres_jobs')}, own {cpu.get('postgres_own')}, Celery {cpu.get('celery')} s; "
             f"locust {cpu.get('locust')} s in {run['locust'].get('generators', 1)} processes, "
             f"other {cpu.get('other')} s)"]
    loc = run["locust"]
    lines.append(f"  {'request type':<22} {'n':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'in worker':>9} ms | "
                 f"{'worker':>7} {'db':>6} CPU ms {'stmts':>6} {'bytes':>7} | per agent-hour")
    for name, e in loc["endpoints"].items():
        if name.startswith("("):
            continue
        n, worker, backend, queries, sent, _ = run["per_type"].get(name, [0, 0, 0, 0, 0, 0])
        n = n or 1
        hourly = HOUR_REQUESTS[k["kind"]].get(name, 0)
        in_worker = run.get("server_ms", {}).get(name, {}).get("p99_ms")
        lines.append(f"  {name:<22} {e['requests']:>7,} {e['p50_ms']:>6.0f} {e['p95_ms']:>6.0f} {e['p99_ms']:>6.0f} "
                     f"{in_worker if in_worker is not None else '–':>9} | "
                     f"{(worker / n) * 1000:>7.2f} {(backend / n) * 1000:>6.2f}        {(queries / n):>6.1f} "
                     f"{(sent / n):>7,.0f} | {hourly} × = {hourly * ((worker / n) + (backend / n)) * 1000:,.0f} ms")
    lines.extend(_slow_lines(run))
    errors = sum(loc["errors"].values())
    lines.append(f"  errors {errors} {loc['errors'] or ''}; {loc['counts']}")
    for sample in loc["error_samples"][:3]:
        lines.append("    " + " ".join(sample.split())[:160])
    return lines


def summary_lines(rep: dict) -> list[str]:
    lines = []
    for kind, k in rep.get("kinds", {}).items():
        run = k["run"]
        worst = max((e["p99_ms"] or 0 for n, e in run["locust"]["endpoints"].items() if not n.startswith("(")),
                    default=0)
        lines.append(f"HOUR      {rep['commit']} {kind}: {run['server_cpu_s_per_agent_hour']} s server CPU per "
                     f"agent-hour, {3600 / run['server_cpu_s_per_agent_hour']:,.0f} agents per core; at "
                     f"{run['server_cores_busy']} cores busy ({run['agents']} agents) worst p99 {worst:.0f} ms "
                     f"(target < 300)")
    ch = rep.get("checks", {})
    lines.append(f"HOUR      checks: {ch.get('items_completed_twice')} completed twice, {ch.get('items_taken_twice')} "
                 f"taken twice, audit {rep.get('audit', {}).get('mismatches')} mismatches; "
                 f"{ch.get('events', {}).get('pended')} pended, "
                 f"{ch.get('events', {}).get('follow-ups taken back')} follow-ups taken back — "
                 f"{'PASS' if rep.get('pass') else 'FAIL ' + '; '.join(rep['failed_checks'])}")
    return lines


def add_arguments(p: argparse.ArgumentParser, prefix: str = "--hour-") -> None:
    p.add_argument(f"{prefix}compression", dest="hour_compression", type=int, help=f"default {COMPRESSION}")
    p.add_argument(f"{prefix}hours", dest="hour_hours", type=float, help=f"compressed hours a run (default {HOURS})")
    p.add_argument(f"{prefix}agents", dest="hour_agents", type=int, help="agents (default: calibrated)")
    p.add_argument(f"{prefix}target-load", dest="hour_target_load", type=float, default=TARGET_LOAD)
    p.add_argument(f"{prefix}kinds", dest="hour_kinds", default="pages,api")
    p.add_argument(f"{prefix}generators", dest="hour_generators", type=int, default=GENERATORS,
                   help=f"locust processes sharing a run's agents (default {GENERATORS}: one per core)")
    p.add_argument(f"{prefix}gunicorn-args", dest="hour_gunicorn_args", default=DEFAULT_GUNICORN)
    p.add_argument(f"{prefix}repo", dest="hour_repo", default=None, help="measure this checkout (default this one)")
    p.add_argument(f"{prefix}dbname", dest="hour_dbname", default="wfo_bench_hour")
    p.add_argument(f"{prefix}seed-agents", dest="hour_seed_agents", type=int,
                   help=f"agents seeded (default {SEED_AGENTS:,}); each run takes ones no earlier run used")


def options_from(args) -> dict:
    quick = QUICK if getattr(args, "quick", False) else {}
    return {"compression": args.hour_compression or quick.get("compression", COMPRESSION),
            "hours": args.hour_hours or quick.get("hours", HOURS), "agents": args.hour_agents,
            "calibration_agents": quick.get("calibration_agents", CALIBRATION_AGENTS),
            "target_load": args.hour_target_load, "kinds": args.hour_kinds.split(","),
            "gunicorn_args": args.hour_gunicorn_args, "generators": max(1, args.hour_generators),
            "seed_agents": args.hour_seed_agents or quick.get("seed_agents", SEED_AGENTS),
            "seed_backlog": quick.get("seed_backlog", SEED_BACKLOG)}


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--seed":
        print(json.dumps(_seed(json.loads(sys.argv[2]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, prefix="--")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dsn")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    t = db.choose_server(args.dsn, args.hour_dbname)
    repo = Path(args.hour_repo).resolve() if args.hour_repo else db.REPO
    rep = run(t, repo=repo, options=options_from(args), keep_db=args.keep_db, say=lambda m="": print(m, flush=True))
    out = args.json or BENCH / "results" / f"hour-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"hour": rep, "machine": {"cpus": os.cpu_count()}}, indent=2, default=str))
    print(f"  wall time {rep['wall_s']} s; results in {out}")
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
