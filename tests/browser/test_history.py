"""The History page in a real browser: every chart drawn from the vendored library with its
table beside it; the range form; narrow screens scroll the tables, never the page."""

import pytest
from playwright.sync_api import expect

from core import roles
from tests import factories
from tests.reporting.builder import worked_days

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]


def test_history_charts_and_tables(open_page, team, agent, screenshot):
    queue = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    worked_days(queue, agent, 5)
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    page = open_page(supervisor)
    page.goto("/reports/history/")
    sections = page.locator("section.report-section")
    expect(sections).to_have_count(6)
    drawn = page.evaluate("() => [...document.querySelectorAll('canvas[data-chart]')]"
                          ".map(c => c.chart ? c.chart.data.datasets.length : 0)")
    assert len(drawn) == 6 and all(n > 0 for n in drawn)  # Chart.js drew every chart
    sla = page.locator("section", has=page.get_by_role("heading", name="SLA attainment"))
    expect(sla.locator("tfoot")).to_contain_text("50.0 %")
    screenshot(page, "history-1280")

    page.get_by_label("By").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("p.report-scope")).to_contain_text("by week")
    with page.expect_download() as download:
        sla.get_by_role("link", name="Excel").click()
    assert download.value.suggested_filename.startswith("history-sla-")

    narrow = open_page(supervisor, width=390, height=844)
    narrow.goto("/reports/history/")
    expect(narrow.locator("section.report-section")).to_have_count(6)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(narrow, "history-390")
