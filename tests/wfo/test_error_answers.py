"""What a client gets when something fails on our side: a database that is not answering
is a 503 with Retry-After that says so (the client may retry); any other error is a 500.
Under /api/ both are the API's JSON error body; pages get an HTML page."""

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token

from allocation import selectors, services
from tests import factories
from tests.processes import broker_of_this_process, free_port
from wfo import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor(role_groups):
    return factories.UserFactory(roles=[roles.SUPERVISOR])


def _client_of(user) -> Client:
    # raise_request_exception=False: answer as the server does, instead of raising in the test.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _failing_item_reads(monkeypatch, error: Exception):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(selectors, "items_visible_to", fail)


@pytest.mark.parametrize("error", [
    OperationalError("connection to server at 127.0.0.1 failed: Connection refused"),
    InterfaceError("connection already closed"),
])
def test_api_says_503_with_retry_after_when_the_database_is_not_answering(monkeypatch, supervisor, error):
    _failing_item_reads(monkeypatch, error)
    client = Client(raise_request_exception=False)
    token = Token.objects.create(user=supervisor).key
    response = client.get("/api/v1/items/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"
    assert "database is not answering" in response.json()["detail"]
    assert "connection" not in response.json()["detail"].lower()  # no server internals


def test_a_page_says_503_when_the_database_is_not_answering(monkeypatch, supervisor):
    _failing_item_reads(monkeypatch, OperationalError("the database system is shutting down"))
    response = _client_of(supervisor).get("/work/items/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"Back in a moment" in response.content and b"shutting down" not in response.content
    assert b'http-equiv="refresh"' in response.content  # a page may reload itself


def test_a_form_post_meeting_a_dead_database_is_not_sent_again_by_itself(monkeypatch, role_groups, queue):
    def fail(*args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(services, "item_get_next", fail)
    agent = factories.AgentFactory(team=queue.teams.first())
    response = _client_of(agent.user).post("/work/next/")
    assert response.status_code == 503
    assert b'http-equiv="refresh"' not in response.content
    assert b"check whether your change is there" in response.content


def test_any_other_error_is_a_500_json_under_api_and_the_500_page_elsewhere(monkeypatch, supervisor):
    _failing_item_reads(monkeypatch, ZeroDivisionError("a bug"))
    token = Token.objects.create(user=supervisor).key
    api = Client(raise_request_exception=False).get("/api/v1/items/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 500 and api.json()["code"] == "server_error" and "Retry-After" not in api
    page = _client_of(supervisor).get("/work/items/")
    assert page.status_code == 500 and b"Something went wrong on our side" in page.content


def test_a_view_meeting_a_dead_database_is_logged_as_one_line_not_a_traceback(monkeypatch, supervisor, caplog):
    _failing_item_reads(monkeypatch, OperationalError("server closed the connection unexpectedly\nmore detail"))
    response = _client_of(supervisor).get("/work/items/")
    assert response.status_code == 503
    warnings = [record for record in caplog.records if record.name == "wfo.middleware"]
    assert [record.getMessage() for record in warnings] == [
        "database unavailable for GET /work/items/: OperationalError: server closed the connection unexpectedly"]
    assert not any(record.exc_info for record in caplog.records)


def test_middleware_meeting_a_dead_database_also_answers_503(monkeypatch, role_groups):
    """Not a view's error (the middleware recording an agent's last visit), so it reaches
    handler500, which answers the same 503."""
    from allocation.services import agents

    def fail(*args, **kwargs):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr(agents, "agent_seen", fail)
    response = _client_of(factories.AgentFactory().user).get("/work/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"Back in a moment" in response.content


def test_running_a_scheduled_job_from_the_admin_with_the_broker_down_says_so(role_groups):
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    job = PeriodicTask.objects.create(name="SLA alerts (admin test)", task="allocation.sla_alerts_raise",
                                      interval=every_minute)
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    with broker_of_this_process(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        response = _client_of(admin).post("/admin/django_celery_beat/periodictask/",
                                          {"action": "run_tasks", "_selected_action": [job.pk]}, follow=True)
    assert response.status_code == 200
    assert "The broker (Redis) is not answering, so no task was started" in response.content.decode()
