"""Intake: source systems hand items in, one at a time or in batches.

Idempotent on (source, external_id): a repeat returns the item already there and never
makes a second one, even when two requests race (the unique constraint decides, through
INSERT … ON CONFLICT DO NOTHING). A batch is all or nothing: if any row is invalid,
nothing is written and every bad row is reported by its number.

Rows are inserted in (source, external_id) order, whatever order the batch lists them in:
an insert holds each new key until it commits, so two overlapping batches taking their keys
in different orders could each wait for the other (a deadlock); in one order they never do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from allocation import events, sla, transitions
from allocation.exceptions import IntakeRejected
from allocation.models import ItemStatus, Priority, Queue, WorkItem, WorkItemEvent
from allocation.services.sla_clock import NewClock, clocks_start
from allocation.sla.clock import Deadlines
from allocation.sla.working_time import LATEST, NoWorkingTime, OutOfRange
from core.actors import Actor, SystemActor
from core.exceptions import PermissionDenied

INTAKE_PERMISSION = "allocation.add_workitem"
# Source clocks drift; a receipt time slightly ahead of ours is accepted as "now".
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)


@dataclass
class ItemDraft:
    """One item as a source system describes it (shape already checked by the caller)."""

    queue: Queue
    source: str
    external_id: str
    customer_ref: str
    title: str
    payload: dict = field(default_factory=dict)
    priority: int = Priority.NORMAL
    received_at: datetime | None = None
    # The source's own deadline (a card network's respond-by date): absolute. The item's due
    # at is the earlier of it and the SLA policy's (allocation/sla/clock.py).
    external_deadline: datetime | None = None


@dataclass(frozen=True)
class IntakeResult:
    item: WorkItem
    created: bool


def _row_errors(draft: ItemDraft, now: datetime) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not draft.queue.is_active:
        errors["queue"] = [f"Queue {draft.queue.code!r} is inactive and takes no new work."]
    if draft.received_at and draft.received_at > now + CLOCK_SKEW_ALLOWANCE:
        errors["received_at"] = ["Must not be in the future."]
    elif draft.received_at and draft.received_at < now - settings.WFO_MAX_RECEIPT_AGE:
        # Work older than this is a source's mistake (a default date, a wrong year), and its
        # deadlines would be long past before anyone saw it.
        errors["received_at"] = [f"Must be within the last {settings.WFO_MAX_RECEIPT_AGE.days} days."]
    if draft.external_deadline is not None:
        if draft.external_deadline <= max(now, _received_at(draft, now)):
            errors["external_deadline"] = ["Must be in the future, after the item was received."]
        elif draft.external_deadline > LATEST:
            errors["external_deadline"] = [f"Must be before {LATEST:%Y-%m-%d}."]
    if draft.priority not in Priority.values:
        errors["priority"] = [f"Must be one of {Priority.values}."]
    payload_size = len(json.dumps(draft.payload, separators=(",", ":")).encode())
    if payload_size > settings.WFO_MAX_PAYLOAD_BYTES:
        errors["payload"] = [f"Is {payload_size} bytes; the limit is {settings.WFO_MAX_PAYLOAD_BYTES} bytes."]
    return errors


def batch_size_check(*, count: int) -> None:
    """The size of a batch of `count` items, on its own: a caller that still has to read the
    rows (the API) checks it first, so an oversized batch costs nothing before it is refused."""
    if not count:
        raise IntakeRejected("The batch is empty.", fields={"items": ["Send at least one item."]})
    if count > settings.WFO_MAX_BATCH_ITEMS:
        raise IntakeRejected(
            f"A batch holds at most {settings.WFO_MAX_BATCH_ITEMS} items; this one has {count}.",
            fields={"items": [f"At most {settings.WFO_MAX_BATCH_ITEMS} items per request."]},
        )


def _validate(drafts: Sequence[ItemDraft], now: datetime) -> None:
    batch_size_check(count=len(drafts))
    errors: dict[str, dict[str, list[str]]] = {}
    first_row_of: dict[tuple[str, str], int] = {}
    for row, draft in enumerate(drafts, start=1):
        row_errors = _row_errors(draft, now)
        key = (draft.source, draft.external_id)
        if key in first_row_of:
            row_errors.setdefault("external_id", []).append(
                f"Repeats row {first_row_of[key]} (same source and external id)."
            )
        else:
            first_row_of[key] = row
        if row_errors:
            errors[str(row)] = row_errors
    if errors:
        raise IntakeRejected(
            f"{len(errors)} of {len(drafts)} items are not valid; nothing was created.",
            fields={"rows": errors},
        )


_COLUMNS = (
    "queue_id",
    "source",
    "external_id",
    "customer_ref",
    "title",
    "payload",
    "priority",
    "status",
    "received_at",
    "step_entered_at",
    "due_at",
    "start_by",
    "outcome",
    "created_at",
    "updated_at",
)
_INSERT = (
    f"INSERT INTO {WorkItem._meta.db_table} ({', '.join(_COLUMNS)}) VALUES {{rows}} "
    "ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
)
_ROW_PLACEHOLDER = "(" + ", ".join("%s::jsonb" if c == "payload" else "%s" for c in _COLUMNS) + ")"


def _received_at(draft: ItemDraft, now: datetime) -> datetime:
    return min(draft.received_at or now, now)


def _deadlines(drafts: Sequence[ItemDraft], now: datetime, book: sla.PolicyBook) -> list[Deadlines]:
    """Each draft's due at and start by on its SLA policy. A policy whose target puts the due
    time beyond what the SLA engine counts (a target of centuries, entered by mistake) refuses
    the rows of that queue rather than failing the request."""
    deadlines, errors = [], {}
    for row, draft in enumerate(drafts, start=1):
        policy = book.policy_for(draft.queue, draft.priority)
        try:
            deadlines.append(sla.deadlines(
                policy=policy, calendar=book.calendar(policy.calendar_id), received_at=_received_at(draft, now),
                handle_time=draft.queue.standard_handle_time, external_deadline=draft.external_deadline,
            ))
        except (OutOfRange, NoWorkingTime) as error:
            errors[str(row)] = {"queue": [
                f"The SLA policy of queue {draft.queue.code!r} gives no due time ({error}); an admin must correct it."
            ]}
    if errors:
        raise IntakeRejected(
            f"{len(errors)} of {len(drafts)} items have no due time; nothing was created.", fields={"rows": errors}
        )
    return deadlines


def _insert_new(rows: Sequence[tuple[ItemDraft, Deadlines]], now: datetime) -> set[int]:
    """Insert the drafts whose (source, external_id) is new, with their deadlines, in key
    order (see the module's docstring); return the ids created."""
    params: list = []
    for draft, deadlines in sorted(rows, key=lambda row: (row[0].source, row[0].external_id)):
        params.extend(
            [
                draft.queue.pk,
                draft.source,
                draft.external_id,
                draft.customer_ref,
                draft.title,
                json.dumps(draft.payload),
                draft.priority,
                ItemStatus.QUEUED,
                _received_at(draft, now),
                _received_at(draft, now),  # at routing step 1 since it was received
                deadlines.due_at,
                deadlines.start_by,
                "",
                now,
                now,
            ]
        )
    sql = _INSERT.format(rows=", ".join([_ROW_PLACEHOLDER] * len(rows)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _require_sources_allowed(actor: Actor, drafts: Sequence[ItemDraft]) -> None:
    """A source system takes items in only under the sources its token is bound to, so one
    integration can never create, replay or claim another's (source, external_id)."""
    allowed = transitions.sources_allowed(actor)
    if allowed is None:
        return
    refused = sorted({draft.source for draft in drafts} - allowed)
    if refused:
        bound = ", ".join(sorted(allowed)) or "no source yet (ask an admin to bind one)"
        raise PermissionDenied(
            f"This integration may not create items under {', '.join(map(repr, refused))}: it is bound to {bound}.",
            fields={"source": [f"Not one of this integration's sources: {', '.join(refused)}."]},
        )


@transaction.atomic
def items_intake(*, actor: Actor, drafts: Sequence[ItemDraft]) -> list[IntakeResult]:
    """Take in a batch of items; results are in the order of `drafts`."""
    if not isinstance(actor, SystemActor) and not actor.has_perm(INTAKE_PERMISSION):
        raise PermissionDenied("You may not create work items.")
    _require_sources_allowed(actor, drafts)
    now = timezone.now()
    _validate(drafts, now)
    book = sla.PolicyBook()
    book.load_policies({draft.queue for draft in drafts})
    deadlines = _deadlines(drafts, now, book)
    created_ids = _insert_new(list(zip(drafts, deadlines, strict=True)), now)

    keys = {(d.source, d.external_id) for d in drafts}
    found = WorkItem.objects.select_related("queue", "sla_clock").filter(
        source__in={s for s, _ in keys}, external_id__in={e for _, e in keys}
    )
    by_key = {(item.source, item.external_id): item for item in found}
    # Each new item with the row it was created from (a batch repeats no key).
    new = [
        (item, draft, due) for draft, due in zip(drafts, deadlines, strict=True)
        if (item := by_key[(draft.source, draft.external_id)]).pk in created_ids
    ]
    WorkItemEvent.objects.bulk_create(
        # Two deadlines: the event says which one governs.
        events.created(item, at=now, actor=actor, external_deadline=draft.external_deadline,
                       governed_by=due.governed_by)
        for item, draft, due in new
    )
    clocks_start(
        clocks=[NewClock(item=item, policy=book.policy_for(item.queue, item.priority),
                         external_deadline=draft.external_deadline) for item, draft, _ in new],
        book=book,
    )
    return [
        IntakeResult(
            item=by_key[(d.source, d.external_id)], created=by_key[(d.source, d.external_id)].pk in created_ids
        )
        for d in drafts
    ]


def item_intake(*, actor: Actor, draft: ItemDraft) -> IntakeResult:
    """Take in one item: the batch rules for a batch of one."""
    try:
        return items_intake(actor=actor, drafts=[draft])[0]
    except IntakeRejected as rejected:
        row_errors = rejected.fields.get("rows", {}).get("1")
        if row_errors is None:
            raise
        raise IntakeRejected("The item is not valid; nothing was created.", fields=row_errors) from None
