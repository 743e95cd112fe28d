from django.db import models


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker, written by the periodic heartbeat task:
    admins see at a glance whether background jobs are running."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname
