"""A source system hears back (README, "Webhooks"): an integrator with its token, an agent and
an admin in Chromium, and a real receiver on loopback; the webhook job run between steps as
beat runs it (the Celery task function). Each step asserts what each of them sees.

1. The integrator subscribes its receiver to its items' lifecycle; the answer holds the
   signing secret, once.
2. It sends a chargeback; an agent gets it with Get next work, starts and completes it with
   an outcome, on the pages.
3. The receiver has created, assigned, started and completed, in that order, each signed
   with the secret; the completion carries the outcome. The integrator's delivery log
   says so.
4. The receiver goes down; the integrator cancels another item: that delivery fails once
   (one try, as the integrator set) and is dead-lettered, with the error in the log.
5. The receiver is back; an admin finds the dead letter in Admin › Webhook deliveries and
   redelivers it; the next run of the job delivers it, and the log says delivered.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from allocation import tasks as allocation_tasks
from allocation import webhooks
from allocation.models import DeliveryStatus, WebhookDelivery
from allocation.services import webhooks as outbound
from tests import factories
from tests.helpers import token_client
from tests.processes import WebhookReceiver, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.outbox,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]


@pytest.fixture
def receiver(tmp_path):
    server = WebhookReceiver(tmp_path)
    yield server
    server.stop()


def run_the_job_until(condition, what: str):
    """The job as beat runs it, until `condition` (other transactions may hold it a moment)."""
    def ran():
        allocation_tasks.webhooks_pump()
        return condition()
    return wait_until(ran, seconds=60, what=what, every=0.1)


def test_a_source_system_hears_back(open_page, screenshot, receiver, settings, team):
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = True  # the receiver is on loopback
    outbound.outbox_cursor_ensure()
    factories.QueueFactory(teams=[team], code="chargebacks", name="Chargebacks", outcomes=["won", "lost"])
    agent = factories.AgentFactory(team=team, user__username="amelia", user__first_name="Amelia",
                                   user__last_name="Hart")
    admin = factories.UserFactory(username="admin-user", is_superuser=True, is_staff=True)
    cards = token_client(factories.SourceSystemFactory(username="card-platform", sources=["card-platform"]))

    # 1. The integrator subscribes; the secret comes once.
    answer = cards.post("/api/v1/webhooks/", {
        "name": "Decisions feed", "url": receiver.url(), "max_attempts": 1,
        "kinds": ["created", "assigned", "started", "completed", "cancelled"]}, format="json")
    assert answer.status_code == 201, answer.json()
    subscription, secret = answer.json()["id"], answer.json()["secret"]
    assert "secret" not in cards.get(f"/api/v1/webhooks/{subscription}/").json()

    # 2. A chargeback arrives; the agent works it on the pages.
    item = cards.post("/api/v1/items/", {"queue": "chargebacks", "source": "card-platform", "external_id": "CB-77",
                                         "customer_ref": "CUST-9", "title": "Visa chargeback 10.4"},
                      format="json").json()
    page = open_page(agent.user)
    page.goto("/work/")
    page.get_by_role("button", name="Get next work").click()
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback 10.4"))).to_be_visible()
    page.get_by_role("button", name="Start working on it").click()
    page.get_by_label("Outcome").select_option(label="Won")
    page.get_by_role("button", name="Complete item").click()
    expect(page.get_by_text(f"#{item['id']} completed (Won)")).to_be_visible()

    # 3. The receiver hears all of it, in order, signed; the log says delivered.
    run_the_job_until(lambda: len(receiver.requests()) == 4, "the item's four events")
    requests = receiver.requests()
    assert [r["json"]["type"] for r in requests] == ["item.created", "item.assigned", "item.started",
                                                     "item.completed"]
    for request in requests:
        assert webhooks.signature_valid(secret, request["headers"][webhooks.SIGNATURE_HEADER],
                                        request["body"].encode(), now=time.time())
    done = requests[-1]["json"]["data"]
    assert done["item"]["outcome"] == "won" and done["item"]["external_id"] == "CB-77"
    assert done["event"]["actor"] == "amelia"
    log = cards.get(f"/api/v1/webhooks/{subscription}/deliveries/").json()
    assert [row["status"] for row in log["results"]] == ["delivered"] * 4
    assert all(row["response_status"] == 200 for row in log["results"])

    # 4. The receiver is down when the integrator withdraws another item: dead-lettered after one try.
    other = cards.post("/api/v1/items/", {"queue": "chargebacks", "source": "card-platform", "external_id": "CB-78",
                                          "customer_ref": "CUST-9", "title": "Visa chargeback 13.1"},
                       format="json").json()
    run_the_job_until(lambda: len(receiver.requests()) == 5, "the second item's creation")
    receiver.stop()
    assert cards.post(f"/api/v1/items/{other['id']}/cancel/", {"reason": "Cardholder withdrew"},
                      format="json").status_code == 200
    run_the_job_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD).exists(), "a dead letter")
    dead = cards.get(f"/api/v1/webhooks/{subscription}/deliveries/", {"status": "dead"}).json()["results"]
    assert len(dead) == 1 and dead[0]["kind"] == "cancelled" and dead[0]["response_status"] is None
    assert "Connection" in dead[0]["error"]

    # 5. Back up: the admin redelivers the dead letter from the admin site.
    receiver.start()
    admin_page = open_page(admin, height=900)
    admin_page.goto("/admin/allocation/webhooksubscription/")
    expect(admin_page.get_by_role("link", name="0 waiting, 1 dead-lettered")).to_be_visible()
    screenshot(admin_page, "journey-webhooks-subscriptions-1280")
    admin_page.get_by_role("link", name="0 waiting, 1 dead-lettered").click()
    row = admin_page.get_by_role("row", name=re.compile("Cancelled"))
    expect(row).to_contain_text("Dead-lettered")
    row.get_by_role("checkbox").check()
    admin_page.get_by_label("Action:").select_option(label="Redeliver selected deliveries (a fresh round of tries)")
    admin_page.get_by_role("button", name="Go").click()
    expect(admin_page.get_by_text("1 delivery will be sent again.")).to_be_visible()
    screenshot(admin_page, "journey-webhooks-redelivered-1280")
    admin_page.set_viewport_size({"width": 390, "height": 844})
    screenshot(admin_page, "journey-webhooks-redelivered-390")
    run_the_job_until(lambda: not WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists(),
                      "the redelivery")
    assert receiver.requests()[-1]["json"]["type"] == "item.cancelled"
    assert cards.get(f"/api/v1/webhooks/{subscription}/deliveries/", {"status": "dead"}).json()["count"] == 0
