"""Reservation expiry (DESIGN.md, "Reservations"): an item offered to an agent and not
started within its queue's reservation timeout goes back to the queue. The periodic job
is allocation/tasks.py's; how an item moves is allocation/services/moves.py.

A pass takes `now` once, when it starts: what it matches is decided against it. Its moves
are dated when they happen, under the item's lock (moves.moved_at).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q
from django.utils import timezone

from allocation import events
from allocation.models import ItemStatus, WorkItem
from allocation.services.moves import BATCH, MoveCount, Receivers, move_held_batch, sweep
from core.actors import SystemActor

RESERVATION_EXPIRY = SystemActor("reservation-expiry")


def _reservation_expired(now: datetime) -> Q:
    """Offered and not started in time. A person's assignment (assigned_by) is a decision,
    not an offer: it stays (it still moves if its agent goes away, as any held work)."""
    return Q(status=ItemStatus.ASSIGNED, assigned_by__isnull=True,
             assigned_at__lt=now - F("queue__reservation_timeout"))


def reservations_expire(*, now: datetime | None = None, batch_size: int = BATCH) -> MoveCount:
    """Assigned items nobody started within their queue's reservation timeout go back to it."""
    now = now or timezone.now()
    applies = _reservation_expired(now)
    receivers = Receivers()
    return sweep(WorkItem.objects.filter(applies), lambda ids: move_held_batch(
        ids, rule_applies=applies, actor=RESERVATION_EXPIRY, event=events.reservation_expired,
        rule=events.RULE_RESERVATION, reason="Not started within the queue's reservation timeout.", now=now,
        to_agent=False, receivers=receivers,
    ), batch_size)
