"""The event vocabulary: what every kind of item event records, written and read in one place.

Events are the audit trail and the source of every report. Their kinds are the column's
choices, `EventKind` (allocation/models/items.py); this module owns everything else: the
keys of their `data` (constants, which the SQL statements that write or read events use
too), the rules a move names, one constructor per kind — services, the demo history and
the tests' builder all build events through them —, and one reader, `EventData`, that the
timeline, the audit, the selectors and the reports read events through.

What an event's data says:
- who held the item: `from_agent`, the user id of the holder before the event (null when
  nobody held it), in every kind that can change the holder (assigned — get-next, push —,
  transferred, rebalanced, reservation_expired, follow_up_due, released, rejected,
  completed, cancelled); `to_agent`, the agent holding it after, present only when the
  event leaves it with an agent (a pended item returned to its holder names that holder in
  both). Agent profiles share their primary key with their user, so these are profile ids;
- its deadlines: `due_at` and `start_by`, the item's after the event, in every kind that
  can move them — created (the policy's or the source's deadline), assigned (a follow-up's
  pause ends), pended (the source's deadline may govern while the policy's clock pauses),
  resumed, transferred (another queue's handle time, a pause's end), step_entered (an
  overflow: the new queue's handle time), priority_changed (a
  retarget; its due time is `to_due_at`, beside `from_due_at`), follow_up_due, rebalanced
  and reservation_expired. So the audit replays them (allocation/audit.py);
- its queue: `queue_id` on creation (and get-next's: the queue it was taken from);
  `from_queue`/`to_queue` (codes) and `from_queue_id`/`to_queue_id` on a transfer; the jobs
  name the queue they return an item to by code (`to_queue`);
- its routing (allocation/routing.py): `step_entered` says `from_step`, `step`, the
  `condition` that held (with its `minutes` or `backlog_over`) and what widened
  (`added_teams`, `skill_changes`) — or, overflowing, the queues as a transfer does, and
  its deadlines; get-next's `assigned` says the `step` reached and `admitted_at_step`;
- why: `rule` for every move a rule made (RULE_*), `candidates` for a move to an agent a
  job chose (each {"agent": username, "chosen": bool, "why": text}).

When: an event is dated by the clock read once the item's row lock is held (the periodic
jobs through moves.moved_at; get-next and the start fast path inside their one statement,
after its locks, and never before the item's last write), so an item's events are in the
same order by time as by id; the audit checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from allocation.models import BREACH, EventKind, ItemStatus, Queue, RoutingStep, WorkItem, WorkItemEvent
from core.actors import Actor, actor_fields

# Data keys -------------------------------------------------------------------------------

RULE = "rule"
CANDIDATES = "candidates"
FROM_AGENT, TO_AGENT = "from_agent", "to_agent"
DIRECTED = "directed"  # a transfer to an agent a person decided (the reservation expiry leaves it)
QUEUE_ID = "queue_id"
FROM_QUEUE, FROM_QUEUE_ID, TO_QUEUE, TO_QUEUE_ID = "from_queue", "from_queue_id", "to_queue", "to_queue_id"
SOURCE, EXTERNAL_ID = "source", "external_id"
DUE_AT, START_BY = "due_at", "start_by"
EXTERNAL_DEADLINE = "external_deadline"
GOVERNED_BY = "governed_by"  # which deadline governs: allocation/sla/clock.py's POLICY or EXTERNAL_DEADLINE
PRIORITY = "priority"
FROM_PRIORITY, TO_PRIORITY, FROM_DUE_AT, TO_DUE_AT = "from_priority", "to_priority", "from_due_at", "to_due_at"
ORDER, ELIGIBLE_QUEUES, PENDED_UNTIL = "order", "eligible_queues", "pended_until"
# Routing (allocation/routing.py): the step an item reached (`step`; on entering one, the
# step it left, `from_step`), the step whose rule admitted the agent get-next gave it to
# (`admitted_at_step`), and on entering a step its condition and what widened.
STEP, FROM_STEP, ADMITTED_AT_STEP = "step", "from_step", "admitted_at_step"
CONDITION, MINUTES, BACKLOG_OVER = "condition", "minutes", "backlog_over"
ADDED_TEAMS, SKILL_CHANGES = "added_teams", "skill_changes"
UNTIL = "until"  # a pend's follow-up time
FOLLOW_UP_WAS = "follow_up_was"  # a resume before the follow-up time: what that time was
NOT_OFFERED_AGAIN_UNTIL = "not_offered_again_until"
OUTCOME = "outcome"
THRESHOLD, CROSSED_AT = "threshold", "crossed_at"  # an SLA alert's percent, and when the clock crossed it
# An SLA threshold action (services/sla_actions.py): which one, what kind, whether it was
# done ("done" / "not_done", models.SlaActionOutcome) and the words saying what or why not;
# a channel notification names its team.
ACTION_ID, ACTION_KIND, ACTION_OUTCOME, ACTION_DETAIL = "action_id", "action_kind", "action_outcome", "action_detail"
NOTIFY_TEAM_ID = "notify_team_id"

# Rules (`data.rule`) --------------------------------------------------------------------------

RULE_NEXT_BEST = "next_best_item"  # get-next: the best waiting item
RULE_PUSH = "push"
RULE_RESERVATION = "reservation_expired"
RULE_ABSENT = "holder_absent"
RULE_OVER_CAPACITY = "holder_over_capacity"
# A pended item's follow-up came: back to its holder — by get-next (an assigned event) or
# by the rebalancing job (a follow_up_due event, or to the queue when the holder cannot).
RULE_FOLLOW_UP = "pended_follow_up_due"
RULE_NOT_ELIGIBLE = "holder_no_longer_eligible"
GET_NEXT_RULES = frozenset({RULE_NEXT_BEST, RULE_FOLLOW_UP})
# The order get-next picks in, as its events record it (the timeline says it in words).
ORDER_DESCRIPTION = "start_by, priority desc, received_at, id"

# The kinds whose event can give an item to an agent.
ASSIGNING_KINDS = frozenset({EventKind.ASSIGNED, EventKind.REBALANCED, EventKind.TRANSFERRED,
                             EventKind.FOLLOW_UP_DUE})
# Observations: what the SLA alert job saw, written without the item's lock and moving
# nothing (its status in them is the status the job read). The audit does not replay them.
OBSERVATION_KINDS = frozenset({EventKind.SLA_WARNING, EventKind.SLA_BREACH, EventKind.SLA_ACTION})
# The kinds a periodic job writes when it moves an item (moves.py), one constructor each below.
JOB_MOVE_KINDS = frozenset({EventKind.REBALANCED, EventKind.RESERVATION_EXPIRED, EventKind.FOLLOW_UP_DUE})


# Constructors: one per kind, each an unsaved row the caller saves (alone or in bulk) --------
# Each says the move its kind makes (to_status) and takes what the item's row cannot tell
# (the holder before, the agent after): the demo's and the tests' histories build events
# of an item whose row is already in its final state. Deadlines are the item's.

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _deadlines(item: WorkItem) -> dict:
    return {DUE_AT: _iso(item.due_at), START_BY: _iso(item.start_by)}


def _row(item: WorkItem, *, kind: str, at: datetime, actor: Actor, from_status: str, to_status: str,
         reason: str = "", data: dict | None = None) -> WorkItemEvent:
    return WorkItemEvent(item=item, at=at, kind=kind, from_status=from_status, to_status=to_status,
                         reason=reason, data=data or {}, **actor_fields(actor))


def created(item: WorkItem, *, at: datetime, actor: Actor, external_deadline: datetime | None = None,
            governed_by: str | None = None, queue: Queue | None = None) -> WorkItemEvent:
    """Taken in (intake) into `item.queue` — or `queue`, for a history written after the
    item moved on. With a source's own deadline, says it and which deadline governs."""
    queue_id = queue.pk if queue is not None else item.queue_id
    data = {SOURCE: item.source, EXTERNAL_ID: item.external_id, QUEUE_ID: queue_id, **_deadlines(item)}
    if external_deadline is not None:
        data |= {EXTERNAL_DEADLINE: _iso(external_deadline), GOVERNED_BY: governed_by}
    return _row(item, kind=EventKind.CREATED, at=at, actor=actor, from_status="", to_status=ItemStatus.QUEUED,
                data=data)


def assigned(item: WorkItem, *, at: datetime, actor: Actor, from_status: str, rule: str, from_agent: int | None,
             to_agent: int, candidates: list[dict] | None = None, reason: str = "",
             pended_until: datetime | None = None, eligible_queues: int | None = None,
             admitted_at_step: int | None = None) -> WorkItemEvent:
    """Given to `to_agent` by a rule: get-next (its SQL writes the same keys), push, or a
    pended item back to its holder on its follow-up. Get-next's says the routing step the
    item had reached and the one that admitted the agent."""
    data = {RULE: rule, QUEUE_ID: item.queue_id, PRIORITY: item.priority, FROM_AGENT: from_agent,
            TO_AGENT: to_agent, **_deadlines(item)}
    if rule == RULE_NEXT_BEST:
        data |= {ORDER: ORDER_DESCRIPTION, ELIGIBLE_QUEUES: eligible_queues, STEP: item.routing_step,
                 ADMITTED_AT_STEP: admitted_at_step}
    if pended_until is not None:
        data[PENDED_UNTIL] = _iso(pended_until)
    if candidates:
        data[CANDIDATES] = candidates
    return _row(item, kind=EventKind.ASSIGNED, at=at, actor=actor, from_status=from_status,
                to_status=ItemStatus.ASSIGNED, reason=reason, data=data)


def _job_move(kind: str, item: WorkItem, *, at: datetime, actor: Actor, from_status: str, rule: str,
              from_agent: int | None, to_agent: int | None, candidates: list[dict] | None = None,
              reason: str = "") -> WorkItemEvent:
    """To `to_agent`, or (None) back to the item's queue."""
    data = {RULE: rule, FROM_AGENT: from_agent, **_deadlines(item)}
    if to_agent is not None:
        data[TO_AGENT] = to_agent
    else:
        data[TO_QUEUE] = item.queue.code
    if candidates:
        data[CANDIDATES] = candidates
    to_status = ItemStatus.ASSIGNED if to_agent is not None else ItemStatus.QUEUED
    return _row(item, kind=kind, at=at, actor=actor, from_status=from_status, to_status=to_status, reason=reason,
                data=data)


def rebalanced(item: WorkItem, **move: Any) -> WorkItemEvent:
    """A rebalancing rule moved a held item to another agent or back to its queue."""
    return _job_move(EventKind.REBALANCED, item, **move)


def reservation_expired(item: WorkItem, **move: Any) -> WorkItemEvent:
    """Offered and not started in time: back to its queue."""
    return _job_move(EventKind.RESERVATION_EXPIRED, item, **move)


def follow_up_due(item: WorkItem, **move: Any) -> WorkItemEvent:
    """A pended item's follow-up came: back to its holder, or to its queue."""
    return _job_move(EventKind.FOLLOW_UP_DUE, item, **move)


def started(item: WorkItem, *, at: datetime, actor: Actor, from_status: str) -> WorkItemEvent:
    return _row(item, kind=EventKind.STARTED, at=at, actor=actor, from_status=from_status,
                to_status=ItemStatus.IN_PROGRESS)


def pended(item: WorkItem, *, at: datetime, actor: Actor, until: datetime, reason: str,
           governed_by: str | None = None) -> WorkItemEvent:
    """Parked until `until`; `governed_by` when the source's deadline governs while the
    policy's clock pauses."""
    data = {UNTIL: _iso(until), **_deadlines(item)}
    if governed_by is not None:
        data[GOVERNED_BY] = governed_by
    return _row(item, kind=EventKind.PENDED, at=at, actor=actor, from_status=ItemStatus.IN_PROGRESS,
                to_status=ItemStatus.PENDED, reason=reason, data=data)


def resumed(item: WorkItem, *, at: datetime, actor: Actor, follow_up_was: datetime | None) -> WorkItemEvent:
    data = {FOLLOW_UP_WAS: _iso(follow_up_was), **_deadlines(item)}
    return _row(item, kind=EventKind.RESUMED, at=at, actor=actor, from_status=ItemStatus.PENDED,
                to_status=ItemStatus.IN_PROGRESS, data=data)


