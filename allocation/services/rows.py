"""Plumbing for the hot-path statements written in SQL: the item columns they return and
turning a returned row back into a model instance, so callers get a normal WorkItem."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from allocation.models import Queue, WorkItem

ITEM_TABLE = WorkItem._meta.db_table
_ITEM_FIELDS = WorkItem._meta.concrete_fields
ITEM_COLUMNS = [field.column for field in _ITEM_FIELDS]
_QUEUE_FIELDS = [Queue._meta.get_field(name) for name in ("id", "code", "name", "outcomes")]
QUEUE_COLUMNS = ", ".join(f"q.{field.column} AS queue_{field.column}" for field in _QUEUE_FIELDS)


def returning_item(alias: str) -> str:
    """`RETURNING` list of every item column of table alias `alias`."""
    return ", ".join(f"{alias}.{column}" for column in ITEM_COLUMNS)


def item_from_row(row: Sequence, *, with_queue: bool = True) -> WorkItem:
    """An item from ITEM_COLUMNS values, followed by QUEUE_COLUMNS values if `with_queue`
    (the queue is then loaded with those fields only; others load on access)."""
    width = len(_ITEM_FIELDS)
    item = _instance(WorkItem, _ITEM_FIELDS, row[:width])
    if with_queue:
        item.queue = _instance(Queue, _QUEUE_FIELDS, row[width : width + len(_QUEUE_FIELDS)])
    return item


def _instance(model, fields, values):
    # What the ORM's compiler would do: field converters (e.g. JSON text -> objects), then from_db.
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
