"""Prometheus metrics: request latency by view, allocations, queue depths and SLA alerts,
in the text exposition format; a token when one is set."""

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from allocation import services
from tests import factories
from tests.helpers import queued_item

pytestmark = pytest.mark.django_db


def samples(client, **headers) -> dict:
    response = client.get(reverse("metrics"), **headers)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_queue_depths_allocations_and_request_latency(client, queue, agent):
    queued_item(queue)
    queued_item(queue)
    before = samples(client)
    assigned_before = before.get(("wfo_allocations_total", (("outcome", "assigned"),)), 0)
    services.item_get_next(agent_id=agent.pk)
    client.get(reverse("health"))
    after = samples(client)
    assert after[("wfo_queue_items", (("queue", queue.code), ("status", "queued")))] == 1
    assert after[("wfo_queue_items", (("queue", queue.code), ("status", "assigned")))] == 1
    assert after[("wfo_allocations_total", (("outcome", "assigned"),))] == assigned_before + 1
    health = [v for (name, labels), v in after.items()
              if name == "wfo_http_request_seconds_count" and ("view", "health") in labels]
    assert health and health[0] >= 1  # labelled by view name, never by raw path
    assert not any("/health/" in str(labels) for _, labels in after)


def test_sla_alerts_are_counted_by_kind(client, queue):
    from allocation.models import SlaAlert

    item = queued_item(queue)
    SlaAlert.objects.create(item=item, threshold=75, crossed_at=item.received_at, raised_at=item.received_at)
    SlaAlert.objects.create(item=item, threshold=100, crossed_at=item.received_at, raised_at=item.received_at,
                            emailed_at=item.received_at)
    found = samples(client)
    assert found[("wfo_sla_alerts_total", (("kind", "warning"),))] == 1
    assert found[("wfo_sla_alerts_total", (("kind", "breach"),))] == 1
    assert found[("wfo_sla_alert_emails_total", ())] == 1


def test_a_token_guards_the_scrape_when_set(client, settings):
    settings.WFO_METRICS_TOKEN = "s3cret"
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert ("wfo_sla_alert_emails_total", ()) in samples(client, HTTP_AUTHORIZATION="Bearer s3cret")
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse("metrics")).status_code == 401  # a session is not the token
