from django.db.models import F
from django.utils import timezone

from wfo.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Upsert the worker's heartbeat; concurrent beats of one worker add up, never clash."""
    heartbeat, created = WorkerHeartbeat.objects.get_or_create(
        hostname=hostname, defaults={"last_seen": timezone.now(), "beats": 1}
    )
    if not created:
        WorkerHeartbeat.objects.filter(pk=heartbeat.pk).update(last_seen=timezone.now(), beats=F("beats") + 1)
        heartbeat.refresh_from_db()
    return heartbeat
