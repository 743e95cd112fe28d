"""The wallboard in a real browser: it refreshes in place and numbers lead to the items."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.helpers import queued_item, supervisor_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]


def test_the_wallboard_refreshes_in_place_and_drills_down(open_page, team, screenshot, settings):
    settings.WFO_WALLBOARD_REFRESH_SECONDS = 1
    queue = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    queued_item(queue, title="First refund")
    page = open_page(supervisor_for(queue))
    page.goto("/reports/wallboard/")
    waiting = page.get_by_role("row", name=re.compile("Refunds")).get_by_role("link").first
    expect(waiting).to_have_text("1")
    page.evaluate("window.stillTheSamePage = true")
    queued_item(queue, title="Second refund")
    expect(waiting).to_have_text("2", timeout=8000)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "wallboard-1280")
    waiting.click()
    expect(page.get_by_text("Second refund")).to_be_visible()
