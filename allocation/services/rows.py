"""Plumbing for the hot-path statements written in SQL: the item columns they return and
turning a returned row back into a model instance, so callers get a normal WorkItem."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from django.db import connection

from allocation.models import Queue, WorkItem

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
_ITEM_FIELDS = [next(f for f in WorkItem._meta.concrete_fields if f.column == column) for column in ITEM_COLUMNS]
_QUEUE_FIELDS = [Queue._meta.get_field(name) for name in ("id", "code", "name", "outcomes")]
# Read by position (item_from_row), so unnamed.
QUEUE_COLUMNS = ", ".join(f"q.{field.column}" for field in _QUEUE_FIELDS)

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
_read_queue = _Reader(Queue, _QUEUE_FIELDS)


def item_from_row(row: Sequence, *, with_queue: bool = True) -> WorkItem:
    """An item from ITEM_COLUMNS values, followed by QUEUE_COLUMNS values if `with_queue`
    (the queue is then loaded with those fields only; others load on access)."""
    item = _read_item(row[:ITEM_WIDTH])
    if with_queue:
        item.queue = _read_queue(row[ITEM_WIDTH : ITEM_WIDTH + _read_queue.width])
    return item
