"""Get next work: hand an agent its next best item, exactly once (DESIGN.md, "Allocation").

The rules:
- the agent must exist, be available and hold fewer active items (assigned or in
  progress) than its capacity; its row is locked, so its own concurrent requests queue up;
- first its own pended items whose follow-up time has come: the statement below finds one,
  and `_follow_up_take` gives it back in a transaction of its own with its SLA pause
  ended in it (the working time paused is added up in Python, with the calendar), locks
  taken in the stated order — agent, item, clock (allocation/lock_objects.py);
- else, across the queues it is eligible for (active, pull mode, a routing step admits it:
  its team taken, every required skill held at or above the minimum), the earliest
  start-by, then highest priority, earliest receipt, lowest id — of the items it is not
  cooling off from that reached a step admitting it (allocation/routing.py).
Who may receive what is stated once, in allocation/eligibility.py; the statement says it
again in SQL (READY_CTES, JUDGED_CTES and the `cooling` CTE) to stay one
round trip, and tests/allocation/test_eligibility.py holds the two to the same answers.
Which queues an agent is eligible for changes only when the organisation does, so it is
judged once and kept (AgentEligibility, with the eligibility version it was judged at);
the statement reads that copy (ELIGIBLE_CTES) when its version is current, else nothing,
and then `agent_eligibility_judge` judges it again and the statement is run again — judging it
on every call cost as much PostgreSQL time as the rest of the statement, with routing steps.

The backlog is never scanned: each eligible queue's head is read from the partial index
`workitem_queue_head` (queue, start_by, priority desc, received_at, id WHERE queued)
through a LATERAL join — or, for a queue whose step 2 first admits the agent, the head of
every item past step 1 from `workitem_later_head`, and for one a step after that first
admits it, each step's head from `workitem_step_head` (by step) —; the heads are merged,
and the first one no concurrent transaction holds is locked with FOR UPDATE SKIP LOCKED. Checking, picking, assigning,
writing the event and stamping the agent are one statement — one round trip, one
snapshot, atomic on its own — because this is the hottest path of the product. Its event
says what `events.assigned` would, in the vocabulary's keys (allocation/events.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from allocation import eligibility, events
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable, NotAnAgent
from allocation.lock_objects import agents_lock
from allocation.models import (
    FIRST_STEP,
    LAST_STEP,
    AdmissionTeam,
    AgentEligibility,
    AgentProfile,
    AgentSkill,
    AllocationMode,
    CoolOff,
    EventKind,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStep,
    SlaClock,
    StepSkill,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import lifecycle, moves
from allocation.services.rows import ITEM_TABLE, compact_sql, item_from_row, queue_columns
from core import metrics
from core.actors import Actor, SystemActor
from core.exceptions import DomainError

# How many heads each read gives, and how many of the merged heads are tried in order.
# Uncontended, the first candidate is the global best (it heads its read: the items the
# agent is cooling off from are never read); a candidate is only lost to a concurrent
# request, so the window starts above the expected concurrency, and both widen while every
# candidate was lost and some read may have more behind its heads. One head per read keeps
# the read small — each is an index entry and a heap visit, and an agent a step admits has
# half again as many reads (measured: bench/README.md, "Allocation with routing steps").
FIRST_HEADS_PER_QUEUE = 1
FIRST_WINDOW = 8
WIDEST_WINDOW = 4096

# The statement's tables are aliased without AS, and it is sent compacted (rows.compact_sql):
# every variant must stay within psycopg's cached length (a test checks).
# The rule (eligibility.py states it) in the statement's terms: `agent` and whether it is
# `ready` (available, with room); the queues it is `eligible` for while ready, from its
# copy of the rule's answer (AgentEligibility) if that is of the current eligibility
# version. Named so tests/allocation/test_eligibility.py can run them alone, as they are sent.
ELIGIBILITY_VERSION = "(SELECT version FROM allocation_eligibility_version)"
# Each queue's step reach, kept by a trigger on the steps (migration allocation 0024).
STEP_REACH_TABLE = "allocation_queue_step_reach"
READY_CTES = f"""
agent AS (
    SELECT a.user_id, a.capacity, a.presence,
           (SELECT count(*) FROM {ITEM_TABLE} h
             WHERE h.assignee_id = a.user_id
               AND h.status IN ('{ItemStatus.ASSIGNED}', '{ItemStatus.IN_PROGRESS}')) held
      FROM {AgentProfile._meta.db_table} a
     WHERE a.user_id = %(agent)s
       FOR UPDATE OF a
),
ready AS (
    SELECT user_id FROM agent WHERE presence = '{Presence.AVAILABLE}' AND held < capacity
)"""
ELIGIBLE_CTES = f"""
kept AS (
    SELECT e.queue_ids, e.first_steps, e.last_steps FROM {AgentEligibility._meta.db_table} e
     WHERE e.agent_id = %(agent)s AND e.as_of = {ELIGIBILITY_VERSION}
),
eligible AS (
    SELECT x.queue_id, x.first_step, x.last_step
      FROM ready, kept, unnest(kept.queue_ids, kept.first_steps, kept.last_steps) x(queue_id, first_step, last_step)
)"""
# Every position after the second, as SQL rows: (3),(4),…
LATER_POSITIONS = ",".join(f"({p})" for p in range(FIRST_STEP + 2, LAST_STEP + 1))
# What a head read reads, besides one step's position: the queue's whole backlog, or every
# item of it past step 1. Not positions, so no step is taken for them.
WHOLE_QUEUE = 0
PAST_STEP_ONE = -1
# The rule itself, judged for the agent's team (`member`) whatever its presence: what
# `agent_eligibility_judge` keeps as the agent's copy.
MEMBER_CTE = f"member AS (SELECT team_id FROM {AgentProfile._meta.db_table} WHERE user_id = %(agent)s)"
JUDGED_CTES = f"""
deficit AS (
    -- The queues' own requirements (step 1's) the agent does not meet: the skill (k)
    -- missing, or below the minimum. A few rows, read once.
    SELECT qs.queue_id, qs.skill_id
      FROM {QueueSkill._meta.db_table} qs
      LEFT JOIN {AgentSkill._meta.db_table} k ON k.agent_id = %(agent)s AND k.skill_id = qs.skill_id
     WHERE coalesce(k.proficiency, 0) < qs.min_proficiency
),
judged AS (
    -- The queues the agent may take from, each with the first step that admits it: it
    -- may receive the items that reached that step or a later one. A step (s; none for
    -- step 1) admits the team's agent who meets its requirements — the queue's, less the
    -- skills the step changes (c), plus those the step requires — as the view
    -- allocation_admission_requirement lists them; judged here only for the team's steps,
    -- from the deficit, rather than by reading that view whole. The team is a value (an
    -- InitPlan), not a join: pushed into each branch of the admission view, it reads the
    -- team's rows through their indexes.
    SELECT a.queue_id, min(a.position) AS first_step
      FROM {AdmissionTeam._meta.db_table} a
      JOIN {Queue._meta.db_table} q ON q.id = a.queue_id
      LEFT JOIN {RoutingStep._meta.db_table} s ON s.queue_id = a.queue_id AND s.position = a.position
     WHERE a.team_id = (SELECT team_id FROM member) AND q.is_active AND q.allocation_mode = '{AllocationMode.PULL}'
       AND NOT EXISTS (SELECT FROM deficit AS d WHERE d.queue_id = a.queue_id AND NOT EXISTS
                       (SELECT FROM {StepSkill._meta.db_table} c WHERE c.step_id = s.id AND c.skill_id = d.skill_id))
       AND NOT EXISTS (SELECT FROM {StepSkill._meta.db_table} c
                        LEFT JOIN {AgentSkill._meta.db_table} k ON k.agent_id = %(agent)s AND k.skill_id = c.skill_id
                       WHERE c.step_id = s.id AND coalesce(k.proficiency, 0) < c.min_proficiency)
     GROUP BY a.queue_id
)"""
# The version is read in the statement that reads what the rule reads: one snapshot, so
# the copy is exactly the rule's answer at that version.
_ELIGIBILITY_JUDGE = compact_sql(f"""
WITH {MEMBER_CTE},
{JUDGED_CTES}
INSERT INTO {AgentEligibility._meta.db_table} (agent_id, queue_ids, first_steps, last_steps, as_of)
SELECT %(agent)s, coalesce(array_agg(j.queue_id ORDER BY j.queue_id), '{{}}'),
       coalesce(array_agg(j.first_step ORDER BY j.queue_id), '{{}}'),
       coalesce(array_agg(coalesce(r.last_position, {FIRST_STEP}) ORDER BY j.queue_id), '{{}}'), {ELIGIBILITY_VERSION}
  FROM judged j LEFT JOIN {STEP_REACH_TABLE} r ON r.queue_id = j.queue_id
    ON CONFLICT (agent_id) DO UPDATE
   SET queue_ids = EXCLUDED.queue_ids, first_steps = EXCLUDED.first_steps, last_steps = EXCLUDED.last_steps,
       as_of = EXCLUDED.as_of
