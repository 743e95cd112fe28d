"""Outbound webhooks against a real HTTP receiver on loopback (tests/webhook_receiver.py):
every kind of event reaches it — those get-next's and start's SQL write too —, signed; a
failing or absent receiver is retried and finally dead-lettered without blocking the item's
later events; an item's events arrive in order; a rolled-back change sends nothing; a
transaction committing late is neither lost nor sent out of order; overlapping passes send
each event once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from allocation import services, webhooks
from allocation.models import (
    CHANNEL_KINDS,
    INTEGRATION_KINDS,
    DeliveryStatus,
    EventKind,
    OutboxCursor,
    WebhookDelivery,
    WebhookFormat,
    WebhookSubscription,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import routing, sla_alerts
from allocation.services import webhooks as outbound
from core.models import Notification
from tests import factories
from tests.helpers import pended_item, queued_item, started_item
from tests.processes import WebhookReceiver, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.outbox]


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.WFO_WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WFO_WEBHOOK_RETRY_BASE = timedelta(0)


@pytest.fixture(autouse=True)
def outbox():
    """The cursor, before the test writes anything (the suite empties tables between tests)."""
    outbound.outbox_cursor_ensure()


@pytest.fixture
def receiver(tmp_path):
    server = WebhookReceiver(tmp_path)
    yield server
    server.stop()


def subscribe(url: str, kinds=tuple(EventKind.values), **fields) -> WebhookSubscription:
    return outbound.webhook_subscription_create(name="Card platform", url=url, kinds=kinds, **fields)


def pump_until(condition, what: str, seconds: float = 30):
    """Run the job until `condition` holds (other tests' transactions may hold the outbox
    back for a moment: it waits for every transaction that began before a change)."""
    def ran():
        outbound.webhooks_pump(budget_seconds=5)
        return condition()
    return wait_until(ran, seconds=seconds, what=what, every=0.05)


def received_kinds(receiver) -> list[str]:
    return [request["json"]["type"].removeprefix("item.") for request in receiver.requests()]


def test_every_kind_reaches_the_receiver_signed_with_the_event_and_the_items_state(receiver):
    team = factories.TeamFactory()
    queue, other = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team])
    factories.RoutingStepFactory(queue=queue, added_teams=[team])
    agent = factories.AgentFactory(team=team, capacity=10)
    subscription = subscribe(receiver.url())

    pended = pended_item(agent, queue)  # created, assigned (get-next's SQL), started (start's), pended
    services.item_resume(item_id=pended.pk, actor=agent.user)
    services.item_complete(item_id=pended.pk, actor=agent.user, outcome="accepted")
    released = started_item(agent, queue)
    services.item_release(item_id=released.pk, actor=agent.user, reason="Needs a specialist")
    moved = queued_item(queue)
    supervisor = factories.UserFactory(is_superuser=True)
    services.item_transfer(item_id=moved.pk, actor=supervisor, to_queue_id=other.pk, reason="Wrong queue")
    services.item_cancel(item_id=moved.pk, actor=supervisor, reason="Withdrawn")
    later = timezone.now() + timedelta(days=3)
    routing.routing_advance(now=later)  # the released item waited: step 2
    sla_alerts.sla_alerts_raise(now=later)  # warnings and breaches of what is open

    wanted = {EventKind.CREATED, EventKind.ASSIGNED, EventKind.STARTED, EventKind.PENDED, EventKind.RESUMED,
              EventKind.COMPLETED, EventKind.RELEASED, EventKind.TRANSFERRED, EventKind.CANCELLED,
              EventKind.STEP_ENTERED, EventKind.SLA_WARNING, EventKind.SLA_BREACH}
    pump_until(lambda: wanted <= set(received_kinds(receiver)), "every kind received")

    requests = receiver.requests()
    events = WorkItemEvent.objects.in_bulk()
    assert len({r["json"]["id"] for r in requests}) == len(requests) == WebhookDelivery.objects.count()
    for request in requests:
        body, headers = request["json"], request["headers"]
        event = events[int(body["id"].removeprefix("evt_"))]
        assert headers[webhooks.EVENT_ID_HEADER] == body["id"] == webhooks.event_id(event.pk)
        assert webhooks.signature_valid(subscription.secret, headers[webhooks.SIGNATURE_HEADER],
                                        request["body"].encode(), now=time.time())
        assert not webhooks.signature_valid("whsec_another", headers[webhooks.SIGNATURE_HEADER],
                                            request["body"].encode(), now=time.time())
        assert body["type"] == f"item.{event.kind}"
        assert body["data"]["event"]["kind"] == event.kind and body["data"]["item"]["id"] == event.item_id
    completed = next(r["json"] for r in requests if r["json"]["type"] == "item.completed")
    assert completed["data"]["item"]["outcome"] == "accepted"
    assert completed["data"]["event"]["data"]["outcome"] == "accepted"
    breach = next(r["json"] for r in requests if r["json"]["type"] == "item.sla_breach")
    assert breach["data"]["event"]["data"]["threshold"] == 100
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_change_that_rolls_back_sends_nothing(receiver):
    queue = factories.QueueFactory()
    subscribe(receiver.url())
    with pytest.raises(RuntimeError), transaction.atomic():
        queued_item(queue, external_id="ROLLED-BACK")
        raise RuntimeError("the caller fails after the intake")
    kept = queued_item(queue, external_id="KEPT")
    pump_until(lambda: receiver.requests(), "the kept item's event")
    outbound.webhooks_pump(budget_seconds=2)
    assert [r["json"]["data"]["item"]["external_id"] for r in receiver.requests()] == ["KEPT"]
    assert WebhookDelivery.objects.get().item_id == kept.pk


def test_a_transaction_that_commits_late_is_neither_lost_nor_sent_before_its_time(receiver):
    """Ids are not commit order: a transaction that took its id first and commits last.
    A cursor by event id would pass it for good; the outbox waits for it."""
    queue = factories.QueueFactory()
    subscribe(receiver.url())
    early_open, late_done = threading.Event(), threading.Event()

    def slow_intake():
        try:
            with transaction.atomic():
                queued_item(queue, external_id="EARLY-BUT-SLOW")
                early_open.set()
                late_done.wait(30)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_intake)
    slow.start()
    assert early_open.wait(30)
    queued_item(queue, external_id="LATE-BUT-QUICK")  # a later transaction, committed first
    outbound.webhooks_pump(budget_seconds=2)
    assert receiver.requests() == [], "sent while an older transaction was still open"
    late_done.set()
    slow.join(30)
    pump_until(lambda: len(receiver.requests()) == 2, "both items' events")
    assert sorted(r["json"]["data"]["item"]["external_id"] for r in receiver.requests()) == [
        "EARLY-BUT-SLOW", "LATE-BUT-QUICK"]


def test_retries_after_500_and_while_the_receiver_is_down_then_delivers(receiver, settings):
    queue = factories.QueueFactory()
    subscribe(receiver.url("flaky/2"))
    item = queued_item(queue)
    pump_until(lambda: any(r["try"] == 3 for r in receiver.requests()), "the third try")
    delivery = WebhookDelivery.objects.get(item=item)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert delivery.response_status == 200 and delivery.latency_ms is not None
    assert '"received"' in delivery.response_excerpt

    receiver.stop()
    settings.WFO_WEBHOOK_RETRY_BASE = timedelta(seconds=0.5)
    second = queued_item(queue)
    # Pumped until tried (as pump_until says, another test's open transaction may hold the
    # outbox back for a moment: one pass could find nothing yet).
    pump_until(lambda: WebhookDelivery.objects.filter(item=second, attempts__gte=1).exists(),
               "a first try while the receiver is down")
    down = WebhookDelivery.objects.get(item=second)
    assert down.status == DeliveryStatus.PENDING and down.attempts >= 1
    assert down.response_status is None and "Connection" in down.error
    receiver.start()
    pump_until(lambda: WebhookDelivery.objects.get(item=second).status == DeliveryStatus.DELIVERED,
               "delivered once the receiver is back")


def test_an_items_events_arrive_in_order_and_a_dead_letter_does_not_block_the_later_ones(receiver):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    agent = factories.AgentFactory(team=team)
    subscription = subscribe(receiver.url("flaky/3"), max_attempts=2)
    item = started_item(agent, queue)  # created, assigned, started
    services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 0,
               "every delivery decided")
    requests = receiver.requests()
    order = [int(r["json"]["id"].removeprefix("evt_")) for r in requests]
    assert order == sorted(order), "an item's events were attempted out of order"
    assert [r["try"] for r in requests] == [1, 2] * 4  # each event: two tries, then dead; the next goes on
    assert WebhookDelivery.objects.filter(subscription=subscription, status=DeliveryStatus.DEAD).count() == 4

    # Redeliver every dead-lettered one: a fresh round of tries (the receiver fails each
    # event's third try and takes its fourth), the item's events in order again.
    assert outbound.webhook_deliveries_redeliver(subscription) == 4
    pump_until(lambda: not WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists(),
               "redelivered")
    again = [(int(r["json"]["id"].removeprefix("evt_")), r["try"]) for r in receiver.requests()[8:]]
    assert again == [(event, attempt) for event in sorted(set(order)) for attempt in (3, 4)]


def test_overlapping_passes_and_senders_send_each_event_once(receiver):
    queue = factories.QueueFactory()
    subscribe(receiver.url())
    subscribe(receiver.url("ok-too"))
    for _ in range(60):
        queued_item(queue)
    barrier, failures = threading.Barrier(4), []

    def pump():
        try:
            barrier.wait()
            for _ in range(3):
                outbound.webhooks_pump(budget_seconds=5)
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    pump_until(lambda: len(receiver.requests()) >= 120, "both subscriptions' 60 events")
    assert not failures, failures[:2]
    sent = Counter((r["path"], r["json"]["id"]) for r in receiver.requests())
    assert len(sent) == 120 and set(sent.values()) == {1}


def test_what_a_subscription_receives_follows_its_kinds_queues_and_sources(receiver):
    watched, unwatched = factories.QueueFactory(), factories.QueueFactory()
    subscribe(receiver.url(), kinds=[EventKind.CREATED, EventKind.CANCELLED], sources=["card-platform"],
              queues=[watched])
    admin = factories.UserFactory(is_superuser=True)
    wanted = queued_item(watched, source="card-platform", external_id="WANTED")
    services.item_cancel(item_id=wanted.pk, actor=admin, reason="Withdrawn")
    queued_item(watched, source="claims", external_id="OTHER-SOURCE")
    queued_item(unwatched, source="card-platform", external_id="OTHER-QUEUE")
    moved_in = queued_item(unwatched, source="card-platform", external_id="MOVED-IN")
    services.item_transfer(item_id=moved_in.pk, actor=admin, to_queue_id=watched.pk, reason="Belongs there")
    pump_until(lambda: len(receiver.requests()) >= 3, "three events")
    outbound.webhooks_pump(budget_seconds=1)
    got = sorted((r["json"]["data"]["item"]["external_id"], r["json"]["type"]) for r in receiver.requests())
    # MOVED-IN was created in another queue; it is in the watched one when its creation is sent.
    assert got == [("MOVED-IN", "item.created"), ("WANTED", "item.cancelled"), ("WANTED", "item.created")]


def test_a_source_systems_subscription_hears_only_of_its_own_sources(receiver, settings):
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = True  # the receiver is on loopback
    queue = factories.QueueFactory()
    integration = factories.SourceSystemFactory(sources=["card-platform"])
    subscribe(receiver.url(), kinds=INTEGRATION_KINDS, integration=integration, owner=integration)
    queued_item(queue, source="card-platform", external_id="MINE")
    queued_item(queue, source="claims", external_id="NOT-MINE")
    pump_until(lambda: receiver.requests(), "its own item")
    outbound.webhooks_pump(budget_seconds=1)
    assert [r["json"]["data"]["item"]["external_id"] for r in receiver.requests()] == ["MINE"]


def test_a_source_systems_receiver_found_at_a_private_address_when_sent_to_is_refused(receiver, settings):
    """Its URL was public when saved; its name now resolves to loopback (DNS rebinding). The
    address actually reached is what is judged: nothing is sent there, the log says why. An
    admin's subscription to the same address is sent to (admins may reach internal systems)."""
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = False
    settings.WFO_WEBHOOK_MAX_ATTEMPTS = 1
    queue = factories.QueueFactory()
    integration = factories.SourceSystemFactory(sources=["card-platform"])
    rebound = receiver.url().replace("127.0.0.1", "localhost")
    theirs = subscribe(rebound, kinds=INTEGRATION_KINDS, integration=integration, owner=integration, max_attempts=1)
    admins = subscribe(rebound, kinds=[EventKind.CREATED])
    queued_item(queue, source="card-platform")
    pump_until(lambda: not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists(), "both tried")
    refused = WebhookDelivery.objects.get(subscription=theirs)
    assert refused.status == DeliveryStatus.DEAD and refused.response_status is None
    assert "private address" in refused.error and "public addresses only" in refused.error
    assert WebhookDelivery.objects.get(subscription=admins).status == DeliveryStatus.DELIVERED
    assert [r["headers"][webhooks.DELIVERY_ID_HEADER] for r in receiver.requests()] == [
        str(WebhookDelivery.objects.get(subscription=admins).pk)]


