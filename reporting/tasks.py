"""Celery tasks of reporting: thin, each calls one service."""

from celery import shared_task

from reporting import rollups


@shared_task(name="reporting.rollups_update", ignore_result=True, soft_time_limit=50, time_limit=60)
def rollups_update() -> dict:
    """Bring the report rollups up to date (django-celery-beat runs it every minute). Safe
    to overlap: a second run at the same moment skips."""
    run = rollups.rollups_update()
    return {"skipped": run.skipped, "days": [day.isoformat() for day in run.days], "events_read": run.events_read}
