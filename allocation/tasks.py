"""Celery tasks of the allocation domain: thin, idempotent, each calls one service."""

from celery import shared_task

from allocation.services.sla_alerts import sla_alerts_raise as sla_alerts_raise_service


@shared_task(name="allocation.sla_alerts_raise", ignore_result=True, soft_time_limit=50, time_limit=60)
def sla_alerts_raise() -> dict:
    """The SLA alert job (django-celery-beat runs it every minute by default). Safe to run
    twice at once or again after a crash: each (item, threshold) alerts once."""
    result = sla_alerts_raise_service()
    return {"clocks_read": result.clocks_read, "alerts_raised": len(result.alerts_raised),
            "warnings_deferred": result.warnings_deferred, "emails_sent": result.emails_sent}