def completed(item: WorkItem, *, at: datetime, actor: Actor, outcome: str, from_agent: int,
              note: str = "") -> WorkItemEvent:
    """Completed by its holder: the checked path; complete's one statement writes the same
    keys (lifecycle._COMPLETE_HELD_ITEM)."""
    return _row(item, kind=EventKind.COMPLETED, at=at, actor=actor, from_status=ItemStatus.IN_PROGRESS,
                to_status=ItemStatus.COMPLETED, reason=note, data={OUTCOME: outcome, FROM_AGENT: from_agent})


def released(item: WorkItem, *, at: datetime, actor: Actor, from_status: str, from_agent: int,
             not_offered_again_until: datetime, reason: str) -> WorkItemEvent:
    data = {FROM_AGENT: from_agent, NOT_OFFERED_AGAIN_UNTIL: _iso(not_offered_again_until)}
    return _row(item, kind=EventKind.RELEASED, at=at, actor=actor, from_status=from_status,
                to_status=ItemStatus.QUEUED, reason=reason, data=data)


def rejected(item: WorkItem, *, at: datetime, actor: Actor, from_agent: int, not_offered_again_until: datetime,
             reason: str) -> WorkItemEvent:
    data = {FROM_AGENT: from_agent, NOT_OFFERED_AGAIN_UNTIL: _iso(not_offered_again_until)}
    return _row(item, kind=EventKind.REJECTED, at=at, actor=actor, from_status=ItemStatus.ASSIGNED,
                to_status=ItemStatus.QUEUED, reason=reason, data=data)


def cancelled(item: WorkItem, *, at: datetime, actor: Actor, from_status: str, from_agent: int | None,
              reason: str = "") -> WorkItemEvent:
    return _row(item, kind=EventKind.CANCELLED, at=at, actor=actor, from_status=from_status,
                to_status=ItemStatus.CANCELLED, reason=reason, data={FROM_AGENT: from_agent})


def transferred(item: WorkItem, *, at: datetime, actor: Actor, from_status: str, from_queue: Queue,
                from_agent: int | None, to_agent: int | None = None, directed: bool = False,
                reason: str = "") -> WorkItemEvent:
    """To `to_agent` (`directed` when a person decided), or to the item's queue. Queue ids as
    well as codes: reports follow an item's queue through its transfers."""
    data = {FROM_QUEUE: from_queue.code, FROM_QUEUE_ID: from_queue.pk, FROM_AGENT: from_agent, **_deadlines(item)}
    if to_agent is not None:
        data[TO_AGENT] = to_agent
        if directed:
            data[DIRECTED] = True
    else:
        data |= {TO_QUEUE: item.queue.code, TO_QUEUE_ID: item.queue_id}
    to_status = ItemStatus.ASSIGNED if to_agent is not None else ItemStatus.QUEUED
    return _row(item, kind=EventKind.TRANSFERRED, at=at, actor=actor, from_status=from_status, to_status=to_status,
                reason=reason, data=data)


def priority_changed(item: WorkItem, *, at: datetime, actor: Actor, from_priority: int, from_due_at: datetime,
                     governed_by: str | None = None, reason: str = "") -> WorkItemEvent:
    """Its SLA clock moved to the new priority's policy (the status stays); `governed_by`
    for an item with an external deadline."""
    data = {FROM_PRIORITY: from_priority, TO_PRIORITY: item.priority, FROM_DUE_AT: _iso(from_due_at),
            TO_DUE_AT: _iso(item.due_at), START_BY: _iso(item.start_by)}
    if governed_by is not None:
        data[GOVERNED_BY] = governed_by
    return _row(item, kind=EventKind.PRIORITY_CHANGED, at=at, actor=actor, from_status=item.status,
                to_status=item.status, reason=reason, data=data)


