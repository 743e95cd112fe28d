"""Get next work: hand an agent its next best item, exactly once (DESIGN.md, "Allocation").

The rules, all in the one statement below:
- the agent must exist, be available and hold fewer active items (assigned or in
  progress) than its capacity; its row is locked, so its own concurrent requests queue up;
- first its own pended items whose follow-up time has come;
- else, across the queues it is eligible for (active, pull mode, served by its team, every
  required skill held at or above the minimum), the earliest start-by, then highest
  priority, earliest receipt, lowest id.

The backlog is never scanned: each eligible queue's head is read from the partial index
`workitem_queue_head` (queue, start_by, priority desc, received_at, id WHERE queued)
through a LATERAL join, the heads are merged, and the first one no concurrent
transaction holds is locked with FOR UPDATE SKIP LOCKED. Checking, picking, assigning,
writing the event and stamping the agent are one statement — one round trip, one
snapshot, atomic on its own — because this is the hottest path of the product. The event
names the agent and the holder before, as every change of holder does (services/events.py).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from allocation.actors import Actor, SystemActor
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable, NotAnAgent
from allocation.models import (
    AgentProfile,
    AgentSkill,
    AllocationMode,
    CoolOff,
    EventKind,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    SlaClock,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import sla_clock
from allocation.services.rows import ITEM_TABLE, ITEM_WIDTH, QUEUE_COLUMNS, compact_sql, item_from_row
from wfo import metrics
from wfo.exceptions import DomainError

RULE_PENDED_FOLLOW_UP = "pended_follow_up_due"
RULE_NEXT_BEST = "next_best_item"
ORDER_DESCRIPTION = "start_by, priority desc, received_at, id"

# How many heads are read per queue, and how many of the merged heads are tried in order.
# Uncontended, the first candidate is the global best (it heads its queue); a candidate is
# only lost to a concurrent request (or held back from this agent by a cool-off), so the
# window starts above the expected concurrency, and both widen while every candidate was
# lost and some queue may have more behind its heads. Few heads per queue keeps the read
# small: each head read is an index entry and a heap visit.
FIRST_HEADS_PER_QUEUE = 2
FIRST_WINDOW = 8
WIDEST_WINDOW = 4096

_ASSIGN_NEXT_TEMPLATE = f"""
WITH agent AS (
    SELECT a.user_id, a.team_id, a.capacity, a.presence,
           (SELECT count(*) FROM {ITEM_TABLE} AS h
             WHERE h.assignee_id = a.user_id
               AND h.status IN ('{ItemStatus.ASSIGNED}', '{ItemStatus.IN_PROGRESS}')) AS held
      FROM {AgentProfile._meta.db_table} AS a
     WHERE a.user_id = %(agent)s
       FOR UPDATE OF a
),
ready AS (
    SELECT user_id, team_id FROM agent WHERE presence = '{Presence.AVAILABLE}' AND held < capacity
),
follow_up AS (
    SELECT w.id, w.status AS from_status, w.assignee_id AS from_agent, w.pended_until,
           %(follow_up)s::text AS rule, w.updated_at AS was
      FROM {ITEM_TABLE} AS w
      JOIN ready ON w.assignee_id = ready.user_id
     WHERE w.status = '{ItemStatus.PENDED}' AND w.pended_until <= %(now)s
     ORDER BY w.pended_until, w.id
     LIMIT 1
       FOR UPDATE OF w SKIP LOCKED
),
unmet AS (
    -- Requirements the agent does not meet (skill missing or below the minimum), by queue.
    SELECT DISTINCT required.queue_id
      FROM {QueueSkill._meta.db_table} AS required
      CROSS JOIN ready
      LEFT JOIN {AgentSkill._meta.db_table} AS held
             ON held.agent_id = ready.user_id AND held.skill_id = required.skill_id
     WHERE held.proficiency IS NULL OR held.proficiency < required.min_proficiency
),
eligible AS (
    SELECT q.id AS queue_id
      FROM {Queue._meta.db_table} AS q
      JOIN {Queue.teams.through._meta.db_table} AS served ON served.queue_id = q.id
      JOIN ready ON served.team_id = ready.team_id
     WHERE q.is_active AND q.allocation_mode = '{AllocationMode.PULL}'
       AND q.id NOT IN (SELECT queue_id FROM unmet)
),
heads AS (
    -- Each eligible queue's first items, from the partial index; `q` says whose they are,
    -- so the caller can tell a queue read to its end from one with more behind.
    SELECT head.*, eligible.queue_id AS q
      FROM eligible
     CROSS JOIN LATERAL (
            SELECT id, start_by, priority, received_at FROM {ITEM_TABLE}
             WHERE queue_id = eligible.queue_id AND status = '{ItemStatus.QUEUED}'
             ORDER BY start_by, priority DESC, received_at, id
             LIMIT __HEADS_PER_QUEUE__
           ) AS head
     WHERE NOT EXISTS (SELECT 1 FROM follow_up)
),
candidates AS (
    SELECT id FROM heads ORDER BY start_by, priority DESC, received_at, id LIMIT __WINDOW__
),
next_best AS (
    SELECT w.id, w.status AS from_status, w.assignee_id AS from_agent, NULL::timestamptz AS pended_until,
           %(next_best)s::text AS rule, w.updated_at AS was
      FROM {ITEM_TABLE} AS w
     WHERE w.id IN (SELECT id FROM candidates) AND w.status = '{ItemStatus.QUEUED}'
       -- Not one the agent handed back a moment ago (a release, a push rejection).
       AND NOT EXISTS (SELECT 1 FROM {CoolOff._meta.db_table} AS c
                        WHERE c.item_id = w.id AND c.agent_id = %(agent)s AND c.until > %(now)s)
     ORDER BY w.start_by, w.priority DESC, w.received_at, w.id
     LIMIT 1
       FOR UPDATE OF w SKIP LOCKED
),
picked AS (
    SELECT * FROM follow_up
     UNION ALL
    SELECT * FROM next_best
),
t AS (
    -- When: read once the item is locked (never before its last write), as every move is.
    SELECT GREATEST(clock_timestamp(), was) AS at FROM picked
),
moved AS (
    UPDATE {ITEM_TABLE} AS w
       SET status = '{ItemStatus.ASSIGNED}', assignee_id = %(agent)s, assigned_at = t.at,
           pended_until = NULL, updated_at = t.at, assigned_by_id = NULL
      FROM picked, t
     WHERE w.id = picked.id
    -- Every column (rows.ITEM_COLUMNS, in the table's order), then what the event says.
 RETURNING w.*, picked.from_status AS picked_from_status, picked.from_agent, picked.rule AS picked_rule,
           picked.pended_until AS picked_pended_until
),
logged AS (
    INSERT INTO {WorkItemEvent._meta.db_table}
           (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
    SELECT id, updated_at, %(actor_id)s, %(system_actor)s, '{EventKind.ASSIGNED}', picked_from_status,
           '{ItemStatus.ASSIGNED}', '',
           jsonb_build_object('rule', picked_rule, 'queue_id', queue_id, 'start_by', start_by,
                              'priority', priority, 'from_agent', from_agent, 'to_agent', assignee_id)
           || CASE WHEN picked_rule = %(next_best)s
                   THEN jsonb_build_object('order', %(order)s::text, 'eligible_queues', (SELECT count(*) FROM eligible))
                   ELSE jsonb_build_object('pended_until', picked_pended_until) END
      FROM moved
),
stamped AS (
    UPDATE {AgentProfile._meta.db_table} SET last_assigned_at = (SELECT at FROM t)
     WHERE user_id = %(agent)s AND EXISTS (SELECT 1 FROM moved)
),
resumed AS (
    -- A pended item back on its follow-up ends its SLA pause now. The working time paused
    -- is added up in Python (sla_clock.clock_settle) right after; next_alert_at = the move
    -- makes the alert scan do it should that be interrupted.
    UPDATE {SlaClock._meta.db_table} AS c SET resumed_at = m.updated_at, next_alert_at = m.updated_at
      FROM moved AS m
     WHERE c.item_id = m.id AND m.picked_rule = %(follow_up)s AND c.paused_since IS NOT NULL
)
SELECT agent.presence, agent.held, agent.capacity, (SELECT count(*) FROM heads),
       (SELECT count(*) FROM heads GROUP BY q ORDER BY 1 DESC LIMIT 1), m.*, {QUEUE_COLUMNS}
  FROM agent
  LEFT JOIN moved AS m ON true
  LEFT JOIN {Queue._meta.db_table} AS q ON q.id = m.queue_id
"""


def _assign_next_sql(heads_per_queue: int, window: int) -> str:
    # The two limits are written into the text, not bound: with them as parameters the
    # planner's generic plan guesses 10% of the rows for each LIMIT, costs far above the
    # custom plans, so PostgreSQL re-planned the statement on every call (about 1 ms of
    # server CPU, as much as executing it). With constants the generic plan costs the same
    # as a custom one and the prepared statement is planned once per connection. There are
    # only three (heads, window) pairs, so three prepared statements.
    return compact_sql(_ASSIGN_NEXT_TEMPLATE.replace("__HEADS_PER_QUEUE__", str(int(heads_per_queue)))
                       .replace("__WINDOW__", str(int(window))))


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
    if held >= capacity:
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
    params = {"agent": agent_id, "now": timezone.now(), "follow_up": RULE_PENDED_FOLLOW_UP,
              "next_best": RULE_NEXT_BEST, "order": ORDER_DESCRIPTION, **_actor_columns(actor, agent_id)}
    heads_per_queue, window = FIRST_HEADS_PER_QUEUE, FIRST_WINDOW
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_ASSIGN_NEXT_BY_LIMITS[heads_per_queue, window], params)
            row = cursor.fetchone()
        if row is None:
            raise NotAnAgent("Only agents can get work: this user has no agent profile.")
        presence, held, capacity, heads, most_from_one_queue, *rest = row
        item_row, (_, _, rule, _), queue_row = rest[:ITEM_WIDTH], rest[ITEM_WIDTH:ITEM_WIDTH + 4], rest[ITEM_WIDTH + 4:]
        refusal = next_work_refusal(presence=presence, held=held, capacity=capacity)
        if refusal is not None:
            raise refusal
        if item_row[0] is not None:
            item = item_from_row([*item_row, *queue_row])
            if rule == RULE_PENDED_FOLLOW_UP:
                # Its SLA pause ended: due at moves later by the working time it was paused.
                sla_clock.clock_settle(item_id=item.pk)
                item.refresh_from_db(fields=["due_at", "start_by", "updated_at"])
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


def _actor_columns(actor: Actor | None, agent_id: int) -> dict:
    if actor is None:
        return {"actor_id": agent_id, "system_actor": ""}
    if isinstance(actor, SystemActor):
        return {"actor_id": None, "system_actor": actor.name}
    return {"actor_id": actor.pk, "system_actor": ""}