def test_a_subscription_failing_for_a_day_is_paused_and_its_owner_told_once(receiver, settings):
    settings.WFO_WEBHOOK_RETRY_BASE = settings.WFO_WEBHOOK_RETRY_CAP = timedelta(hours=2)
    queue = factories.QueueFactory()
    owner = factories.UserFactory()
    subscription = subscribe(receiver.url("fail"), owner=owner, max_attempts=30)
    queued_item(queue)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        pump_until(lambda: WebhookDelivery.objects.filter(attempts=1).exists(), "a failed try")
        subscription.refresh_from_db()
        assert subscription.failing_since == start and subscription.is_active
        clock.move_to(start + timedelta(hours=23))  # the second try (after 1 to 2 h), failing for 23 h
        outbound.webhooks_pump(budget_seconds=1)
        subscription.refresh_from_db()
        assert subscription.is_active and len(receiver.requests()) == 2
        clock.move_to(start + timedelta(hours=25, minutes=1))  # the third: failing for more than a day
        outbound.webhooks_pump(budget_seconds=1)
        assert len(receiver.requests()) == 3
        subscription.refresh_from_db()
        assert not subscription.is_active and "no delivery succeeded" in subscription.paused_reason
        clock.move_to(start + timedelta(hours=30))  # paused: nothing more is tried
        outbound.webhooks_pump(budget_seconds=1)
        assert len(receiver.requests()) == 3
    told = Notification.objects.filter(user=owner, kind=outbound.NOTIFICATION_KIND)
    assert told.count() == 1 and subscription.url in told.get().body and told.get().email
    # Active again at a URL that answers: the kept delivery goes out, and the failure is forgotten.
    outbound.webhook_subscription_update(subscription, is_active=True, url=receiver.url())
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(), "sent once active")
    subscription.refresh_from_db()
    assert subscription.failing_since is None and subscription.paused_reason == ""


