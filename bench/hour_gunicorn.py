"""Gunicorn configuration for the agent-hour measurement (bench/agent_hour.py): the web
workers account for each request — its request type (bench/hour_requests.py), the worker's
CPU (the sync worker serves one request at a time, so the process's CPU clock is the
request's), the CPU of the PostgreSQL backend serving it (from /proc/<pid>/schedstat, in
nanoseconds, read before its first statement and after the response), its statements and
the bytes sent. Each worker writes its totals to HOUR_RECORDS_DIR when it exits, with the
server's own time per request type (from the parsed request to the response written: what
the client's time holds beyond it is the wait for a free worker and the network) and the
requests that took longest there, stamped with the wall clock, so that a tail in the
client's latency can be told apart and set beside what else ran at that moment.

Hooks only: the portal's code is untouched, so any commit's server is measured the same
way (`gunicorn -c bench/hour_gunicorn.py wfo.wsgi:application`)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hour_requests import request_type

_totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0, 0, 0])  # n, cpu, db cpu, queries, bytes, errors
_server_ms: dict[str, Counter] = defaultdict(Counter)   # request type -> whole ms in the worker -> requests
_slow: list[list] = []  # [wall-clock start, type, ms in the worker, its CPU ms, its backend's CPU ms, stmts]
SLOW_MS, SLOW_KEPT = 100, 5_000
# Second by second (wall clock): per request type [requests, worker CPU s, backend CPU s].
_by_second: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0.0]))
_current: dict = {}


def _backend_cpu_s(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _count_statement(execute, sql, params, many, context):
    if "backend" not in _current:
        from django.db import connection

        try:
            pid = connection.connection.info.backend_pid
        except AttributeError:
            pid = None
        _current["backend"] = pid
        _current["backend_cpu"] = _backend_cpu_s(pid) if pid else None
    _current["queries"] += 1
    return execute(sql, params, many, context)


def pre_request(worker, req):
    from django.db import connection

    _current.clear()
    _current.update(cpu=time.process_time(), wall=time.monotonic(), stamp=time.time(), queries=0,
                    name=request_type(req.method, req.path))
    connection.execute_wrappers.append(_count_statement)


def post_request(worker, req, environ, resp):
    from django.db import connection

    if _count_statement in connection.execute_wrappers:
        connection.execute_wrappers.remove(_count_statement)
    if "cpu" not in _current:
        return
    name = _current["name"]
    total = _totals[name]
    cpu = time.process_time() - _current["cpu"]
    db_cpu = 0.0
    if _current.get("backend_cpu") is not None:
        after = _backend_cpu_s(_current["backend"])
        if after is not None:
            db_cpu = after - _current["backend_cpu"]
    wall_ms = (time.monotonic() - _current["wall"]) * 1000
    total[0] += 1
    total[1] += cpu
    total[2] += db_cpu
    _server_ms[name][int(wall_ms)] += 1
    second = _by_second[int(_current["stamp"])][name]
    second[0] += 1
    second[1] += cpu
    second[2] += db_cpu
    if wall_ms >= SLOW_MS and len(_slow) < SLOW_KEPT:
        _slow.append([round(_current["stamp"], 3), name, round(wall_ms, 1), round(cpu * 1000, 1),
                      round(db_cpu * 1000, 1), _current.get("queries", 0)])
    total[3] += _current.get("queries", 0)
    total[4] += getattr(resp, "sent", 0) or 0
    status = getattr(resp, "status_code", None) or int(str(getattr(resp, "status", "0")).split()[0] or 0)
    total[5] += status >= 400


def worker_exit(server, worker):
    directory = os.environ.get("HOUR_RECORDS_DIR")
    if directory:
        Path(directory, f"worker-{os.getpid()}.json").write_text(json.dumps(
            {"totals": dict(_totals), "server_ms": _server_ms, "slow": _slow, "by_second": _by_second}))
