"""What a load balancer or an orchestrator asks: can this process reach its database and
its broker? Each check is bounded in time and says nothing secret."""

from __future__ import annotations

import time
from dataclasses import dataclass

from celery import current_app
from django.db import connection

BROKER_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    ms: float
    error: str = ""

    def as_json(self) -> dict:
        body = {"ok": self.ok, "ms": round(self.ms, 1)}
        if self.error:
            body["error"] = self.error
        return body


def _timed(name: str, probe) -> Check:
    began = time.monotonic()
    try:
        probe()
    except Exception as error:  # any failure is the answer, reported by its kind only
        return Check(name, False, (time.monotonic() - began) * 1000, type(error).__name__)
    return Check(name, True, (time.monotonic() - began) * 1000)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    # The project's Celery app (wfo/celery.py), as the worker and beat use it.
    with current_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def health_checks() -> list[Check]:
    return [_timed("database", _database), _timed("broker", _broker)]
