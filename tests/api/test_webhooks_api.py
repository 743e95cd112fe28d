"""A source system's webhook subscriptions through the API: its own only, its items'
lifecycle and SLA kinds only, its own sources only, public addresses only; hostile input is
a 400 with a message per field and writes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from allocation.models import INTEGRATION_KINDS, DeliveryStatus, EventKind, WebhookDelivery, WebhookSubscription
from allocation.services import webhooks as outbound
from tests import factories
from tests.helpers import queued_item, token_client

pytestmark = pytest.mark.django_db

LIST = reverse("webhook-list")
PUBLIC_URL = "https://93.184.215.14/hooks/wfo"  # a literal public address: nothing to resolve


@pytest.fixture
def integration():
    return factories.SourceSystemFactory(username="card-platform-api", sources=["card-platform", "card-platform-eu"])


@pytest.fixture
def api(integration):
    return token_client(integration)


def _body(**changes) -> dict:
    return {"name": "Decisions feed", "url": PUBLIC_URL, "kinds": ["completed", "sla_breach"], **changes}


def test_a_source_system_subscribes_and_reads_the_secret_once(api, integration):
    queue = factories.QueueFactory(code="chargebacks")
    answer = api.post(LIST, _body(queues=["chargebacks"], sources=["card-platform"]), format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["secret"].startswith("whsec_") and body["queues"] == ["chargebacks"]
    subscription = WebhookSubscription.objects.get()
    assert subscription.integration == integration == subscription.owner
    assert list(subscription.queues.all()) == [queue] and subscription.sources == ["card-platform"]
    assert subscription.kinds == ["completed", "sla_breach"] and subscription.is_active
    again = api.get(reverse("webhook-detail", args=[subscription.pk])).json()
    assert "secret" not in again and again["name"] == "Decisions feed"
    assert [row["id"] for row in api.get(LIST).json()] == [subscription.pk]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"kinds": ["rebalanced"]}, "kinds", "not a valid choice"),
    ({"kinds": []}, "kinds", "may not be empty"),
    ({"kinds": "completed"}, "kinds", "Expected a list"),
    ({"sources": ["claims"]}, "sources", "Not a source of yours: 'claims'"),
    ({"queues": ["no-such-queue"]}, "queues", "No queue has the code 'no-such-queue'"),
    ({"url": "ftp://93.184.215.14/x"}, "url", "http:// or https://"),
    ({"url": "http://127.0.0.1:8000/x"}, "url", "private address"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url", "private address"),
    ({"url": "http://10.0.0.7/x"}, "url", "private address"),
    ({"url": "http://[::1]/x"}, "url", "private address"),
    ({"url": "https://" + "a" * 600 + ".example"}, "url", "no more than 500"),
    ({"url": "https://93.184.215.14:99999/x"}, "url", "port must be a number from 1 to 65535"),
    ({"name": "x" * 101}, "name", "no more than 100"),
    ({"name": "nul\x00"}, "name", "Null characters"),
    ({"max_attempts": 0}, "max_attempts", "greater than or equal to 1"),
    ({"max_attempts": 10**30}, "max_attempts", "less than or equal to 30"),
    ({"secret": "mine"}, "secret", "Unknown field"),
    ({"integration": 1}, "integration", "Unknown field"),
    ({"queues": [{"deep": [[[[[[[]]]]]]]}]}, "queues", "Not a valid string"),
])
def test_hostile_input_is_refused_by_field_and_writes_nothing(api, changes, field, message, settings):
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = False
    factories.QueueFactory(code="chargebacks")
    answer = api.post(LIST, _body(**changes), format="json")
    assert answer.status_code == 400, answer.json()
    assert message in str(answer.json()["errors"][field]), answer.json()
    assert not WebhookSubscription.objects.exists()


def test_not_json_objects_and_deep_nesting_are_400s(api):
    assert api.post(LIST, [_body()], format="json").status_code == 400
    deep = "[" * 5000 + "]" * 5000
    answer = api.post(LIST, deep, content_type="application/json")
    assert answer.status_code == 400
    assert not WebhookSubscription.objects.exists()


def test_only_source_systems_and_only_their_own(api, integration, client):
    other = factories.SourceSystemFactory(username="claims-api", sources=["claims"])
    theirs = outbound.webhook_subscription_create(name="Theirs", url=PUBLIC_URL, kinds=["completed"],
                                                  integration=other, owner=other)
    admins = outbound.webhook_subscription_create(name="Admin's", url=PUBLIC_URL, kinds=["completed"])
    for subscription in (theirs, admins):
        for method, path in [("get", "webhook-detail"), ("patch", "webhook-detail"), ("delete", "webhook-detail"),
                             ("get", "webhook-deliveries"), ("post", "webhook-redeliver")]:
            answer = getattr(api, method)(reverse(path, args=[subscription.pk]), {}, format="json")
            assert answer.status_code == 404, (method, path, answer.status_code)
    assert api.get(LIST).json() == []
    assert WebhookSubscription.objects.count() == 2
    agent = factories.AgentFactory()
    assert token_client(agent.user).get(LIST).status_code == 403
    assert token_client(factories.UserFactory(is_superuser=True)).post(LIST, _body(), format="json").status_code == 403


def test_change_pause_resume_and_delete(api, integration):
    created = api.post(LIST, _body(), format="json").json()
    detail = reverse("webhook-detail", args=[created["id"]])
    answer = api.patch(detail, {"is_active": False, "kinds": ["completed", "cancelled", "completed"]}, format="json")
    assert answer.status_code == 200 and answer.json()["kinds"] == ["cancelled", "completed"]
    assert answer.json()["is_active"] is False and answer.json()["url"] == PUBLIC_URL
    assert api.patch(detail, {"url": "gopher://x"}, format="json").status_code == 400
    assert WebhookSubscription.objects.get().url == PUBLIC_URL
    assert api.patch(detail, {"is_active": True}, format="json").json()["is_active"] is True
    assert api.delete(detail).status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_the_delivery_log_and_redelivery(api, integration):
    queue = factories.QueueFactory()
    subscription = outbound.webhook_subscription_create(
        name="Feed", url=PUBLIC_URL, kinds=INTEGRATION_KINDS, integration=integration, owner=integration)
    items = [queued_item(queue, source="card-platform") for _ in range(3)]
    events = {item.pk: item.events.get(kind=EventKind.CREATED) for item in items}
    for n, item in enumerate(items):
        WebhookDelivery.objects.create(
            subscription=subscription, event=events[item.pk], item=item, created_at=item.received_at,
            status=[DeliveryStatus.DEAD, DeliveryStatus.DEAD, DeliveryStatus.DELIVERED][n], attempts=12,
            response_status=500 if n < 2 else 200, response_excerpt="oops" if n < 2 else "ok")
    log = api.get(reverse("webhook-deliveries", args=[subscription.pk])).json()
    assert log["count"] == 3
    assert [row["event_id"] for row in log["results"]] == [f"evt_{events[item.pk].pk}" for item in reversed(items)]
    assert log["results"][-1]["status"] == "dead" and log["results"][-1]["response_status"] == 500
    dead = api.get(reverse("webhook-deliveries", args=[subscription.pk]), {"status": "dead"}).json()
    assert dead["count"] == 2
    assert api.get(reverse("webhook-deliveries", args=[subscription.pk]), {"status": "lost"}).status_code == 400
    assert api.get(reverse("webhook-deliveries", args=[subscription.pk]), {"colour": "red"}).status_code == 400

    redeliver = reverse("webhook-redeliver", args=[subscription.pk])
    one = WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD).order_by("pk").first()
    assert api.post(redeliver, {"deliveries": [one.pk]}, format="json").json() == {"redelivered": 1}
    one.refresh_from_db()
    assert one.status == DeliveryStatus.PENDING and one.attempts == 0
    assert api.post(redeliver, {}, format="json").json() == {"redelivered": 1}  # the other dead one
    assert api.post(redeliver, {"deliveries": ["x"]}, format="json").status_code == 400
    assert api.post(redeliver, {"deliveries": [2**70]}, format="json").status_code == 400
    assert api.post(redeliver, {"deliveries": []}, format="json").status_code == 400
