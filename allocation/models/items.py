"""Work items and their append-only events."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Now, Trim
from django.utils import timezone

from allocation.models.organisation import Queue, actor_label
from allocation.models.routing import FIRST_STEP, LAST_STEP


class ItemStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    PENDED = "pended", "Pended"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


HELD_STATUSES = (ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.PENDED)
ACTIVE_STATUSES = (ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS)  # count against capacity
OPEN_STATUSES = (ItemStatus.QUEUED, *HELD_STATUSES)
CLOSED_STATUSES = (ItemStatus.COMPLETED, ItemStatus.CANCELLED)


def customer_key(reference):
    """A customer reference as it is looked up: trimmed and lower-cased, so `cust-463347`
    finds what a source sent as `CUST-463347`. An expression the database evaluates, both for
    the key stored on every item (WorkItem.customer_key) and for a reference searched for,
    so the two are worked out by the same code and never disagree."""
    return Lower(Trim(reference))


class Priority(models.IntegerChoices):
    LOWEST = 1, "Lowest"
    LOW = 2, "Low"
    NORMAL = 3, "Normal"
    HIGH = 4, "High"
    URGENT = 5, "Urgent"


class WorkItem(models.Model):
    # Every status change rewrites each index of this table, so it carries no index that
    # another covers: (queue, status) serves lookups by queue.
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="items", db_index=False)
    source = models.CharField(max_length=50, help_text="The system the item came from.")
    external_id = models.CharField(max_length=128, help_text="The item's id in its source system.")
    customer_ref = models.CharField(max_length=64)  # as the source sent it, and shown so
    # Computed by the database on every write, whoever writes (intake, rework, seeding), so
    # no path can leave an item unfindable; lookups go through it (selectors.customer_is).
    customer_key = models.GeneratedField(
        expression=customer_key(F("customer_ref")), output_field=models.CharField(max_length=64), db_persist=True,
    )
    title = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=12, choices=ItemStatus.choices, default=ItemStatus.QUEUED)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="held_items",
    )
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    start_by = models.DateTimeField(help_text="due at − the queue's standard handle time.")
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    pended_until = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="completed_items",
    )
    outcome = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who gave the item to its holder, when a person did (a supervisor's transfer or bulk
    # reassignment): a decision, so the reservation expiry leaves it with the agent. Empty
    # when get-next, push or a job assigned it.
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    # Where the item is in its queue's routing (allocation/routing.py): the step it has
    # reached, and since when — from receipt for step 1. Defaults in the database too, so
    # every writer (intake's own insert, a transfer) starts an item at step 1.
    routing_step = models.PositiveSmallIntegerField(default=FIRST_STEP, db_default=FIRST_STEP)
    step_entered_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["start_by", "-priority", "received_at", "id"]
        permissions = [
            ("cancel_workitem", "Can cancel work items"),
            ("reassign_workitem", "Can transfer work items held by others"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="workitem_source_external_id"),
            models.CheckConstraint(condition=Q(status__in=ItemStatus.values), name="workitem_status_valid"),
            models.CheckConstraint(
                condition=Q(status__in=HELD_STATUSES, assignee__isnull=False)
                | (~Q(status__in=HELD_STATUSES) & Q(assignee__isnull=True)),
                name="workitem_assignee_iff_held",
            ),
            models.CheckConstraint(
                condition=Q(status=ItemStatus.PENDED, pended_until__isnull=False)
                | (~Q(status=ItemStatus.PENDED) & Q(pended_until__isnull=True)),
                name="workitem_pended_until_iff_pended",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=5), name="workitem_priority_1_5"
            ),
            models.CheckConstraint(condition=Q(start_by__lte=F("due_at")), name="workitem_start_by_before_due"),
            models.CheckConstraint(
                condition=Q(routing_step__gte=FIRST_STEP, routing_step__lte=LAST_STEP),
                name="workitem_routing_step_range",
            ),
        ]
        indexes = [
            # The allocation index: each queue's queued items in "next best" order. Partial,
            # so it holds only the backlog, never history.
            models.Index(
                "queue", "start_by", F("priority").desc(), "received_at", "id",
                condition=Q(status=ItemStatus.QUEUED), name="workitem_queue_head",
            ),
            # Items past step 1, in the same order: an agent whose first admitting step is
            # step 2 may take every one of them (get-next reads their heads in one read).
            models.Index(
                "queue", "start_by", F("priority").desc(), "received_at", "id",
                condition=Q(status=ItemStatus.QUEUED, routing_step__gt=FIRST_STEP), name="workitem_later_head",
            ),
            # Items past step 1, by step, in the same order: an agent only a step after step 2
            # admits reads the heads of the steps it may take (get-next), never the whole backlog.
            models.Index(
                "queue", "routing_step", "start_by", F("priority").desc(), "received_at", "id",
                condition=Q(status=ItemStatus.QUEUED, routing_step__gt=FIRST_STEP), name="workitem_step_head",
            ),
            # The routing job's scan: per (queue, step), the items waiting longest at it first.
            models.Index(
                "queue", "routing_step", "step_entered_at",
                condition=Q(status=ItemStatus.QUEUED), name="workitem_step_wait",
            ),
            models.Index(
                "assignee", "pended_until", "id",
                condition=Q(status=ItemStatus.PENDED), name="workitem_pended_follow_up",
            ),
            models.Index(
                "assignee", condition=Q(status__in=ACTIVE_STATUSES), name="workitem_active_by_assignee"
            ),
            models.Index(fields=["queue", "status"], name="workitem_queue_status"),
            models.Index(fields=["due_at"], name="workitem_due_at"),
            # Search by external id alone (admin, support) without the source.
            models.Index(fields=["external_id"], name="workitem_external_id"),
            # The customer journey, whatever case a reference is typed in: exact match on the
            # normalised key only, so no pattern-ops twin.
            models.Index(fields=["customer_key"], name="workitem_customer_key"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    ASSIGNED = "assigned", "Assigned"
    STARTED = "started", "Started"
    PENDED = "pended", "Pended"
    FOLLOW_UP_DUE = "follow_up_due", "Follow-up returned"
    COMPLETED = "completed", "Completed"
    RELEASED = "released", "Released"
    TRANSFERRED = "transferred", "Transferred"
    CANCELLED = "cancelled", "Cancelled"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    RESERVATION_EXPIRED = "reservation_expired", "Reservation expired"
    REBALANCED = "rebalanced", "Rebalanced"
    REJECTED = "rejected", "Rejected"
    RESUMED = "resumed", "Resumed"
    STEP_ENTERED = "step_entered", "Routing step entered"
    # Observations, not moves: the SLA alert job's (services/sla_alerts.py). The audit does
    # not replay them; outbound webhooks carry them like every other event.
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACH = "sla_breach", "SLA breached"
    # What a threshold's action did, or why it could not (services/sla_actions.py). A move
    # it makes writes its own event as well, which the audit replays.
    SLA_ACTION = "sla_action", "SLA action"


class CurrentTransactionId(models.Func):
    """The inserting transaction's id (`pg_current_xact_id()`, as a bigint): what lets the
    outbound webhooks read the event table as their outbox. Ids are taken in order but
    committed in any order; every transaction with an id below a snapshot's `xmin` has
    finished, so events below it can be read once and for all (services/webhooks.py)."""

    template = "(pg_current_xact_id()::text)::bigint"
    output_field = models.BigIntegerField()


class WorkItemEvent(models.Model):
    """Append-only audit row for every change of an item. Never updated or deleted: the
    table is time-ordered so it can be partitioned by month when it grows."""

    # No index of its own: event_item_at (item, at) serves lookups by item.
    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="events", db_index=False)
    at = models.DateTimeField(default=timezone.now)
    # No index of its own: event_actor_at (actor, at) serves lookups by actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    system_actor = models.CharField(
        max_length=50, blank=True, help_text="The job that acted when no user did."
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    from_status = models.CharField(max_length=12, choices=ItemStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=ItemStatus.choices)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Set by the database on insert, however the row is written (the ORM, get-next's SQL).
    # Null on rows written before outbound webhooks existed: those are never sent.
    txid = models.BigIntegerField(null=True, editable=False, db_default=CurrentTransactionId())

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["item", "at"], name="event_item_at"),
            # A person's last action (the live agents view's idle time): the newest event of
            # each agent, one index probe each. It replaces the plain actor index, so writes
            # keep as many indexes as before.
            models.Index(fields=["actor", "at"], name="event_actor_at"),
            # Report rollups read a day's events. The table is appended in time order, so a
            # block-range index serves that at a tiny fraction of a b-tree's size and cost.
            BrinIndex(fields=["at"], name="event_at_brin"),
            # The webhook outbox reads the events of a range of transaction ids; they are
            # appended in nearly that order, so again a block-range index, nearly free to keep.
            BrinIndex(fields=["txid"], name="event_txid_brin", autosummarize=True),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor__isnull=False) | ~Q(system_actor=""), name="event_has_actor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.item_id} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def actor_label(self) -> str:
        return actor_label(self)


class CoolOffKind(models.TextChoices):
    REJECTED = "rejected", "Rejected (pushed to them)"
    RELEASED = "released", "Released"


class CoolOff(models.Model):
    """An agent handed an item back (released it, or rejected it when it was pushed): the
    item is not offered to that agent again — by get-next, push or rebalancing — until
    `until`, so released work does not come straight back. The reason is the agent's."""

    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="cool_offs")
    # Indexed with `until` (Meta.indexes), not alone.
    agent = models.ForeignKey("allocation.AgentProfile", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=CoolOffKind.choices, default=CoolOffKind.REJECTED)
    since = models.DateTimeField()
    until = models.DateTimeField()
    reason = models.TextField()

    class Meta:
        # get-next reads the agent's cool-offs in force; the jobs ask by item.
        indexes = [
            models.Index(fields=["agent", "until"], name="cooloff_agent_until"),
            models.Index(fields=["item", "agent"], name="cooloff_item_agent"),
        ]

    def __str__(self) -> str:
        return f"#{self.item_id} {self.kind} by {self.agent_id}"