def step_entered(item: WorkItem, *, at: datetime, actor: Actor, from_step: int, step: RoutingStep,
                 reason: str, from_queue: Queue | None = None) -> WorkItemEvent:
    """Entered routing `step` of its queue from `from_step`, because the step's condition
    held (its `reason` says it in words): widened — its added teams and skill changes, by
    name — or, with `from_queue`, overflowed into `item.queue`, where it is at step 1 now
    (its start by follows the new queue's handle time)."""
    data = {FROM_STEP: from_step, STEP: item.routing_step, CONDITION: step.condition, **_deadlines(item)}
    if step.minutes is not None:
        data[MINUTES] = step.minutes
    if step.backlog_over is not None:
        data[BACKLOG_OVER] = step.backlog_over
    if from_queue is not None:
        data |= {FROM_QUEUE: from_queue.code, FROM_QUEUE_ID: from_queue.pk, TO_QUEUE: item.queue.code,
                 TO_QUEUE_ID: item.queue_id}
    else:
        data |= {ADDED_TEAMS: sorted(team.name for team in step.added_teams.all()),
                 SKILL_CHANGES: [{"skill": change.skill.name, "min_proficiency": change.min_proficiency}
                                 for change in sorted(step.skill_changes.all(), key=lambda c: c.skill.name)]}
    return _row(item, kind=EventKind.STEP_ENTERED, at=at, actor=actor, from_status=ItemStatus.QUEUED,
                to_status=ItemStatus.QUEUED, reason=reason, data=data)


def sla_threshold_crossed(item: WorkItem, *, at: datetime, actor: Actor, threshold: int,
                          crossed_at: datetime) -> WorkItemEvent:
    """The SLA alert job raised the alert of `threshold` (percent of the target; 100 or more:
    the breach), which the clock crossed at `crossed_at`."""
    kind = EventKind.SLA_BREACH if threshold >= BREACH else EventKind.SLA_WARNING
    return _row(item, kind=kind, at=at, actor=actor, from_status=item.status, to_status=item.status,
                data={THRESHOLD: threshold, CROSSED_AT: _iso(crossed_at), **_deadlines(item)})


def sla_action_taken(item: WorkItem, *, at: datetime, actor: Actor, threshold: int, action_id: int, kind: str,
                     outcome: str, detail: str, notify_team_id: int | None = None) -> WorkItemEvent:
    """A threshold's action (`kind`, models.SlaActionKind) was done, or could not be
    (`outcome`); `detail` says what, or why not. A move it made has its own event too."""
    data = {THRESHOLD: threshold, ACTION_ID: action_id, ACTION_KIND: kind, ACTION_OUTCOME: outcome,
            ACTION_DETAIL: detail, **_deadlines(item)}
    if notify_team_id is not None:
        data[NOTIFY_TEAM_ID] = notify_team_id
    return _row(item, kind=EventKind.SLA_ACTION, at=at, actor=actor, from_status=item.status, to_status=item.status,
                data=data)


# The reader --------------------------------------------------------------------------------

class _NotSaid:
    """A key the event does not hold (unlike a key holding null: "nobody")."""

    def __repr__(self) -> str:
        return "not said"

    def __bool__(self) -> bool:
        return False


NOT_SAID: Any = _NotSaid()


def _time(value: Any) -> datetime | Any:
    if value is NOT_SAID or value is None:
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return NOT_SAID


