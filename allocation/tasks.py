"""Celery tasks of the allocation domain: thin, idempotent, each calls one service."""

from celery import shared_task

from allocation.services import push, rebalancing, reservations, routing, sla_actions, webhooks
from allocation.services.sla_alerts import sla_alerts_raise as sla_alerts_raise_service


@shared_task(name="allocation.sla_alerts_raise", ignore_result=True, soft_time_limit=50, time_limit=60)
def sla_alerts_raise() -> dict:
    """The SLA alert job (django-celery-beat runs it every minute by default). Safe to run
    twice at once or again after a crash: each (item, threshold) alerts once."""
    result = sla_alerts_raise_service()
    return {"clocks_read": result.clocks_read, "alerts_raised": len(result.alerts_raised),
            "warnings_deferred": result.warnings_deferred, "emails_sent": result.emails_sent}


@shared_task(name="allocation.sla_actions_run", ignore_result=True, soft_time_limit=50, time_limit=60)
def sla_actions_run() -> dict:
    """The SLA thresholds' actions the alert job recorded (beat runs it every minute, after
    the alert job's own minute). Safe to overlap and to repeat: each (item, action) once."""
    result = sla_actions.sla_actions_run()
    return {"done": len(result.done), "not_done": len(result.not_done)}


@shared_task(name="allocation.reservations_expire", ignore_result=True, soft_time_limit=50, time_limit=60)
def reservations_expire() -> dict:
    """Assigned items not started within their queue's reservation timeout go back to it."""
    moved = reservations.reservations_expire()
    return {"moved": moved.moved, "skipped": moved.skipped}


@shared_task(name="allocation.rebalance", ignore_result=True, soft_time_limit=50, time_limit=60)
def rebalance() -> dict:
    """Items of absent or over-capacity agents, due follow-ups and items of agents who lost
    eligibility move on; idle agents go offline. Safe to overlap and to repeat."""
    result = rebalancing.rebalance()
    return {"moved": result.moved, "set_offline": result.set_offline}


@shared_task(name="allocation.push_assign", ignore_result=True, soft_time_limit=50, time_limit=60)
def push_assign() -> dict:
    """Queued items of push-mode queues go to eligible available agents."""
    moved = push.push_assign()
    return {"assigned": moved.to_agent}


@shared_task(name="allocation.routing_advance", ignore_result=True, soft_time_limit=50, time_limit=60)
def routing_advance() -> dict:
    """Queued items enter the routing steps whose condition holds, each (item, step) once."""
    result = routing.routing_advance()
    return {"entered": result.moved, "skipped": result.skipped}


@shared_task(name="allocation.webhooks_pump", ignore_result=True, soft_time_limit=50, time_limit=60)
def webhooks_pump() -> dict:
    """Item events to the webhook subscriptions that want them (every second by default):
    match what has committed, send what is due. Safe to overlap, to repeat, to kill."""
    result = webhooks.webhooks_pump()
    return {"events_read": result.dispatched.events_read, "recorded": result.dispatched.deliveries_recorded,
            "delivered": result.sent.delivered, "retrying": result.sent.retrying, "dead": result.sent.dead}
