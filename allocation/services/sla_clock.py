"""Writes to items' SLA clocks. The lifecycle services call these inside their own
transaction, with the item row already locked (lock order: agents, items, then clocks).

Starting a clock copies the policy onto it; pausing and resuming keep the working time an
item spends pended off its target (when the policy says so) and move its due time; a
retarget swaps the target and keeps the elapsed and paused working time; stopping freezes
the clock when the item closes. Each change also schedules the next alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from allocation.lock_objects import item_lock
from allocation.models import SlaAlert, SlaClock, WorkItem
from allocation.sla import clock as sla_clock
from allocation.sla.policies import ClockPolicy, PolicyBook
from allocation.sla.working_time import WorkingCalendar, working_between


def schedule_next(clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None, *, after: int | None = None,
              alerted: Iterable[int] = ()) -> None:
    """Set the next threshold to alert on, the first one above `after` and not alerted yet,
    and when the clock crosses it (none while the clock is paused or stopped)."""
    skipped = set(alerted)
    upcoming = [t for t in clock.thresholds if (after is None or t > after) and t not in skipped]
    if not upcoming or clock.paused_since is not None or clock.stopped_at is not None:
        clock.next_threshold, clock.next_alert_at = (upcoming[0] if upcoming else None), None
        return
    clock.next_threshold = upcoming[0]
    clock.next_alert_at = sla_clock.threshold_at(
        target=clock.target, calendar=calendar, received_at=item.received_at,
        paused_working=clock.paused_working, percent=upcoming[0],
    )


def clocks_start(*, items: Iterable[tuple[WorkItem, ClockPolicy]], book: PolicyBook) -> None:
    """Start the clocks of newly taken-in items, each on the policy its deadlines came from."""
    clocks = []
    for item, policy in items:
        clock = SlaClock(
            item=item, calendar_id=policy.calendar_id, target=policy.target, thresholds=list(policy.thresholds),
            pause_when_pended=policy.pause_when_pended,
        )
        schedule_next(clock, item, book.calendar(policy.calendar_id))
        clocks.append(clock)
    SlaClock.objects.bulk_create(clocks)


def _clock(item: WorkItem) -> SlaClock | None:
    return SlaClock.objects.select_for_update().filter(item=item).first()


def _move_deadlines(item: WorkItem, clock: SlaClock, calendar: WorkingCalendar | None) -> None:
    due = sla_clock.threshold_at(
        target=clock.target, calendar=calendar, received_at=item.received_at,
        paused_working=clock.paused_working, percent=100,
    )
    item.due_at = due
    item.start_by = sla_clock.start_by_for(due_at=due, handle_time=item.queue.standard_handle_time)


def clock_pause(*, item: WorkItem, at: datetime) -> None:
    """The item was pended: its clock stops if the policy says pended time does not count."""
    clock = _clock(item)
    if clock is None or not clock.pause_when_pended:
        return
    if clock.resumed_at is not None:  # an earlier pause ended but was not added up yet
        calendar = PolicyBook().calendar(clock.calendar_id)
        clock.paused_working += working_between(calendar, clock.paused_since, clock.resumed_at)
        clock.paused_since = clock.resumed_at = None
    if clock.paused_since is not None:
        return
    clock.paused_since, clock.next_alert_at = at, None
    clock.save(update_fields=["paused_working", "paused_since", "resumed_at", "next_alert_at"])


def clock_resume(*, item: WorkItem, at: datetime, book: PolicyBook | None = None) -> bool:
    """The item left pended at `at`: add the pause's working time, move due at and start by
    later by it (the caller saves the item), and schedule the next alert. Returns whether
    the deadlines moved."""
    clock = _clock(item)
    if clock is None or clock.paused_since is None:
        return False
    calendar = (book or PolicyBook()).calendar(clock.calendar_id)
    clock.paused_working += working_between(calendar, clock.paused_since, clock.resumed_at or at)
    clock.paused_since = clock.resumed_at = None
    _move_deadlines(item, clock, calendar)
    schedule_next(clock, item, calendar, after=_last_alerted(item))
    clock.save(update_fields=["paused_working", "paused_since", "resumed_at", "next_threshold", "next_alert_at"])
    return True


def clock_settle(*, item_id: int, book: PolicyBook | None = None) -> None:
    """Finish a resume that get-next's SQL began (it marked the clock `resumed_at`): a
    transaction of its own, right after get-next; the alert scan does the same for any it
    finds, so an interrupted settle is never lost."""
    with transaction.atomic():
        item = item_lock(item_id)
        if clock_resume(item=item, at=item.updated_at, book=book):
            item.save(update_fields=["due_at", "start_by", "updated_at"])


def clock_stop(*, item: WorkItem, at: datetime) -> None:
    """The item closed: the clock stops (and a pause ends) at `at`."""
    clock = _clock(item)
    if clock is None:
        return
    if clock.paused_since is not None:
        clock.paused_working += working_between(
            PolicyBook().calendar(clock.calendar_id), clock.paused_since, clock.resumed_at or at
        )
        clock.paused_since = clock.resumed_at = None
    clock.stopped_at, clock.next_alert_at = at, None
    clock.save(update_fields=["paused_working", "paused_since", "resumed_at", "stopped_at", "next_alert_at"])


def clock_retarget(*, item: WorkItem, policy: ClockPolicy, at: datetime) -> None:
    """Put the item's clock on a new policy (its priority changed), keeping the working time
    already elapsed and paused; due at and start by follow (the caller saves the item)."""
    clock = _clock(item)
    book = PolicyBook()
    if clock is None:
        clocks_start(items=[(item, policy)], book=book)
        clock = _clock(item)
    calendar = book.calendar(policy.calendar_id)
    # The paused working time carries over as it is, also when the new policy counts on
    # another calendar (rare: a priority with a calendar of its own).
    clock.calendar_id, clock.target = policy.calendar_id, policy.target
    clock.thresholds, clock.pause_when_pended = list(policy.thresholds), policy.pause_when_pended
    _move_deadlines(item, clock, calendar)
    alerted = SlaAlert.objects.filter(item=item).values_list("threshold", flat=True)
    schedule_next(clock, item, calendar, alerted=alerted)
    clock.save()


def _last_alerted(item: WorkItem) -> int | None:
    return SlaAlert.objects.filter(item=item).order_by("-threshold").values_list("threshold", flat=True).first()
