"""SLA warnings that act (README, "SLA threshold actions"), in Chromium on the real pages, a
real chat-channel receiver on loopback, and the jobs run between steps as beat runs them
(the Celery task functions: the alert job, then the actions job), the clock moved on for
the breach.

0. The admin adds the 75 % action on the disputes policy's page: the form shows the fields
   of the kind chosen, and the preview what it would do before it is enabled.
1. A dispute passes 75 % of its 8-hour target. The SLA job raises it to Urgent (4 hours:
   due at once), and it overtakes a refund that was ahead of it: Amelia's Get next work
   brings the dispute, whose timeline says which threshold raised it and how.
2. She releases it: it needs the escalations desk. At the breach the urgent policy's
   actions move it to Escalations and tell the desk's Slack channel, which receives the
   message.
3. Dana, the supervisor, reads in her notifications what the actions did; Omar, of the
   escalations desk, gets the item with Get next work.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from allocation import tasks as allocation_tasks
from allocation.models import (
    CHANNEL_KINDS,
    ItemStatus,
    NotifyWhom,
    Priority,
    SlaAction,
    SlaActionKind,
    SlaPolicy,
    WebhookFormat,
    WorkItem,
)
from allocation.services import webhooks as outbound
from tests import factories
from tests.helpers import queued_item, supervisor_for
from tests.processes import WebhookReceiver, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.outbox,
              pytest.mark.usefixtures("role_groups", "presence_reasons", "item_action_reasons")]

# A Wednesday morning, years ahead of the wall clock; the policies run around the clock.
WEDNESDAY = datetime(2031, 3, 12, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def receiver(tmp_path):
    server = WebhookReceiver(tmp_path)
    yield server
    server.stop()


def person(first: str, last: str, **fields):
    return factories.AgentFactory(user__first_name=first, user__last_name=last, user__username=first.lower(),
                                  **fields)


def test_an_sla_that_acts(open_page, screenshot, receiver, settings, team):
    settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = True  # the channel's receiver is on loopback
    outbound.outbox_cursor_ensure()
    desk = factories.TeamFactory(name="Escalations desk")
    disputes = factories.QueueFactory(teams=[team], name="Disputes", code="disputes")
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    escalations = factories.QueueFactory(teams=[desk], name="Escalations", code="escalations")
    policy = SlaPolicy.objects.create(queue=disputes, target=8 * HOUR)
    urgent = SlaPolicy.objects.create(queue=disputes, priority=Priority.URGENT, target=4 * HOUR)
    SlaPolicy.objects.create(queue=refunds, target=6 * HOUR)
    # Raised, the dispute runs on the urgent policy: its breach escalates.
    SlaAction.objects.create(policy=urgent, threshold=100, kind=SlaActionKind.MOVE_QUEUE, queue=escalations)
    SlaAction.objects.create(policy=urgent, threshold=100, position=2, kind=SlaActionKind.NOTIFY,
                             notify=NotifyWhom.TEAM_CHANNEL, team=desk)
    outbound.webhook_subscription_create(name="Escalations desk on Slack", url=receiver.url("slack"),
                                         kinds=list(CHANNEL_KINDS), format=WebhookFormat.SLACK, team=desk,
                                         owner=factories.UserFactory(is_superuser=True))
    amelia, omar = person("Amelia", "Hart", team=team), person("Omar", "Haddad", team=desk)
    dana = supervisor_for(disputes, refunds, escalations)
    dana.first_name, dana.last_name = "Dana", "Morgan"
    dana.save()

    with time_machine.travel(WEDNESDAY, tick=True) as clock:
        ahead = queued_item(refunds, title="Refund — parcel never came", received_at=WEDNESDAY - 4.4 * HOUR)
        dispute = queued_item(disputes, title="Chargeback 10.4 — merchant silent", received_at=WEDNESDAY - 6.1 * HOUR)
        assert ahead.start_by < dispute.start_by
        allocation_tasks.sla_alerts_raise()  # 50 % and 75 % alerted; no action yet

        # 0. The admin adds the action, disabled first to see what it would do.
        admin = open_page(factories.UserFactory(is_superuser=True, is_staff=True))
        admin.goto(f"/admin/allocation/slapolicy/{policy.pk}/change/")
        admin.get_by_text("Add another Threshold action").click()
        action_form = admin.locator("#actions-0")
        action_form.get_by_label("Threshold").fill("75")
        action_form.get_by_label("Kind").select_option(label="Raise priority")
        expect(action_form.get_by_label("Priority")).to_be_visible()
        for other in ("step", "queue", "agent", "notify", "team", "by_email"):
            expect(action_form.locator(f"select[name=actions-0-{other}], input[name=actions-0-{other}]")) \
                .to_be_hidden()
        action_form.get_by_label("Priority").select_option(label="Urgent")
        action_form.get_by_label("Enabled").uncheck()
        admin.get_by_role("button", name="Save and continue editing").click()
        expect(admin.get_by_text(f"#{dispute.pk} would be raised Normal → Urgent")).to_be_visible()
        screenshot(admin, "journey-sla-actions-0-preview-1280")
        admin.locator("#actions-0").get_by_label("Enabled").check()
        admin.get_by_role("button", name="Save and continue editing").click()
        expect(admin.get_by_text("75%: Raise priority: 1 item already past its threshold will be acted on")) \
            .to_be_visible()
        assert SlaAction.objects.get(policy=policy, threshold=75).priority == Priority.URGENT

        # 1. The job passes 75 %: Urgent, and ahead of the refund.
        allocation_tasks.sla_alerts_raise()
        allocation_tasks.sla_actions_run()
        dispute.refresh_from_db()
        assert dispute.priority == Priority.URGENT and dispute.start_by < ahead.start_by
        page = open_page(amelia.user)
        page.goto("/work/")
        page.get_by_role("button", name=re.compile("Get next work")).click()
        expect(page.get_by_role("heading", name=re.compile("Chargeback 10.4"))).to_be_visible()
        expect(page.get_by_text("Priority: Urgent")).to_be_visible()
        # Due 2 hours ago on the new target. The page's script counts from the server's
        # clock, not the browser's (years behind the server's here): it says so too.
        expect(page.locator(".sla .sla-word").first).to_have_text("Breached")
        expect(page.get_by_text("At 75% of the SLA target: raise priority — Priority Normal → Urgent.")).to_be_visible()
        screenshot(page, "journey-sla-actions-1-raised-1280")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "journey-sla-actions-1-raised-390")
        page.set_viewport_size({"width": 1280, "height": 800})

        # 2. She releases it; at the breach the job moves it and tells the desk's channel.
        page.get_by_text("Release to the queue").click()
        page.get_by_label("Release reason").select_option(label="Needs a skill or authority I don't have")
        page.get_by_role("button", name="Release item").click()
        expect(page.get_by_text(f"#{dispute.pk} released.")).to_be_visible()
        clock.move_to(WEDNESDAY + 2 * HOUR)
        allocation_tasks.sla_alerts_raise()
        allocation_tasks.sla_actions_run()
        dispute.refresh_from_db()
        assert (dispute.queue_id, dispute.status) == (escalations.pk, ItemStatus.QUEUED)

        def breach_heard():
            # The channel hears the item's warnings too, and they may land first: wait for the breach's.
            allocation_tasks.webhooks_pump()
            return [text for r in receiver.requests() if (text := r["json"]["text"]).startswith(
                f"*SLA breach action: #{dispute.pk} Chargeback 10.4")]

        texts = wait_until(breach_heard, seconds=60, what="the escalations desk's breach message", every=0.1)
        assert all("in Escalations was due" in text for text in texts), texts

        # 3. Dana reads what the actions did; Omar gets the item.
        board = open_page(dana)
        board.goto("/notifications/")
        expect(board.get_by_text(re.compile(rf"SLA 75% action done: #{dispute.pk}"))).to_be_visible()
        # One notification for the breach's two actions, not one each.
        breach = board.get_by_role("listitem").filter(has_text=re.compile(rf"SLA breach actions done: #{dispute.pk}"))
        expect(breach).to_have_count(1)
        expect(breach).to_contain_text("Move to a queue: Moved to Escalations. Notify: Sent to Escalations desk's "
                                       "chat channel.")
        screenshot(board, "journey-sla-actions-3-notifications-1280")
        board.goto(f"/work/items/{dispute.pk}/")
        expect(board.get_by_text("At the breach: move to a queue — Moved to Escalations.")).to_be_visible()
        expect(board.get_by_text("At the breach: notify — Sent to Escalations desk's chat channel.")).to_be_visible()
        screenshot(board, "journey-sla-actions-3-item-1280")
        escalated = open_page(omar.user)
        escalated.goto("/work/")
        escalated.get_by_role("button", name=re.compile("Get next work")).click()
        expect(escalated.get_by_role("heading", name=re.compile("Chargeback 10.4"))).to_be_visible()
        assert WorkItem.objects.get(pk=dispute.pk).assignee_id == omar.pk
