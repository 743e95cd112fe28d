"""The kept connection's health check (core/postgresql/base.py): a sound idle connection
passes without a statement sent; one the server has cut fails, and the next request's
statement runs on a new connection; a live connection with something to read (a
notification) still passes, after the round trip."""

import time

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kept():
    """A connection of its own, as a web worker keeps one between requests."""
    wrapper = connections.create_connection("default")
    wrapper.health_check_enabled = True
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def last_statement_of(wrapper) -> str:
    """What the server last ran for `wrapper`'s session, read from another connection."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [wrapper.connection.info.backend_pid])
        return cursor.fetchone()[0]


def readable_within(wrapper, seconds: float = 5.0) -> None:
    """Wait until the server's word has reached the socket (its termination is asynchronous)."""
    import select

    poller = select.poll()
    poller.register(wrapper.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + seconds
    while not poller.poll(50):
        assert time.monotonic() < deadline, "the server said nothing on the socket"


def test_a_sound_idle_connection_passes_without_a_statement(kept):
    with kept.cursor() as cursor:
        cursor.execute("SELECT 'before the check'")

    assert kept.is_usable()
    assert last_statement_of(kept) == "SELECT 'before the check'"


def test_a_connection_the_server_cut_fails_and_the_next_statement_reconnects(kept):
    with kept.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        cut_pid = cursor.fetchone()[0]
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [cut_pid])
    readable_within(kept)

    assert not kept.is_usable()

    kept.health_check_done = False  # a new request: its first statement checks the connection
    with kept.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != cut_pid


def test_a_live_connection_with_something_to_read_passes_after_the_round_trip(kept):
    with kept.cursor() as cursor:
        cursor.execute("LISTEN health_check_test")
    with connections["default"].cursor() as cursor:
        cursor.execute("NOTIFY health_check_test")
    readable_within(kept)

    assert kept.is_usable()
    assert last_statement_of(kept) == "SELECT 1"


def test_a_connection_in_a_transaction_is_asked_with_a_statement(kept):
    kept.connection.execute("BEGIN")

    assert kept.is_usable()
    assert last_statement_of(kept) == "SELECT 1"
    kept.connection.execute("ROLLBACK")
