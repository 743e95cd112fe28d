"""Finding the way, in Chromium: each role clicks through every link of its navigation bar,
at a desktop's width and a phone's. Each click opens a page whose bar marks that link as
the current one, and no other; the unread count on Notifications goes when they are read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import roles
from core.models import Notification
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]

# The links each role's bar shows, in order (the bar's areas: core/navigation.py).
BARS = {
    roles.AGENT: ["My work", "Scorecard", "Quality", "API docs", "Notifications"],
    roles.SUPERVISOR: ["Work items", "Reports", "Reassign", "Scorecard", "Quality", "API docs", "Notifications"],
    roles.QUALITY_EVALUATOR: ["Quality", "API docs", "Notifications"],
}
NOT_A_PORTAL_PAGE = {"API docs"}  # the API's documentation has a page of its own, without the bar


def user_in(role: str, team):
    if role == roles.AGENT:
        return factories.AgentFactory(team=team).user
    return factories.UserFactory(roles=[role])


def bar(page):
    return page.get_by_role("navigation", name="Main")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
@pytest.mark.parametrize("role", list(BARS))
def test_each_role_clicks_through_its_bar_and_each_page_marks_its_own_link(
        open_page, screenshot, team, role, width, height):
    page = open_page(user_in(role, team), width=width, height=height)
    page.goto("/")
    links = bar(page).get_by_role("link")
    expect(links).to_have_text(BARS[role])
    for label in BARS[role]:
        bar(page).get_by_role("link", name=label, exact=True).click()
        if label in NOT_A_PORTAL_PAGE:
            expect(page).to_have_url(re.compile(r"/api/docs/$"))
            page.go_back()
            continue
        current = bar(page).locator('[aria-current="page"]')
        expect(current).to_have_count(1)
        expect(current).to_have_text(label)
        expect(bar(page).get_by_role("link", name=label, exact=True)).to_be_in_viewport()
    screenshot(page, f"navigation-{role.lower().replace(' ', '-')}-{width}")


def test_the_unread_count_on_notifications_goes_once_they_are_read(open_page, team):
    agent = factories.AgentFactory(team=team)
    for title in ("Item #1 nears its due time", "Item #2 breached"):
        Notification.objects.create(user=agent.user, kind="sla", title=title)
    page = open_page(agent.user)
    page.goto("/work/")
    notifications = bar(page).get_by_role("link", name="Notifications")
    expect(notifications.get_by_label("2 unread")).to_be_visible()
    notifications.click()
    page.get_by_role("button", name="Mark all read").click()
    expect(bar(page).get_by_role("link", name="Notifications", exact=True)).to_have_text("Notifications")
