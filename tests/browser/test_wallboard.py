"""The wallboard in a real browser: it refreshes in place and numbers lead to the items."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
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


def test_on_a_phone_the_numbers_are_links_a_keyboard_reaches(open_page, team, screenshot):
    queue = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    queued_item(queue, title="Late refund", received_at=timezone.now() - timedelta(hours=30))
    queued_item(queue, title="New refund")
    page = open_page(supervisor_for(queue), width=390, height=844)
    page.goto("/reports/wallboard/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing off the side
    breached = page.get_by_role("link", name="1 items breached")
    expect(breached).to_be_visible()
    screenshot(page, "wallboard-390")
    for _ in range(60):  # tab through the page until the breached tile has the focus
        page.keyboard.press("Tab")
        if breached.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("The keyboard never reached the breached tile")
    page.keyboard.press("Enter")
    expect(page.get_by_text("1 item, newest first")).to_be_visible()
    expect(page.get_by_text("Late refund")).to_be_visible()
