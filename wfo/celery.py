"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfo.settings.local")

app = Celery("wfo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connections_kept_as_requests_keep_them(**_kwargs) -> None:
    """Around each task, Django's own rule for a connection, as around a request: kept while
    younger than CONN_MAX_AGE and working, else closed (and, with CONN_HEALTH_CHECKS, a kept
    one is checked before its next query). Celery's Django support would close every
    connection around every task — a new PostgreSQL backend each time, every second for the
    webhook pump — unless told to reuse them (CELERY_DB_REUSE_MAX); this is the rule it then
    leaves out."""
    from django.db import close_old_connections

    close_old_connections()
