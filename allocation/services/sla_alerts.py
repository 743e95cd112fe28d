"""SLA alerts: raise each warning and breach once per (item, threshold), tell the people
who can act on it in the portal, and e-mail them after commit.

Exactly once is the database's doing, not timing: `slaalert_once_per_threshold` is unique
and an alert is inserted with ON CONFLICT DO NOTHING, so only the run whose insert wins
notifies anyone. Scans lock the clocks they work on with SKIP LOCKED, so overlapping runs
share the work instead of repeating it. E-mail is an outbox: an alert is raised with
`emailed_at` empty, and sending (after commit, by this run or, if it died before, the
next one) locks the alert and stamps it, so a retried or overlapping run sends it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from allocation.models import BREACH, SlaAlert, SlaClock, WorkItem
from allocation.services import sla_clock
from allocation.sla.policies import PolicyBook
from allocation.sla.working_time import is_working, next_working_instant
from wfo.services import notifications_create

logger = logging.getLogger(__name__)

NOTIFICATION_KIND = "sla_alert"
SCAN_BATCH = 500

_INSERT_ALERT = f"""
INSERT INTO {SlaAlert._meta.db_table} (item_id, threshold, crossed_at, raised_at, recipient_ids, emailed_at)
VALUES (%s, %s, %s, %s, %s, NULL)
ON CONFLICT (item_id, threshold) DO NOTHING
RETURNING id
"""


@dataclass
class ScanResult:
    clocks_read: int = 0
    alerts_raised: list[int] = field(default_factory=list)
    warnings_deferred: int = 0
    emails_sent: int = 0


def sla_alerts_raise(*, now: datetime | None = None, batch_size: int = SCAN_BATCH) -> ScanResult:
    """One pass of the alert job: every clock whose next threshold time has come (the
    partial index `slaclock_next_alert` holds only running clocks, so history never slows
    this), in batches of one transaction each; then the e-mails of what was raised."""
    now = now or timezone.now()
    result = ScanResult()
    book = PolicyBook()
    while True:
        with transaction.atomic():
            clocks = list(
                SlaClock.objects.select_for_update(skip_locked=True)
                .filter(next_alert_at__lte=now)
                .order_by("next_alert_at")[:batch_size]
            )
            result.clocks_read += len(clocks)
            _raise_for(clocks, now=now, book=book, result=result)
        if len(clocks) < batch_size:
            break
    result.emails_sent = sla_alert_emails_send(now=now)
    return result


def _raise_for(clocks: list[SlaClock], *, now: datetime, book: PolicyBook, result: ScanResult) -> None:
    items = WorkItem.objects.select_related("queue").in_bulk([clock.item_id for clock in clocks])
    book.load_calendars(clock.calendar_id for clock in clocks)
    supervisors = _SupervisorsByQueue()
    for clock in clocks:
        item = items[clock.item_id]
        if clock.resumed_at is not None:  # get-next ended a pause and was interrupted before settling it
            if not _settle(clock, item, book):
                continue  # the item is busy: next pass
            if clock.next_alert_at is None or clock.next_alert_at > now:
                continue
        calendar = book.calendar(clock.calendar_id)
        while clock.next_threshold is not None and clock.next_alert_at is not None and clock.next_alert_at <= now:
            threshold = clock.next_threshold
            if threshold < BREACH and not is_working(calendar, now):
                # A warning waits for the next working window; a breach goes out at once.
                clock.next_alert_at = next_working_instant(calendar, now)
                result.warnings_deferred += 1
                break
            alert_id = _alert_insert(item, threshold, crossed_at=clock.next_alert_at, now=now, supervisors=supervisors)
            if alert_id is not None:
                result.alerts_raised.append(alert_id)
            sla_clock.schedule_next(clock, item, calendar, after=threshold)
        clock.save(update_fields=["next_threshold", "next_alert_at"])


def _settle(clock: SlaClock, item: WorkItem, book: PolicyBook) -> bool:
    """Add up an ended pause. The scan holds the clock and the services lock item then clock,
    so the item is taken only if free (SKIP LOCKED): waiting for it could deadlock."""
    locked = WorkItem.objects.select_for_update(skip_locked=True).select_related("queue").filter(pk=item.pk).first()
    if locked is None:
        return False
    if sla_clock.clock_resume(item=locked, at=clock.resumed_at, book=book):
        locked.save(update_fields=["due_at", "start_by", "updated_at"])
    clock.refresh_from_db()
    item.due_at, item.start_by = locked.due_at, locked.start_by
    return True


class _SupervisorsByQueue:
    """Who hears about an unassigned item: the supervisors of the teams serving its queue."""

    def __init__(self) -> None:
        self._ids: dict[int, list[int]] = {}

    def __call__(self, queue_id: int) -> list[int]:
        if queue_id not in self._ids:
            users = get_user_model().objects.filter(supervised_teams__queues=queue_id, is_active=True)
            self._ids[queue_id] = sorted(set(users.values_list("pk", flat=True)))
        return self._ids[queue_id]


def alert_recipients(item: WorkItem, supervisors: _SupervisorsByQueue | None = None) -> list[int]:
    """The assignee if the item is held, else the supervisors of the queue's teams."""
    if item.assignee_id is not None:
        return [item.assignee_id]
    return (supervisors or _SupervisorsByQueue())(item.queue_id)


