"""Rollups: what history reports read instead of the raw items and events.

Every table is keyed by a local day (and hour) of the reporting zone, settings.TIME_ZONE,
and holds only sums and counts, so any range, queue, team or agent is a sum of rows.
`reporting.rollups` owns every write: it recomputes what each item adds to them from its
events (ItemContribution) and moves the rollup rows by the difference, so an incremental
run and a rebuild give the same rows (see that module for how late events are caught).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from reporting.handle_time import BIN_COUNT


class CompletionFigures(models.Model):
    """What the items completed on a day add up to. Handle time is the time an item spent
    in progress, summed over its starts (so pended days do not count)."""

    day = models.DateField()
    queue = models.ForeignKey("allocation.Queue", on_delete=models.CASCADE, related_name="+")
    completed = models.PositiveIntegerField(default=0)
    met = models.PositiveIntegerField(default=0, help_text="Completed at or before their due time.")
    handled = models.PositiveIntegerField(default=0, help_text="Completed items that were started.")
    handle_seconds = models.BigIntegerField(default=0)
    handle_max_seconds = models.PositiveIntegerField(default=0)
    handle_histogram = ArrayField(
        models.PositiveIntegerField(), size=BIN_COUNT,
        help_text="Handled items per handle-time bin (reporting.handle_time.BIN_EDGES).",
    )
    standard_seconds = models.BigIntegerField(
        default=0, help_text="Standard handle time earned: each item's due − start by (its queue's standard time)."
    )
    originals = models.PositiveIntegerField(default=0, help_text="Completed items that are not rework.")
    reworked = models.PositiveIntegerField(default=0, help_text="Of the originals, those sent back as rework since.")
    rework_completed = models.PositiveIntegerField(default=0, help_text="Completed items that are rework.")
    qa_count = models.PositiveIntegerField(default=0, help_text="Standing evaluations with a score.")
    qa_sum = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        abstract = True


class QueueDay(CompletionFigures):
    """One queue's day: completions, and the flows in and out that give its backlog."""

    arrivals = models.PositiveIntegerField(default=0)
    rework_arrivals = models.PositiveIntegerField(default=0)
    transfers_in = models.PositiveIntegerField(default=0)
    transfers_out = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "queue"], name="queueday_day_queue")]

    def __str__(self) -> str:
        return f"{self.queue_id} on {self.day}"


class AgentDay(CompletionFigures):
    """One agent's completions in one queue on one day."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "queue", "agent"], name="agentday_day_queue_agent")]
        indexes = [models.Index(fields=["agent", "day"], name="agentday_agent_day")]

    def __str__(self) -> str:
        return f"{self.agent_id} in {self.queue_id} on {self.day}"


class QueueHour(models.Model):
    """Arrivals and completions of one queue in one local hour (the intraday profile and
    the wallboard's "today")."""

    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    queue = models.ForeignKey("allocation.Queue", on_delete=models.CASCADE, related_name="+")
    arrivals = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "hour", "queue"], name="queuehour_day_hour_queue"),
            models.CheckConstraint(condition=models.Q(hour__lte=23), name="queuehour_hour_0_23"),
        ]

    def __str__(self) -> str:
        return f"{self.queue_id} on {self.day} {self.hour:02d}:00"


class PresenceDay(models.Model):
    """One agent's time on a day, from the presence history."""

    day = models.DateField()
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    available_seconds = models.PositiveIntegerField(default=0)
    logged_in_seconds = models.PositiveIntegerField(default=0, help_text="Available or away (not offline).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "agent"], name="presenceday_day_agent")]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.day}"


class ItemContribution(models.Model):
    """What one item adds to the rollups, as its events and evaluations say now: a row per
    arrival, transfer side and cancellation (no agent), and one for its completion (with
    the agent who completed it). The rollup rows are these rows summed, so a run recomputes
    the rows of the items something touched and moves the rollups by the difference; the
    work of a run follows the work since the last, not the size of the day."""

    item_id = models.BigIntegerField(db_index=True)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    queue_id = models.BigIntegerField()
    agent_id = models.BigIntegerField(null=True)
    arrivals = models.SmallIntegerField(default=0)
    rework_arrivals = models.SmallIntegerField(default=0)
    transfers_in = models.SmallIntegerField(default=0)
    transfers_out = models.SmallIntegerField(default=0)
    cancelled = models.SmallIntegerField(default=0)
    completed = models.SmallIntegerField(default=0)
    met = models.SmallIntegerField(default=0)
    handle_seconds = models.BigIntegerField(null=True, help_text="Time in progress; null when never started.")
    standard_seconds = models.BigIntegerField(default=0)
    originals = models.SmallIntegerField(default=0)
    reworked = models.SmallIntegerField(default=0)
    rework_completed = models.SmallIntegerField(default=0)
    qa_count = models.IntegerField(default=0)
    qa_sum = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "queue_id", "agent_id"], name="contribution_day_queue_agent")]

    def __str__(self) -> str:
        return f"item {self.item_id} in {self.queue_id} on {self.day}"


