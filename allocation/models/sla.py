"""The SLA engine's data: business calendars, SLA policies, each open item's clock, and
the alerts raised when a clock crosses a threshold (DESIGN.md, "SLA semantics").

The arithmetic lives in allocation/sla/working_time.py and the rules in allocation/sla/;
these rows are what admins configure and what the clock remembers between changes.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from allocation.models.items import Priority, WorkItem
from allocation.models.organisation import Queue

DEFAULT_WARNING_THRESHOLDS = [50, 75, 90]
# The longest SLA target a policy may have: any longer is a typing mistake (days for hours),
# and one of centuries would put due times past what the SLA engine counts.
LONGEST_TARGET = timedelta(days=366)
BREACH = 100  # the threshold a clock crosses at its due time


def default_warning_thresholds() -> list[int]:
    return list(DEFAULT_WARNING_THRESHOLDS)


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).") from None


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class BusinessCalendar(models.Model):
    """When work counts: weekly working windows in a time zone, minus holidays."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(
        max_length=64, validators=[validate_time_zone],
        help_text="The IANA time zone its windows are in: type part of a city to search, e.g. London.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"


class WorkingWindow(models.Model):
    """Wall-clock working hours on one weekday. A window whose end is at or before its
    start runs past midnight and belongs to the day it starts on; end = start is 24 hours."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField(help_text="At or before the start: the window ends the next day.")

    class Meta:
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="window_weekday_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class Holiday(models.Model):
    """A date whose windows (those starting on it) do not count."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(
        max_length=50, blank=True, help_text='Empty when entered by hand; e.g. "holidays:GB-ENG" when loaded.'
    )

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_once_per_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SlaPolicy(models.Model):
    """A queue's SLA: a target in working time on a calendar (or around the clock), warning
    thresholds, and whether pended time pauses the clock. One per queue applies to every
    priority without a policy of its own."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, null=True, blank=True,
        help_text="Empty: the queue's default for every priority without its own policy.",
    )
    target = models.DurationField(help_text="Working time from receipt to due, in hours and minutes (e.g. 40 h).")
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT, related_name="policies",
        help_text="Empty: the target counts around the clock (24×7).",
    )
    warning_thresholds = ArrayField(
        models.PositiveSmallIntegerField(), default=default_warning_thresholds, blank=True,
        help_text="Percent of the target at which the holder is warned, e.g. 50,75,90.",
    )
    pause_when_pended = models.BooleanField(
        default=True, help_text="Time an item spends pended does not count against its target."
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["queue", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue"], condition=Q(priority__isnull=True), name="slapolicy_one_default_per_queue"
            ),
            models.UniqueConstraint(fields=["queue", "priority"], name="slapolicy_one_per_priority"),
            models.CheckConstraint(condition=Q(target__gt=timedelta(0)), name="slapolicy_target_positive"),
        ]

    def __str__(self) -> str:
        scope = self.get_priority_display() if self.priority else "default"
        return f"{self.queue} · {scope}"

    def clean(self) -> None:
        if self.target is not None and self.target > LONGEST_TARGET:
            raise ValidationError({"target": f"At most {LONGEST_TARGET.days} days of working time."})
        thresholds = list(self.warning_thresholds or [])
        if any(not 1 <= value <= 99 for value in thresholds):
            raise ValidationError({"warning_thresholds": "Each threshold is a percent between 1 and 99."})
        if len(set(thresholds)) != len(thresholds):
            raise ValidationError({"warning_thresholds": "Give each threshold once."})
        self.warning_thresholds = sorted(thresholds)


class SlaClock(models.Model):
    """An item's SLA clock: the policy it runs on (copied at intake or retarget, so a
    later policy edit does not move deadlines already promised), the working time paused
    so far, and the next threshold to alert on. Only a running clock has a next alert, so
    the alert scan's partial index holds open work only, however long the history (a closed
    item keeps its stopped clock, to show the working time it took). It is its own narrow
    table, so the allocation path's updates of the item row never touch it."""

    item = models.OneToOneField(WorkItem, on_delete=models.CASCADE, primary_key=True, related_name="sla_clock")
    calendar = models.ForeignKey(BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    target = models.DurationField()
    thresholds = ArrayField(models.PositiveSmallIntegerField(), help_text="Warnings then 100 (the breach).")
    pause_when_pended = models.BooleanField()
    paused_working = models.DurationField(default=timedelta(0))
    paused_since = models.DateTimeField(null=True, blank=True)
    next_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    next_alert_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="When the item closed; the clock stops.")
    # The policy the clock was copied from: its threshold actions are read from it (live, so
    # an action added or changed applies to running clocks). None: the queue's plain target.
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_deadline = models.DateTimeField(
        null=True, blank=True,
        help_text="A deadline the source set (e.g. a card network's respond-by date): an absolute instant that "
                  "pauses and calendars do not move. The earlier of it and the policy's due at governs.",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_alert_at"], condition=Q(next_alert_at__isnull=False), name="slaclock_next_alert"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(target__gt=timedelta(0)), name="slaclock_target_positive"),
        ]

    def __str__(self) -> str:
        return f"SLA clock of #{self.item_id}"