def _alert_insert(item: WorkItem, threshold: int, *, crossed_at: datetime, now: datetime, supervisors) -> int | None:
    recipients = alert_recipients(item, supervisors)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ALERT, [item.pk, threshold, crossed_at, now, recipients])
        row = cursor.fetchone()
    if row is None:
        return None  # raised before (an overlapping or earlier run): nobody is told twice
    title, body = alert_text(item, threshold)
    notifications_create(
        user_ids=recipients, kind=NOTIFICATION_KIND, title=title, body=body,
        url=reverse("work:item", args=[item.pk]), at=now,
    )
    return row[0]


def alert_text(item: WorkItem, threshold: int) -> tuple[str, str]:
    due = timezone.localtime(item.due_at).strftime("%a %d %b %H:%M")
    if threshold >= BREACH:
        return (f"SLA breached: #{item.pk} {item.title}"[:200],
                f"Work item #{item.pk} in {item.queue.name} was due {due} and is not done.")
    return (f"SLA warning ({threshold}%): #{item.pk} {item.title}"[:200],
            f"Work item #{item.pk} in {item.queue.name} has used {threshold}% of its SLA target; it is due {due}.")


def sla_alert_emails_send(*, now: datetime | None = None, alert_ids: list[int] | None = None) -> int:
    """Send the e-mails of alerts not mailed yet (all of them, or `alert_ids`), each once:
    the alert row is locked while its mail goes out and stamped in the same transaction."""
    now = now or timezone.now()
    sent = 0
    pending = SlaAlert.objects.filter(emailed_at__isnull=True)
    if alert_ids is not None:
        pending = pending.filter(pk__in=alert_ids)
    for alert_id in pending.order_by("raised_at").values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            alert = (
                # of=self: lock the alert only. Locking the joined item and queue too would make an
                # overlapping run skip every alert of a queue while this one mails any of them.
                SlaAlert.objects.select_for_update(skip_locked=True, of=("self",)).select_related("item__queue")
                .filter(pk=alert_id, emailed_at__isnull=True).first()
            )
            if alert is None:
                continue  # sent meanwhile, or being sent by an overlapping run
            _email(alert)
            alert.emailed_at = timezone.now()
            alert.save(update_fields=["emailed_at"])
            sent += 1
    return sent


def _email(alert: SlaAlert) -> None:
    addresses = list(
        get_user_model().objects.filter(pk__in=alert.recipient_ids).exclude(email="").values_list("email", flat=True)
    )
    if not addresses:
        return
    subject, body = alert_text(alert.item, alert.threshold)
    link = f"{settings.WFO_PORTAL_URL.rstrip('/')}{reverse('work:item', args=[alert.item_id])}"
    send_mail(subject, f"{body}\n\n{link}\n", settings.DEFAULT_FROM_EMAIL, addresses)