class RollupState(models.Model):
    """Where the incremental rollup has got to (one row, locked by each run).

    Events: a run reads those of the transactions that had not ended when the last run
    looked (`snapshot`, PostgreSQL's; `position` its oldest transaction still running, where
    the reading starts), so a transaction that commits late is read by a later run, and a
    long one elsewhere makes runs skip what they read before rather than read it again.
    Presence changes: a run reads those past `settled_presence_id`, which trails the highest
    id read by reporting.rollups.LATE_WINDOW (a transaction may take an id and commit after
    a higher one was read)."""

    name = models.CharField(max_length=20, primary_key=True)
    position = models.BigIntegerField(
        null=True, blank=True,
        help_text="Transactions before this id have been read; none yet: the next run rebuilds.")
    snapshot = models.TextField(blank=True, default="", help_text="The last run's snapshot: what it has read.")
    event_id = models.BigIntegerField(default=0, help_text="The highest event id read.")
    presence_id = models.BigIntegerField(default=0, help_text="The highest presence change id read.")
    marked_presence_id = models.BigIntegerField(default=0)
    settled_presence_id = models.BigIntegerField(default=0)
    marked_at = models.DateTimeField(null=True, blank=True)
    presence_day = models.DateField(null=True, blank=True, help_text="The day of the last run's presence sums.")
    ran_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollup {self.name} at event {self.event_id}"


# The wallboard's settings ---------------------------------------------------------------------

class WallboardChoice(models.Model):
    """What a user's wallboard shows: the teams and queues it was last filtered to (none:
    every queue the board counts), and the wall mode's theme — remembered, so the screen
    on the wall shows the same after a restart."""

    class Theme(models.TextChoices):
        AUTO = "auto", "As the screen prefers"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="wallboard_choice")
    teams = models.ManyToManyField("allocation.Team", blank=True, related_name="+")
    queues = models.ManyToManyField("allocation.Queue", blank=True, related_name="+")
    theme = models.CharField(max_length=5, choices=Theme.choices, default=Theme.AUTO)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Wallboard of {self.user}"


class QueueThresholds(models.Model):
    """When a queue's wallboard cells turn amber and red: waiting count, oldest waiting age
    (minutes), items at risk, items breached. Set by the queue's supervisors; empty: that
    cell never turns that colour. A cell is red at or above red, else amber at or above
    amber (`level`)."""

    METRICS = ("waiting", "oldest_minutes", "at_risk", "breached")

    queue = models.OneToOneField("allocation.Queue", on_delete=models.CASCADE, primary_key=True,
                                 related_name="wallboard_thresholds")
    waiting_amber = models.PositiveIntegerField(null=True, blank=True)
    waiting_red = models.PositiveIntegerField(null=True, blank=True)
    oldest_minutes_amber = models.PositiveIntegerField(null=True, blank=True)
    oldest_minutes_red = models.PositiveIntegerField(null=True, blank=True)
    at_risk_amber = models.PositiveIntegerField(null=True, blank=True)
    at_risk_red = models.PositiveIntegerField(null=True, blank=True)
    breached_amber = models.PositiveIntegerField(null=True, blank=True)
    breached_red = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "queue thresholds"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(**{f"{metric}_amber__isnull": True}) | models.Q(**{f"{metric}_red__isnull": True})
                | models.Q(**{f"{metric}_amber__lt": models.F(f"{metric}_red")}),
                name=f"queuethresholds_{metric}_amber_below_red",
            )
            for metric in ("waiting", "oldest_minutes", "at_risk", "breached")
        ]

    def __str__(self) -> str:
        return f"Wallboard thresholds of {self.queue}"

    def level(self, metric: str, value: int | None) -> str:
        """"red", "amber" or "" for a cell's value."""
        if value is None:
            return ""
        red, amber = getattr(self, f"{metric}_red"), getattr(self, f"{metric}_amber")
        if red is not None and value >= red:
            return "red"
        if amber is not None and value >= amber:
            return "amber"
        return ""