def test_the_retry_delay_doubles_up_to_the_cap_with_jitter(settings):
    import random

    settings.WFO_WEBHOOK_RETRY_BASE = timedelta(seconds=10)
    settings.WFO_WEBHOOK_RETRY_CAP = timedelta(seconds=100)
    rng = random.Random(7)
    for attempt, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (12, 100)]:
        delays = [outbound.retry_delay(attempt, rng=rng).total_seconds() for _ in range(200)]
        assert full / 2 <= min(delays) and max(delays) <= full
        assert max(delays) - min(delays) > full / 4, "no jitter"


def test_signature_verification_refuses_a_stale_or_altered_request():
    body, secret = b'{"id":"evt_1"}', "whsec_test"
    header = webhooks.signature_header(secret, 1_800_000_000, body)
    assert webhooks.signature_valid(secret, header, body, now=1_800_000_100)
    assert not webhooks.signature_valid(secret, header, body, now=1_800_000_000 + 301)
    assert not webhooks.signature_valid(secret, header, body + b" ", now=1_800_000_100)
    assert not webhooks.signature_valid(secret, "t=abc,v1=00", body, now=1_800_000_100)
    assert not webhooks.signature_valid(secret, "", body, now=1_800_000_100)


def test_the_outbox_records_nothing_on_the_hot_path_but_the_event():
    """No subscription or one: an event is one row either way (the event table is the outbox)."""
    queue = factories.QueueFactory()
    subscribe("http://127.0.0.1:9/never")
    before = OutboxCursor.objects.get().position
    queued_item(queue)
    assert WebhookDelivery.objects.count() == 0
    event = WorkItemEvent.objects.get()
    assert event.txid is not None and event.txid >= before


