"""Get next work: hand an agent its next best item, exactly once (DESIGN.md, "Allocation").

Order: the agent's own pended items whose follow-up time has come; then, across every
queue the agent is eligible for, earliest start-by, highest priority, earliest receipt,
lowest id.

The backlog is never scanned. Each eligible queue's head is read from the partial index
`workitem_queue_head` (queue, start_by, priority desc, received_at, id WHERE queued) with
a LATERAL join, the heads are merged, and the first one that no concurrent transaction
holds is locked with FOR UPDATE SKIP LOCKED. Picking, assigning, writing the event and
stamping the agent happen in one statement, so the hot path is a handful of round trips.
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.utils import timezone

from allocation import selectors
from allocation.actors import Actor, actor_fields
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable, NotAnAgent
from allocation.lock_objects import agents_lock
from allocation.models import (
    ACTIVE_STATUSES,
    AgentProfile,
    EventKind,
    ItemStatus,
    Presence,
    WorkItem,
    WorkItemEvent,
)

RULE_PENDED_FOLLOW_UP = "pended_follow_up_due"
RULE_NEXT_BEST = "next_best_item"
ORDER_DESCRIPTION = "start_by, priority desc, received_at, id"

# Heads read per queue and merged. A candidate can only be lost to a concurrent
# transaction, so the window starts a little above the expected concurrency and widens
# if every candidate was taken meanwhile.
FIRST_WINDOW = 16
WIDEST_WINDOW = 1024

_ITEM = WorkItem._meta.db_table
_EVENT = WorkItemEvent._meta.db_table
_AGENT = AgentProfile._meta.db_table

# Assign the picked row, write its event, stamp the agent: one statement, one snapshot.
_ASSIGN = f"""
moved AS (
    UPDATE {_ITEM} AS w
       SET status = '{ItemStatus.ASSIGNED}', assignee_id = %(agent)s, assigned_at = %(now)s,
           pended_until = NULL, updated_at = %(now)s
      FROM picked
     WHERE w.id = picked.id
 RETURNING w.id, w.queue_id, w.start_by, w.priority, picked.from_status, picked.pended_until
),
logged AS (
    INSERT INTO {_EVENT} (item_id, at, actor_id, system_actor, kind, from_status, to_status, reason, data)
    SELECT id, %(now)s, %(actor_id)s, %(system_actor)s, '{EventKind.ASSIGNED}', from_status,
           '{ItemStatus.ASSIGNED}', %(reason)s,
           %(data)s::jsonb || jsonb_build_object(
               'queue_id', queue_id, 'start_by', start_by, 'priority', priority,
               'pended_until', pended_until)
      FROM moved
),
stamped AS (
    UPDATE {_AGENT} SET last_assigned_at = %(now)s
     WHERE user_id = %(agent)s AND EXISTS (SELECT 1 FROM moved)
)
"""

_PICK_PENDED = f"""
WITH picked AS (
    SELECT id, status AS from_status, pended_until FROM {_ITEM}
     WHERE assignee_id = %(agent)s AND status = '{ItemStatus.PENDED}' AND pended_until <= %(now)s
     ORDER BY pended_until, id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
),
{_ASSIGN}
SELECT (SELECT id FROM moved), 1
"""

_PICK_NEXT_BEST = f"""
WITH candidates AS (
    SELECT head.id
      FROM unnest(%(queues)s::bigint[]) AS eligible(queue_id)
     CROSS JOIN LATERAL (
            SELECT id, start_by, priority, received_at FROM {_ITEM}
             WHERE queue_id = eligible.queue_id AND status = '{ItemStatus.QUEUED}'
             ORDER BY start_by, priority DESC, received_at, id
             LIMIT %(window)s
           ) AS head
     ORDER BY head.start_by, head.priority DESC, head.received_at, head.id
     LIMIT %(window)s
),
picked AS (
    SELECT w.id, w.status AS from_status, NULL::timestamptz AS pended_until FROM {_ITEM} AS w
     WHERE w.id IN (SELECT id FROM candidates) AND w.status = '{ItemStatus.QUEUED}'
     ORDER BY w.start_by, w.priority DESC, w.received_at, w.id
     LIMIT 1
       FOR UPDATE OF w SKIP LOCKED
),
{_ASSIGN}
SELECT (SELECT id FROM moved), (SELECT count(*) FROM candidates)
"""


def _lock_available_agent(agent_id: int) -> AgentProfile:
    """Lock the agent (serialising its own concurrent requests) and check it may take work."""
    agent = agents_lock([agent_id]).first()
    if agent is None:
        raise NotAnAgent("Only agents can get work: this user has no agent profile.")
    if agent.presence != Presence.AVAILABLE:
        raise AgentNotAvailable(
            f"You are {agent.get_presence_display().lower()}: set yourself available to get work."
        )
    held = WorkItem.objects.filter(assignee_id=agent_id, status__in=ACTIVE_STATUSES).count()
    if held >= agent.capacity:
        raise AgentAtCapacity(
            f"You already hold {held} of {agent.capacity} items: finish, pend or release one first."
        )
    return agent


def _assign(sql: str, params: dict) -> tuple[int | None, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        item_id, candidates = cursor.fetchone()
    return item_id, candidates


@transaction.atomic
def item_get_next(*, agent_id: int, actor: Actor | None = None) -> WorkItem | None:
    """Assign the agent's next best item and return it, or None when nothing is waiting.

    Raises NotAnAgent, AgentNotAvailable or AgentAtCapacity when the agent may not take
    work now. `actor` defaults to the agent (a supervisor or job may act for it)."""
    agent = _lock_available_agent(agent_id)
    now = timezone.now()
    params = {
        "agent": agent_id,
        "now": now,
        "reason": "",
        **_actor_columns(actor, agent),
    }

    item_id, _ = _assign(_PICK_PENDED, {
        **params, "data": json.dumps({"rule": RULE_PENDED_FOLLOW_UP}),
    })
    if item_id is None:
        queue_ids = list(
            selectors.queues_eligible_for(agent_id=agent_id, team_id=agent.team_id).values_list("pk", flat=True)
        )
        if not queue_ids:
            return None
        data = json.dumps({"rule": RULE_NEXT_BEST, "order": ORDER_DESCRIPTION, "eligible_queues": len(queue_ids)})
        window = FIRST_WINDOW
        while True:
            item_id, candidates = _assign(_PICK_NEXT_BEST, {
                **params, "queues": queue_ids, "window": window, "data": data,
            })
            # Fewer candidates than the window means the whole eligible backlog was seen.
            if item_id is not None or candidates < window or window >= WIDEST_WINDOW:
                break
            window *= 8
    if item_id is None:
        return None
    return WorkItem.objects.select_related("queue", "assignee").get(pk=item_id)


def _actor_columns(actor: Actor | None, agent: AgentProfile) -> dict:
    if actor is None:
        return {"actor_id": agent.pk, "system_actor": ""}
    columns = actor_fields(actor)
    user = columns["actor"]
    return {"actor_id": user.pk if user else None, "system_actor": columns["system_actor"]}
