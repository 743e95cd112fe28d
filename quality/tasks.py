"""Celery tasks of the quality domain: thin, idempotent, each calls one service."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from quality import services


@shared_task(name="quality.samples_draw", ignore_result=True, soft_time_limit=300, time_limit=360)
def samples_draw() -> dict:
    """Draw yesterday's samples (django-celery-beat runs it daily). Running it twice, or at
    once on two workers, draws each item at most once per rule and period."""
    result = services.samples_draw(day=timezone.localdate() - timedelta(days=1))
    return {"created": result.created, "already_drawn": result.already_drawn, "unassigned": result.unassigned}
