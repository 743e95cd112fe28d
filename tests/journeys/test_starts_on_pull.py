"""A queue whose pulled work starts at once, in Chromium, across admin and the agent's
pages: an admin turns it on in the queue's page (off by default, said in words); an
agent's `n` then opens the next item already in progress — the message says why, there is
no start to press, Complete is open — and completing it needs nothing more. The item's
timeline holds both steps, and the audit replays them. Screenshots at a desk's size
(1280×800) and a phone's (390×844).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from allocation.audit import items_audit
from allocation.models import ItemStatus, Presence, Queue, WorkItem
from core import roles
from tests import factories
from tests.browser_support import both_sizes
from tests.helpers import queued_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]



@pytest.fixture
def shoot(screenshot):
    return both_sizes(screenshot, "journey-starts-on-pull")


def test_an_admin_turns_it_on_and_the_agents_next_item_opens_in_progress(open_page, shoot, team):
    ada = factories.UserFactory(roles=[roles.ADMIN], username="ada", is_staff=True, is_superuser=True)
    queue = factories.QueueFactory(teams=[team], name="Refunds", outcomes=["refunded", "declined"])
    agent = factories.AgentFactory(team=team, presence=Presence.AVAILABLE, user__first_name="Ben",
                                   user__last_name="Walsh")
    item = queued_item(queue, title="Refund — double charge at Bolt")

    # 1. The admin finds the setting beside the reservation it makes moot, off, and turns it on.
    admin = open_page(ada)
    admin.goto(f"/admin/allocation/queue/{queue.pk}/change/")
    setting = admin.get_by_label("Pulled work starts at once")
    expect(setting).not_to_be_checked()
    expect(admin.get_by_text("no separate start, so no reservation to time out")).to_be_visible()
    setting.check()
    shoot(admin, "1-admin")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist .success")).to_contain_text("Refunds")
    assert Queue.objects.get(pk=queue.pk).starts_on_pull

    # 2. The agent's `n`: the item, in progress, with the reason in the message; no start.
    page = open_page(agent.user)
    page.goto("/work/")
    page.wait_for_load_state()
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name=re.compile("Refund — double charge"))).to_be_visible()
    expect(page.get_by_text(f"You got #{item.pk} from Refunds, in progress: the queue starts the work you pull "
                            "at once.")).to_be_visible()
    expect(page.locator(".tags .badge").first).to_have_text("In progress")
    expect(page.get_by_role("button", name="Start working on it")).to_have_count(0)
    shoot(page, "2-agent-item")

    # 3. Completing it is the next and last step.
    page.get_by_label("Outcome").select_option(label="Refunded")
    page.get_by_role("button", name="Complete item").click()
    expect(page.get_by_text(f"#{item.pk} completed (Refunded).", exact=False)).to_be_visible()
    shoot(page, "3-agent-completed")
    item = WorkItem.objects.get(pk=item.pk)
    assert (item.status, item.completed_by_id) == (ItemStatus.COMPLETED, agent.pk)
    assert list(item.events.order_by("id").values_list("kind", flat=True)) == [
        "created", "assigned", "started", "completed"]
    assert [str(mismatch) for mismatch in items_audit()] == []

    # ... and the item's timeline tells the steps apart: assigned to Ben, then started by Ben.
    page.goto(f"/work/items/{item.pk}/")
    steps = page.get_by_role("region", name="Timeline").get_by_role("listitem")
    expect(steps).to_have_count(4)
    expect(steps.nth(1)).to_contain_text("Assigned")
    expect(steps.nth(2)).to_contain_text(re.compile(r"Started\s+by Ben Walsh\s+\(assigned → in progress\)"))
    shoot(page, "4-agent-timeline")
