"""The agent's day in a real browser: log in, get next (button and `n`), start, pend, see
the item come back after its follow-up time, complete; the live parts (htmx refresh,
presence switch, countdowns); plain forms without JavaScript; another agent locked out;
labels, keyboard and phone width. Screenshots go to screenshots/ (git-ignored)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from allocation import services
from allocation.models import ItemStatus, Presence, WorkItem
from tests import factories
from tests.browser_support import log_in, pend_on_page
from tests.helpers import queued_item, started_item, supervisor_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "item_action_reasons")]

ZONE = "America/New_York"


@pytest.fixture
def desk(team):
    queue = factories.QueueFactory(teams=[team], name="Chargebacks", outcomes=["won", "lost", "accepted"])
    agent = factories.AgentFactory(
        team=team, capacity=3, user__username="amelia", user__first_name="Amelia", user__last_name="Hart"
    )
    return queue, agent


def test_an_agents_day(open_page, desk, screenshot):
    queue, _agent = desk  # logs in as "amelia" through the login form
    first = queued_item(queue, title="Visa chargeback 10.4 — FreshCart", customer_ref="CUST-1",
                        payload={"network": "Visa", "amount": "534.69", "card": {"last4": "4242"}})
    queued_item(queue, title="Mastercard chargeback 4837", customer_ref="CUST-2")
    WorkItem.objects.filter(pk=first.pk).update(start_by=first.start_by - timedelta(days=2))  # first in line

    page = open_page(timezone_id=ZONE)
    log_in(page, "amelia")
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    expect(page.get_by_text("You hold no items")).to_be_visible()
    screenshot(page, "inbox-empty-1280")

    page.get_by_role("button", name="Get next work").click()
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback 10.4"))).to_be_visible()
    expect(page.get_by_text("Card › Last4")).to_be_visible()
    expect(page.locator(".tags .badge").first).to_have_text("Assigned")
    page.get_by_role("button", name="Start working on it").click()
    expect(page.locator(".tags .badge").first).to_have_text("In progress")
    screenshot(page, "item-in-progress-1280")

    # Pend until an hour from now, as the agent reads the clock in New York.
    follow_up = (timezone.now() + timedelta(hours=1)).astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    pend_on_page(page, follow_up)
    expect(page.get_by_text("it comes back to you first")).to_be_visible()
    first.refresh_from_db()
    assert first.status == ItemStatus.PENDED and first.pended_until == follow_up

    # The follow-up time comes; `n` brings the pended item back before anything else.
    WorkItem.objects.filter(pk=first.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
    page.reload()
    expect(page.get_by_text("follow-up due")).to_be_visible()
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback 10.4"))).to_be_visible()
    expect(page.get_by_text("Picked as its follow-up time came")).to_be_visible()
    page.get_by_role("button", name="Start working on it").click()

    page.get_by_label("Outcome").select_option("won")
    page.get_by_label("Note").fill("Receipt proves delivery")
    page.get_by_role("button", name="Complete item").click()
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.get_by_text(f"#{first.pk} completed (won)")).to_be_visible()
    first.refresh_from_db()
    assert first.status == ItemStatus.COMPLETED and first.outcome == "won"
    assert list(first.events.values_list("kind", flat=True)) == [
        "created", "assigned", "started", "pended", "assigned", "started", "completed",
    ]

    page.keyboard.press("n")  # the next one
    expect(page.get_by_role("heading", name=re.compile("Mastercard chargeback"))).to_be_visible()
    page.goto("/work/")
    screenshot(page, "inbox-1280")


def test_another_agent_cannot_open_the_item(open_page, desk, team):
    queue, agent = desk
    item = started_item(agent, queue, title="Amelia's case")
    other = factories.AgentFactory(team=team)
    page = open_page(other.user)
    response = page.goto(f"/work/items/{item.pk}/")
    assert response.status == 403
    expect(page.get_by_text(f"Work item #{item.pk} is not yours")).to_be_visible()
    expect(page.get_by_text("Amelia's case")).to_have_count(0)
    page.goto("/work/")
    expect(page.get_by_text("Amelia's case")).to_have_count(0)
    assert page.goto("/work/items/").status == 403


def test_inbox_refreshes_in_place_and_presence_switches_without_reload(open_page, desk, team):
    queue, agent = desk
    page = open_page(agent.user)
    refreshes = []
    page.on("response", lambda r: "/work/inbox/list/" in r.url and refreshes.append(r.status))
    page.goto("/work/")
    page.evaluate("window.stillTheSamePage = true")
    # Nothing changed: the refresh is answered 304 and the list stays as it is.
    expect(page.locator("#inbox-list")).to_be_visible()
    page.wait_for_timeout(2500)
    assert 304 in refreshes, refreshes
    expect(page.locator("#inbox-list .empty")).to_be_visible()

    page.get_by_role("radio", name="Away", exact=True).check()
    expect(page.get_by_text("Saved: you are away.")).to_be_visible()
    agent.refresh_from_db()
    assert agent.presence == Presence.AWAY

    supervisor = supervisor_for(queue)
    item = queued_item(queue, title="Handed over by a supervisor")
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AVAILABLE, actor=supervisor)
    services.item_transfer(item_id=item.pk, actor=supervisor, to_agent_id=agent.pk, reason="urgent")
    expect(page.get_by_role("link", name=re.compile("Handed over by a supervisor"))).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True


def test_sla_clock_ticks_and_changes_colour_live(open_page, desk):
    """A 24-hour around-the-clock target: one item nearly due, one breached, one about to
    cross its first warning (50 %) while the page is open."""
    queue, agent = desk
    agent.capacity = 5
    agent.save()
    now = timezone.now()
    target = queue.sla_target
    started_item(agent, queue, title="Already late", received_at=now - target - timedelta(minutes=3))
    started_item(agent, queue, title="Due soon", received_at=now - target + timedelta(minutes=5))
    # Crosses 50 % eight seconds from its creation, the last thing before the page opens: the
    # margin does not shrink with the time the setup took on a busy machine.
    started_item(agent, queue, title="Halfway", received_at=timezone.now() - target / 2 + timedelta(seconds=8))
    page = open_page(agent.user)
    page.goto("/work/")
    halfway = page.locator("tr", has_text="Halfway").locator("[data-sla]")
    expect(halfway).to_have_class(re.compile("sla-on_track"))
    expect(page.locator("tr", has_text="Already late").locator("[data-sla]")).to_have_class(re.compile("sla-breached"))
    soon = page.locator("tr", has_text="Due soon").locator("[data-sla]")
    expect(soon).to_have_class(re.compile("sla-warning"))
    countdown = soon.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^4 min \d\d s left$"))
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before, timeout=3000)
    expect(halfway).to_have_class(re.compile("sla-warning"), timeout=15000)  # crossed 50 % without a reload
    expect(halfway.locator(".sla-word")).to_have_text("Warning")


def test_plain_forms_work_without_javascript(open_page, desk):
    queue, _agent = desk
    item = queued_item(queue, title="No-script case")
    page = open_page(java_script_enabled=False)
    log_in(page, "amelia")
    page.get_by_role("button", name="Get next work").click()
    page.get_by_role("button", name="Start working on it").click()
    page.get_by_label("Outcome").select_option("accepted")
    page.get_by_role("button", name="Complete item").click()
    expect(page.get_by_text(f"#{item.pk} completed (accepted)")).to_be_visible()
    page.get_by_role("radio", name="Offline", exact=True).check()
    page.get_by_role("button", name="Save presence").click()
    expect(page.get_by_text("You are now offline.")).to_be_visible()


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !(el.tagName === 'BUTTON' && el.innerText.trim()))
  .map(el => el.outerHTML)"""


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_labelled_keyboard_usable_and_readable_at_both_sizes(open_page, desk, screenshot, width, height):
    queue, agent = desk
    item = started_item(agent, queue, title="A case with a rather long title that has to wrap on a phone screen")
    page = open_page(agent.user, width=width, height=height)
    for url, name in ((f"/work/items/{item.pk}/", "item"), ("/work/", "inbox")):
        page.goto(url)
        page.locator("details.action").evaluate_all("(all) => all.forEach(d => d.open = true)")
        assert page.evaluate(UNLABELLED_CONTROLS) == [], url
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{url} scrolls sideways"
        screenshot(page, f"{name}-{width}")

    # Keyboard only: tab to "Get next work" and press Enter.
    queued_item(queue, title="Reached by keyboard")
    page.goto("/work/")
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Get next work"):
            break
    else:
        pytest.fail("Get next work is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Reached by keyboard"))).to_be_visible()
