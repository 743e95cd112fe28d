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


def notifications_create(
    *, user_ids: list[int], kind: str, title: str, body: str = "", url: str = "", at: datetime | None = None
) -> list[Notification]:
    """One notification per user (the caller decides who; see allocation's SLA alerts)."""
    at = at or timezone.now()
    return Notification.objects.bulk_create(
        Notification(user_id=user_id, kind=kind, title=title, body=body, url=url, created_at=at)
        for user_id in dict.fromkeys(user_ids)
    )


def notifications_mark_read(*, user, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when no ids are given); other
    users' notifications are never touched. Returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