class SlaAlert(models.Model):
    """One alert per (item, threshold), ever: the unique constraint is what makes two
    overlapping or retried scans raise it once."""

    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="sla_alerts")
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the target; 100 is the breach.")
    crossed_at = models.DateTimeField(help_text="When the clock crossed the threshold.")
    raised_at = models.DateTimeField()
    recipient_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [models.UniqueConstraint(fields=["item", "threshold"], name="slaalert_once_per_threshold")]
        indexes = [
            models.Index(fields=["raised_at"], condition=Q(emailed_at__isnull=True), name="slaalert_unsent"),
        ]

    def __str__(self) -> str:
        return f"#{self.item_id} {'breached' if self.threshold >= BREACH else f'{self.threshold}%'}"

    @property
    def is_breach(self) -> bool:
        return self.threshold >= BREACH


class SlaActionKind(models.TextChoices):
    RAISE_PRIORITY = "raise_priority", "Raise priority"
    ENTER_STEP = "enter_step", "Enter a routing step"
    MOVE_QUEUE = "move_queue", "Move to a queue"
    ASSIGN_AGENT = "assign_agent", "Assign to a named agent"
    NOTIFY = "notify", "Notify"


class NotifyWhom(models.TextChoices):
    HOLDER = "holder", "The holder (the queue's supervisors while nobody holds it)"
    SUPERVISORS = "supervisors", "The queue's supervisors"
    TEAM_CHANNEL = "team_channel", "A team's chat channel"


class OutsideWorkingTime(models.TextChoices):
    AT_ONCE = "at_once", "At once"
    NEXT_WINDOW = "next_window", "At the next working window"


