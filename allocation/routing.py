"""Routing steps: work that widens its net as it waits — the rule, stated once (README,
"Routing steps").

A queue's routing is a short ordered list of steps (at most LAST_STEP):
- **Step 1** is the queue's own rule: its serving teams, its required skills at their
  minimum proficiency. Every item starts there — on intake, and whenever it arrives in a
  queue (a transfer, an overflow).
- A later step (a RoutingStep row, positions 2, 3, … in order) **widens** — it admits the
  queue's teams and its added teams, with the queue's skill requirements changed by its
  skill changes (a skill required at another minimum, not required, or another skill
  required instead; each change is stated against step 1, the queue's own requirements) —
  or **overflows**: the item moves to another queue, where it starts at that queue's step 1.
  An overflow step is the last of its queue (nothing comes after leaving).
- A step is **entered** from the step before it (the nearest lower position) when its
  condition holds for the item, which must be waiting (queued):
  - WAITED N: the item has been at the step before for N minutes — since it entered it
    (since receipt for step 1), whoever held it meanwhile: its customer kept waiting;
  - BACKLOG X: more than X items wait in the queue — the items after the first X in
    allocation order enter (the head stays with the step before; the excess widens);
  - NO_AGENT N: no agent the item's current steps admit has been available for N minutes
    (each agent not available now counts as absent since its last presence change;
    nobody admitted at all holds at once).
  Entering an SLA threshold's step comes with the threshold actions: the seam is
  `services.routing.step_enter`, which takes any (items, step) and a condition.
- **Admission**: an agent may receive an item iff some step the item has reached (its
  `routing_step` and every lower position) admits it, and the rest of the rule holds
  (allocation/eligibility.py: available, room, no cool-off). The order among the items an
  agent may receive is unchanged (start by, priority, received, id). Steps only ever widen
  whom an item may reach: an item never goes back a step.
- Only while the queue's **routing is on** do its later steps admit anyone or items enter
  them; turned off, step 1 alone admits, and items keep the step they reached.
- **Exactly once**: a pass judges every step of every routed queue on the state it found
  when it began (the plan — what the admin's preview shows), then enters each planned
  item under its row lock, only if it is still waiting at the step before: one event per
  (item, step). So an item moves at most one step a pass, two overlapping passes move it
  once, and a pass killed midway loses nothing (each batch is one transaction).

Where it is said: what each step admits — in Python here (`admissions`), in SQL in the
views of migration allocation 0016 (the eligibility querysets read them; get-next's
judging of an agent reads the teams' view and judges skills from the queue's deficit and
the step's changes, in services/next_work.py, for speed, and get-next keeps the answer per
agent until the organisation changes); tests/allocation/test_eligibility.py holds them all
to the same answers. Which items are due — `plan` (a WAITED step's in one statement with
every other's, `_WAITED`; a backlog or no-agent step's in `items_due`), read by the
preview and the job alike. The job is services/routing.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from allocation.models import (
    FIRST_STEP,
    AdmissionRequirement,
    AdmissionTeam,
    AgentProfile,
    AgentSkill,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStep,
    StepAction,
    StepCondition,
    WorkItem,
)

Ref = int | OuterRef | F

# The allocation order, as the queue's items are read for a backlog condition.
ALLOCATION_ORDER = ("start_by", "-priority", "received_at", "id")
# How many items a pass enters into one step at most (the rest, next pass), and how many a
# preview lists by name.
STEP_LIMIT = 2000
PREVIEW_SHOWN = 20


# What each step admits -----------------------------------------------------------------------

@dataclass(frozen=True)
class Requirement:
    skill_id: int
    skill_name: str
    min_proficiency: int


@dataclass(frozen=True)
class Admission:
    """Whom one step of a queue admits: agents of `teams` holding every requirement."""

    queue_id: int
    position: int
    teams: frozenset[int]
    requirements: tuple[Requirement, ...]

    def admits(self, *, team_id: int | None, levels: Mapping[int, int]) -> bool:
        """Whether an agent of `team_id` with skill `levels` (skill id → proficiency) is admitted."""
        return team_id in self.teams and all(
            levels.get(need.skill_id, 0) >= need.min_proficiency for need in self.requirements
        )

    def unmet(self, levels: Mapping[int, int]) -> list[Requirement]:
        return [need for need in self.requirements if levels.get(need.skill_id, 0) < need.min_proficiency]


def admissions(queues: Iterable[Queue], *, as_if_on: bool = False) -> dict[int, list[Admission]]:
    """For each queue, what its steps admit, step 1 first: later (widening) steps only when
    its routing is on — or `as_if_on`, for a preview of turning it on. Four queries."""
    queues = list(queues)
    ids = [queue.pk for queue in queues]
    teams: dict[int, set[int]] = {}
    for queue_id, team_id in Queue.teams.through.objects.filter(queue_id__in=ids).values_list("queue_id", "team_id"):
        teams.setdefault(queue_id, set()).add(team_id)
    required: dict[int, dict[int, Requirement]] = {}
    for need in QueueSkill.objects.filter(queue_id__in=ids).select_related("skill").order_by("pk"):
        required.setdefault(need.queue_id, {})[need.skill_id] = Requirement(need.skill_id, need.skill.name,
                                                                            need.min_proficiency)
    routed = {queue.pk for queue in queues if queue.routing_enabled or as_if_on}
    steps = list(
        RoutingStep.objects.filter(queue_id__in=routed, action=StepAction.WIDEN)
        .prefetch_related("added_teams", "skill_changes__skill").order_by("queue_id", "position")
    )
    found = {
        queue.pk: [Admission(queue.pk, FIRST_STEP, frozenset(teams.get(queue.pk, ())),
                             tuple(required.get(queue.pk, {}).values()))]
        for queue in queues
    }
    for step in steps:
        needs = dict(required.get(step.queue_id, {}))
        for change in step.skill_changes.all():
            needs.pop(change.skill_id, None)
            if change.min_proficiency is not None:
                needs[change.skill_id] = Requirement(change.skill_id, change.skill.name, change.min_proficiency)
        added = {team.pk for team in step.added_teams.all()}
        found[step.queue_id].append(
            Admission(step.queue_id, step.position, frozenset(teams.get(step.queue_id, set()) | added),
                      tuple(needs.values()))
        )
    return found


def first_admitting(steps: Sequence[Admission], *, reached: int, team_id: int | None,
                    levels: Mapping[int, int]) -> Admission | None:
    """The first of a queue's steps up to `reached` that admits the agent, or None."""
    return next((step for step in steps if step.position <= reached and step.admits(team_id=team_id, levels=levels)),
                None)


