from django.conf import settings
from django.db import models
from django.utils import timezone


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


class Notification(models.Model):
    """A message to one user in the portal (an SLA warning, later quality results): listed
    under Notifications with an unread count in the navigation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True, help_text="Where the notification leads, e.g. an item page.")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Also by e-mail: the row is the outbox (written in the change's transaction; the job
    # `Notification e-mails` sends it once and stamps it), so a rolled-back change mails
    # nothing and a crash loses nothing.
    email = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_newest"),
            models.Index(fields=["user"], condition=models.Q(read_at__isnull=True), name="notification_unread"),
            models.Index(fields=["id"], condition=models.Q(email=True, emailed_at__isnull=True),
                         name="notification_to_email"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.title}"