def test_a_teams_chat_channels_hear_its_sla_alerts_directed_assignments_and_escalations(receiver, settings):
    settings.WFO_PORTAL_URL = "https://wfo.example.com"
    team, other_team = factories.TeamFactory(name="Disputes A"), factories.TeamFactory()
    queue, elsewhere = factories.QueueFactory(teams=[team], name="Disputes"), factories.QueueFactory(teams=[other_team])
    factories.RoutingStepFactory(queue=elsewhere, added_teams=[team])  # escalates to the team after 30 min
    agent = factories.AgentFactory(team=team, capacity=10, user__first_name="Amelia", user__last_name="Hart")
    lead = factories.UserFactory(is_superuser=True, first_name="Dana", last_name="Morgan")
    kinds = list(CHANNEL_KINDS)
    slack = subscribe(receiver.url("slack"), kinds=kinds, format=WebhookFormat.SLACK, team=team)
    subscribe(receiver.url("teams"), kinds=kinds, format=WebhookFormat.TEAMS, team=team)

    directed = queued_item(queue, title="Chargeback <urgent> & late")
    services.item_transfer(item_id=directed.pk, actor=lead, to_agent_id=agent.pk, reason="She knows the merchant")
    moved = queued_item(queue)
    services.item_transfer(item_id=moved.pk, actor=lead, to_queue_id=factories.QueueFactory().pk, reason="Wrong")
    escalated = queued_item(elsewhere)
    not_ours = queued_item(elsewhere)  # stays at step 1 below: another team's work
    later = timezone.now() + timedelta(minutes=31)
    WorkItem.objects.filter(pk=not_ours.pk).update(received_at=later, step_entered_at=later)
    routing.routing_advance(now=later)
    sla_alerts.sla_alerts_raise(now=timezone.now() + timedelta(days=2))

    def messages(path):
        return [r["json"] for r in receiver.requests() if r["path"] == f"/{path}"]

    pump_until(lambda: len(messages("slack")) >= 5 and len(messages("teams")) >= 5, "the channels' messages")
    outbound.webhooks_pump(budget_seconds=1)
    texts = [message["text"] for message in messages("slack")]
    link = f"<https://wfo.example.com/work/items/{directed.pk}/|Open #{directed.pk}>"
    assert any(text.startswith(f"*Assigned: #{directed.pk} Chargeback &lt;urgent&gt; &amp; late*") and
               "Dana Morgan gave" in text and "to Amelia Hart" in text and link in text for text in texts), texts
    assert any(f"*Escalated: #{escalated.pk}" in text and "routing step 2" in text and "Disputes A" in text
               for text in texts), texts
    breaches = [text for text in texts if text.startswith("*SLA breached")]
    warnings = [text for text in texts if text.startswith("*SLA warning")]
    # The directed item and the escalated one are the team's; the moved one left for a queue of nobody's.
    assert {int(text.split("#")[1].split(" ")[0]) for text in breaches} == {directed.pk, escalated.pk}
    assert warnings and not any(f"#{not_ours.pk} " in text for text in texts), "another team's work"
    assert not any(f"#{moved.pk} " in text for text in texts), "a queue-to-queue transfer is not a directed one"
    cards = messages("teams")
    assert {card["@type"] for card in cards} == {"MessageCard"}
    breach_card = next(card for card in cards if card["title"].startswith("SLA breached"))
    assert breach_card["themeColor"] == "D70000"
    assert breach_card["potentialAction"][0]["targets"][0]["uri"].startswith("https://wfo.example.com/work/items/")
    assert len(cards) == len(texts)
    assert WebhookDelivery.objects.filter(subscription=slack, status=DeliveryStatus.DELIVERED).count() == len(texts)