def skill_levels(agent_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """Each agent's skills: agent id → {skill id: proficiency}."""
    levels: dict[int, dict[int, int]] = {}
    for agent_id, skill_id, proficiency in AgentSkill.objects.filter(agent_id__in=list(agent_ids)).values_list(
        "agent_id", "skill_id", "proficiency"
    ):
        levels.setdefault(agent_id, {})[skill_id] = proficiency
    return levels


# A step in words ----------------------------------------------------------------------------

def condition_words(step: RoutingStep, *, previous: int) -> str:
    """'waited 30 min at step 1', 'more than 200 items waiting', 'nobody of step 1 available for 15 min'."""
    if step.condition == StepCondition.WAITED:
        return f"waited {step.minutes} min at step {previous}"
    if step.condition == StepCondition.BACKLOG:
        return f"more than {step.backlog_over} items waiting in {step.queue.name}"
    return f"no agent of step {previous} available for {step.minutes} min"


def widening_words(step: RoutingStep) -> str:
    """What the step changes, in words: 'moved to the queue Disputes', or 'also offered to
    Night; Fraud at level 2 or more is enough; French no longer required'."""
    if step.action == StepAction.OVERFLOW:
        return f"moved to the queue {step.overflow_queue.name}"
    parts = []
    teams = sorted(team.name for team in step.added_teams.all())
    if teams:
        parts.append("also offered to " + ", ".join(teams))
    for change in sorted(step.skill_changes.all(), key=lambda change: change.skill.name):
        parts.append(f"{change.skill.name} no longer required" if change.min_proficiency is None
                     else f"{change.skill.name} at level {change.min_proficiency} or more is enough")
    return "; ".join(parts) or "nothing widened yet (no team added, no skill changed)"


def step_sentence(step: RoutingStep, *, previous: int) -> str:
    """Why an item entered the step and what changed: the event's reason."""
    return f"Step {step.position} — {condition_words(step, previous=previous)}: {widening_words(step)}."


# Which items are due -------------------------------------------------------------------------

def steps_of(queues: Iterable[Queue] | None = None, *, as_if_on: bool = False) -> list[RoutingStep]:
    """The steps that may move items now: of active queues whose routing is on (or any of
    `queues` given, `as_if_on`), each with its queue, target, teams and skill changes loaded."""
    steps = RoutingStep.objects.select_related("queue", "overflow_queue").prefetch_related(
        "added_teams", "skill_changes__skill"
    ).order_by("queue_id", "position")
    if queues is not None:
        steps = steps.filter(queue__in=list(queues))
    if not as_if_on:
        steps = steps.filter(queue__routing_enabled=True)
    return list(steps.filter(queue__is_active=True))


def previous_position(step: RoutingStep, positions: Iterable[int]) -> int:
    """The step an item enters `step` from: the nearest lower position of its queue (step 1
    if none)."""
    return max((position for position in positions if position < step.position), default=FIRST_STEP)


def _waiting_at(queue_id: int, position: int) -> QuerySet[WorkItem]:
    return WorkItem.objects.filter(queue_id=queue_id, status=ItemStatus.QUEUED, routing_step=position)


def _nobody_available(step: RoutingStep, *, previous: int, now: datetime, steps: Sequence[Admission]) -> bool:
    """NO_AGENT: no agent the queue's steps up to `previous` (`steps`, its admissions) admit
    is available, nor left being available within the step's minutes (by its last
    presence change). Judged on `steps` as given, so a preview of turning routing on
    counts the teams its earlier steps would add, as the job then will."""
    reached = [admission for admission in steps if admission.position <= previous]
    since = now - timedelta(minutes=step.minutes)
    present = list(
        AgentProfile.objects.filter(team_id__in={team for admission in reached for team in admission.teams})
        .filter(Q(presence=Presence.AVAILABLE) | Q(presence_since__gt=since))
    )
    levels = skill_levels(agent.pk for agent in present)
    return not any(
        first_admitting(reached, reached=previous, team_id=agent.team_id, levels=levels.get(agent.pk, {}))
        for agent in present
    )


def items_due(step: RoutingStep, *, previous: int, now: datetime, steps: Sequence[Admission]) -> QuerySet[WorkItem]:
    """The items whose BACKLOG or NO_AGENT condition for `step` holds at `now`, in the order
    they enter: a backlog's excess in allocation order, else the longest waiting at the
    step before first. `steps` are what the queue's steps admit (`admissions`). A WAITED
    step's items are read with every other's at once (`_due_after_waiting`). Each read is
    an index range (workitem_step_wait, workitem_queue_head), never the history."""
    at_previous = _waiting_at(step.queue_id, previous)
    if step.condition == StepCondition.BACKLOG:
        waiting = WorkItem.objects.filter(queue_id=step.queue_id, status=ItemStatus.QUEUED).order_by(*ALLOCATION_ORDER)
        beyond = waiting[step.backlog_over:]
        return at_previous.filter(pk__in=beyond.values("pk")).order_by(*ALLOCATION_ORDER)
    if step.condition == StepCondition.NO_AGENT:
        if _nobody_available(step, previous=previous, now=now, steps=steps):
            return at_previous.order_by("step_entered_at", "id")
        return WorkItem.objects.none()
    raise ValueError(f"{step.condition} steps are read together: _due_after_waiting")


# WAITED, for every waited step at once: the items at the step before (of the step's queue,
# waiting) that entered it at or before the step's cutoff (now − its minutes), the longest
# waiting first — one range of workitem_step_wait per step, unrolled over the steps with a
# LATERAL as get-next reads its queues, so a pass costs one statement however many steps
# there are. `{read}` is the ids (the first `limit` of each step) or their count.
_WAITED = """
SELECT s.step_id, due.{read}
FROM unnest(%(steps)s::bigint[], %(queues)s::bigint[], %(previous)s::smallint[], %(cutoffs)s::timestamptz[])
     WITH ORDINALITY AS s(step_id, queue_id, previous, cutoff, ord)
CROSS JOIN LATERAL (
    SELECT {select} FROM allocation_workitem w
    WHERE w.queue_id = s.queue_id AND w.status = %(queued)s AND w.routing_step = s.previous
      AND w.step_entered_at <= s.cutoff
    {limit}
) due
ORDER BY s.ord{order}
"""
_WAITED_IDS = _WAITED.format(read="id", select="w.id, w.step_entered_at", order=", due.step_entered_at, due.id",
                             limit="ORDER BY w.step_entered_at, w.id LIMIT %(limit)s")
_WAITED_COUNT = _WAITED.format(read="n", select="count(*) AS n", order="", limit="")


def waited_params(waited: Sequence[tuple[RoutingStep, int]], *, now: datetime, limit: int = 0) -> dict:
    """`_WAITED`'s parameters for WAITED steps given with their step before."""
    return {
        "steps": [step.pk for step, _ in waited], "queues": [step.queue_id for step, _ in waited],
        "previous": [previous for _, previous in waited],
        "cutoffs": [now - timedelta(minutes=step.minutes) for step, _ in waited],
        "queued": ItemStatus.QUEUED, "limit": limit,
    }


def _read_waited(sql: str, waited: Sequence[tuple[RoutingStep, int]], *, now: datetime,
                 limit: int = 0) -> list[tuple[int, int]]:
    if not waited:
        return []
    params = waited_params(waited, now=now, limit=limit)
    # Hundreds of steps in one statement make the planner's estimate pass jit_above_cost,
    # and compiling would cost a hundred times the few milliseconds the read takes.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _due_after_waiting(waited: Sequence[tuple[RoutingStep, int]], *, now: datetime,
                       limit: int) -> dict[int, list[int]]:
    """For WAITED steps given with their step before: step id → its first `limit` due item ids."""
    found: dict[int, list[int]] = {step.pk: [] for step, _ in waited}
    for step_id, item_id in _read_waited(_WAITED_IDS, waited, now=now, limit=limit):
        found[step_id].append(item_id)
    return found


