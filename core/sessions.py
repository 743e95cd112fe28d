"""Django's database sessions, read with one plain statement (core.rows): every signed-in
request reads its session, and the ORM's get costs more CPU than the read itself. Writes,
expiry and cleanup are Django's own (`SESSION_ENGINE = "core.sessions"`)."""

from __future__ import annotations

import functools

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from core.rows import Columns, columns


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        """As Django's: the session if it exists and has not expired, else None (and this
        store forgets the key, so a new session gets a new one)."""
        session_columns, sql = _statement(self.model)
        using = router.db_for_read(self.model)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return session_columns.instance(row, using)


@functools.cache
def _statement(model) -> tuple[Columns, str]:
    session = columns(model, "s")
    table = model._meta.db_table
    return session, (f'SELECT {session.select_list} FROM "{table}" s '
                     f'WHERE s."session_key" = %s AND s."expire_date" > %s')
