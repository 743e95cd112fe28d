"""A Celery worker keeps its database connection from task to task while Django's rule for a
request would (younger than CONN_MAX_AGE, working), and drops it when that rule says so
(wfo/celery.py) — what Celery's Django support does around each task, with our signal
handlers, run here as the worker runs them."""

import time

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import OperationalError, connection

from core.tasks import worker_heartbeat
from wfo.celery import _connections_kept_as_requests_keep_them, app

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def around_a_task(fixup: DjangoWorkerFixup) -> None:
    """What the worker does around a task: on each signal, its Django support's handler, then ours."""
    for fixup_handler in (fixup.on_task_prerun, fixup.on_task_postrun):
        fixup_handler(sender=worker_heartbeat)
        _connections_kept_as_requests_keep_them()


def test_a_working_connection_is_kept_from_task_to_task():
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max == 1000
    first = backend_pid()
    connection.close_at = time.monotonic() + 60  # as CONN_MAX_AGE = 60 (production's default) sets it
    for _ in range(5):
        around_a_task(fixup)
        assert backend_pid() == first


def test_an_old_or_broken_connection_is_dropped_between_tasks():
    fixup = DjangoWorkerFixup(app)
    first = backend_pid()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    around_a_task(fixup)
    second = backend_pid()
    assert second != first
    connection.close_at = time.monotonic() + 60
    # The server ends this backend, as a restart would; the task using it fails.
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        cursor.execute("SELECT 1")
    around_a_task(fixup)
    assert backend_pid() not in (first, second)  # the next task has a working one