class SlaAction(models.Model):
    """What a policy's threshold does besides alerting (DESIGN.md, "SLA semantics"; the rules
    in services/sla_actions.py): an ordered list per threshold, each done once per item."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="actions")
    threshold = models.PositiveSmallIntegerField(
        help_text="Percent of the target: one of the policy's warning thresholds, or 100 for the breach.",
    )
    position = models.PositiveSmallIntegerField(default=1, help_text="Order among the threshold's actions.")
    kind = models.CharField(max_length=20, choices=SlaActionKind.choices)
    is_enabled = models.BooleanField(
        "enabled", default=True, help_text="Off: the action is kept, and previewed, but does nothing.",
    )
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, null=True, blank=True,
        help_text="Raise priority: to this level (empty: one level up).",
    )
    step = models.ForeignKey(
        "allocation.RoutingStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Enter a routing step: a later step of the policy's queue.",
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Move to a queue: where the item goes (it keeps its due time, as a transfer does).",
    )
    agent = models.ForeignKey(
        "allocation.AgentProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Assign to a named agent: given to this agent if eligible and available, else recorded why not.",
    )
    notify = models.CharField(max_length=20, choices=NotifyWhom.choices, blank=True, help_text="Notify: whom.")
    team = models.ForeignKey(
        "allocation.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Notify a team's chat channel: the team.",
    )
    by_email = models.BooleanField(default=False, help_text="Notify the holder or supervisors by e-mail as well.")
    outside_working_time = models.CharField(
        max_length=20, choices=OutsideWorkingTime.choices, blank=True,
        help_text="When the threshold is crossed outside the calendar's working time. Empty: the breach's "
                  "actions at once, a warning's at the next working window (as alerts are).",
    )

    class Meta:
        verbose_name = "SLA threshold action"
        ordering = ["policy", "threshold", "position", "id"]

    def __str__(self) -> str:
        return f"{self.threshold_label}: {self.get_kind_display()}"

    @property
    def threshold_label(self) -> str:
        return "breach" if self.threshold >= BREACH else f"{self.threshold}%"

    # What each kind needs (its field, and the words asking for it).
    NEEDS = {
        SlaActionKind.ENTER_STEP: ("step", "Choose the routing step to enter."),
        SlaActionKind.MOVE_QUEUE: ("queue", "Choose the queue to move the item to."),
        SlaActionKind.ASSIGN_AGENT: ("agent", "Choose the agent to give the item to."),
        SlaActionKind.NOTIFY: ("notify", "Choose whom to notify."),
    }

    def clean(self) -> None:
        errors: dict[str, str] = {}
        policy = self.policy if self.policy_id else None
        if policy is not None and self.threshold is not None:
            thresholds = sorted({*(policy.warning_thresholds or []), BREACH})
            if self.threshold not in thresholds:
                words = ", ".join(f"{t}%" for t in thresholds[:-1])
                errors["threshold"] = f"Choose one of the policy's thresholds: {words} or 100 (the breach)."
        needed = self.NEEDS.get(self.kind)
        if needed and not getattr(self, needed[0] if needed[0] == "notify" else f"{needed[0]}_id"):
            errors[needed[0]] = needed[1]
        if self.kind == SlaActionKind.ENTER_STEP and self.step_id and policy is not None \
                and self.step.queue_id != policy.queue_id:
            errors["step"] = f"Choose a routing step of {policy.queue.name}, the policy's queue."
        if self.kind == SlaActionKind.MOVE_QUEUE and self.queue_id and policy is not None:
            if self.queue_id == policy.queue_id:
                errors["queue"] = "Choose another queue than the policy's own."
            elif not self.queue.is_active:
                errors["queue"] = f"{self.queue.name} is inactive."
        if self.kind == SlaActionKind.RAISE_PRIORITY and policy is not None and policy.priority:
            target = self.priority or policy.priority + 1
            if target <= policy.priority or target > max(Priority.values):
                errors["priority"] = (f"This policy's items are {Priority(policy.priority).label} already: choose a "
                                      "higher priority, or another action.")
        if self.kind == SlaActionKind.NOTIFY:
            if self.notify == NotifyWhom.TEAM_CHANNEL and not self.team_id:
                errors["team"] = "Choose the team whose chat channel hears of it."
            if self.notify == NotifyWhom.TEAM_CHANNEL and self.by_email:
                errors["by_email"] = "A chat channel is not e-mailed: untick it, or notify people."
        if errors:
            raise ValidationError(errors)

    @property
    def waits_for_working_time(self) -> bool:
        """Whether, crossed outside working time, it waits for the next working window."""
        if self.outside_working_time:
            return self.outside_working_time == OutsideWorkingTime.NEXT_WINDOW
        return self.threshold < BREACH


class SlaActionOutcome(models.TextChoices):
    DONE = "done", "Done"
    NOT_DONE = "not_done", "Could not be done"


class SlaActionRun(models.Model):
    """One action's turn for one item: recorded when the clock crosses the action's
    threshold (once: unique per item and action), due then or at the next working window,
    and done — or recorded as not doable, with why — once, in the transaction that does it."""

    # No index of its own: the unique (item, action) serves lookups by item.
    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="sla_action_runs", db_index=False)
    action = models.ForeignKey(SlaAction, on_delete=models.CASCADE, related_name="runs")
    threshold = models.PositiveSmallIntegerField()
    crossed_at = models.DateTimeField(help_text="When the clock crossed the threshold.")
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=SlaActionOutcome.choices, blank=True)
    detail = models.TextField(blank=True, help_text="What was done, or why it could not be.")

    class Meta:
        verbose_name = "SLA action run"
        constraints = [models.UniqueConstraint(fields=["item", "action"], name="slaactionrun_once_per_item")]
        indexes = [
            models.Index(fields=["due_at", "id"], condition=Q(done_at__isnull=True), name="slaactionrun_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.item_id} {self.action}"
