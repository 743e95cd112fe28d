"""Allocation rate through the services: get next + start, from concurrent OS processes.

Each worker is a separate process (no shared GIL) with its own Django setup and its own
database connection. Worker w plays the agents w, w+W, w+2W, … in turn, so no two
workers ever act as the same agent (each get-next locks its agent's row) and every
agent's eligible-queue set is exercised. Per allocation a worker calls
`item_get_next(agent_id=…)` and then `item_start(item_id=…, actor=<the agent's user>)`.

Agents have a capacity of 30,000, so what they hold never blocks them and nothing has to
be completed inside the timed loop. Every worker first does a few untimed warm-up
allocations, then all wait on a barrier and start together; the rate is all timed
allocations over the span from the first start to the last finish.

Inside each worker a Django execute wrapper times every SQL statement (round trip as
seen by the client), and the commits are timed too, so the report can split the time
per allocation into database round trips and Python.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

WARMUP = 20

_TABLE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"?(\w+)"?', re.I)


def _label(sql: str) -> str:
    s = sql.lstrip()
    if s.startswith("WITH agent AS"):
        return "get_next: check agent, pick, assign, log (one statement)"
    if s.startswith("WITH started AS"):
        return "start: guarded update + event (one statement)"
    verb = s.split(None, 1)[0].upper()
    m = _TABLE.search(s)
    table = m.group(1) if m else "?"
    suffix = " FOR UPDATE" if "FOR UPDATE" in s else ""
    if verb == "SELECT" and "COUNT(" in s.upper()[:40]:
        verb = "SELECT count"
    return f"{verb} {table}{suffix}"


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a local process, or None when it is not visible."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    try:
        parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
        return (user + nice + system + irq + softirq + steal) / _TICK
    except (OSError, ValueError):
        return None


def same_work_statements(db_url: str):
    """The same work as get-next + start without Django on the way: the statements the
    services run in the common case (allocation/services/next_work.py's assignment and
    eligibility judgement, lifecycle.py's start of a held item), sent by psycopg itself on a
    connection configured as the portal's (autocommit, server-side binding, prepared after
    5 uses). Returns (get_next, start) taking (agent id) and (item id, agent id)."""
    import psycopg

    from allocation.services import lifecycle, next_work
    from allocation.services.rows import ITEM_WIDTH

    conn = psycopg.connect(db_url, autocommit=True, prepare_threshold=5)

    def get_next(agent_id: int) -> int | None:
        params = next_work.assign_next_params(agent_id=agent_id, actor=None, now=datetime.now(UTC))
        for _ in range(2):
            row = conn.execute(next_work._ASSIGN_NEXT, params).fetchone()
            if row[3]:  # the agent's eligibility copy is current
                return row[7:7 + ITEM_WIDTH][0]
            conn.execute(next_work._ELIGIBILITY_JUDGE, {"agent": agent_id})
        return None

    def start(item_id: int, agent_id: int) -> None:
        conn.execute(lifecycle._START_HELD_ITEM, {"item": item_id, "holder": agent_id, **lifecycle._START_PARAMS})

    return conn, get_next, start


def worker(wid: int, agent_ids: list[int], rounds: list[int], env: dict, barrier, results,
           same_work: bool = False) -> None:
    """Play `agent_ids` in turn; round r does rounds[r] timed allocations between two
    barriers (the coordinator completes the started items while everyone waits). With
    `same_work`, the same statements without the services (same_work_statements)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from allocation.services import item_get_next, item_start

    if same_work:
        raw, raw_get_next, raw_start = same_work_statements(env["DATABASE_URL"])

    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=agent_ids)}

    per_sql: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    db_time = [0.0]

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            d = time.perf_counter() - t
            db_time[0] += d
            slot = per_sql[_label(sql)]
            slot[0] += 1
            slot[1] += d

    connection.ensure_connection()
    raw_commit = connection._commit

    def timed_commit():
        t = time.perf_counter()
        try:
            return raw_commit()
        finally:
            d = time.perf_counter() - t
            db_time[0] += d
            slot = per_sql["COMMIT"]
            slot[0] += 1
            slot[1] += d

    connection._commit = timed_commit

    taken: list[tuple[int, int]] = []
    get_next_s: list[float] = []
    start_s: list[float] = []
    spans: list[tuple[float, float]] = []
    empty = 0
    turn = [0]

    def one(record: bool) -> bool:
        nonlocal empty
        agent_id = agent_ids[turn[0] % len(agent_ids)]
        turn[0] += 1
        user = users[agent_id]
        t0 = time.perf_counter()
        if same_work:
            item_id = raw_get_next(agent_id)
        else:
            item = item_get_next(agent_id=agent_id, actor=user)
            item_id = item.pk if item is not None else None
        t1 = time.perf_counter()
        if item_id is None:
            empty += 1
            return False
        if same_work:
            raw_start(item_id, agent_id)
        else:
            item_start(item_id=item_id, actor=user)
        t2 = time.perf_counter()
        taken.append((item_id, agent_id))
        if record:
            get_next_s.append(t1 - t0)
            start_s.append(t2 - t1)
        return True

    error = None
    cpu_s = 0.0
    backend_cpu_s: float | None = 0.0
    try:
        with connection.execute_wrapper(timed):
            for _ in range(WARMUP):
                one(record=False)
            per_sql.clear()
            db_time[0] = 0.0
            backend = (raw if same_work else connection.cursor().connection).info.backend_pid
            for count in rounds:
                barrier.wait()                      # round starts
                began = time.perf_counter()
                cpu0, be0 = time.process_time(), proc_cpu_s(backend)
                done = misses = 0
                while done < count and misses <= 2 * len(agent_ids):
                    if one(record=True):
                        done += 1
                        misses = 0
                    else:
                        misses += 1                 # this agent's eligible backlog is empty
                ended = time.perf_counter()
                cpu1, be1 = time.process_time(), proc_cpu_s(backend)
                spans.append((began, ended))
                cpu_s += cpu1 - cpu0
                backend_cpu_s = (backend_cpu_s + be1 - be0
                                 if None not in (backend_cpu_s, be0, be1) else None)
                barrier.wait()                      # round ends; the coordinator completes items
    except Exception as exc:  # reported, and the run fails
        error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            barrier.abort()
    results.put({
        "wid": wid, "taken": taken, "get_next_s": get_next_s, "start_s": start_s, "spans": spans,
        "empty": empty, "error": error, "db_s": db_time[0], "per_sql": dict(per_sql), "cpu_s": cpu_s,
        "backend_cpu_s": backend_cpu_s,
    })


