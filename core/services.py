from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from core.actors import Actor, actor_fields
from core.models import ChangeRecord, Notification, WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Upsert the worker's heartbeat; concurrent beats of one worker add up, never clash."""
    heartbeat, created = WorkerHeartbeat.objects.get_or_create(
        hostname=hostname, defaults={"last_seen": timezone.now(), "beats": 1}
    )
    if not created:
        WorkerHeartbeat.objects.filter(pk=heartbeat.pk).update(last_seen=timezone.now(), beats=F("beats") + 1)
        heartbeat.refresh_from_db()
    return heartbeat


@dataclass(frozen=True)
class NotificationDraft:
    user_id: int
    kind: str
    title: str
    body: str = ""
    url: str = ""
    email: bool = False  # also by e-mail (notification_emails_send)


def notifications_create(*, drafts: Iterable[NotificationDraft], at: datetime | None = None) -> list[Notification]:
    """Create notifications in one insert (the caller decides who hears what; see
    allocation's SLA alerts)."""
    at = at or timezone.now()
    return Notification.objects.bulk_create(
        Notification(user_id=d.user_id, kind=d.kind, title=d.title, body=d.body, url=d.url, created_at=at,
                     email=d.email)
        for d in drafts
    )


EMAIL_BATCH = 100


def outbox_send(unsent: QuerySet, send: Callable[[list], None], *, batch_size: int = EMAIL_BATCH,
                limit: int = 1000) -> int:
    """Send what an outbox table holds, each row once: a batch of `unsent` rows (ordered,
    with an `emailed_at` column) is locked — SKIP LOCKED, so an overlapping run takes
    others; `of=self`, so the joined rows are not locked too —, sent, and stamped in the
    same transaction. A run killed between sending and stamping sends that batch again;
    `send` gives each message the same Message-ID every time, which mail systems treat as
    one message. Returns how many rows were dealt with."""
    done = 0
    while done < limit:
        with transaction.atomic():
            batch = list(unsent.select_for_update(skip_locked=True, of=("self",))[:batch_size])
            if not batch:
                break
            send(batch)
            unsent.model.objects.filter(pk__in=[row.pk for row in batch]).update(emailed_at=timezone.now())
        done += len(batch)
        if len(batch) < batch_size:
            break
    return done


def notification_emails_send(*, limit: int = 1000) -> int:
    """E-mail the notifications that ask for it, each once (outbox_send)."""
    unsent = Notification.objects.select_related("user").filter(email=True, emailed_at__isnull=True).order_by("pk")
    return outbox_send(unsent, _mail, limit=limit)


def _mail(notifications: list[Notification]) -> None:
    portal = settings.WFO_PORTAL_URL.rstrip("/")
    host = urlsplit(settings.WFO_PORTAL_URL).hostname or "wfo-portal"
    messages = [
        EmailMessage(n.title, f"{n.body}\n\n{portal}{n.url}\n" if n.url else f"{n.body}\n",
                     settings.DEFAULT_FROM_EMAIL, [n.user.email],
                     headers={"Message-ID": f"<notification-{n.pk}@{host}>"})
        for n in notifications if n.user.email
    ]
    if messages:
        get_connection().send_messages(messages)


def notifications_mark_read(*, user, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when no ids are given); other
    users' notifications are never touched. Returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())


def change_record(
    *, actor: Actor, action: str, subject: models.Model, before: dict, after: dict, reason: str = "",
    at: datetime | None = None,
) -> ChangeRecord | None:
    """Note a change that is not an item's transition in the change log: only the values
    that changed, before and after (JSON values: ids, names, numbers, ISO times). Nothing
    changed, nothing noted (an admin saving a form unchanged). Call it inside the change's
    transaction, so a rolled-back change leaves no record."""
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    if not changed:
        return None
    return ChangeRecord.objects.create(
        at=at or timezone.now(), action=action, subject_type=subject._meta.label_lower, subject_id=str(subject.pk),
        subject=str(subject)[:200], before={key: before.get(key) for key in changed if key in before},
        after={key: after.get(key) for key in changed if key in after}, reason=reason,
        **actor_fields(actor),
    )
