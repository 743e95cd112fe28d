"""What a client gets when something fails on our side: a database that is not answering
is a 503 with Retry-After that says so (the client may retry); any other error is a 500. And
what it gets when Django refuses the request before any view: a foreign Host header is a 400.
Under /api/ each is the API's JSON error body; pages get an HTML page."""

import json
import subprocess
import sys

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token

from allocation import selectors, services
from allocation.models import WorkItem, WorkItemEvent
from core import roles
from tests import factories
from tests.helpers import started_item, token_client
from tests.processes import ROOT, broker_of_this_process, free_port, production_settings_env

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
    warnings = [record for record in caplog.records if record.name == "core.middleware"]
    assert [record.getMessage() for record in warnings] == [
        "database unavailable for GET /work/items/: OperationalError: server closed the connection unexpectedly"]
    assert not any(record.exc_info for record in caplog.records)


def test_an_agents_visit_the_database_cannot_record_leaves_the_answer_as_it_was(monkeypatch, role_groups, caplog,
                                                                                  queue):
    """The visit is recorded once the view has answered (allocation.middleware): a database
    gone by then drops the record with one line logged, and the answer stands — an action
    done is never answered 503, whose retry would then be refused."""
    from allocation import middleware

    def fail(*args, **kwargs):
        raise OperationalError("the database system is starting up\nmore detail")

    monkeypatch.setattr(middleware, "agent_seen", fail)
    agent = factories.AgentFactory(team=queue.teams.first())
    response = _client_of(agent.user).get("/work/")
    assert response.status_code == 200
    item = started_item(agent, queue)
    done = token_client(agent.user).post(f"/api/v1/items/{item.pk}/complete/", {}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    warnings = [record.getMessage() for record in caplog.records if record.name == "allocation.middleware"]
    assert warnings == [f"agent {agent.pk}'s visit not recorded, the database not answering: "
                        "OperationalError: the database system is starting up"] * 2
    assert not any(record.exc_info for record in caplog.records)


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


# A Host header this server does not serve (not in ALLOWED_HOSTS) -------------------------------

def test_a_foreign_host_under_api_gets_the_json_400_and_nothing_is_written(role_groups, queue):
    token = Token.objects.create(user=factories.SourceSystemFactory(sources=["cards"])).key
    row = {"queue": queue.code, "source": "cards", "external_id": "CB-1", "customer_ref": "CUST-9", "title": "A"}
    client = Client(raise_request_exception=False)
    for method, body in (("get", None), ("post", json.dumps(row))):
        response = getattr(client, method)("/api/v1/items/", data=body, content_type="application/json",
                                           HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="evil.example")
        assert response.status_code == 400, method
        assert response["Content-Type"] == "application/json", method
        assert response.json() == {"code": "disallowed_host", "detail": (
            "This server does not answer for the host named in the request's Host header.")}, method
    assert (WorkItem.objects.count(), WorkItemEvent.objects.count()) == (0, 0)
    allowed = client.post("/api/v1/items/", data=json.dumps(row), content_type="application/json",
                          HTTP_AUTHORIZATION=f"Token {token}")
    assert allowed.status_code == 201  # the same request to a served host is taken in


@pytest.mark.parametrize("debug", [False, True])
def test_a_foreign_host_under_api_gets_json_with_debug_on_too(settings, debug):
    """`make run` serves with DEBUG on, where Django would answer with its technical page."""
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/v1/items/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response.json()["code"] == "disallowed_host"


def test_a_foreign_host_on_a_page_still_gets_the_400_page(supervisor):
    response = _client_of(supervisor).get("/work/items/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


PRODUCTION_PROBE = """
import django; django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
for path in ("/api/v1/items/", "/api/v1/agent/next/", "/work/"):
    response = client.post(path, data="{}", content_type="application/json", HTTP_HOST="evil.example")
    print(path, response.status_code, response["Content-Type"], response.content.decode()[:200].replace(chr(10), " "))
"""


@pytest.mark.parametrize("ssl_redirect", ["false", "true"])
def test_production_answers_a_foreign_host_under_api_with_the_json_400(tmp_path, ssl_redirect):
    """Production's ALLOWED_HOSTS holds only DJANGO_ALLOWED_HOSTS (no test server added). With
    the HTTPS redirect on, SecurityMiddleware asks for the host first; off, CommonMiddleware does."""
    env = {**production_settings_env(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": ssl_redirect}
    probe = subprocess.run([sys.executable, "-W", "ignore", "-c", PRODUCTION_PROBE], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    answers = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in probe.stdout.splitlines()}
    for path in ("/api/v1/items/", "/api/v1/agent/next/"):
        status, content_type, body = answers[path].split(" ", 2)
        assert (status, content_type) == ("400", "application/json"), answers[path]
        assert json.loads(body)["code"] == "disallowed_host"
    assert answers["/work/"].startswith("400 text/html")
