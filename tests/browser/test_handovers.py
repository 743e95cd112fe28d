"""Handovers between an agent and a supervisor in a real browser, across features: presence
(with a reason) and the "Get next work" that says why it would refuse; a release that keeps
the item from the agent and tells the supervisor; a supervisor's directed assignment that
the agent hears of and that stays; resume now. Screenshots at 1280×800 and 390×844."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from allocation.models import CoolOff, ItemStatus, WorkItem
from allocation.services.reservations import reservations_expire
from core import roles
from core.models import Notification
from tests import factories
from tests.browser_support import pend_on_page, presence_switch_ready, release_on_page
from tests.helpers import queued_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons", "item_action_reasons")]


@pytest.fixture
def desk(team):
    queue = factories.QueueFactory(teams=[team], name="Chargebacks", outcomes=["won", "lost"])
    agent = factories.AgentFactory(team=team, capacity=3, user__first_name="Amelia", user__last_name="Hart")
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan",
                                       email="dana@example.com")
    team.supervisors.add(supervisor)
    return queue, agent, supervisor


def test_an_agent_and_a_supervisor_hand_work_over(open_page, desk, screenshot):
    queue, agent, supervisor = desk
    first = queued_item(queue, title="Visa chargeback — FreshCart")
    second = queued_item(queue, title="Mastercard chargeback — Bolt")
    WorkItem.objects.filter(pk=first.pk).update(start_by=first.start_by - timedelta(days=2))  # first in line

    # Away at lunch: the button says why before any click, and `n` posts nothing.
    page = open_page(agent.user)
    page.goto("/work/")
    page.get_by_role("radio", name="Away", exact=True).check()
    presence_switch_ready(page, "away")
    page.get_by_label("Why?").select_option("Lunch")
    presence_switch_ready(page, "away (Lunch)")
    get_next = page.get_by_role("button", name="Get next work")
    expect(get_next).to_be_disabled()
    expect(page.get_by_text("You are away (Lunch): set yourself available to get work.")).to_be_visible()
    expect(page.locator("#presence legend")).to_contain_text("Away (Lunch)")
    screenshot(page, "inbox-away-1280")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/work/$"))
    assert not WorkItem.objects.filter(assignee_id=agent.pk).exists()

    # Back: the button comes alive in place; the agent takes the first item and releases it.
    page.get_by_role("radio", name="Available", exact=True).check()
    presence_switch_ready(page, "available")
    expect(get_next).to_be_enabled()
    get_next.click()
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback"))).to_be_visible()
    release_on_page(page)

    # `n` does not bring the released item straight back: the next one comes.
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name=re.compile("Mastercard chargeback"))).to_be_visible()
    assert CoolOff.objects.filter(item_id=first.pk, agent_id=agent.pk).exists()

    # The supervisor sees whom the released item is held back from, and why; and the agent's presence.
    lead = open_page(supervisor)
    lead.goto(f"/work/items/{first.pk}/")
    held_back = lead.get_by_role("region", name="Held back from")
    expect(held_back).to_contain_text("Amelia Hart")
    expect(held_back).to_contain_text("French-speaking cardholder")
    lead.goto("/reports/scorecards/")
    expect(lead.get_by_role("row", name=re.compile("Amelia Hart"))).to_contain_text("Available")

    # The supervisor gives a third item to the agent: a decision the agent hears of, that stays.
    third = queued_item(queue, title="Amex dispute — Nordic Air")
    lead.goto(f"/work/items/{third.pk}/")
    lead.get_by_text("Transfer", exact=True).click()
    lead.get_by_label("Transfer to").select_option(label=f"Amelia Hart ({agent.team})")
    lead.get_by_label("Transfer reason").fill("Amelia knows this merchant")
    lead.get_by_role("button", name="Transfer item").click()
    expect(lead.get_by_text(re.compile(f"#{third.pk}.*transferred"))).to_be_visible()
    screenshot(lead, "supervisor-after-transfer-1280")

    page.goto("/work/")
    row = page.get_by_role("row", name=re.compile("Amex dispute"))
    expect(row).to_contain_text("given to you by Dana Morgan")
    note = Notification.objects.get(user=agent.user)
    assert note.email and "Dana Morgan" in note.title + note.body and "Amelia knows this merchant" in note.body

    # Pend the second item, then resume it now: the customer replied.
    page.get_by_role("link", name=re.compile("Mastercard chargeback")).click()
    page.get_by_role("button", name="Start working on it").click()
    pend_on_page(page)
    page.get_by_role("link", name=re.compile("Mastercard chargeback")).click()
    page.get_by_role("button", name="Resume now").click()
    expect(page.locator(".tags .badge").first).to_have_text("In progress")

    # The reservation timeout passes: the directed item stays with the agent.
    reservations_expire(now=timezone.now() + queue.reservation_timeout + timedelta(minutes=1))
    third.refresh_from_db()
    second.refresh_from_db()
    assert (third.status, third.assignee_id) == (ItemStatus.ASSIGNED, agent.pk)
    assert (second.status, second.assignee_id) == (ItemStatus.IN_PROGRESS, agent.pk)

    phone = open_page(agent.user, width=390, height=844)
    phone.goto("/work/")
    screenshot(phone, "inbox-handovers-390")
    phone.get_by_role("radio", name="Away", exact=True).check()
    expect(phone.get_by_role("button", name="Get next work")).to_be_disabled()
    screenshot(phone, "inbox-away-390")
