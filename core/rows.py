"""Model instances from plain statements, for the few reads every request makes (who is
signed in, with what). The ORM compiles a query anew on every call — about 1 ms of CPU for
a one-row get, more than the database spends answering it — while a statement written once
from the models' own fields, run through the same connection (its wrappers, its prepared
statements), builds the same instances for a fraction of that."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections
from django.db.models import Field, Model


@dataclass(frozen=True)
class Columns:
    """A model's concrete columns under a table alias: their select list, and the instance
    a row's slice of them makes (each value through its field's own conversion, as the ORM
    does)."""

    model: type[Model]
    alias: str
    fields: tuple[Field, ...]

    @property
    def width(self) -> int:
        return len(self.fields)

    @property
    def select_list(self) -> str:
        return ", ".join(f'{self.alias}."{field.column}"' for field in self.fields)

    def instance(self, values: Sequence, using: str = "default") -> Model:
        connection = connections[using]
        converted = []
        for field, value in zip(self.fields, values, strict=True):
            for convert in field.get_db_converters(connection):
                value = convert(value, field, connection)
            converted.append(value)
        return self.model.from_db(using, [field.attname for field in self.fields], converted)


def columns(model: type[Model], alias: str) -> Columns:
    return Columns(model, alias, tuple(model._meta.concrete_fields))
