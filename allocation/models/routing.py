"""Routing steps: how a queue widens its net as its work waits (allocation/routing.py says
the rule in full). Step 1 is the queue itself — its serving teams and required skills —
and has no row; a queue's RoutingStep rows are its steps 2, 3, … in order."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from allocation.models.organisation import PROFICIENCY_VALIDATORS, AgentProfile, Queue, Skill, Team

# Step 1 is the queue's own rule; at most this many steps in all, so a get-next that reads
# a queue step by step reads a known, small number of index ranges.
FIRST_STEP = 1
LAST_STEP = 5


class StepCondition(models.TextChoices):
    WAITED = "waited", "Waited N minutes at the step before"
    BACKLOG = "backlog", "More than X items wait in the queue"
    NO_AGENT = "no_agent", "No agent of the step before available for N minutes"


class StepAction(models.TextChoices):
    WIDEN = "widen", "Widen: more teams, other skill requirements"
    OVERFLOW = "overflow", "Overflow to another queue"


class RoutingStep(models.Model):
    """Step `position` (2…LAST_STEP) of a queue. A widening step admits the queue's teams and
    `added_teams`, with the queue's skill requirements changed by its `skill_changes`; an
    overflow step moves the item to `overflow_queue`, which routes it from its own step 1."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="routing_steps")
    position = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(FIRST_STEP + 1), MaxValueValidator(LAST_STEP)],
        help_text=f"2 to {LAST_STEP}; step 1 is the queue's own teams and skills.",
    )
    condition = models.CharField(max_length=10, choices=StepCondition.choices, default=StepCondition.WAITED)
    minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 30)],
        help_text="For “waited” and “no agent available”: how many minutes.",
    )
    backlog_over = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(10_000_000)],
        help_text="For “backlog”: the items beyond the first X waiting (in allocation order) enter the step.",
    )
    action = models.CharField(max_length=10, choices=StepAction.choices, default=StepAction.WIDEN)
    added_teams = models.ManyToManyField(
        Team, blank=True, related_name="+", help_text="Widen: teams that may also take the item from this step on."
    )
    overflow_queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="overflow_from",
        help_text="Overflow: the queue the item moves to.",
    )

    class Meta:
        ordering = ["queue", "position"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "position"], name="routingstep_unique_position"),
            models.CheckConstraint(
                condition=Q(position__gt=FIRST_STEP, position__lte=LAST_STEP), name="routingstep_position_range"
            ),
            models.CheckConstraint(condition=Q(condition__in=StepCondition.values), name="routingstep_condition_valid"),
            models.CheckConstraint(
                condition=(Q(action=StepAction.WIDEN, overflow_queue__isnull=True)
                           | Q(action=StepAction.OVERFLOW, overflow_queue__isnull=False)),
                name="routingstep_overflow_iff_target",
            ),
            models.CheckConstraint(
                condition=(Q(condition=StepCondition.BACKLOG, backlog_over__isnull=False)
                           | (~Q(condition=StepCondition.BACKLOG) & Q(minutes__isnull=False, minutes__gte=1))),
                name="routingstep_condition_has_its_measure",
            ),
            models.CheckConstraint(condition=~Q(overflow_queue=models.F("queue")), name="routingstep_not_to_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} · step {self.position}"


class StepSkill(models.Model):
    """How a widening step changes one of its queue's skill requirements: the skill required
    at a lower (or other) minimum, not required at all (`min_proficiency` empty), or — a
    skill the queue does not require — required instead of a dropped one."""

    step = models.ForeignKey(RoutingStep, on_delete=models.CASCADE, related_name="skill_changes")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    min_proficiency = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=PROFICIENCY_VALIDATORS,
        help_text="Empty: the skill is not required from this step on.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "skill"], name="stepskill_unique"),
            models.CheckConstraint(
                condition=Q(min_proficiency__isnull=True) | Q(min_proficiency__gte=1, min_proficiency__lte=5),
                name="stepskill_min_proficiency_1_5",
            ),
        ]

    def __str__(self) -> str:
        if self.min_proficiency is None:
            return f"{self.skill} not required"
        return f"{self.skill} ≥ {self.min_proficiency}"


class AdmissionTeam(models.Model):
    """A view (migration allocation 0016): the teams each step of each queue admits —
    step 1 the queue's serving teams; a widening step of a queue whose routing is on, those
    and its added teams. Read by get-next's statement and the eligibility querysets."""

    queue = models.ForeignKey(Queue, on_delete=models.DO_NOTHING, related_name="+")
    position = models.PositiveSmallIntegerField()
    team = models.ForeignKey(Team, on_delete=models.DO_NOTHING, related_name="+")

    class Meta:
        managed = False
        db_table = "allocation_admission_team"

    def __str__(self) -> str:
        return f"step {self.position} of queue #{self.queue_id} admits team #{self.team_id}"


class AdmissionRequirement(models.Model):
    """A view (migration allocation 0016): the skill requirements of each step of each queue —
    step 1 the queue's; a widening step of a queue whose routing is on, the queue's changed
    by the step's skill changes."""

    queue = models.ForeignKey(Queue, on_delete=models.DO_NOTHING, related_name="+")
    position = models.PositiveSmallIntegerField()
    skill = models.ForeignKey(Skill, on_delete=models.DO_NOTHING, related_name="+")
    min_proficiency = models.PositiveSmallIntegerField()

    class Meta:
        managed = False
        db_table = "allocation_admission_requirement"

    def __str__(self) -> str:
        return f"step {self.position} of queue #{self.queue_id}: skill #{self.skill_id} ≥ {self.min_proficiency}"


class AgentEligibility(models.Model):
    """What the eligibility rule says of one agent, kept for get-next: the queues it may take
    from (whatever its presence), each with the first step that admits it and the last
    position its items may be at (the queue's step reach), as of an eligibility version.
    get-next reads this row instead of judging the rule on every call.

    Every change to what the rule reads — a queue's teams, skills, being active, allocation
    mode or routing switch; a routing step, its added teams or skill changes; an agent's
    skills or team — moves the version on in the same transaction (triggers, migration
    allocation 0019), so a row of another version is never used: get-next judges the rule
    again first (allocation/services/next_work.py)."""

    agent = models.OneToOneField(AgentProfile, primary_key=True, on_delete=models.CASCADE, related_name="+")
    queue_ids = ArrayField(models.BigIntegerField())
    first_steps = ArrayField(models.PositiveSmallIntegerField())
    # Each queue's step reach (migration allocation 0024): the last position its items may be at.
    last_steps = ArrayField(models.PositiveSmallIntegerField(), default=list)
    as_of = models.BigIntegerField(help_text="The eligibility version the row was judged at.")

    class Meta:
        verbose_name_plural = "agent eligibilities"

    def __str__(self) -> str:
        return f"agent #{self.agent_id}: {len(self.queue_ids)} queues as of version {self.as_of}"
