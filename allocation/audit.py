"""The audit invariant (issue 9): every item's current state equals the replay of its events.

Read-only, like a selector. `item_replay` is pure: it folds one item's events, in timeline
order (at, id) — the order every page and report reads them in — into the state they imply
and notes any event the lifecycle forbids. `items_audit` streams every item with its events,
compares each with its replay and yields the mismatches.

Compared, because the services record it in the events (DESIGN.md, "Work item lifecycle";
what each kind records, and the one reader of it, are allocation/events.py):
- status: the last event's `to_status`;
- queue_id: the created event's queue, then each transfer's (or overflow's) receiving queue;
- assignee_id while held: the agent the event that gave the item to an agent names (get-next,
  push, transfer, rebalancing, follow-up); no assignee once queued or closed;
- assigned_at: when the last event that assigned the item happened; started_at: the first
  `started` event (a restart keeps the first start); closed_at: the completed or cancelled
  event;
- pended_until while pended: the `pended` event's `data.until`; empty otherwise;
- completed_by_id: the holder when the completed event was written; outcome: its
  `data.outcome` (empty until completed);
- priority: the last priority an event recorded (`priority_changed`'s `data.to_priority`,
  get-next's `data.priority`);
- routing_step: 1 on creation and on arriving in another queue (a transfer, an overflow),
  then each step_entered event's `data.step`;
- due_at and start_by: the deadlines the last event that can move them states (created,
  assigned, pended, resumed, transferred, priority_changed and the jobs' moves): every
  change of an item's deadlines — intake, a pause's end, a retarget, the source's deadline
  governing — is in an event;
- source and external_id: the created event's data; received_at: never after that event.

Checked on the events themselves: the first event is `created` from "" to queued; each
event starts where the previous one ended (`from_status`); its kind allows that move;
events were written in time order (a later id is never dated earlier); and what an event
says about the state before it (`from_queue_id`, `from_agent` — or the older holder keys,
`from_priority`, the queue get-next took it from, …)
agrees with the replay so far.

Not compared, because no event determines it:
- the priority before any event recorded one (the created event does not), and any value
  an event that could change it does not state: left unknown, never guessed — a later
  event that states it makes it known again;
- customer_ref, title, payload, created_at and updated_at: no event records them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

import psycopg
from django.db import connection, transaction
from psycopg.pq import Format

from allocation import events, transitions
from allocation.models import (
    ACTIVE_STATUSES,
    CLOSED_STATUSES,
    FIRST_STEP,
    HELD_STATUSES,
    EventKind,
    ItemStatus,
    Queue,
    WorkItem,
    WorkItemEvent,
)

CHUNK_SIZE = 2000


class _Unknown:
    """A value the events do not determine (yet): never compared."""

    def __repr__(self) -> str:
        return "unknown"


UNKNOWN: Any = _Unknown()


class EventRow(NamedTuple):
    """The event columns the replay reads, in EVENT_COLUMNS order."""

    item_id: int
    id: int
    at: datetime
    kind: str
    from_status: str
    to_status: str
    actor_id: int | None
    data: dict


class ItemRow(NamedTuple):
    """The item columns the replay determines, in ITEM_COLUMNS order."""

    id: int
    status: str
    queue_id: int
    assignee_id: int | None
    assigned_at: datetime | None
    started_at: datetime | None
    pended_until: datetime | None
    closed_at: datetime | None
    completed_by_id: int | None
    outcome: str
    priority: int
    due_at: datetime
    start_by: datetime
    routing_step: int
    source: str
    external_id: str
    received_at: datetime


EVENT_COLUMNS = EventRow._fields
ITEM_COLUMNS = ItemRow._fields
# The item fields a replay sets, compared one by one; received_at is a bound, checked apart.
REPLAYED_FIELDS = ITEM_COLUMNS[1:-1]


@dataclass(frozen=True)
class Mismatch:
    """One disagreement. For an item field, `expected` is the replay's value and `actual` the
    row's; for an event (`event_id` set), `field` names the event's column or data key,
    `expected` what the replay so far implies and `actual` what the event says."""

    item_id: int
    field: str
    expected: Any
    actual: Any
    reason: str
    event_id: int | None = None

    def __str__(self) -> str:
        where = f"#{self.item_id}" + (f" event #{self.event_id}" if self.event_id else "")
        return f"{where} {self.field}: expected {_shown(self.expected)}, found {_shown(self.actual)} — {self.reason}"


def _shown(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def _moves(pairs) -> frozenset[tuple[str, str]]:
    return frozenset((str(before), str(after)) for before, after in pairs)


def _statuses_allowing(action: str) -> tuple[str, ...]:
    """Every status from which anyone (the holder, a permitted user, a job) may take `action`."""
    return transitions.statuses_allowing(action, as_holder=True, permitted=action in transitions.PERMITTED)


_QUEUED, _ASSIGNED = ItemStatus.QUEUED, ItemStatus.ASSIGNED
# The (from_status, to_status) each kind of event may record: the lifecycle table
# (allocation/transitions.py) for agents' and supervisors' actions, the periodic jobs'
# rules (allocation/services/reservations.py, rebalancing.py, push.py) for the rest.
LEGAL_MOVES: dict[str, frozenset[tuple[str, str]]] = {
    EventKind.CREATED: _moves([("", _QUEUED)]),
    EventKind.ASSIGNED: _moves([(_QUEUED, _ASSIGNED), (ItemStatus.PENDED, _ASSIGNED)]),
    EventKind.STARTED: _moves((s, ItemStatus.IN_PROGRESS) for s in _statuses_allowing(transitions.START)),
    EventKind.PENDED: _moves((s, ItemStatus.PENDED) for s in _statuses_allowing(transitions.PEND)),
    EventKind.RESUMED: _moves((s, ItemStatus.IN_PROGRESS) for s in _statuses_allowing(transitions.RESUME)),
    EventKind.COMPLETED: _moves((s, ItemStatus.COMPLETED) for s in _statuses_allowing(transitions.COMPLETE)),
    EventKind.RELEASED: _moves((s, _QUEUED) for s in _statuses_allowing(transitions.RELEASE)),
    EventKind.REJECTED: _moves((s, _QUEUED) for s in _statuses_allowing(transitions.REJECT)),
    EventKind.TRANSFERRED: _moves(
        (s, to) for s in _statuses_allowing(transitions.TRANSFER) for to in (_QUEUED, _ASSIGNED)
    ),
    EventKind.CANCELLED: _moves((s, ItemStatus.CANCELLED) for s in _statuses_allowing(transitions.CANCEL)),
    EventKind.PRIORITY_CHANGED: _moves((s, s) for s in _statuses_allowing(transitions.REPRIORITIZE)),
    EventKind.RESERVATION_EXPIRED: _moves([(_ASSIGNED, _QUEUED)]),
    EventKind.REBALANCED: _moves((s, to) for s in ACTIVE_STATUSES for to in (_QUEUED, _ASSIGNED)),
    EventKind.FOLLOW_UP_DUE: _moves([(ItemStatus.PENDED, _ASSIGNED), (ItemStatus.PENDED, _QUEUED)]),
    EventKind.STEP_ENTERED: _moves([(_QUEUED, _QUEUED)]),  # the routing job (services/routing.py)
}

# Events that say what was seen and move nothing (allocation/events.py): not replayed.
OBSERVATIONS = events.OBSERVATION_KINDS

# The kinds whose event can move an item's deadlines: each states them (allocation/events.py).
DEADLINE_KINDS = frozenset({
    EventKind.CREATED, EventKind.ASSIGNED, EventKind.PENDED, EventKind.RESUMED, EventKind.TRANSFERRED,
    EventKind.PRIORITY_CHANGED, EventKind.REBALANCED, EventKind.RESERVATION_EXPIRED, EventKind.FOLLOW_UP_DUE,
    EventKind.STEP_ENTERED,
})


@dataclass
class ItemReplay:
    """The state an item's events imply, and what was wrong with the events themselves."""

    item_id: int
    status: str | None = None
    queue_id: Any = UNKNOWN
    assignee_id: Any = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    pended_until: Any = None
    closed_at: datetime | None = None
    completed_by_id: Any = None
    outcome: Any = ""
    priority: Any = UNKNOWN
    due_at: Any = UNKNOWN
    start_by: Any = UNKNOWN
    routing_step: Any = FIRST_STEP
    source: Any = UNKNOWN
    external_id: Any = UNKNOWN
    created_at: datetime | None = None
    problems: list[Mismatch] = field(default_factory=list)

    def _problem(self, event: EventRow, column: str, expected: Any, actual: Any, reason: str) -> None:
        self.problems.append(Mismatch(self.item_id, column, expected, actual, reason, event.id))

    def _agrees(self, event: EventRow, attribute: str, key: str, said: Any) -> None:
        """An event states a value the replay already tracks: it must agree, or, if the
        replay did not know the value, it becomes known."""
        known = getattr(self, attribute)
        if known is UNKNOWN:
            setattr(self, attribute, said)
        elif said != known:
            self._problem(event, f"data.{key}", known, said,
                          f"the {event.kind} event disagrees with the events before it about {attribute}")

    def apply(self, event: EventRow, previous: EventRow | None, queue_codes: Mapping[int, str]) -> None:
        self._check_sequence(event, previous)
        said = events.EventData(event.kind, event.data)
        holder_before = self.assignee_id
        if said.holder_before is not events.NOT_SAID:
            self._agrees(event, "assignee_id", events.FROM_AGENT, said.holder_before)
            holder_before = self.assignee_id
        self._queue_step_and_priority(event, said, queue_codes)

        self.status = event.to_status
        if event.kind == EventKind.CREATED:
            self.created_at = event.at
            self.source, self.external_id = _known(said.source), _known(said.external_id)
        if event.kind in DEADLINE_KINDS:
            self.due_at, self.start_by = _known(said.due_at), _known(said.start_by)
        if event.to_status not in HELD_STATUSES:
            self.assignee_id = None
        elif said.holder_after is not events.NOT_SAID:
            self.assignee_id = said.holder_after
        elif event.kind in events.ASSIGNING_KINDS and event.to_status != event.from_status:
            self.assignee_id = UNKNOWN  # given to an agent it does not name
        if event.to_status == ItemStatus.ASSIGNED and event.kind != EventKind.PRIORITY_CHANGED:
            self.assigned_at = event.at
        if event.kind == EventKind.STARTED and self.started_at is None:
            self.started_at = event.at
        if event.kind == EventKind.PENDED:
            self.pended_until = _known(said.until)
        elif event.to_status != ItemStatus.PENDED:
            self.pended_until = None
        if event.to_status in CLOSED_STATUSES:
            self.closed_at = event.at
        if event.to_status == ItemStatus.COMPLETED:
            self.completed_by_id = holder_before
            self.outcome = _known(said.outcome)

    def _check_sequence(self, event: EventRow, previous: EventRow | None) -> None:
        if previous is None:
            if event.kind != EventKind.CREATED:
                self._problem(event, "kind", EventKind.CREATED.value, event.kind,
                              "the first event of an item must be its creation")
        else:
            if event.from_status != previous.to_status:
                self._problem(event, "from_status", previous.to_status, event.from_status,
                              f"does not start where event #{previous.id} ended")
            if event.id < previous.id:
                # Ids follow the order of writing (each item's writes are serialised by its
                # row lock), so the later-written event carries a stale time.
                self._problem(previous, "at", f"at or after {event.at.isoformat()}", previous.at,
                              f"written after event #{event.id} but dated earlier")
        if (event.from_status, event.to_status) not in LEGAL_MOVES.get(event.kind, ()):
            self._problem(event, "to_status", "a move its kind allows", f"{event.from_status!r} → {event.to_status!r}",
                          f"a {event.kind} event cannot move an item from {event.from_status or 'nothing'} "
                          f"to {event.to_status}")

    def _queue_step_and_priority(self, event: EventRow, said: events.EventData, queue_codes: Mapping[int, str]) -> None:
        if event.kind == EventKind.STEP_ENTERED and said.from_step not in (events.NOT_SAID, self.routing_step):
            self._problem(event, f"data.{events.FROM_STEP}", self.routing_step, said.from_step,
                          "the step_entered event left a step the item was not at")
        if event.kind == EventKind.CREATED:
            self.queue_id = _known(said.queue_id)
        elif event.kind in (EventKind.TRANSFERRED, EventKind.STEP_ENTERED):
            if said.from_queue_id is not events.NOT_SAID:
                self._agrees(event, "queue_id", events.FROM_QUEUE_ID, said.from_queue_id)
            if said.to_queue_id is not events.NOT_SAID:
                if said.to_queue_id != self.queue_id:
                    self.routing_step = FIRST_STEP  # a queue's routing starts at its step 1
                self.queue_id = said.to_queue_id
        elif event.kind == EventKind.ASSIGNED and said.queue_id is not events.NOT_SAID:
            self._agrees(event, "queue_id", events.QUEUE_ID, said.queue_id)
        elif said.to_queue_code and self.queue_id in queue_codes:
            # The jobs send an item back to the queue it is in, named by code.
            expected = queue_codes[self.queue_id]
            if said.to_queue_code != expected:
                self._problem(event, f"data.{events.TO_QUEUE}", expected, said.to_queue_code,
                              "the job sent the item back to a queue it was not in")
        if event.kind == EventKind.STEP_ENTERED:
            self.routing_step = _known(said.step)
        elif event.kind == EventKind.ASSIGNED and said.step is not events.NOT_SAID:
            self._agrees(event, "routing_step", events.STEP, said.step)  # the step get-next found it at

        if event.kind == EventKind.PRIORITY_CHANGED:
            if said.priority_before is not events.NOT_SAID:
                self._agrees(event, "priority", events.FROM_PRIORITY, said.priority_before)
            self.priority = _known(said.priority)
        elif event.kind == EventKind.ASSIGNED and said.priority is not events.NOT_SAID:
            self._agrees(event, "priority", events.PRIORITY, said.priority)


