"""SLA alerts: raise each warning and breach once per (item, threshold), tell the people
who can act on it in the portal, and e-mail them after commit.

Exactly once is the database's doing, not timing: `slaalert_once_per_threshold` is unique
and an alert is inserted with ON CONFLICT DO NOTHING, so only the run whose insert wins
notifies anyone. Scans lock the clocks they work on with SKIP LOCKED, so overlapping runs
share the work instead of repeating it. E-mail is an outbox: an alert is raised with
`emailed_at` empty, and sending (after commit, by this run or, if it died before, the
next one) locks the alert and stamps it, so a retried or overlapping run sends it once.
A run killed between sending a batch and stamping it sends that batch again (at most
EMAIL_BATCH mails), with the same Message-ID, so mail systems drop the repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from allocation import events, labels, selectors
from allocation.models import BREACH, SlaAlert, SlaClock, WorkItem, WorkItemEvent
from allocation.services import sla_actions, sla_clock
from allocation.sla import clock as clock_math
from allocation.sla.policies import PolicyBook
from allocation.sla.working_time import NoWorkingTime, OutOfRange, is_working, next_working_instant
from core.actors import SystemActor
from core.services import NotificationDraft, notifications_create, outbox_send

logger = logging.getLogger(__name__)

NOTIFICATION_KIND = "sla_alert"
SLA_ALERTS = SystemActor("sla-alerts")
SCAN_BATCH = 500
EMAIL_BATCH = 100

_INSERT_ALERTS = (
    f"INSERT INTO {SlaAlert._meta.db_table} (item_id, threshold, crossed_at, raised_at, recipient_ids, emailed_at) "
    "VALUES {rows} ON CONFLICT (item_id, threshold) DO NOTHING RETURNING id, item_id, threshold"
)


@dataclass
class ScanResult:
    clocks_read: int = 0
    alerts_raised: list[int] = field(default_factory=list)
    warnings_deferred: int = 0
    emails_sent: int = 0


def sla_alerts_raise(*, now: datetime | None = None, batch_size: int = SCAN_BATCH) -> ScanResult:
    """One pass of the alert job: every clock whose next threshold time has come (the
    partial index `slaclock_next_alert` holds only running clocks, so history never slows
    this), in batches of one transaction each, recording the runs of the thresholds'
    actions (done by their own job, sla_actions.sla_actions_run); then the e-mails of what
    was raised."""
    now = now or timezone.now()
    result = ScanResult()
    book = PolicyBook()
    actions = sla_actions.ActionBook()
    supervisors = selectors.QueueSupervisors()
    while True:
        with transaction.atomic():
            clocks = list(
                SlaClock.objects.select_for_update(skip_locked=True)
                .filter(next_alert_at__lte=now).order_by("next_alert_at")[:batch_size]
            )
            result.clocks_read += len(clocks)
            _raise_for(clocks, now=now, book=book, actions=actions, result=result, supervisors=supervisors)
        if len(clocks) < batch_size:
            break
    result.emails_sent = sla_alert_emails_send()
    return result


def _raise_for(
    clocks: list[SlaClock], *, now: datetime, book: PolicyBook, actions: sla_actions.ActionBook, result: ScanResult,
    supervisors: selectors.QueueSupervisors,
) -> None:
    """Advance each clock past every threshold it crossed (each moves past `now`), raising
    those alerts in one insert and recording the runs of their actions. The scan reads
    items without locking them: a clock's thresholds follow the deadlines the item's last
    move left on it."""
    items = WorkItem.objects.select_related("queue").in_bulk([clock.item_id for clock in clocks])
    book.load_calendars(clock.calendar_id for clock in clocks)
    crossed: list[tuple[WorkItem, int, datetime]] = []
    reached: list[sla_actions.Crossing] = []
    advanced = []
    for clock in clocks:
        item = items[clock.item_id]
        try:
            _advance(clock, item, book.calendar(clock.calendar_id), now=now, result=result, crossed=crossed,
                     reached=reached)
        except (OutOfRange, NoWorkingTime) as error:
            # A calendar changed under a running clock (its windows removed, say): this clock
            # can be counted no more. It leaves the scan, said once in the log; it must not
            # stop every other clock's alerts behind it.
            logger.error("SLA clock of item #%s can no longer be counted (%s); it raises no more alerts.",
                         item.pk, error)
            clock.next_alert_at = None
        advanced.append(clock)
    SlaClock.objects.bulk_update(advanced, ["next_threshold", "next_alert_at"])
    result.alerts_raised.extend(_alerts_insert(crossed, now=now, supervisors=supervisors))
    sla_actions.runs_record(reached, now=now, book=actions)


def _advance(clock: SlaClock, item: WorkItem, calendar, *, now: datetime, result: ScanResult,
             crossed: list[tuple[WorkItem, int, datetime]], reached: list[sla_actions.Crossing]) -> None:
    """Move the clock past every threshold it crossed by `now`, adding each to `crossed`
    (its alert) and to `reached` (its actions: also a warning whose alert waits for working
    time, as an action may not wait)."""
    while clock.next_threshold is not None and clock.next_alert_at is not None and clock.next_alert_at <= now:
        threshold = clock.next_threshold
        if threshold < BREACH and not is_working(calendar, now):
            # A warning waits for the next working window; a breach goes out at once, and
            # never waits behind a warning (an external deadline runs outside working time).
            breach_at = clock_math.threshold_time(clock=clock, item=item, calendar=calendar, percent=BREACH)
            if breach_at is not None and breach_at <= now:
                sla_clock.schedule_next(clock, item, calendar, after=BREACH - 1)  # the warnings are moot
                continue
            reached.append(sla_actions.Crossing(clock, threshold, clock.next_alert_at, calendar))
            deferred_to = next_working_instant(calendar, now)
            clock.next_alert_at = deferred_to if breach_at is None else min(deferred_to, breach_at)
            result.warnings_deferred += 1
            break
        crossed.append((item, threshold, clock.next_alert_at))
        reached.append(sla_actions.Crossing(clock, threshold, clock.next_alert_at, calendar))
        sla_clock.schedule_next(clock, item, calendar, after=threshold)


def _alerts_insert(crossed: list[tuple[WorkItem, int, datetime]], *, now: datetime, supervisors) -> list[int]:
    """Insert the alerts in one statement; only the ones no earlier or overlapping run has
    raised come back, and only those notify anyone."""
    if not crossed:
        return []
    recipients = {item.pk: alert_recipients(item, supervisors) for item, _, _ in crossed}
    rows = ", ".join(["(%s, %s, %s, %s, %s, NULL)"] * len(crossed))
    params = [value for item, threshold, at in crossed for value in (item.pk, threshold, at, now, recipients[item.pk])]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ALERTS.format(rows=rows), params)
        raised = cursor.fetchall()
    by_key = {(item.pk, threshold): (item, at) for item, threshold, at in crossed}
    drafts, observed = [], []
    for _, item_id, threshold in raised:
        item, crossed_at = by_key[(item_id, threshold)]
        observed.append(events.sla_threshold_crossed(item, at=now, actor=SLA_ALERTS, threshold=threshold,
                                                     crossed_at=crossed_at))
        title, body = alert_text(item, threshold)
        url = reverse("work:item", args=[item_id])
        drafts.extend(
            NotificationDraft(user_id, NOTIFICATION_KIND, title, body, url) for user_id in recipients[item_id]
        )
    WorkItemEvent.objects.bulk_create(observed)  # the item's timeline, and the webhooks' outbox
    notifications_create(drafts=drafts, at=now)
    return [alert_id for alert_id, _, _ in raised]


def alert_recipients(item: WorkItem, supervisors: selectors.QueueSupervisors | None = None) -> list[int]:
    """The assignee if the item is held, else the supervisors of the queue's teams."""
    return selectors.holder_or_supervisors(item, supervisors)


