"""Webhook subscriptions in Django admin: made with kinds as words, any address; the
delivery log per subscription; pause, resume and redelivery through the services."""

import pytest
from django.urls import reverse

from allocation.models import DeliveryStatus, EventKind, WebhookDelivery, WebhookSubscription
from allocation.services import webhooks as outbound
from tests import factories
from tests.helpers import queued_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(factories.UserFactory(is_superuser=True, is_staff=True))
    return client


def test_an_admin_subscribes_with_kinds_in_words_to_any_address(admin_client):
    queue = factories.QueueFactory(code="chargebacks")
    add = reverse("admin:allocation_webhooksubscription_add")
    page = admin_client.get(add).content.decode()
    assert "SLA breached" in page and "Routing step entered" in page and "sla_breach" not in page.split("<form")[0]
    assert "whsec_" not in page  # made on save: a secret shown here would not be the one kept
    answer = admin_client.post(add, {
        "name": "Operations feed", "url": "http://10.0.0.5:8080/hooks", "format": "json",
        "kinds": ["sla_breach", "rebalanced"],
        "queues": [queue.pk], "sources": "card-platform, claims", "is_active": "on", "max_attempts": "5",
    })
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    subscription = WebhookSubscription.objects.get()
    assert subscription.kinds == ["rebalanced", "sla_breach"] and subscription.sources == ["card-platform", "claims"]
    assert subscription.secret.startswith("whsec_") and subscription.owner.is_superuser
    change = admin_client.get(reverse("admin:allocation_webhooksubscription_change", args=[subscription.pk]))
    assert subscription.secret in change.content.decode()
    listing = admin_client.get(reverse("admin:allocation_webhooksubscription_changelist")).content.decode()
    assert "Rebalanced, SLA breached" in listing and "0 waiting, 0 dead-lettered" in listing


def test_an_impossible_url_is_refused_with_a_message(admin_client):
    answer = admin_client.post(reverse("admin:allocation_webhooksubscription_add"), {
        "name": "x", "url": "ftp://example.org/", "format": "json", "kinds": ["created"], "max_attempts": "5"})
    assert answer.status_code == 200
    assert "Enter an http:// or https:// URL." in answer.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_an_admin_cannot_point_a_source_systems_subscription_inside_the_network(admin_client, settings):
    """The source system reads its delivery log: an internal address there would let it read
    the answers of the portal's own network."""
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = False
    integration = factories.SourceSystemFactory(sources=["card-platform"])
    subscription = outbound.webhook_subscription_create(
        name="Card platform", url="https://93.184.216.34/hooks", kinds=["created"], integration=integration)
    change = reverse("admin:allocation_webhooksubscription_change", args=[subscription.pk])
    answer = admin_client.post(change, {
        "name": "Card platform", "url": "http://169.254.169.254/latest/meta-data", "format": "json",
        "kinds": ["created"], "sources": "", "is_active": "on", "max_attempts": "5"})
    assert answer.status_code == 200
    assert "webhooks go to public addresses only" in answer.content.decode()
    subscription.refresh_from_db()
    assert subscription.url == "https://93.184.216.34/hooks"


def test_the_delivery_log_and_redelivery_pause_and_resume(admin_client):
    queue = factories.QueueFactory()
    subscription = outbound.webhook_subscription_create(name="Feed", url="https://93.184.215.14/x",
                                                        kinds=[EventKind.CREATED])
    item = queued_item(queue)
    dead = WebhookDelivery.objects.create(subscription=subscription, event=item.events.get(), item=item,
                                          created_at=item.received_at, status=DeliveryStatus.DEAD, attempts=12,
                                          response_status=503, response_excerpt="Service Unavailable")
    log = admin_client.get(reverse("admin:allocation_webhookdelivery_changelist"),
                           {"subscription__id__exact": subscription.pk}).content.decode()
    assert f"evt_{dead.event_id} · Created" in log and "Dead-lettered" in log and f"#{item.pk}" in log

    changelist = reverse("admin:allocation_webhookdelivery_changelist")
    answer = admin_client.post(changelist, {"action": "redeliver", "_selected_action": [dead.pk]}, follow=True)
    assert "1 delivery will be sent again." in answer.content.decode()
    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.PENDING and dead.attempts == 0

    subscriptions = reverse("admin:allocation_webhooksubscription_changelist")
    admin_client.post(subscriptions, {"action": "pause", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert not subscription.is_active and "Paused by" in subscription.paused_reason
    admin_client.post(subscriptions, {"action": "resume", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.paused_reason == ""
    assert admin_client.get(reverse("admin:allocation_webhookdelivery_add")).status_code == 403


def test_a_chat_channel_needs_its_team_and_only_the_kinds_a_channel_hears(admin_client):
    add = reverse("admin:allocation_webhooksubscription_add")
    body = {"name": "Disputes channel", "url": "https://hooks.slack.com/services/T0/B0/x", "format": "slack",
            "kinds": ["sla_breach", "completed"], "max_attempts": "5"}
    page = admin_client.post(add, body).content.decode()
    assert "A chat channel belongs to a team: choose it." in page
    assert "not: Completed." in page
    assert not WebhookSubscription.objects.exists()
    team = factories.TeamFactory(name="Disputes A")
    answer = admin_client.post(add, {**body, "team": team.pk, "kinds": ["sla_breach", "step_entered"]})
    assert answer.status_code == 302
    channel = WebhookSubscription.objects.get()
    assert channel.format == "slack" and channel.team == team
