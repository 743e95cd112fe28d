"""Plumbing for the hot-path statements written in SQL: the columns they return (the item,
its queue's and its SLA clock's) and turning a returned row back into model instances, so
callers get a normal WorkItem with its queue and clock in hand — rendering it reads neither
again (an ORM read of the clock cost about 0.5 ms of CPU an answer)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from django.db import connection

from allocation.models import Queue, SlaClock, WorkItem

ITEM_TABLE = WorkItem._meta.db_table
# The item table's columns in the order PostgreSQL keeps them (each migration that adds one
# appends it), so a statement may return `w.*` — far shorter than naming them — and still be
# read back here. tests/allocation/test_next_work.py checks this against the database.
ITEM_COLUMNS = [
    "id", "source", "external_id", "customer_ref", "title", "payload", "priority", "status", "received_at", "due_at",
    "start_by", "assigned_at", "started_at", "pended_until", "closed_at", "outcome", "created_at", "updated_at",
    "assignee_id", "completed_by_id", "queue_id", "assigned_by_id",
    "customer_key", "routing_step", "step_entered_at",
]
# The SLA clock's, likewise (get-next returns `c.*`; the same test checks them).
CLOCK_COLUMNS = [
    "item_id", "target", "thresholds", "pause_when_pended", "paused_working", "paused_since", "next_threshold",
    "next_alert_at", "stopped_at", "calendar_id", "external_deadline", "policy_id",
]


def _fields(model, columns: Sequence[str]) -> list:
    return [next(f for f in model._meta.concrete_fields if f.column == column) for column in columns]


_ITEM_FIELDS = _fields(WorkItem, ITEM_COLUMNS)
# What an item's answer and its lifecycle checks read of its queue (the id is the item's
# queue_id); the queue's other fields load on access.
_QUEUE_FIELDS = _fields(Queue, ["code", "name", "outcomes"])
_CLOCK_FIELDS = _fields(SlaClock, CLOCK_COLUMNS)

# psycopg caches the conversion of a statement's text (placeholders to $n) only up to 4096
# bytes; a longer one is re-scanned on every call (26 µs for get-next's). The hot statements
# are written readably and sent compacted: comments dropped, runs of whitespace made one
# space, no space beside brackets, commas and comparisons.
_COMMENT = re.compile(r"--[^\n]*")
_LITERAL = re.compile(r"('[^']*')")
_SPACED_PUNCTUATION = re.compile(r" ?([(),=<>]) ?")
PSYCOPG_CACHED_STATEMENT_LENGTH = 4096  # psycopg._queries.MAX_CACHED_STATEMENT_LENGTH; a test checks ours fit


def compact_sql(sql: str) -> str:
    """`sql` without comments, whitespace runs collapsed, and no space beside a bracket,
    comma or comparison outside string literals. Only for our own SQL: it assumes no
    string literal holds '--', a quote or significant runs of whitespace."""
    parts = _LITERAL.split(" ".join(_COMMENT.sub("", sql).split()))
    return "".join(part if is_literal else _SPACED_PUNCTUATION.sub(r"\1", part)
                   for part, is_literal in zip(parts, itertools.cycle((False, True))))


def returning_item(alias: str) -> str:
    """`RETURNING` list of every item column of table alias `alias`."""
    return ", ".join(f"{alias}.{column}" for column in ITEM_COLUMNS)


def queue_columns(alias: str) -> str:
    """The item's queue's columns item_from_row reads, of table alias `alias` (by position,
    so unnamed)."""
    return ", ".join(f"{alias}.{field.column}" for field in _QUEUE_FIELDS)


def clock_columns(alias: str) -> str:
    """Every column of the item's SLA clock, of table alias `alias` (left-joined: NULLs for an
    item without one)."""
    return ", ".join(f"{alias}.{column}" for column in CLOCK_COLUMNS)


ITEM_WIDTH = len(ITEM_COLUMNS)


class _Reader:
    """Turns a run of returned values into a model instance as the ORM does (converters,
    then from_db, which takes the values in the model's field order)."""

    def __init__(self, model, fields) -> None:
        self.model, self.width = model, len(fields)
        by_column = {field.column: index for index, field in enumerate(fields)}
        ordered = [field for field in model._meta.concrete_fields if field.column in by_column]
        self.positions = [by_column[field.column] for field in ordered]
        self.attnames = [field.attname for field in ordered]
        self.converters = [getattr(field, "from_db_value", None) for field in ordered]

    def __call__(self, values: Sequence):
        converted = [
            value if convert is None else convert(value, None, connection)
            for convert, value in zip(self.converters, (values[i] for i in self.positions), strict=True)
        ]
        return self.model.from_db(connection.alias, self.attnames, converted)


_read_item = _Reader(WorkItem, _ITEM_FIELDS)
_read_queue = _Reader(Queue, [Queue._meta.pk, *_QUEUE_FIELDS])
_read_clock = _Reader(SlaClock, _CLOCK_FIELDS)
ITEM_CLOCK = WorkItem._meta.get_field("sla_clock")  # the clock's side of its one-to-one


def item_from_row(row: Sequence) -> WorkItem:
    """An item from ITEM_COLUMNS values, then queue_columns' and clock_columns' (NULLs where
    the item has no clock): the queue loaded with those fields only (others load on access),
    the clock whole, or known to be absent, as select_related would leave them."""
    item = _read_item(row[:ITEM_WIDTH])
    queue_end = ITEM_WIDTH + len(_QUEUE_FIELDS)
    item.queue = _read_queue([item.queue_id, *row[ITEM_WIDTH:queue_end]])
    clock_row = row[queue_end : queue_end + _read_clock.width]
    clock = None if clock_row[0] is None else _read_clock(clock_row)
    ITEM_CLOCK.set_cached_value(item, clock)
    if clock is not None:
        ITEM_CLOCK.field.set_cached_value(clock, item)
    return item
