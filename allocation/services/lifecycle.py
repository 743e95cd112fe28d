"""Item lifecycle transitions (DESIGN.md, "Work item lifecycle").

Each function: lock the row, check the actor may act and the item is in a state that
allows the move, change it, write one event — all in one transaction — or raise a
domain error that says what was refused.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from allocation import eligibility, events, sla, transitions
from allocation.exceptions import (
    AgentAtCapacity,
    AgentNotEligible,
    IllegalTransition,
    ItemNotFound,
    NotAnAgent,
    NotItemHolder,
)
from allocation.lock_objects import agents_lock, item_lock
from allocation.models import (
    FIRST_STEP,
    CoolOff,
    CoolOffKind,
    EventKind,
    ItemStatus,
    Priority,
    Queue,
    SlaClock,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import sla_clock
from allocation.services.assignment_notices import assignment_notify
from allocation.services.rows import (
    ITEM_TABLE,
    clock_columns,
    compact_sql,
    item_from_row,
    queue_columns,
    returning_item,
)
from allocation.sla.working_time import NoWorkingTime, OutOfRange
from core import roles
from core.actors import Actor, SystemActor
from core.exceptions import InvalidInput, PermissionDenied


def _is_system(actor: Actor) -> bool:
    return isinstance(actor, SystemActor)


def _require_holder(item: WorkItem, actor: Actor) -> None:
    if transitions.is_holder(item, actor):
        return
    if item.completed_by_id is not None and item.completed_by_id == getattr(actor, "pk", None):
        # Its own completer again (a repeat whose first answer was lost): the item is closed,
        # a conflict with its state (409), not somebody else's work (403).
        raise IllegalTransition(f"Work item #{item.pk} is completed: you completed it already.")
    raise NotItemHolder(f"You do not hold work item #{item.pk}; only its holder can do this.")


def _require_reach(item: WorkItem, actor: Actor) -> None:
    """A supervisor acts on the items of its teams' queues only, a source system on the items
    of its own sources (transitions.items_in_reach); to a source system another source's
    items do not exist."""
    if transitions.reaches(actor, item):
        return
    if roles.is_source_system(actor) and not roles.is_supervisor(actor):
        raise ItemNotFound(f"Work item #{item.pk} does not exist.")
    raise PermissionDenied(f"Work item #{item.pk} is in {item.queue.name}, which none of your teams serves.")


def _require_status(item: WorkItem, allowed: tuple[str, ...], action: str) -> None:
    """`allowed` comes from the transition table (allocation/transitions.py)."""
    if item.status in allowed:
        return
    raise IllegalTransition(
        f"Work item #{item.pk} is {item.get_status_display().lower()}, so it cannot be {action}. "
        "It may have been changed by someone else: reload it to see its current state."
    )


def _require_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(message, fields={field: [message]})
    return value


def _save(item: WorkItem, *fields: str) -> None:
    item.save(update_fields=[*fields, "updated_at"])


# The start is dated once the item's row lock is held, as item_pend is: an event another
# transaction wrote while this one waited for the lock (a priority change) was written
# first, so it must be dated first. A time read in Python before sending the statement
# cannot be, so the statement reads it: `locked` takes the lock (waiting for any holder,
# then re-checking state and holder on the row as it is now), and `stamp`, computed from
# the row it returns, reads the clock once — clock_timestamp() is volatile, so one read
# carried to every use, for started_at, updated_at and the event's `at` to be equal. It is
# never earlier than the item's updated_at: the database's clock may lag the clocks of the
# Python processes that dated the item's earlier events, and every write that can leave an
# item assigned to its holder (get-next, push, transfer, the jobs' moves, a priority
# change) stamps updated_at at or after its event's time.
_START_HELD_ITEM = compact_sql(f"""
WITH locked AS (
    SELECT w.id, w.status, w.updated_at
      FROM {ITEM_TABLE} AS w
     WHERE w.id = %(item)s AND w.status = ANY(%(from_statuses)s) AND w.assignee_id = %(holder)s
       FOR UPDATE OF w
),
stamp AS (
    SELECT id, status AS was, GREATEST(clock_timestamp(), updated_at) AS at FROM locked
),
started AS (
    UPDATE {ITEM_TABLE} AS w
       SET status = %(to_status)s, started_at = COALESCE(w.started_at, stamp.at), updated_at = stamp.at
      FROM stamp
     WHERE w.id = %(item)s AND w.id = stamp.id
 RETURNING {returning_item("w")}
),
logged AS (
    INSERT INTO {WorkItemEvent._meta.db_table}
           (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
    SELECT started.id, started.updated_at, %(holder)s, '', %(kind)s, stamp.was, started.status, '', '{{}}'::jsonb
      FROM started JOIN stamp ON stamp.id = started.id
)
SELECT {returning_item("started")}, {queue_columns("q")}, {clock_columns("c")}
  FROM started JOIN {Queue._meta.db_table} AS q ON q.id = started.queue_id
  LEFT JOIN {SlaClock._meta.db_table} AS c ON c.item_id = started.id
""")
# Who may start what, from which state, and what it leads to: the lifecycle's table
# (allocation/transitions.py), read by the fast path and the checked path alike.
_START_PARAMS = {"from_statuses": [str(status) for status in transitions.HOLDER_MAY[transitions.START]],
                 "to_status": str(transitions.HOLDER_LEADS_TO[transitions.START]), "kind": str(EventKind.STARTED)}


def item_start(*, item_id: int, actor: Actor) -> WorkItem:
    """Start an assigned item. The common case — the holder starts its own assigned item —
    is one guarded statement (it locks the row, its WHERE is the state and holder check,
    and it reads the time once it holds the lock); anything else takes the general path
    below, which says what is wrong."""
    if not _is_system(actor):
        with connection.cursor() as cursor:
            cursor.execute(_START_HELD_ITEM, {"item": item_id, "holder": actor.pk, **_START_PARAMS})
            row = cursor.fetchone()
        if row is not None:
            item = item_from_row(row)
            item.assignee = actor
            return item
    return _item_start_checked(item_id=item_id, actor=actor)


@transaction.atomic
def _item_start_checked(*, item_id: int, actor: Actor) -> WorkItem:
    item = item_lock(item_id)
    _require_holder(item, actor)
    _require_status(item, transitions.HOLDER_MAY[transitions.START], "started")
    now = timezone.now()
    was, item.status = item.status, transitions.HOLDER_LEADS_TO[transitions.START]
    item.started_at = item.started_at or now
    _save(item, "status", "started_at")
    events.started(item, at=now, actor=actor, from_status=was).save()
    return item


@transaction.atomic
def item_pend(*, item_id: int, actor: Actor, until: datetime, reason: str) -> WorkItem:
    """Park an item in progress until a follow-up time; it then comes back to the same
    agent first (get-next serves due follow-ups before anything else)."""
    reason = _require_text(reason, "reason", "Say why the item is pended.")
    now = timezone.now()
    if until <= now:
        raise InvalidInput("The follow-up time must be in the future.", fields={"until": ["Must be in the future."]})
    if until > now + settings.WFO_MAX_PEND:
        limit = settings.WFO_MAX_PEND.days
        raise InvalidInput(
            f"The follow-up time must be within {limit} days.",
            fields={"until": [f"Must be within {limit} days from now."]},
        )
    item = item_lock(item_id)
    _require_holder(item, actor)
    _require_status(item, transitions.HOLDER_MAY[transitions.PEND], "pended")
    now = timezone.now()  # after the lock: never dated before an event written while we waited
    item.status = ItemStatus.PENDED
    item.pended_until = until
    governed_by = None
    if sla_clock.clock_pause(item=item, at=now):
        # The policy's clock paused: the source's deadline, still running, governs meanwhile.
        governed_by = sla.EXTERNAL_DEADLINE
        _save(item, "status", "pended_until", "due_at", "start_by")
    else:
        _save(item, "status", "pended_until")
    events.pended(item, at=now, actor=actor, until=until, reason=reason, governed_by=governed_by).save()
    return item


@transaction.atomic
def item_resume(*, item_id: int, actor: Actor) -> WorkItem:
    """The holder takes a pended item up again before its follow-up time (the customer
    replied): back in progress, within its capacity as get-next's rule has it; the SLA
    pause ends and due at moves later by the working time paused."""
    holder = None if _is_system(actor) else agents_lock([actor.pk]).first()  # lock order: agent, then item
    item = item_lock(item_id)
    _require_holder(item, actor)
    _require_status(item, transitions.HOLDER_MAY[transitions.RESUME], "resumed")
    if holder is not None:
        held = eligibility.active_item_count(holder.pk)
        if not eligibility.has_room(held=held, capacity=holder.capacity):
            raise AgentAtCapacity(f"You already hold {held} of {holder.capacity} items: finish, pend or release "
                                  "one first, then resume this one.")
    now = timezone.now()
    follow_up = item.pended_until
    item.status = ItemStatus.IN_PROGRESS
    item.pended_until = None
    sla_clock.clock_resume(item=item, at=now)
    _save(item, "status", "pended_until", "due_at", "start_by")
    events.resumed(item, at=now, actor=actor, follow_up_was=follow_up).save()
    return item


# What an item completed without a typed outcome (its queue offers none) records.
COMPLETED_WITHOUT_OUTCOME = "completed"


# Completing one's own item in progress with an outcome its queue offers (or any, where it
# offers none) is one statement too, dated as the checked path dates it: by the caller's
# clock, as a cancel is too. `clock` locks the item's SLA clock after the item, as the
# checked path does; a paused clock's pause must first be added up on its calendar, so such
# an item — rare: a pause ends when a pended item comes back — is left to the checked path,
# as is anything refused. The clock is stopped in `stopped`, and the answer returns it as it
# is now.
_COMPLETE_HELD_ITEM = compact_sql(f"""
WITH locked AS (
    SELECT w.id, w.status
      FROM {ITEM_TABLE} AS w JOIN {Queue._meta.db_table} AS q ON q.id = w.queue_id
     WHERE w.id = %(item)s AND w.status = ANY(%(from_statuses)s) AND w.assignee_id = %(holder)s
       AND (q.outcomes = '[]'::jsonb OR q.outcomes ? %(outcome)s)
       FOR UPDATE OF w
),
clock AS (
    SELECT c.paused_since FROM {SlaClock._meta.db_table} AS c JOIN locked ON c.item_id = locked.id FOR UPDATE OF c
),
stamp AS (
    SELECT id, status AS was, %(now)s::timestamptz AS at
      FROM locked WHERE NOT EXISTS (SELECT FROM clock WHERE paused_since IS NOT NULL)
),
completed AS (
    UPDATE {ITEM_TABLE} AS w
       SET status = %(to_status)s, outcome = %(kept_outcome)s, completed_by_id = %(holder)s, assignee_id = NULL,
           closed_at = stamp.at, updated_at = stamp.at
      FROM stamp
     WHERE w.id = %(item)s AND w.id = stamp.id
 RETURNING {returning_item("w")}
),
stopped AS (
    UPDATE {SlaClock._meta.db_table} AS c SET stopped_at = stamp.at, next_alert_at = NULL
      FROM stamp
     WHERE c.item_id = stamp.id
 RETURNING {clock_columns("c")}
),
logged AS (
    INSERT INTO {WorkItemEvent._meta.db_table}
           (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
    SELECT completed.id, completed.closed_at, %(holder)s, '', %(kind)s, stamp.was, completed.status, %(note)s,
           jsonb_build_object('{events.OUTCOME}', completed.outcome, '{events.FROM_AGENT}', %(holder)s::bigint)
      FROM completed JOIN stamp ON stamp.id = completed.id
)
SELECT {returning_item("completed")}, {queue_columns("q")}, {clock_columns("stopped")}
  FROM completed JOIN {Queue._meta.db_table} AS q ON q.id = completed.queue_id
  LEFT JOIN stopped ON true
""")
_COMPLETE_PARAMS = {"from_statuses": [str(status) for status in transitions.HOLDER_MAY[transitions.COMPLETE]],
                    "to_status": str(transitions.HOLDER_LEADS_TO[transitions.COMPLETE]),
                    "kind": str(EventKind.COMPLETED)}


def item_complete(*, item_id: int, actor: Actor, outcome: str = "", note: str = "") -> WorkItem:
    """Complete an item in progress with an outcome. The common case is one guarded
    statement, as item_start's; anything else takes the checked path, which says what is
    wrong."""
    outcome, note = (outcome or "").strip(), note.strip()
    if not _is_system(actor):
        with connection.cursor() as cursor:
            cursor.execute(_COMPLETE_HELD_ITEM, {"item": item_id, "holder": actor.pk, "outcome": outcome,
                                                 "kept_outcome": outcome or COMPLETED_WITHOUT_OUTCOME, "note": note,
                                                 "now": timezone.now(), **_COMPLETE_PARAMS})
            row = cursor.fetchone()
        if row is not None:
            item = item_from_row(row)
            item.completed_by = actor
            return item
    return _item_complete_checked(item_id=item_id, actor=actor, outcome=outcome, note=note)


@transaction.atomic
def _item_complete_checked(*, item_id: int, actor: Actor, outcome: str, note: str) -> WorkItem:
    item = item_lock(item_id)
    _require_holder(item, actor)
    _require_status(item, transitions.HOLDER_MAY[transitions.COMPLETE], "completed")
    allowed = item.queue.outcomes
    if allowed and outcome not in allowed:
        message = f"Choose one of: {', '.join(allowed)}."
        raise InvalidInput(f"Outcome {outcome!r} is not one of {item.queue.name}'s outcomes.",
                           fields={"outcome": [message]})
    now = timezone.now()
    # The holder itself, in hand — unless a job completes for it (transitions.is_holder).
    completed_by = actor if getattr(actor, "pk", None) == item.assignee_id else item.assignee
    item.status = ItemStatus.COMPLETED
    item.outcome = outcome or COMPLETED_WITHOUT_OUTCOME
    item.completed_by = completed_by
    item.assignee = None
    item.closed_at = now
    _save(item, "status", "outcome", "completed_by", "assignee", "closed_at")
    sla_clock.clock_stop(item=item, at=now)
    events.completed(item, at=now, actor=actor, outcome=item.outcome, from_agent=completed_by.pk, note=note).save()
    return item


@transaction.atomic
def item_release(*, item_id: int, actor: Actor, reason: str) -> WorkItem:
    """Hand an assigned or started item back to its queue, keeping its place by start-by.
    It is not offered to that agent again for WFO_RELEASE_COOLDOWN (the agent gave a
    reason it cannot do it), while others may take it at once."""
    reason = _require_text(reason, "reason", "Say why the item is released.")
    item = item_lock(item_id)
    _require_holder(item, actor)
    from_status = item.status
    _require_status(item, transitions.HOLDER_MAY[transitions.RELEASE], "released")
    released_from = item.assignee_id
    now, until = _hand_back(item, kind=CoolOffKind.RELEASED, cooldown=settings.WFO_RELEASE_COOLDOWN, reason=reason)
    events.released(item, at=now, actor=actor, from_status=from_status, from_agent=released_from,
                    not_offered_again_until=until, reason=reason).save()
    return item


def _hand_back(item: WorkItem, *, kind: str, cooldown, reason: str) -> tuple[datetime, datetime]:
    """Its holder hands the (locked) item back to its queue: it is not offered to that agent
    again for `cooldown` (a CoolOff with the agent's reason). Returns when, and until when."""
    now = timezone.now()
    until = now + cooldown
    CoolOff.objects.create(item=item, agent_id=item.assignee_id, kind=kind, since=now, until=until, reason=reason)
    item.status, item.assignee = ItemStatus.QUEUED, None
    _save(item, "status", "assignee")
    return now, until


@transaction.atomic
def item_cancel(*, item_id: int, actor: Actor, reason: str = "") -> WorkItem:
    """Cancel an open item (a source system withdrew it, or a supervisor stopped it)."""
    if not transitions.has_permission(actor, transitions.CANCEL):
        raise PermissionDenied("You may not cancel work items.")
    item = item_lock(item_id)
    _require_reach(item, actor)
    from_status = item.status
    cancellable = transitions.statuses_allowing(transitions.CANCEL, as_holder=False, permitted=True)
    _require_status(item, cancellable, "cancelled")
    now = timezone.now()
    holder = item.assignee_id
    item.status = ItemStatus.CANCELLED
    item.assignee = None
    item.pended_until = None
    item.closed_at = now
    _save(item, "status", "assignee", "pended_until", "closed_at")
    sla_clock.clock_stop(item=item, at=now)
    events.cancelled(item, at=now, actor=actor, from_status=from_status, from_agent=holder,
                     reason=reason.strip()).save()
    return item


@transaction.atomic
def item_transfer(
    *,
    item_id: int,
    actor: Actor,
    to_queue_id: int | None = None,
    to_agent_id: int | None = None,
    reason: str = "",
) -> WorkItem:
    """Move an item to another queue (it waits there, keeping its due time) or straight to
    an eligible agent. The holder may transfer its own item; supervisors any open item of
    their teams' queues (admins any). A person giving an item to an agent decides: the
    agent is told, and the reservation expiry leaves the item with it (`assigned_by`)."""
    if (to_queue_id is None) == (to_agent_id is None):
        raise InvalidInput(
            "Give either a queue or an agent to transfer to.",
            fields={"non_field_errors": ["Give exactly one of queue or agent."]},
        )
    # Lock order: the receiving agent before the item.
    target_agent = agents_lock([to_agent_id]).select_related("user").first() if to_agent_id else None
    if to_agent_id and target_agent is None:
        raise NotAnAgent(f"User #{to_agent_id} is not an agent.", fields={"agent": ["Not an agent."]})
    item = item_lock(item_id)
    may_reassign = transitions.may_act_as_permitted(actor, transitions.TRANSFER, item)
    if not may_reassign:
        _require_holder(item, actor)
    allowed = transitions.statuses_allowing(
        transitions.TRANSFER, as_holder=transitions.is_holder(item, actor), permitted=may_reassign
    )
    _require_status(item, allowed, "transferred")
    from_status, from_queue, from_agent = item.status, item.queue, item.assignee_id
    now = timezone.now()

    if target_agent is not None:
        if target_agent.pk == item.assignee_id:
            raise IllegalTransition(f"{target_agent} already holds work item #{item.pk}.")
        reasons = eligibility.agent_ineligibility_reasons(agent=target_agent, reach=eligibility.reach_of(item))
        if reasons:
            raise AgentNotEligible(" ".join(reasons), fields={"agent": reasons})
        item.status = ItemStatus.ASSIGNED
        item.assignee = target_agent.user
        item.assigned_at = now
        item.assigned_by = None if isinstance(actor, SystemActor) else actor
        target_agent.last_assigned_at = now
        target_agent.save(update_fields=["last_assigned_at"])
    else:
        target_queue = Queue.objects.filter(pk=to_queue_id, is_active=True).first()
        if target_queue is None:
            raise InvalidInput("That queue does not exist or is inactive.",
                               fields={"queue": ["Unknown or inactive queue."]})
        if target_queue.pk == item.queue_id and item.status == ItemStatus.QUEUED:
            raise IllegalTransition(f"Work item #{item.pk} is already waiting in {target_queue.name}.")
        if target_queue.pk != item.queue_id:  # it starts the new queue's routing at its step 1
            item.routing_step, item.step_entered_at = FIRST_STEP, now
        item.queue = target_queue
        item.start_by = sla.start_by_for(due_at=item.due_at, handle_time=target_queue.standard_handle_time)
        item.status = ItemStatus.QUEUED
        item.assignee = None
        item.assigned_by = None
    if from_status == ItemStatus.PENDED:
        sla_clock.clock_resume(item=item, at=now)
    item.pended_until = None
    _save(item, "status", "assignee", "assigned_at", "assigned_by", "queue", "due_at", "start_by", "pended_until",
          "routing_step", "step_entered_at")
    events.transferred(item, at=now, actor=actor, from_status=from_status, from_queue=from_queue,
                       from_agent=from_agent, to_agent=item.assignee_id, directed=item.assigned_by is not None,
                       reason=reason.strip()).save()
    if item.assigned_by is not None:
        assignment_notify(item=item, by=actor, reason=reason.strip())
    return item


@transaction.atomic
def item_change_priority(*, item_id: int, actor: Actor, priority: int, reason: str = "") -> WorkItem:
    """Change an open item's priority. Its SLA clock moves to the policy for the new
    priority, keeping the working time already elapsed and paused; the event records the
    old and new due times."""
    if not transitions.has_permission(actor, transitions.REPRIORITIZE):
        raise PermissionDenied("You may not change the priority of work items.")
    if priority not in Priority.values:
        raise InvalidInput(
            f"Priority {priority!r} does not exist.", fields={"priority": [f"Choose one of {Priority.values}."]}
        )
    item = item_lock(item_id)
    _require_reach(item, actor)
    allowed = transitions.statuses_allowing(transitions.REPRIORITIZE, as_holder=False, permitted=True)
    _require_status(item, allowed, "given another priority")
    if item.priority == priority:
        raise IllegalTransition(f"Work item #{item.pk} already has priority {item.get_priority_display()}.")
    now = timezone.now()
    from_priority, from_due_at = item.priority, item.due_at
    item.priority = priority
    policy = sla.PolicyBook().policy_for(item.queue, priority)
    try:
        governed_by = sla_clock.clock_retarget(item=item, policy=policy, at=now)
    except (OutOfRange, NoWorkingTime) as error:
        message = f"The SLA policy of this priority gives no due time ({error}); an admin must correct it."
        raise InvalidInput(f"Work item #{item.pk} cannot take this priority.", fields={"priority": [message]}) from None
    _save(item, "priority", "due_at", "start_by")
    # For an item with an external deadline, `governed_by` says which of the two governs now.
    events.priority_changed(item, at=now, actor=actor, from_priority=from_priority, from_due_at=from_due_at,
                            governed_by=governed_by, reason=reason.strip()).save()
    return item


@transaction.atomic
def item_reject(*, item_id: int, actor: Actor, reason: str) -> WorkItem:
    """Turn down an item push allocation gave you: it goes back to its queue and is not
    offered to you again for WFO_PUSH_REJECT_COOLDOWN."""
    reason = _require_text(reason, "reason", "Say why you reject the item.")
    item = item_lock(item_id)
    _require_holder(item, actor)
    _require_status(item, transitions.HOLDER_MAY[transitions.REJECT], "rejected")
    if not transitions.applies_to(transitions.REJECT, item):
        raise IllegalTransition(
            f"Work item #{item.pk} was not pushed to you ({item.queue.name} is a pull queue): release it instead."
        )
    holder = item.assignee_id
    now, until = _hand_back(item, kind=CoolOffKind.REJECTED, cooldown=settings.WFO_PUSH_REJECT_COOLDOWN, reason=reason)
    events.rejected(item, at=now, actor=actor, from_agent=holder, not_offered_again_until=until,
                    reason=reason).save()
    return item