class EventData:
    """What one event's data says, by meaning rather than by key. A value the event does not
    hold reads as NOT_SAID (falsy), so a reader can tell "nobody" (None) from "not stated";
    times are datetimes."""

    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: Mapping | None) -> None:
        self.kind = kind
        self.data = data if isinstance(data, Mapping) else {}

    def _said(self, key: str) -> Any:
        return self.data.get(key, NOT_SAID)

    @property
    def rule(self) -> str | Any:
        return self._said(RULE)

    @property
    def holder_before(self) -> int | Any | None:
        return self._said(FROM_AGENT)

    @property
    def holder_after(self) -> int | Any:
        return self._said(TO_AGENT)

    @property
    def directed(self) -> bool:
        return bool(self.data.get(DIRECTED))

    @property
    def candidates(self) -> list[dict]:
        candidates = self.data.get(CANDIDATES)
        return [c for c in candidates if isinstance(c, Mapping)] if isinstance(candidates, list) else []

    @property
    def queue_id(self) -> int | Any:
        """The queue it arrived in (created), or get-next took it from (assigned)."""
        return self._said(QUEUE_ID)

    @property
    def from_queue_id(self) -> int | Any:
        return self._said(FROM_QUEUE_ID)

    @property
    def to_queue_id(self) -> int | Any:
        return self._said(TO_QUEUE_ID)

    @property
    def from_queue_code(self) -> str | Any:
        return self._said(FROM_QUEUE)

    @property
    def to_queue_code(self) -> str | Any:
        return self._said(TO_QUEUE)

    @property
    def source(self) -> str | Any:
        return self._said(SOURCE)

    @property
    def external_id(self) -> str | Any:
        return self._said(EXTERNAL_ID)

    @property
    def external_deadline(self) -> datetime | Any:
        return _time(self._said(EXTERNAL_DEADLINE))

    @property
    def governed_by(self) -> str | Any:
        return self._said(GOVERNED_BY)

    @property
    def due_at(self) -> datetime | Any:
        """The item's due time after the event (a priority change's `to_due_at`)."""
        return _time(self._said(TO_DUE_AT if self.kind == EventKind.PRIORITY_CHANGED else DUE_AT))

    @property
    def start_by(self) -> datetime | Any:
        return _time(self._said(START_BY))

    @property
    def due_at_before(self) -> datetime | Any:
        return _time(self._said(FROM_DUE_AT))

    @property
    def priority(self) -> int | Any:
        """The item's priority after the event, where it states it."""
        return self._said(TO_PRIORITY if self.kind == EventKind.PRIORITY_CHANGED else PRIORITY)

    @property
    def priority_before(self) -> int | Any:
        return self._said(FROM_PRIORITY)

    @property
    def order(self) -> str | Any:
        return self._said(ORDER)

    @property
    def eligible_queues(self) -> int | Any:
        return self._said(ELIGIBLE_QUEUES)

    @property
    def step(self) -> int | Any:
        """The routing step the item had reached (get-next), or entered (step_entered)."""
        return self._said(STEP)

    @property
    def from_step(self) -> int | Any:
        return self._said(FROM_STEP)

    @property
    def admitted_at_step(self) -> int | Any:
        """The routing step whose rule admitted the agent get-next gave the item to."""
        return self._said(ADMITTED_AT_STEP)

    @property
    def until(self) -> datetime | Any:
        """A pend's follow-up time."""
        return _time(self._said(UNTIL))

    @property
    def follow_up_was(self) -> datetime | Any:
        return _time(self._said(FOLLOW_UP_WAS))

    @property
    def not_offered_again_until(self) -> datetime | Any:
        return _time(self._said(NOT_OFFERED_AGAIN_UNTIL))

    @property
    def outcome(self) -> str | Any:
        return self._said(OUTCOME)

    @property
    def threshold(self) -> int | Any:
        """An SLA alert's percent of the target (100 or more: the breach)."""
        return self._said(THRESHOLD)

    @property
    def action_kind(self) -> str | Any:
        return self._said(ACTION_KIND)

    @property
    def action_outcome(self) -> str | Any:
        return self._said(ACTION_OUTCOME)

    @property
    def action_detail(self) -> str | Any:
        return self._said(ACTION_DETAIL)

    @property
    def agent_ids(self) -> set[int]:
        """The agents it names by id (the holders before and after)."""
        return {value for value in (self.holder_before, self.holder_after) if isinstance(value, int)}

    @property
    def usernames(self) -> set[str]:
        """The agents it names by username (the candidates a job considered)."""
        return {c["agent"] for c in self.candidates if isinstance(c.get("agent"), str)}

    @property
    def queue_codes(self) -> set[str]:
        return {code for code in (self.from_queue_code, self.to_queue_code) if isinstance(code, str)}


def read(event: WorkItemEvent) -> EventData:
    return EventData(event.kind, event.data)


def read_all(events: Iterable[WorkItemEvent]) -> list[EventData]:
    return [read(event) for event in events]
