"""Django's PostgreSQL backend with a health check that costs no round trip while the
connection is idle and sound (settings: DATABASES' ENGINE "core.postgresql").

With CONN_HEALTH_CHECKS, Django checks a kept connection before each request's first
statement, so a worker rides out a PostgreSQL restart (tests/faults/test_database_restart.py):
its check sends `SELECT 1` — a round trip to the server on every request, about a tenth of
an API request's worker CPU. Between requests an idle connection has nothing to read unless
the server spoke: a shutdown or a terminated backend sends its error and closes the socket,
which turns it readable. So the check looks at the socket first, and sends `SELECT 1` only
when something is there to read (a dead connection, or a notice a live one may carry) or the
connection is not idle."""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()  # in a transaction or an error: only a statement tells
        try:
            poller = select.poll()
            poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
            spoke = bool(poller.poll(0))  # POLLHUP and POLLERR come whether asked or not
        except (OSError, ValueError):  # the socket is gone
            return False
        return super().is_usable() if spoke else True
