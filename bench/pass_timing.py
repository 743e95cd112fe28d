"""Timing the passes of a periodic job in a bench's Django worker (the SLA alert scan and
the routing pass; bench/README.md lists the figures).

Per pass: its wall time; every statement the job sends and every commit, counted and timed
by kind as the client sees them; the CPU of the worker, of its PostgreSQL backend and of
everything else on the machine (the noise); and what it read, from the change in
pg_stat_user_tables.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import alloc
import db

STATS = """
SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),
       n_tup_ins, n_tup_upd, n_tup_del
  FROM pg_stat_user_tables
"""
COUNTERS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_del")


def statement_kind(sql: str) -> str:
    """alloc.py's label of a statement, with the savepoints of nested atomic blocks as one kind."""
    s = sql.lstrip()
    if s.startswith("SAVEPOINT") or s.startswith("RELEASE"):
        return "SAVEPOINT/RELEASE"
    return alloc._label(s)


def _flush_counters(cursor_or_conn) -> None:
    """PostgreSQL 15 flushes a backend's table counters when it goes idle, at most once a
    second unless asked: ask, then give it a moment."""
    cursor_or_conn.execute("SELECT pg_stat_force_next_flush()")


def _table_counters(aux) -> dict:
    aux.execute("SELECT pg_stat_clear_snapshot()")
    return {r[0]: dict(zip(COUNTERS, r[1:], strict=True)) for r in aux.execute(STATS).fetchall()}


def _rows_read(read: dict, tables: Iterable[str]) -> dict[str, int]:
    return {tb: read.get(tb, {}).get("seq_tup_read", 0) + read.get(tb, {}).get("idx_tup_fetch", 0) for tb in tables}


def _cpu_split(before: tuple, after: tuple, wall_s: float) -> dict:
    """Of the CPU seconds between two readings of (worker, backend, machine): the worker's
    Python, its backend's PostgreSQL, and everything else; empty where /proc is not readable."""
    if None in before or None in after:
        return {}
    py, pg, total = (b - a for a, b in zip(before, after, strict=True))
    return {"python_s": round(py, 2), "postgres_s": round(pg, 2), "other_s": round(total - py - pg, 2),
            "wall_s": round(wall_s, 2)}


@dataclass
class Pass:
    result: Any        # what the job returned
    seconds: float     # wall time of the call, unrounded (the scripts split it into their phases)
    fields: dict       # the figures every bench reports for the pass


class PassTimer:
    """Measures passes of a job on Django's `connection`, reading the table counters through
    `aux` (a psycopg connection of its own, in autocommit: outside what is measured).
    `kind_of(sql)` names a statement's kind in `per_statement`; `read_tables` are the tables
    whose rows read are reported apart. From its creation on, the connection's commits are
    timed (outside a measured pass they are not reported)."""

    def __init__(self, connection, aux, *, read_tables: Iterable[str],
                 kind_of: Callable[[str], str] = statement_kind) -> None:
        self.connection, self.aux = connection, aux
        self.read_tables, self.kind_of = tuple(read_tables), kind_of
        self.per_kind: dict[str, list] = defaultdict(lambda: [0, 0.0])   # kind → [count, seconds]
        connection.ensure_connection()
        self._time_commits()
        with connection.cursor() as c:
            c.execute("SELECT pg_backend_pid()")
            self.backend = c.fetchone()[0]

    def measure(self, job: Callable[[], Any]) -> Pass:
        """One pass of `job()` with everything timed: seconds, statements and commits (also
        per kind), round trips, rows read (per table and in all), CPU, load average."""
        self.per_kind.clear()
        before = self._settled_counters()
        cpu0 = self._cpu_s()
        load = os.getloadavg()[0]
        with self.connection.execute_wrapper(self._timed_statement):
            t0 = time.perf_counter()
            result = job()
            seconds = time.perf_counter() - t0
        cpu1 = self._cpu_s()
        read = self._read_since(before)
        return Pass(result, seconds, {
            "seconds": round(seconds, 3), **self._statement_fields(), "rows_read": _rows_read(read, self.read_tables),
            "rows_read_all_tables": sum(d["seq_tup_read"] + d["idx_tup_fetch"] for d in read.values()),
            "table_stats": read, "cpu": _cpu_split(cpu0, cpu1, seconds), "loadavg_1m": round(load, 2)})

    def measure_idle(self, job: Callable[[], Any]) -> Pass:
        """A pass with nothing due: only its seconds and rows read, with no statement timer
        around it (the fixed cost the job pays every time it runs)."""
        before = self._settled_counters()
        t0 = time.perf_counter()
        result = job()
        seconds = time.perf_counter() - t0
        read = self._read_since(before)
        return Pass(result, seconds, {"seconds": round(seconds, 4), "rows_read": _rows_read(read, self.read_tables)})

    def _time_commits(self) -> None:
        """Commits are not statements (no execute wrapper sees them): timed as alloc.py does."""
        raw_commit = self.connection._commit

        def timed_commit():
            t = time.perf_counter()
            try:
                return raw_commit()
            finally:
                self._count("COMMIT", time.perf_counter() - t)

        self.connection._commit = timed_commit

    def _timed_statement(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._count(self.kind_of(sql), time.perf_counter() - t)

    def _count(self, kind: str, seconds: float) -> None:
        entry = self.per_kind[kind]
        entry[0] += 1
        entry[1] += seconds

    def _statement_fields(self) -> dict:
        per_kind = self.per_kind
        return {"statements": sum(v[0] for k, v in per_kind.items() if k != "COMMIT"),
                "commits": per_kind["COMMIT"][0], "sql_roundtrip_s": round(sum(v[1] for v in per_kind.values()), 3),
                "per_statement": {k: {"count": v[0], "ms": round(v[1] * 1000, 1)}
                                  for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1][1])}}

    def _cpu_s(self) -> tuple[float | None, float | None, float | None]:
        return alloc.proc_cpu_s(os.getpid()), alloc.proc_cpu_s(self.backend), alloc.machine_cpu_s()

    def _settled_counters(self) -> dict:
        """The table counters once the work before the pass (restoring, checking) is in them."""
        _flush_counters(self.aux)
        time.sleep(0.3)
        return _table_counters(self.aux)

    def _read_since(self, before: dict) -> dict:
        """Per table, the counters the pass changed (its backend's flushed first)."""
        with self.connection.cursor() as c:
            _flush_counters(c)
        time.sleep(0.5)
        return db.counters_diff(before, _table_counters(self.aux), COUNTERS)
