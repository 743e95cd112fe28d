from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from wfo.models import Notification, WorkerHeartbeat


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


def notifications_create(*, drafts: Iterable[NotificationDraft], at: datetime | None = None) -> list[Notification]:
    """Create notifications in one insert (the caller decides who hears what; see
    allocation's SLA alerts)."""
    at = at or timezone.now()
    return Notification.objects.bulk_create(
        Notification(user_id=d.user_id, kind=d.kind, title=d.title, body=d.body, url=d.url, created_at=at)
        for d in drafts
    )


def notifications_mark_read(*, user, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when no ids are given); other
    users' notifications are never touched. Returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