def _known(value: Any) -> Any:
    """What an event says, or UNKNOWN where it says nothing."""
    return UNKNOWN if value is events.NOT_SAID else value


def item_replay(
    item_id: int, events: Sequence[EventRow], *, queue_codes: Mapping[int, str] | None = None
) -> ItemReplay:
    """The state `events` (one item's, in (at, id) order) imply. `queue_codes` (queue id →
    code) lets the replay check the jobs' moves back to a queue, which name it by code."""
    replay = ItemReplay(item_id)
    previous = None
    for event in events:
        if event.kind in OBSERVATIONS:
            continue  # what was seen, not a move: written without the item's lock (SLA alerts)
        replay.apply(event, previous, queue_codes or {})
        previous = event
    return replay


def item_mismatches(
    item: ItemRow, events: Sequence[EventRow], *, queue_codes: Mapping[int, str] | None = None
) -> list[Mismatch]:
    """Every way `item` disagrees with the replay of its `events` (in (at, id) order)."""
    if not events:
        return [Mismatch(item.id, "events", "a created event", "no events", "the item has no audit trail")]
    replay = item_replay(item.id, events, queue_codes=queue_codes)
    mismatches = list(replay.problems)
    for name in REPLAYED_FIELDS:
        expected, actual = getattr(replay, name), getattr(item, name)
        if expected is not UNKNOWN and expected != actual:
            mismatches.append(Mismatch(item.id, name, expected, actual, _WHY[name]))
    if replay.created_at is not None and item.received_at > replay.created_at:
        mismatches.append(Mismatch(item.id, "received_at", f"at or before {replay.created_at.isoformat()}",
                                   item.received_at, "received after its created event"))
    return mismatches


