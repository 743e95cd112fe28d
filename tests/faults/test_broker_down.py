"""Redis stopped while agents work: the portal keeps allocating (no request needs the
broker), /health/ says which part is down, worker and beat wait for the broker without
dying, and once it is back the jobs catch up on everything that came due meanwhile.

No enqueue can be lost because nothing the portal does is only in the broker: requests
never enqueue, and every job reads its work from PostgreSQL (due clocks, expired
reservations, unread events), so the broker only carries beat's ticks. This Redis keeps
nothing on disk, like the default deployment's: its restart loses every message it held.
"""


import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token

from allocation.models import ItemStatus, SlaAlert, WorkItem
from core import roles
from tests import factories
from tests.processes import (
    broker_of_this_process,
    celery_beat,
    celery_worker,
    django_env,
    test_database_url,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

CATCH_UP_SECONDS = 60


@pytest.fixture
def portal_broker(redis):
    """This test process's portal (its /health/) uses the test's own Redis too."""
    with broker_of_this_process(redis.url):
        yield


def _api(user) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return client


def _late_item(source: Client, queue, ref: str) -> int:
    """An item received long enough ago to be past its 50 % warning already."""
    received = (timezone.now() - queue.sla_target * 0.6).isoformat()
    response = source.post("/api/v1/items/", {
        "queue": queue.code, "source": "faults", "external_id": ref, "customer_ref": "C-1", "title": ref,
        "received_at": received,
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _work_one_item(agent: Client) -> int:
    """Get next, start, complete: the agent's loop, through the API."""
    got = agent.post("/api/v1/agent/next/")
    assert got.status_code == 200, got.content
    item_id = got.json()["id"]
    assert agent.post(f"/api/v1/items/{item_id}/start/").status_code == 200
    assert agent.post(f"/api/v1/items/{item_id}/complete/", {"outcome": ""},
                      content_type="application/json").status_code == 200
    return item_id


def test_agents_keep_working_while_redis_is_down_and_the_jobs_catch_up_after(
    role_groups, redis, portal_broker, tmp_path
):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR], email="lead@example.com"))
    profile = factories.AgentFactory(team=team, capacity=5)
    agent, source = _api(profile.user), _api(factories.SourceSystemFactory(sources=["faults"]))
    for n in range(6):
        _late_item(source, queue, f"BEFORE-{n}")
    # Beat ticks the alert job every second (the demo's schedule is every minute).
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="SLA alerts (test)", task="allocation.sla_alerts_raise", interval=every_second)

    env = django_env(test_database_url(), redis.url, tmp_path / "mail")
    worker = celery_worker(env, tmp_path / "worker.log", name="faults")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path)
    try:
        wait_until(lambda: SlaAlert.objects.filter(emailed_at__isnull=False).count() == 6, seconds=CATCH_UP_SECONDS,
                   what="the alert job runs while Redis is up", log=worker.log, alive=[worker.process, beat.process])
        assert Client().get("/health/").status_code == 200

        redis.stop()
        down = Client().get("/health/")
        assert down.status_code == 503
        assert down.json()["database"]["ok"] and not down.json()["broker"]["ok"]
        # The portal keeps allocating: intake, get next, start, complete.
        late = [_late_item(source, queue, f"DURING-{n}") for n in range(4)]
        worked = [_work_one_item(agent) for _ in range(4)]
        assert WorkItem.objects.filter(pk__in=worked, status=ItemStatus.COMPLETED).count() == 4
        # Beat's ticks go nowhere meanwhile (it keeps trying), so nothing new is raised...
        wait_until(lambda: beat.log.read_text().count("Trying again") + beat.log.read_text().count("Error") >= 1,
                   seconds=30, what="beat notices the broker is gone", log=beat.log)
        assert not SlaAlert.objects.filter(item_id__in=late).exists()
        # ...and neither process gives up.
        assert worker.alive() and beat.alive()

        redis.start()  # same port, empty: whatever it held is gone
        wait_until(lambda: SlaAlert.objects.filter(item_id__in=late, emailed_at__isnull=False).count() == 4,
                   seconds=CATCH_UP_SECONDS, what="the jobs catch up once Redis is back", log=worker.log,
                   alive=[worker.process, beat.process])
        assert Client().get("/health/").status_code == 200
    finally:
        beat.stop()
        worker.stop()

    # Every late item warned exactly once; the work done during the outage is all there.
    assert SlaAlert.objects.count() == 10
    assert set(SlaAlert.objects.values_list("item_id", flat=True)) == set(WorkItem.objects.values_list("pk", flat=True))
    assert WorkItem.objects.filter(status=ItemStatus.COMPLETED).count() == 4