def _count_after_waiting(waited: Sequence[tuple[RoutingStep, int]], *, now: datetime) -> dict[int, int]:
    """For WAITED steps given with their step before: step id → how many items are due."""
    return dict(_read_waited(_WAITED_COUNT, waited, now=now))


@dataclass
class StepDue:
    """One step of the plan: the items entering it now (the first `limit`), of `total`."""

    step: RoutingStep
    previous: int
    item_ids: list[int]
    total: int
    reason: str = ""
    blocked: str = ""  # why nothing may enter it now though items are due (an inactive overflow queue)


def plan(queues: Iterable[Queue] | None = None, *, now: datetime, as_if_on: bool = False,
         limit: int = STEP_LIMIT) -> list[StepDue]:
    """What a pass at `now` does: for every step (of `queues`, or of every routed queue), the
    items entering it — all judged on the state as it is, before any moves. The preview
    (`as_if_on`) and the job read this one plan."""
    steps = steps_of(queues, as_if_on=as_if_on)
    positions: dict[int, list[int]] = {}
    for step in steps:
        positions.setdefault(step.queue_id, []).append(step.position)
    previous = {step.pk: previous_position(step, positions[step.queue_id]) for step in steps}
    waited = [(step, previous[step.pk]) for step in steps if step.condition == StepCondition.WAITED]
    others = [step for step in steps if step.condition != StepCondition.WAITED]
    due_ids = _due_after_waiting(waited, now=now, limit=limit)
    # Counted only where the first `limit` are not all (rare: after routing is turned on).
    totals = _count_after_waiting([(step, before) for step, before in waited if len(due_ids[step.pk]) >= limit],
                                  now=now)
    rules = admissions({step.queue_id: step.queue for step in others}.values(), as_if_on=as_if_on) if others else {}
    for step in others:
        due = items_due(step, previous=previous[step.pk], now=now, steps=rules[step.queue_id])
        due_ids[step.pk] = list(due.values_list("pk", flat=True)[:limit])
        if len(due_ids[step.pk]) >= limit:
            totals[step.pk] = due.count()
    entries = []
    for step in steps:
        ids = due_ids[step.pk]
        blocked = ""
        if step.action == StepAction.OVERFLOW and not step.overflow_queue.is_active:
            blocked, ids = f"the queue {step.overflow_queue.name} is inactive", []
        entries.append(StepDue(step, previous[step.pk], ids, totals.get(step.pk, len(due_ids[step.pk])),
                               step_sentence(step, previous=previous[step.pk]), blocked))
    return entries


