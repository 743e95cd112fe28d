"""Who works and on what: skills, teams, queues, agents and their presence."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from allocation import labels
from allocation.labels import display_name

PROFICIENCY_VALIDATORS = [MinValueValidator(1), MaxValueValidator(5)]
CODE_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$", "Use lower-case letters, digits, '-' and '_' only."
)


def actor_label(record) -> str:
    """Who acted on an audit record, for the API and admin: the account's username, or the
    system job's name (pages say it in words: labels.actor_name)."""
    return record.actor.get_username() if record.actor_id else f"system: {record.system_actor}"


class Skill(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="supervised_teams"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AllocationMode(models.TextChoices):
    PULL = "pull", "Pull (agents ask for next work)"
    PUSH = "push", "Push (work is assigned to agents)"


class Queue(models.Model):
    """A work type. Items of a queue go only to agents of a serving team who hold every
    required skill at its minimum proficiency."""

    code = models.CharField(
        max_length=50, unique=True, validators=[CODE_VALIDATOR],
        help_text="Stable identifier source systems use to address the queue.",
    )
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    allocation_mode = models.CharField(
        max_length=4, choices=AllocationMode.choices, default=AllocationMode.PULL
    )
    standard_handle_time = models.DurationField(
        default=timedelta(minutes=15),
        help_text="Expected working time per item, in hours and minutes; start by = due at − this.",
    )
    reservation_timeout = models.DurationField(
        default=timedelta(minutes=10),
        help_text="An assigned item not started within this time (hours and minutes) goes back to the queue.",
    )
    starts_on_pull = models.BooleanField(
        "pulled work starts at once", default=False, db_default=False,
        help_text="Get next work hands the agent the item already in progress, as opening it does: no separate "
                  "start, so no reservation to time out. Off: the agent starts it, within the reservation timeout.",
    )
    sla_target = models.DurationField(
        "SLA target", default=timedelta(hours=24),
        help_text="Time from receipt to due in hours and minutes, counted around the clock (24×7).",
    )
    # A list of strings (the API and item_complete read it as such); admin edits it one a line.
    outcomes = models.JSONField(
        default=list, blank=True,
        help_text="The outcomes an agent chooses from when completing an item, one a line (e.g. approved, "
                  "declined). Empty: the agent types one.",
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="queues")
    routing_enabled = models.BooleanField(
        "routing steps on", default=False, db_default=False,
        help_text="Items move through the routing steps below as they wait. Off: only step 1 (this queue's teams "
                  "and skills) admits agents, and no item moves on.",
    )
    required_skills = models.ManyToManyField(
        Skill, through="QueueSkill", blank=True, related_name="queues"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(allocation_mode__in=AllocationMode.values),
                name="queue_allocation_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(sla_target__gt=timedelta(0)), name="queue_sla_target_positive"
            ),
            models.CheckConstraint(
                condition=Q(standard_handle_time__gte=timedelta(0)),
                name="queue_handle_time_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(reservation_timeout__gt=timedelta(0)),
                name="queue_reservation_timeout_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QueueSkill(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="skill_requirements")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    min_proficiency = models.PositiveSmallIntegerField(default=1, validators=PROFICIENCY_VALIDATORS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "skill"], name="queueskill_unique"),
            models.CheckConstraint(
                condition=Q(min_proficiency__gte=1, min_proficiency__lte=5),
                name="queueskill_min_proficiency_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ≥ {self.min_proficiency}"


class Presence(models.TextChoices):
    AVAILABLE = "available", "Available"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


class PresenceReason(models.Model):
    """Why an agent is away or offline (lunch, training, a meeting…). Admins keep the list;
    an agent may give one when stepping away, and supervisors see it beside the presence."""

    presence = models.CharField(
        max_length=10, choices=[(Presence.AWAY, Presence.AWAY.label), (Presence.OFFLINE, Presence.OFFLINE.label)],
        help_text="The presence this reason explains.",
    )
    label = models.CharField(max_length=60)
    active = models.BooleanField(
        default=True, help_text="Offered to agents. A retired reason stays on the changes that gave it.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the agent's list.")

    class Meta:
        ordering = ["presence", "position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["presence", "label"], name="presencereason_unique"),
            models.CheckConstraint(condition=Q(presence__in=["away", "offline"]), name="presencereason_presence"),
        ]

    def __str__(self) -> str:
        return f"{self.get_presence_display()}: {self.label}"


class ReasonAction(models.TextChoices):
    """The item actions an agent gives a reason for, picked from a list admins keep."""

    PEND = "pend", "Pend"
    RELEASE = "release", "Release"


# Offered last on every reason list, with its details required; never a row of the list.
OTHER_REASON = "Other"


class ItemActionReason(models.Model):
    """Why an agent pends or releases an item (waiting for the customer, going off shift…).
    Admins keep the lists; the item's event records the label as given, so retiring or
    renaming a reason leaves the history as it was."""

    action = models.CharField(max_length=10, choices=ReasonAction.choices, help_text="The action it explains.")
    label = models.CharField(max_length=100, help_text="As the agent reads it in the list, and as history records it.")
    active = models.BooleanField(default=True, help_text="Offered to agents. Untick to retire it.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the agent's list (smallest first).")

    class Meta:
        verbose_name = "pend or release reason"
        verbose_name_plural = "pend and release reasons"
        ordering = ["action", "position", "label"]
        constraints = [
            models.UniqueConstraint(Lower("label"), "action", name="itemactionreason_unique_label",
                                    violation_error_message="The list has this reason already."),
            models.CheckConstraint(condition=Q(action__in=ReasonAction.values), name="itemactionreason_action"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.label}"


class AgentProfile(models.Model):
    """A user who works items. Shares its primary key with the user, so an item's
    `assignee_id` is also the id of the assignee's profile."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
        related_name="agent_profile",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="agents"
    )
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text="Items the agent may hold assigned or in progress at once."
    )
    presence = models.CharField(max_length=10, choices=Presence.choices, default=Presence.OFFLINE)
    presence_since = models.DateTimeField(default=timezone.now)
    presence_reason = models.ForeignKey(
        PresenceReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Why the agent is away or offline, if it said.",
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="Last request in the portal; idle agents are set offline."
    )
    skills = models.ManyToManyField(Skill, through="AgentSkill", blank=True, related_name="agents")

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(presence__in=Presence.values), name="agent_presence_valid"
            ),
        ]

    def __str__(self) -> str:
        # Messages and explanations name the agent to people: by display name.
        return display_name(self.user)

    @property
    def presence_label(self) -> str:
        """"Away (Lunch)": the presence and, if the agent gave one, why."""
        return labels.presence_label(self.presence, self.presence_reason.label if self.presence_reason_id else "")

    @property
    def presence_words(self) -> str:
        """The label inside a sentence: "you are now away (Lunch)"."""
        return self.presence_label[0].lower() + self.presence_label[1:]


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skill_levels")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    proficiency = models.PositiveSmallIntegerField(default=3, validators=PROFICIENCY_VALIDATORS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agentskill_unique"),
            models.CheckConstraint(
                condition=Q(proficiency__gte=1, proficiency__lte=5),
                name="agentskill_proficiency_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ({self.proficiency})"


class PresenceChange(models.Model):
    """Append-only history of agents' presence (feeds availability and utilization)."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="presence_history")
    presence = models.CharField(max_length=10, choices=Presence.choices)
    reason = models.ForeignKey(PresenceReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system_actor = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "at"], name="presence_agent_at")]

    def __str__(self) -> str:
        return f"{self.agent} {self.presence} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def actor_label(self) -> str:
        return actor_label(self)


class SourceBinding(models.Model):
    """A source name an integration user (a source system's token) may use: it creates,
    reads, lists and cancels only items of its bound sources; others' do not exist for it.
    Two users bound to one source are one integration (say, while its token is rotated)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_bindings")
    source = models.CharField(
        max_length=50, help_text="The `source` its items carry, e.g. card-platform (as work items name it)."
    )

    class Meta:
        ordering = ["source", "user_id"]
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="sourcebinding_unique")]

    def __str__(self) -> str:
        return f"{self.user} may use source {self.source}"