_WHY = {
    "status": "the last event left it in another status",
    "queue_id": "its creation and transfers put it in another queue",
    "assignee_id": "its events gave it to someone else, or to nobody",
    "assigned_at": "its last assignment happened at another time",
    "started_at": "its first start happened at another time",
    "pended_until": "its pend event set another follow-up time",
    "closed_at": "it was closed at another time, or never",
    "completed_by_id": "someone else held it when it was completed",
    "outcome": "its completed event recorded another outcome",
    "priority": "the last priority its events recorded is another",
    "due_at": "its events last set another due time",
    "start_by": "its events last set another start-by time",
    "routing_step": "its events left it at another routing step",
    "source": "its created event names another source",
    "external_id": "its created event names another external id",
}


# Streaming the whole table ----------------------------------------------------------------

@dataclass
class AuditTally:
    """Running totals of an audit, readable while its mismatches are still being yielded."""

    items_checked: int = 0
    events_replayed: int = 0
    mismatched_items: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def items_audit(
    *,
    since_id: int = 0,
    queue_id: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    tally: AuditTally | None = None,
) -> Iterator[Mismatch]:
    """Compare every item (id ≥ `since_id`, of `queue_id` if given) with the replay of its
    events and yield each mismatch, in item id order.

    Memory stays bounded and queries per item stay at zero: items are read `chunk_size` at
    a time by id (keyset, on the primary key), and each chunk's events in one more query
    (the (item, at) index). Both reads of a chunk share one snapshot, so a service changing
    an item meanwhile never shows as a mismatch — unless the caller is already inside a
    transaction, whose snapshot rules then."""
    tally = tally if tally is not None else AuditTally()
    queue_codes = dict(Queue.objects.values_list("pk", "code"))
    items = WorkItem.objects.order_by("pk")
    if queue_id is not None:
        items = items.filter(queue_id=queue_id)
    after = since_id - 1
    while True:
        with _one_snapshot(), _fast_cursor() as cursor:
            page = items.filter(pk__gt=after).values_list(*ITEM_COLUMNS)[:chunk_size]
            chunk = [ItemRow._make(row) for row in _fetch(cursor, page)]
            if not chunk:
                return
            chunk_events = WorkItemEvent.objects.order_by("item_id", "at", "id")
            if queue_id is None:  # consecutive ids: one range of the index
                chunk_events = chunk_events.filter(item_id__gte=chunk[0].id, item_id__lte=chunk[-1].id)
            else:
                chunk_events = chunk_events.filter(item_id__in=[item.id for item in chunk])
            rows = [EventRow(*row[:-1], _json(row[-1]))
                    for row in _fetch(cursor, chunk_events.values_list(*EVENT_COLUMNS))]
        by_item = {item_id: list(group) for item_id, group in groupby(rows, key=itemgetter(0))}
        for item in chunk:
            item_events = by_item.get(item.id, ())
            mismatches = item_mismatches(item, item_events, queue_codes=queue_codes)
            tally.items_checked += 1
            tally.events_replayed += len(item_events)
            if mismatches:
                tally.mismatched_items += 1
                yield from mismatches
        if len(chunk) < chunk_size:
            return
        after = chunk[-1].id


@contextmanager
def _one_snapshot():
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


# Read time is most of the audit's time at millions of rows. Django loads each timestamp
# through a time zone loader written in Python (a quarter of the whole run) and then passes
# every value through the fields' converters; psycopg's own loader does the timestamps in
# C. So the audit runs its querysets' SQL on a Django cursor (the same connection and
# transaction, counted and logged as usual) whose driver cursor uses that loader, and
# parses the JSON text itself: a third faster overall.
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)


@contextmanager
def _fast_cursor():
    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
        yield cursor


def _fetch(cursor, queryset) -> list[tuple]:
    sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    cursor.execute(sql, params)
    return cursor.fetchall()


def _json(value: str | dict) -> dict:
    # Django's driver setup hands jsonb over as text (its JSONField parses it).
    return json.loads(value) if isinstance(value, str) else value
