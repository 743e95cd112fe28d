from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
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


class ChangeRecord(models.Model):
    """Who changed what, when, before and after, for the changes that are not an item's
    transitions (those are its events): quality acknowledgements, disputes and decisions,
    and admins' changes to an agent's team, capacity and skills. Append-only, written by
    core.services.change_record inside the change's own transaction."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system_actor = models.CharField(max_length=50, blank=True, help_text="The job that acted when no user did.")
    action = models.CharField(max_length=60, help_text="What was done, e.g. evaluation.disputed.")
    subject_type = models.CharField(max_length=60, help_text="The model changed, as app_label.model.")
    subject_id = models.CharField(max_length=40)
    subject = models.CharField(max_length=200, help_text="What was changed, as it was named then.")
    before = models.JSONField(default=dict, blank=True, help_text="The changed values before.")
    after = models.JSONField(default=dict, blank=True, help_text="The changed values after.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "at"], name="change_subject_at"),
            BrinIndex(fields=["at"], name="change_at_brin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(actor__isnull=False) | ~models.Q(system_actor=""), name="change_has_actor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.subject} at {self.at:%Y-%m-%d %H:%M}"
