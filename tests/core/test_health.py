"""The health endpoint: 200 when the database and the broker answer, 503 naming the one
that does not."""

from unittest import mock

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"]


def test_a_broker_that_does_not_answer_makes_it_503(client):
    with mock.patch("core.health._broker", side_effect=ConnectionRefusedError("refused")):
        response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"]["ok"]
    assert body["broker"] == {"ok": False, "ms": body["broker"]["ms"], "error": "ConnectionRefusedError"}


def test_a_database_that_does_not_answer_makes_it_503(client):
    with mock.patch("core.health._database", side_effect=OSError("down")):
        response = client.get(reverse("health"))
    assert response.status_code == 503 and response.json()["database"]["error"] == "OSError"
