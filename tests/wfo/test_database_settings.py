"""The database connection as the settings make it: no JIT compiling (wfo/settings/base.py,
`DATABASE_JIT_OFF`), whatever options the URL carries already."""

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_portal_connects_with_jit_off():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_the_option_is_added_to_those_the_url_carries(monkeypatch):
    from wfo.settings import base

    monkeypatch.setenv("DATABASE_JIT_OFF", "true")
    database = {"OPTIONS": {"options": "-c statement_timeout=5000"}}
    base._jit_off(database)
    assert database["OPTIONS"]["options"] == "-c statement_timeout=5000 -c jit=off"
    monkeypatch.setenv("DATABASE_JIT_OFF", "false")
    untouched = {}
    base._jit_off(untouched)
    assert untouched == {}