""")

_ASSIGN_NEXT_TEMPLATE = f"""
WITH {READY_CTES},
follow_up AS (
    -- Found here, given back by _follow_up_take: its SLA pause ends as it moves.
    SELECT w.id
      FROM {ITEM_TABLE} w
      JOIN ready ON w.assignee_id = ready.user_id
     WHERE w.status = '{ItemStatus.PENDED}' AND w.pended_until <= %(now)s
     ORDER BY w.pended_until, w.id
     LIMIT 1
       FOR UPDATE OF w SKIP LOCKED
),
{ELIGIBLE_CTES},
cooling AS (
    -- The items the agent handed back a moment ago (a release, a push rejection): left out
    -- of every head read, so the ones it may not take never stand in for those it may.
    SELECT c.item_id FROM {CoolOff._meta.db_table} c WHERE c.agent_id = %(agent)s AND c.until > %(now)s
),
reads AS (
    -- Where to read heads: a queue whose step 1 admits the agent, whole (WHOLE_QUEUE),
    -- from workitem_queue_head; one whose step 2 first admits it, every item past step 1
    -- (PAST_STEP_ONE), from workitem_later_head; else each position from the first
    -- admitting step to the queue's step reach (the last position its items may be at: an
    -- item keeps the position of a step deleted since), from workitem_step_head (an empty
    -- one costs an index descent). A list, not generate_series: the planner takes a
    -- set-returning function for 1,000 rows a call, and the inflated cost set JIT
    -- compiling (~250 ms) going.
    SELECT queue_id, __WHOLE_QUEUE__ AS step FROM eligible WHERE first_step = {FIRST_STEP}
     UNION ALL
    SELECT queue_id, __PAST_STEP_ONE__ FROM eligible WHERE first_step = {FIRST_STEP + 1}
     UNION ALL
    SELECT queue_id, p FROM eligible, (VALUES {LATER_POSITIONS}) AS v(p)
     WHERE first_step > {FIRST_STEP + 1} AND p BETWEEN first_step AND last_step
),
heads AS (
    -- The first items of each read, from the partial indexes; `q` and `s` say whose they
    -- are, so the caller can tell a read to its end from one with more behind.
    SELECT head.*, reads.queue_id AS q, reads.step AS s
      FROM reads
     CROSS JOIN LATERAL (
            (SELECT id, start_by, priority, received_at FROM {ITEM_TABLE}
              WHERE queue_id = reads.queue_id AND status = '{ItemStatus.QUEUED}' AND reads.step = __WHOLE_QUEUE__
                AND id NOT IN (SELECT item_id FROM cooling)
              ORDER BY start_by, priority DESC, received_at, id
              LIMIT __HEADS_PER_QUEUE__)
            UNION ALL
            (SELECT id, start_by, priority, received_at FROM {ITEM_TABLE}
              WHERE queue_id = reads.queue_id AND routing_step > {FIRST_STEP} AND status = '{ItemStatus.QUEUED}'
                AND reads.step = __PAST_STEP_ONE__ AND id NOT IN (SELECT item_id FROM cooling)
              ORDER BY start_by, priority DESC, received_at, id
              LIMIT __HEADS_PER_QUEUE__)
            UNION ALL
            (SELECT id, start_by, priority, received_at FROM {ITEM_TABLE}
              WHERE queue_id = reads.queue_id AND routing_step = reads.step
                AND routing_step > {FIRST_STEP} AND status = '{ItemStatus.QUEUED}' AND reads.step > {FIRST_STEP}
                AND id NOT IN (SELECT item_id FROM cooling)
              ORDER BY start_by, priority DESC, received_at, id
              LIMIT __HEADS_PER_QUEUE__)
           ) AS head
     WHERE NOT EXISTS (SELECT FROM follow_up)
),
candidates AS (
    SELECT id FROM heads ORDER BY start_by, priority DESC, received_at, id LIMIT __WINDOW__
),
next_best AS (
    -- Queued, so held by nobody (the table's check workitem_assignee_iff_held): the event
    -- says so in constants.
    SELECT w.id, w.updated_at was
      FROM {ITEM_TABLE} w
     WHERE id IN (SELECT id FROM candidates) AND status = '{ItemStatus.QUEUED}'
     ORDER BY start_by, priority DESC, received_at, id
     LIMIT 1
       FOR UPDATE OF w SKIP LOCKED
),
t AS (
    -- When: read once the item is locked (never before its last write), as every move is.
    SELECT GREATEST(clock_timestamp(), was) AS at FROM next_best
),
moved AS (
    -- Assigned; and, where the queue says pulled work starts at once, started too (as the
    -- holder's start would: started_at kept from an earlier holder's start).
    UPDATE {ITEM_TABLE} w
       SET status = CASE WHEN pq.starts_on_pull THEN '{ItemStatus.IN_PROGRESS}' ELSE '{ItemStatus.ASSIGNED}' END,
           started_at = coalesce(w.started_at, CASE WHEN pq.starts_on_pull THEN t.at END),
           assignee_id = %(agent)s, assigned_at = t.at, updated_at = t.at, assigned_by_id = NULL
      FROM next_best picked LEFT JOIN {SlaClock._meta.db_table} c ON c.item_id = picked.id,
           t, {Queue._meta.db_table} pq
     WHERE w.id = picked.id AND pq.id = w.queue_id
    -- Every column (rows.ITEM_COLUMNS, in the table's order), what the answer says of the
    -- queue, and the item's SLA clock (rows.CLOCK_COLUMNS; none of their names is an item's).
 RETURNING w.*, {queue_columns("pq")}, c.*
),
logged AS (
    -- events.assigned's data, for the rule RULE_NEXT_BEST; then, for an item started at
    -- once, events.started's (by its holder), in that order: the ids keep the events' order.
    INSERT INTO {WorkItemEvent._meta.db_table}
           (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
    -- The order's description is bound (%(order)s), not written: the text stays within
    -- psycopg's cached length.
    SELECT id, updated_at, %(actor_id)s, %(system_actor)s, '{EventKind.ASSIGNED}', '{ItemStatus.QUEUED}',
           '{ItemStatus.ASSIGNED}', '',
           jsonb_build_object('{events.RULE}', '{events.RULE_NEXT_BEST}', '{events.QUEUE_ID}', queue_id,
                              '{events.PRIORITY}', priority, '{events.FROM_AGENT}', NULL,
                              '{events.TO_AGENT}', assignee_id, '{events.DUE_AT}', due_at,
                              '{events.START_BY}', start_by, '{events.ORDER}', %(order)s::text,
                              '{events.ELIGIBLE_QUEUES}', (SELECT count(*) FROM eligible),
                              '{events.STEP}', routing_step,
                              '{events.ADMITTED_AT_STEP}',
                              (SELECT first_step FROM eligible e WHERE e.queue_id = moved.queue_id))
      FROM moved
     UNION ALL
    SELECT id, updated_at, %(agent)s, '', '{EventKind.STARTED}', '{ItemStatus.ASSIGNED}', status, '', '{{}}'
      FROM moved WHERE status <> '{ItemStatus.ASSIGNED}'
),
stamped AS (
    UPDATE {AgentProfile._meta.db_table} SET last_assigned_at = (SELECT at FROM t)
     WHERE user_id = %(agent)s AND EXISTS (SELECT FROM moved)
)
-- How many heads, and the most from one read: only wanted when nothing was picked (an
-- InitPlan is run when first asked for, so not on the common path).
SELECT agent.presence, agent.held, agent.capacity, EXISTS (SELECT FROM kept),
       CASE WHEN m.id IS NULL THEN (SELECT count(*) FROM heads) END,
       CASE WHEN m.id IS NULL THEN (SELECT count(*) FROM heads GROUP BY q, s ORDER BY 1 DESC LIMIT 1) END,
       (SELECT id FROM follow_up), m.*
  FROM agent
  LEFT JOIN moved m ON true
"""


def _assign_next_sql(heads_per_queue: int, window: int) -> str:
    # The two limits are written into the text, not bound: with them as parameters the
    # planner's generic plan guesses 10% of the rows for each LIMIT, costs far above the
    # custom plans, so PostgreSQL re-planned the statement on every call (about 1 ms of
    # server CPU, as much as executing it). With constants the generic plan costs the same
    # as a custom one and the prepared statement is planned once per connection. There are
    # only three (heads, window) pairs, so three prepared statements.
    return compact_sql(_ASSIGN_NEXT_TEMPLATE.replace("__HEADS_PER_QUEUE__", str(int(heads_per_queue)))
                       .replace("__WINDOW__", str(int(window)))
                       .replace("__WHOLE_QUEUE__", str(WHOLE_QUEUE)).replace("__PAST_STEP_ONE__", str(PAST_STEP_ONE)))


_ASSIGN_NEXT_BY_LIMITS: dict[tuple[int, int], str] = {}
_heads, _window = FIRST_HEADS_PER_QUEUE, FIRST_WINDOW
while True:
    _ASSIGN_NEXT_BY_LIMITS[_heads, _window] = _assign_next_sql(_heads, _window)
    if _window >= WIDEST_WINDOW:
        break
    _heads, _window = _window, _window * 8
_ASSIGN_NEXT = _ASSIGN_NEXT_BY_LIMITS[FIRST_HEADS_PER_QUEUE, FIRST_WINDOW]


def next_work_refusal(*, presence: str, held: int, capacity: int, reason: str = "") -> DomainError | None:
    """Why an agent may not get work now, or None: the one rule behind get-next's refusal
    and the inbox's disabled button (`reason` is the agent's, for being away or offline)."""
    if presence != Presence.AVAILABLE:
        state = Presence(presence).label.lower() + (f" ({reason})" if reason else "")
        return AgentNotAvailable(f"You are {state}: set yourself available to get work.")
    if not eligibility.has_room(held=held, capacity=capacity):
        return AgentAtCapacity(f"You already hold {held} of {capacity} items: finish, pend or release one first.")
    return None


def agent_next_work_refusal(agent: AgentProfile, *, held: int) -> DomainError | None:
    """`next_work_refusal` for an agent's profile and the number of items it holds."""
    reason = agent.presence_reason.label if agent.presence_reason_id else ""
    return next_work_refusal(presence=agent.presence, held=held, capacity=agent.capacity, reason=reason)


def item_get_next(*, agent_id: int, actor: Actor | None = None) -> WorkItem | None:
    """Assign the agent's next best item and return it, or None when nothing is waiting.

    Raises NotAnAgent, AgentNotAvailable or AgentAtCapacity when the agent may not take
    work now. `actor` defaults to the agent itself (a supervisor or job may act for it)."""
    now = timezone.now()
    params = assign_next_params(agent_id=agent_id, actor=actor, now=now)
    heads_per_queue, window = FIRST_HEADS_PER_QUEUE, FIRST_WINDOW
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_ASSIGN_NEXT_BY_LIMITS[heads_per_queue, window], params)
            row = cursor.fetchone()
        if row is None:
            raise NotAnAgent("Only agents can get work: this user has no agent profile.")
        presence, held, capacity, kept_current, heads, most_from_one_queue, follow_up_id, *item_row = row
        refusal = next_work_refusal(presence=presence, held=held, capacity=capacity)
        if refusal is not None:
            raise refusal
        if follow_up_id is not None:
            item = _follow_up_take(agent_id=agent_id, item_id=follow_up_id, actor=actor, now=now)
            if item is not None:
                metrics.ALLOCATIONS.labels("assigned").inc()
                return item
            continue  # moved or taken meanwhile (a job, the agent's other tab): look again
        if not kept_current:
            # No copy of the agent's eligibility, or one of another version: nothing was read.
            # Judge it again, then look.
            agent_eligibility_judge(agent_id)
            continue
        if item_row[0] is not None:
            item = item_from_row(item_row)
            if actor is not None and not isinstance(actor, SystemActor) and actor.pk == agent_id:
                item.assignee = actor
            metrics.ALLOCATIONS.labels("assigned").inc()
            return item
        # Nothing free among the candidates. "Nothing waiting" only if the eligible backlog was
        # read to its end: no queue gave as many heads as asked for (it may have more behind
        # them) and every head was a candidate. Else look further down the queues.
        read_to_end = heads <= window and (most_from_one_queue or 0) < heads_per_queue
        if read_to_end or window >= WIDEST_WINDOW:
            metrics.ALLOCATIONS.labels("none").inc()
            return None
        heads_per_queue, window = window, window * 8