# Who would start seeing them ------------------------------------------------------------------

def _outer(ref: Ref, depth: int) -> Ref:
    """`ref` as seen `depth` subqueries further in (an id stays an id)."""
    for _ in range(depth):
        ref = OuterRef(ref) if isinstance(ref, (OuterRef, F)) else ref
    return ref


def admitted(*, agent: Ref, team: Ref, queue: Ref, reached: Ref) -> Exists:
    """Whether some step of `queue` up to `reached` admits `agent` of `team` (its team and
    skills), as the database states it (the admission views). Each argument is an id or an
    OuterRef, as seen from inside this Exists."""
    meets = AgentSkill.objects.filter(
        agent_id=_outer(agent, 2), skill_id=OuterRef("skill_id"), proficiency__gte=OuterRef("min_proficiency")
    )
    unmet = AdmissionRequirement.objects.filter(
        queue_id=OuterRef("queue_id"), position=OuterRef("position")
    ).exclude(Exists(meets))
    return Exists(
        AdmissionTeam.objects.filter(queue_id=queue, team_id=team, position__lte=reached).exclude(Exists(unmet))
    )


@dataclass
class StepPreview:
    due: StepDue
    items: list[WorkItem] = field(default_factory=list)  # the first PREVIEW_SHOWN entering
    new_agents: list[AgentProfile] = field(default_factory=list)  # admitted by the step and by none before


