"""Outbound webhooks: who hears about item events (subscriptions), and what was sent to
them (deliveries). The event table is the outbox; services/webhooks.py reads it past
`OutboxCursor` and sends; allocation/webhooks.py says what a request carries."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q

from allocation.models.items import EventKind, WorkItem, WorkItemEvent
from allocation.models.organisation import Queue, Team

# What a source system may subscribe to through the API: its items' lifecycle and SLA. An
# admin may subscribe to every kind (the jobs' moves and priority changes as well).
INTEGRATION_KINDS = (
    EventKind.CREATED, EventKind.ASSIGNED, EventKind.STARTED, EventKind.PENDED, EventKind.RESUMED,
    EventKind.RELEASED, EventKind.TRANSFERRED, EventKind.COMPLETED, EventKind.CANCELLED,
    EventKind.SLA_WARNING, EventKind.SLA_BREACH, EventKind.STEP_ENTERED,
)
# What a team's chat channel hears of: SLA alerts, directed assignments (a transfer to an
# agent a person decided), step escalations, and the SLA threshold actions that notify it.
CHANNEL_KINDS = (EventKind.SLA_WARNING, EventKind.SLA_BREACH, EventKind.TRANSFERRED, EventKind.STEP_ENTERED,
                 EventKind.SLA_ACTION)
INTEGRATION_KIND_CHOICES = [(kind.value, kind.label) for kind in INTEGRATION_KINDS]
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookFormat(models.TextChoices):
    JSON = "json", "Signed JSON event (for systems)"
    SLACK = "slack", "Slack message (a channel's incoming webhook)"
    TEAMS = "teams", "Microsoft Teams message (a channel's incoming webhook)"


class WebhookSubscription(models.Model):
    """A receiver of item events: events of the chosen kinds, of items in the chosen queues
    (none: all) and of the chosen sources (none: all; a source system's own sources at most)."""

    name = models.CharField(max_length=100, help_text="What the receiver is, in a few words.")
    url = models.CharField(
        "URL", max_length=500, validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where each event is POSTed as JSON.",
    )
    kinds = ArrayField(
        models.CharField(max_length=20, choices=EventKind.choices),
        help_text="The kinds of item event it receives.",
    )
    queues = models.ManyToManyField(
        Queue, blank=True, related_name="+", help_text="Only items of these queues (none: every queue)."
    )
    sources = ArrayField(
        models.CharField(max_length=50), default=list, blank=True,
        help_text="Only items of these sources, e.g. card-platform (none: every source the owner may see).",
    )
    format = models.CharField(
        max_length=10, choices=WebhookFormat.choices, default=WebhookFormat.JSON,
        help_text="What each request is: the signed event, or a chat message for a team's channel.",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="chat_channels",
        help_text="A chat channel's team: it hears of the items of the queues the team serves, of the steps "
                  "that add the team, and of work given to its agents.",
    )
    secret = models.CharField(
        max_length=100, default=new_secret,
        help_text="Signs every request (HMAC-SHA256, the WFO-Signature header); the receiver checks with it.",
    )
    is_active = models.BooleanField(
        "active", default=True,
        help_text="A paused subscription keeps its events and sends them, in order, once it is active again.",
    )
    paused_reason = models.CharField(max_length=200, blank=True)
    max_attempts = models.PositiveSmallIntegerField(
        default=settings.WFO_WEBHOOK_MAX_ATTEMPTS, validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="Tries of one event before it is dead-lettered (retries wait longer each time).",
    )
    integration = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_subscriptions",
        help_text="The source system that made it through the API: it hears only of its own sources' items.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who is told when it is paused for failing.",
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The first failure since its last success."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(kinds=[]), name="webhooksubscription_has_kinds"),
            models.CheckConstraint(condition=Q(format=WebhookFormat.JSON) | Q(team__isnull=False),
                                   name="webhooksubscription_chat_has_team"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # One form for what it receives, however it was written (admin, API, services).
        self.kinds = sorted(set(self.kinds))
        self.sources = sorted({source.strip() for source in self.sources if source.strip()})
        super().save(*args, **kwargs)

    @property
    def public_addresses_only(self) -> bool:
        """A source system's subscription must not make the portal call into its own network
        (its delivery log shows the answers): allocation/webhooks.py judges the address."""
        return self.integration_id is not None


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead-lettered"


class WebhookDelivery(models.Model):
    """One event for one subscription, from the outbox pass that matched it until it is
    delivered or dead-lettered; what the last attempt got back, for the delivery log."""

    # No index of its own: the unique (subscription, event) serves it, and the log's order.
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event = models.ForeignKey(WorkItemEvent, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The event's item, kept here so that the next delivery of an item is found by index.
    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-event_id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhookdelivery_once_per_event"),
        ]
        indexes = [
            # An item's deliveries go in event order: the earlier pending one of the same item is found here.
            models.Index(fields=["subscription", "item", "event"], condition=Q(status=DeliveryStatus.PENDING),
                         name="webhookdelivery_pending_item"),
            # The next batch, in the lease's order: read in order, the lease stops at its batch
            # (on next_attempt_at alone, every due row was judged and sorted first).
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status=DeliveryStatus.PENDING),
                         name="webhookdelivery_due_order"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} · event {self.event_id}"


class OutboxCursor(models.Model):
    """One row: every event of a transaction with an id below `position` has been matched
    to the subscriptions (services/webhooks.py, outbox_dispatch)."""

    position = models.BigIntegerField()
    moved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"outbox at transaction {self.position}"