def agent_eligibility_judge(agent_id: int) -> None:
    """Judge the agent's eligibility by the rule and keep it as the agent's copy, with the
    version it was judged at."""
    with connection.cursor() as cursor:
        cursor.execute(_ELIGIBILITY_JUDGE, {"agent": agent_id})


@transaction.atomic
def _follow_up_take(*, agent_id: int, item_id: int, actor: Actor | None, now: datetime) -> WorkItem | None:
    """Give the agent back its own pended item whose follow-up came, if it still may take it
    and nothing moved the item since the statement found it (else None). Locks in the stated
    order — the agent, the item, then its SLA clock (moves.item_move) —, and the
    pause ends in the same transaction as the move."""
    agent = agents_lock([agent_id]).select_related("user").first()
    refusal = agent_next_work_refusal(agent, held=eligibility.active_item_count(agent_id))
    if refusal is not None:
        raise refusal
    item = (
        WorkItem.objects.select_for_update(skip_locked=True, of=("self",)).select_related("queue")
        .filter(pk=item_id, status=ItemStatus.PENDED, assignee_id=agent_id, pended_until__lte=now).first()
    )
    if item is None:
        return None
    at = max(timezone.now(), item.updated_at)  # as every move: never before the item's last write
    pended_until = item.pended_until
    moves.item_move(item, to=agent, at=at)
    who = agent.user if actor is None else actor
    events.assigned(item, at=at, actor=who, from_status=ItemStatus.PENDED, rule=events.RULE_FOLLOW_UP,
                    from_agent=agent_id, to_agent=agent_id, pended_until=pended_until).save()
    if item.queue.starts_on_pull:  # pulled, as the statement's items are: started by its holder at once
        item = lifecycle.item_start(item_id=item.pk, actor=agent.user)
    return item


def assign_next_params(*, agent_id: int, actor: Actor | None, now: datetime) -> dict:
    """What the get-next statement binds (the benchmark sends it alone with the same)."""
    return {"agent": agent_id, "now": now, "order": events.ORDER_DESCRIPTION, **_actor_columns(actor, agent_id)}


def _actor_columns(actor: Actor | None, agent_id: int) -> dict:
    if actor is None:
        return {"actor_id": agent_id, "system_actor": ""}
    if isinstance(actor, SystemActor):
        return {"actor_id": None, "system_actor": actor.name}
    return {"actor_id": actor.pk, "system_actor": ""}