def alert_text(item: WorkItem, threshold: int) -> tuple[str, str]:
    due = labels.moment_words(item.due_at)
    if threshold >= BREACH:
        return (f"SLA breached: #{item.pk} {item.title}"[:200],
                f"Work item #{item.pk} in {item.queue.name} was due {due} and is not done.")
    return (f"SLA warning ({threshold}%): #{item.pk} {item.title}"[:200],
            f"Work item #{item.pk} in {item.queue.name} has used {threshold}% of its SLA target; it is due {due}.")


def sla_alert_emails_send(*, limit: int = 1000) -> int:
    """Send the e-mails of alerts not mailed yet, each once (core's outbox_send): a batch
    over one connection. Returns how many alerts were dealt with."""
    unsent = SlaAlert.objects.select_related("item__queue").filter(emailed_at__isnull=True).order_by("pk")
    return outbox_send(unsent, _send, batch_size=EMAIL_BATCH, limit=limit)


def alert_message_id(alert: SlaAlert) -> str:
    """The same Message-ID every time an alert is mailed. Sending and stamping `emailed_at`
    cannot be one atomic step (SMTP is not transactional): a run killed between the two
    mails that batch again on the next run, and mail systems drop the repeat by this id."""
    host = urlsplit(settings.WFO_PORTAL_URL).hostname or "wfo-portal"
    return f"<sla-alert-{alert.pk}@{host}>"


def _send(alerts: list[SlaAlert]) -> None:
    """One message per alert to its recipients who have an address, over one connection."""
    user_ids = {user_id for alert in alerts for user_id in alert.recipient_ids}
    addresses = dict(
        get_user_model().objects.filter(pk__in=user_ids).exclude(email="").values_list("pk", "email")
    )
    portal = settings.WFO_PORTAL_URL.rstrip("/")
    messages = []
    for alert in alerts:
        to = [addresses[user_id] for user_id in alert.recipient_ids if user_id in addresses]
        if not to:
            continue
        subject, body = alert_text(alert.item, alert.threshold)
        link = f"{portal}{reverse('work:item', args=[alert.item_id])}"
        messages.append(EmailMessage(subject, f"{body}\n\n{link}\n", settings.DEFAULT_FROM_EMAIL, to,
                                     headers={"Message-ID": alert_message_id(alert)}))
    if messages:
        get_connection().send_messages(messages)