# Between rounds: what the agents started is completed (with its event), so what each
# agent holds stays small, as in real work, and the capacity check reads a short list.
_COMPLETE = """
WITH done AS (
    UPDATE allocation_workitem
       SET status = 'completed', completed_by_id = assignee_id, assignee_id = NULL, outcome = 'done',
           closed_at = now(), updated_at = now()
     WHERE status = 'in_progress'
 RETURNING id, completed_by_id
)
INSERT INTO allocation_workitemevent (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
SELECT id, now(), completed_by_id, '', 'completed', 'in_progress', 'completed', '', '{"outcome": "done"}'::jsonb
  FROM done
"""


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def _collect(results, procs, timeout: float) -> list[dict]:
    """One result per process; fail fast if a process died without reporting."""
    import queue

    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < len(procs):
        try:
            out.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    if p.is_alive():
                        p.terminate()
                raise SystemExit(f"bench: {len(dead)} worker process(es) died (exit codes "
                                 f"{[p.exitcode for p in dead]}) or timed out") from None
    return out


def measure(*, env: dict, db_url: str, agent_ids: list[int], workers: int, allocations: int,
            round_size: int = 100, same_work: bool = False) -> dict:
    """Run `allocations` timed get-next + start cycles spread over `workers` processes, in
    rounds of `round_size` per worker; between rounds (untimed) the started items are
    completed in one statement. The rate is the allocations over the summed round spans."""
    import psycopg

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    per_worker = [allocations // workers + (1 if w < allocations % workers else 0) for w in range(workers)]
    plans = [[round_size] * (n // round_size) + ([n % round_size] if n % round_size else []) for n in per_worker]
    n_rounds = max(len(p) for p in plans)
    plans = [p + [0] * (n_rounds - len(p)) for p in plans]
    procs = [
        ctx.Process(target=worker, args=(w, agent_ids[w::workers], plans[w], env, barrier, results, same_work),
                    daemon=True)
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    machine = 0.0
    completing = 0.0
    broken = False
    with psycopg.connect(db_url, autocommit=True) as admin:
        for _ in range(n_rounds):
            try:
                barrier.wait(timeout=600)
                m0 = machine_cpu_s()
                barrier.wait(timeout=1800)
                m1 = machine_cpu_s()
            except Exception:
                broken = True   # a worker failed; its error comes back below
                break
            machine = machine + m1 - m0 if None not in (machine, m0, m1) else None
            t = time.perf_counter()
            admin.execute(_COMPLETE)
            completing += time.perf_counter() - t
    out = _collect(results, procs, timeout=600 if broken else 1800)
    for p in procs:
        p.join(timeout=60)
    errors = [r["error"] for r in out if r["error"]]
    if errors:
        raise SystemExit("bench: allocation worker failed: " + "; ".join(errors))

    span = sum(max(r["spans"][i][1] for r in out) - min(r["spans"][i][0] for r in out) for i in range(n_rounds))
    busy = sum(e - b for r in out for b, e in r["spans"])
    timed = sum(len(r["get_next_s"]) for r in out)
    get_next = [x for r in out for x in r["get_next_s"]]
    start = [x for r in out for x in r["start_s"]]
    db_s = sum(r["db_s"] for r in out)
    per_sql: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for r in out:
        for k, (n, s) in r["per_sql"].items():
            per_sql[k][0] += n
            per_sql[k][1] += s
    cycle_ms = busy / timed * 1000 if timed else float("nan")
    client_cpu = sum(r["cpu_s"] for r in out)
    backend_cpu = [r["backend_cpu_s"] for r in out]
    backend_cpu = sum(backend_cpu) if all(x is not None for x in backend_cpu) else None

    def per(x):
        return round(x / timed * 1000, 3) if x is not None and timed else None
    return {
        "workers": workers,
        "allocations": timed,
        "seconds": round(span, 3),
        "rounds": n_rounds,
        "completing_between_rounds_s": round(completing, 2),
        "rate_per_s": round(timed / span, 1) if span > 0 else 0.0,
        "empty_answers": sum(r["empty"] for r in out),
        "taken": [pair for r in out for pair in r["taken"]],   # (item, agent), warm-up included
        "latency_ms": {
            "get_next": {k: round(_pct(get_next, p) * 1000, 2) for k, p in (("p50", 50), ("p95", 95), ("p99", 99))},
            "start": {k: round(_pct(start, p) * 1000, 2) for k, p in (("p50", 50), ("p95", 95), ("p99", 99))},
            "get_next_mean": round(statistics.fmean(get_next) * 1000, 3) if get_next else None,
            "start_mean": round(statistics.fmean(start) * 1000, 3) if start else None,
        },
        # Where a worker's time goes, per allocation (get next + start), in milliseconds.
        "per_allocation_ms": {
            "total": round(cycle_ms, 3),
            "db_round_trips": round(db_s / timed * 1000, 3) if timed else None,
            "python": round((busy - db_s) / timed * 1000, 3) if timed else None,
            "statements": round(sum(n for n, _ in per_sql.values()) / timed, 2) if timed else None,
        },
        # CPU actually burnt per allocation (ms): the worker processes, their PostgreSQL
        # backends, and everything else on the machine meanwhile (other backends, WAL
        # writer, other people's jobs) — from /proc, so only for a local server.
        "cpu_ms_per_allocation": {
            "workers_python": per(client_cpu),
            "postgres_backends": per(backend_cpu),
            "machine_total": per(machine),
            "other": per(machine - client_cpu - backend_cpu) if machine is not None and backend_cpu is not None
            else None,
            "cores": os.cpu_count(),
        },
        "per_statement": {
            k: {"per_allocation": round(n / timed, 2), "mean_ms": round(s / n * 1000, 3),
                "ms_per_allocation": round(s / timed * 1000, 3)}
            for k, (n, s) in sorted(per_sql.items(), key=lambda kv: -kv[1][1])
        } if timed else {},
    }


def verify(conn, taken: list[tuple[int, int]]) -> dict:
    """Exactly once: every moved item was assigned once, to the agent that asked, and
    started (and completed between rounds); counts agree with what the workers saw."""
    ids = [i for i, _ in taken]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} items handed out twice to workers")
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_taken (item_id bigint, agent_id int) ON COMMIT DROP")
        with cur.copy("COPY bench_taken (item_id, agent_id) FROM STDIN") as copy:
            for pair in taken:
                copy.write_row(pair)
        row = cur.execute("""
            SELECT
              (SELECT count(*) FROM allocation_workitem WHERE status IN ('in_progress', 'completed')),
              (SELECT count(*) FROM allocation_workitem WHERE status = 'assigned'),
              (SELECT count(*) FROM allocation_workitemevent WHERE kind = 'assigned'),
              (SELECT count(DISTINCT item_id) FROM allocation_workitemevent WHERE kind = 'assigned'),
              (SELECT count(*) FROM allocation_workitemevent WHERE kind = 'started'),
              (SELECT count(*) FROM bench_taken t JOIN allocation_workitem w ON w.id = t.item_id
                WHERE coalesce(w.assignee_id, w.completed_by_id) IS DISTINCT FROM t.agent_id)
        """).fetchone()
        conn.rollback()
    moved, assigned, assigned_events, assigned_items, started_events, mismatched = row
    n = len(ids)
    if moved != n:
        problems.append(f"{moved} items started, workers took {n}")
    if assigned:
        problems.append(f"{assigned} items left assigned")
    if assigned_events != assigned_items:
        problems.append(f"{assigned_events - assigned_items} items assigned more than once")
    if assigned_events != n or started_events != n:
        problems.append(f"{assigned_events} assigned / {started_events} started events for {n} items")
    if mismatched:
        problems.append(f"{mismatched} items not held by the agent that got them")
    return {"items_moved": n, "assigned_events": assigned_events, "ok": not problems, "problems": problems}


def explain_worker(env: dict, agent_id: int, results) -> None:
    """EXPLAIN ANALYZE (rolled back) of the statements get-next runs for one agent, as
    the service builds them. Run three times; the last (warm) plan is kept."""
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from allocation.services import next_work as nw

    out: dict[str, str] = {}
    try:
        params = nw.assign_next_params(agent_id=agent_id, actor=None, now=timezone.now())
        nw.agent_eligibility_judge(agent_id)  # as get-next would first: the plan reads a current copy
        for _ in range(3):  # the last, warm plan is kept
            with transaction.atomic():
                with connection.cursor() as c:
                    c.execute("EXPLAIN (ANALYZE, BUFFERS) " + nw._ASSIGN_NEXT, params)
                    out["_ASSIGN_NEXT"] = "\n".join(r[0] for r in c.fetchall())
                transaction.set_rollback(True)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    results.put(out)


def explain(env: dict, agent_id: int) -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=explain_worker, args=(env, agent_id, results), daemon=True)
    p.start()
    out = _collect(results, [p], timeout=300)[0]
    p.join(timeout=30)
    return out


def execution_ms(plan: str) -> float | None:
    m = re.search(r"Execution Time: ([\d.]+) ms", plan or "")
    return float(m.group(1)) if m else None