def preview(queue: Queue, *, now: datetime) -> list[StepPreview]:
    """Turned on now (or, when it is on, at the next pass): for each step of `queue`, the
    items that would enter it and the agents who would start seeing them — `plan`'s
    answer, the job's own."""
    entries = plan([queue], now=now, as_if_on=True)
    shown_ids = [item_id for entry in entries for item_id in entry.item_ids[:PREVIEW_SHOWN]]
    items = WorkItem.objects.in_bulk(shown_ids)
    targets = [entry.step.overflow_queue for entry in entries if entry.step.action == StepAction.OVERFLOW]
    rules = admissions([queue, *targets], as_if_on=True)
    teams = {team for steps in rules.values() for step in steps for team in step.teams}
    candidates = list(AgentProfile.objects.filter(team_id__in=teams).select_related("user").order_by("user__username"))
    levels = skill_levels(agent.pk for agent in candidates)

    def admits(agent: AgentProfile, queue_id: int, reached: int) -> bool:
        return first_admitting(rules[queue_id], reached=reached, team_id=agent.team_id,
                               levels=levels.get(agent.pk, {})) is not None

    previews = []
    for entry in entries:
        # An overflow step admits whom the target queue's step 1 does; a widening one, whom it does.
        into, reached = ((entry.step.overflow_queue.pk, FIRST_STEP) if entry.step.action == StepAction.OVERFLOW
                         else (queue.pk, entry.step.position))
        new = [agent for agent in candidates
               if admits(agent, into, reached) and not admits(agent, queue.pk, entry.previous)]
        previews.append(StepPreview(entry, [items[pk] for pk in entry.item_ids[:PREVIEW_SHOWN] if pk in items], new))
    return previews


# Checking a queue's steps -----------------------------------------------------------------------

def overflow_cycle(queue_id: int, target_id: int, *, targets: Mapping[int, set[int]]) -> list[int] | None:
    """The queues an overflow from `queue_id` to `target_id` would lead back through to
    `queue_id` (a cycle), given every other queue's overflow `targets`; None when none."""
    path, seen = [target_id], set()

    def walk(current: int) -> bool:
        if current == queue_id:
            return True
        if current in seen:
            return False
        seen.add(current)
        for following in targets.get(current, ()):
            path.append(following)
            if walk(following):
                return True
            path.pop()
        return False

    return [queue_id, *path] if walk(target_id) else None


# Taken by a check of overflow steps and held to the end of its transaction (an admin save
# is one): two saves at once (A → B and B → A) are checked one after the other, the second
# seeing the first's steps, so together they cannot make the loop each alone would refuse.
OVERFLOW_CHECK_LOCK = 0x0F10_0001


def overflow_targets(*, excluding_queue: int) -> dict[int, set[int]]:
    """Every queue's overflow targets (queue id → target ids) except `excluding_queue`'s,
    read under OVERFLOW_CHECK_LOCK."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OVERFLOW_CHECK_LOCK])
    targets: dict[int, set[int]] = {}
    for queue_id, target_id in RoutingStep.objects.filter(action=StepAction.OVERFLOW).exclude(
        queue_id=excluding_queue
    ).values_list("queue_id", "overflow_queue_id"):
        targets.setdefault(queue_id, set()).add(target_id)
    return targets

