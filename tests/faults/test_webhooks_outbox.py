"""The webhook outbox under faults, with a real Celery worker and beat: Redis stopped while
agents work (events committed meanwhile are delivered once it is back, each once, in order
per item), and a worker killed in the middle of a request (the delivery is tried again when
its lease runs out; the receiver gets the same event id twice and drops the repeat)."""


import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from allocation.models import DeliveryStatus, EventKind, WebhookDelivery, WorkItemEvent
from allocation.services import webhooks as outbound
from tests import factories
from tests.helpers import token_client
from tests.processes import (
    WebhookReceiver,
    celery_beat,
    celery_worker,
    django_env,
    test_database_url,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.outbox, pytest.mark.django_db(transaction=True)]

SECONDS = 60


@pytest.fixture
def receiver(tmp_path):
    server = WebhookReceiver(tmp_path)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def job_every_second():
    """The migration's schedule (emptied with the test database): the job every second."""
    outbound.outbox_cursor_ensure()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="Outbound webhooks (test)", task="allocation.webhooks_pump", interval=every_second)


def _work(agent, source, queue, ref: str) -> int:
    """Intake, then get next (its SQL), start (its SQL), complete — through the API."""
    created = source.post("/api/v1/items/", {"queue": queue.code, "source": "faults", "external_id": ref,
                                             "customer_ref": "C-1", "title": ref}, format="json")
    assert created.status_code == 201, created.content
    got = agent.post("/api/v1/agent/next/")
    assert got.status_code == 200, got.content
    item_id = got.json()["id"]
    assert agent.post(f"/api/v1/items/{item_id}/start/").status_code == 200
    assert agent.post(f"/api/v1/items/{item_id}/complete/", {"outcome": ""}, format="json").status_code == 200
    return item_id


def _received_ids(receiver) -> list[int]:
    return [int(request["json"]["id"].removeprefix("evt_")) for request in receiver.requests()]


def test_events_committed_while_redis_is_down_are_delivered_once_it_is_back(role_groups, redis, receiver, tmp_path):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    agent = token_client(factories.AgentFactory(team=team, capacity=5).user)
    source = token_client(factories.SourceSystemFactory(sources=["faults"]))
    outbound.webhook_subscription_create(name="Feed", url=receiver.url(), kinds=list(EventKind.values))
    env = django_env(test_database_url(), redis.url, tmp_path / "mail")
    worker = celery_worker(env, tmp_path / "worker.log", name="hooks")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path)
    try:
        before = _work(agent, source, queue, "BEFORE")
        wait_until(lambda: len(receiver.requests()) == 4, seconds=SECONDS, what="the first item's four events",
                   log=worker.log, alive=[worker.process, beat.process])

        redis.stop()
        during = [_work(agent, source, queue, f"DURING-{n}") for n in range(3)]
        wait_until(lambda: "Trying again" in beat.log.read_text() or "Error" in beat.log.read_text(), seconds=30,
                   what="beat notices the broker is gone", log=beat.log)
        assert len(receiver.requests()) == 4, "delivered without a broker?"
        assert worker.alive() and beat.alive()

        redis.start()  # empty: every message it held is gone
        wait_until(lambda: len(receiver.requests()) == 16, seconds=SECONDS, what="the outage's events delivered",
                   log=worker.log, alive=[worker.process, beat.process])
    finally:
        beat.stop()
        worker.stop()

    received = _received_ids(receiver)
    events = dict(WorkItemEvent.objects.values_list("pk", "item_id"))
    assert sorted(received) == sorted(events), "every event once, none missing"
    for item_id in [before, *during]:
        mine = [event_id for event_id in received if events[event_id] == item_id]
        assert mine == sorted(mine), f"item #{item_id}'s events out of order: {mine}"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_worker_killed_mid_request_leaves_the_delivery_to_be_tried_again(role_groups, redis, receiver, tmp_path):
    queue = factories.QueueFactory()
    source = token_client(factories.SourceSystemFactory(sources=["faults"]))
    outbound.webhook_subscription_create(name="Feed", url=receiver.url("slowfirst/30"), kinds=[EventKind.CREATED])
    env = django_env(test_database_url(), redis.url, tmp_path / "mail", WFO_WEBHOOK_TIMEOUT_SECONDS="2")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path)
    first = celery_worker(env, tmp_path / "first.log", name="first")
    second = None
    try:
        created = source.post("/api/v1/items/", {"queue": queue.code, "source": "faults", "external_id": "K-1",
                                                 "customer_ref": "C-1", "title": "K-1"}, format="json")
        assert created.status_code == 201
        # The first try is in flight (the receiver holds it): kill the worker there.
        wait_until(lambda: receiver.requests(), seconds=SECONDS, what="the first try", log=first.log,
                   alive=[first.process, beat.process])
        first.kill()
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
        second = celery_worker(env, tmp_path / "second.log", name="second")
        wait_until(lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED, seconds=SECONDS,
                   what="tried again once the lease ran out", log=second.log, alive=[second.process, beat.process])
    finally:
        beat.stop()
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 2 and delivery.response_status == 200
    tries = receiver.requests()
    assert [request["try"] for request in tries] == [1, 2]
    assert tries[0]["json"]["id"] == tries[1]["json"]["id"], "a repeat carries the same event id"
