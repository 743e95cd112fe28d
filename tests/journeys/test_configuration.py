"""Configuration people can fill in, in Chromium on Django admin: an admin sets up a queue
(its SLA target, handle time and reservation in hours and minutes; its outcomes one a
line) and a business calendar (its time zone and its holiday country searched by name),
is told field by field what is wrong before anything is saved, and does it all in the
portal's look, with a way back to the portal and to it from the API docs. Screenshots at a
desk's size (1280×800) and a phone's (390×844), light and dark.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from allocation.models import BusinessCalendar, Queue
from core import roles
from tests import factories
from tests.browser_support import both_sizes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]

# A Tuesday morning, years ahead of the wall clock: the calendar's preview counts from here.
TUESDAY = datetime(2031, 3, 11, 9, 30, tzinfo=UTC)
NAVY = "rgb(20, 33, 61)"  # the portal's top bar, #14213d


@pytest.fixture
def shoot(screenshot):
    return both_sizes(screenshot, "journey-configuration")


def field_errors(page, field: str):
    """The errors Django admin shows on one field of the main form."""
    return page.locator(f".form-row.field-{field} .errorlist")


def saved(page, text: str) -> None:
    expect(page.locator(".messagelist .success")).to_contain_text(text)


def test_an_admin_fills_in_a_queue_and_a_calendar_in_words(open_page, shoot, team):
    ada = factories.UserFactory(roles=[roles.ADMIN], username="ada", first_name="Ada", last_name="Admin",
                                is_staff=True, is_superuser=True)
    team.name = "Disputes"
    team.save()
    with time_machine.travel(TUESDAY, tick=True):
        page = open_page(ada)

        # The admin in the portal's look: its navy bar, its icon, and the way back.
        page.goto("/admin/")
        expect(page.locator("#header")).to_have_css("background-color", NAVY)
        expect(page.locator("link[rel='icon']")).to_have_attribute("href", "/static/favicon.svg")
        expect(page.get_by_role("link", name="Back to the portal")).to_have_attribute("href", "/")
        expect(page.get_by_text("View site")).to_have_count(0)
        shoot(page, "0-admin-home")

        # 1. A queue: durations in hours and minutes, outcomes one a line — typed wrong first.
        page.goto("/admin/allocation/queue/add/")
        page.get_by_label("Code").fill("visa-chargebacks")
        page.locator("#id_name").fill("Visa chargebacks")
        page.locator("#id_teams_from").select_option(label="Disputes")
        page.locator("#id_teams_add").click()
        page.get_by_label("Outcomes").fill("resolved-for-cardholder\nresolved-for-merchant\n\nResolved-for-cardholder")
        page.get_by_label("SLA target").fill("40")  # the label names the hours box
        page.locator("input[name='sla_target_minutes']").fill("75")
        page.get_by_label("Reservation timeout").fill("0")
        page.locator("input[name='reservation_timeout_minutes']").fill("15")
        page.get_by_label("Standard handle time").fill("0")
        page.locator("input[name='standard_handle_time_minutes']").fill("20")
        page.get_by_role("button", name="Save", exact=True).click()

        expect(field_errors(page, "outcomes")).to_have_text(
            "“Resolved-for-cardholder” is listed twice: give each outcome once.")
        expect(field_errors(page, "sla_target")).to_have_text(
            "Minutes run from 0 to 59: write 90 minutes as 1 h 30 min.")
        expect(field_errors(page, "reservation_timeout")).to_have_count(0)
        expect(page.locator("input[name='sla_target_minutes']")).to_have_value("75")  # as typed, to correct
        assert not Queue.objects.exists()
        shoot(page, "1-queue-refused")

        page.get_by_label("Outcomes").fill("resolved-for-cardholder\nresolved-for-merchant\nneed-info")
        page.locator("input[name='sla_target_minutes']").fill("30")
        page.get_by_role("button", name="Save", exact=True).click()
        saved(page, "Visa chargebacks")
        queue = Queue.objects.get(code="visa-chargebacks")
        assert (queue.sla_target, queue.reservation_timeout, queue.standard_handle_time) == (
            timedelta(hours=40, minutes=30), timedelta(minutes=15), timedelta(minutes=20))
        assert queue.outcomes == ["resolved-for-cardholder", "resolved-for-merchant", "need-info"]
        row = page.locator("#result_list tr", has_text="Visa chargebacks")
        expect(row.locator(".field-sla_target_words")).to_have_text("40 h 30 min")
        expect(row.locator(".field-handle_time_words")).to_have_text("20 min")
        shoot(page, "2-queues")

        page.get_by_role("link", name="Visa chargebacks").click()
        expect(page.locator("input[name='sla_target_hours']")).to_have_value("40")
        expect(page.locator("input[name='sla_target_minutes']")).to_have_value("30")
        shoot(page, "3-queue")

        # 2. A calendar: its time zone from the list of zones — an unknown one first.
        page.goto("/admin/allocation/businesscalendar/add/")
        page.get_by_label("Name").fill("London office")
        zone = page.get_by_label("Time zone")
        expect(zone).to_have_attribute("list", "id_time_zone_list")
        assert page.locator("#id_time_zone_list option[value='Europe/London']").count() == 1
        zone.fill("Europe/Londinium")
        page.get_by_role("button", name="Save and continue editing").click()
        expect(field_errors(page, "time_zone")).to_have_text(
            "“Europe/Londinium” is not an IANA time zone: choose one from the list, e.g. Europe/London.")
        assert not BusinessCalendar.objects.exists()
        shoot(page, "4-calendar-refused")
        page.get_by_label("Time zone").fill("europe/london")
        for weekday in range(5):
            page.get_by_role("button", name="Add another Working window").click()
            page.locator(f"select[name='windows-{weekday}-weekday']").select_option(str(weekday))
            page.locator(f"input[name='windows-{weekday}-start']").fill("09:00")
            page.locator(f"input[name='windows-{weekday}-end']").fill("17:00")
        page.get_by_role("button", name="Save and continue editing").click()
        saved(page, "London office")
        calendar = BusinessCalendar.objects.get(name="London office")
        assert calendar.time_zone == "Europe/London"
        expect(page.get_by_label("Time zone")).to_have_value("Europe/London")

        # … and its public holidays: the country by name, searched from the list.
        page.get_by_role("link", name="Load public holidays…").click()
        country = page.get_by_label("Country")
        assert page.locator("#id_country_list option[value='United Kingdom (GB)']").count() == 1
        country.fill("Narnia")
        page.get_by_label("Subdivision").fill("ENG")
        page.get_by_label("First year").fill("2031")
        page.get_by_label("Last year").fill("2031")
        page.get_by_role("button", name="Load holidays").click()
        expect(page.get_by_text("No public holiday data for “Narnia”")).to_be_visible()
        assert not calendar.holidays.exists()
        page.get_by_label("Country").fill("United Kingdom (GB)")
        shoot(page, "5-load-holidays")
        page.get_by_role("button", name="Load holidays").click()
        saved(page, "Added 8 holidays to London office")
        assert calendar.holidays.filter(name="Good Friday").exists()
        # The admin writes moments as the portal does: the preview's windows, the list of holidays.
        expect(page.locator(".sla-preview li").first).to_contain_text("Tue 11 Mar 2031")
        shoot(page, "6-calendar")

        # Dark, as admin's theme toggle or the system says: still the portal's navy and blue.
        dark = open_page(ada, color_scheme="dark")
        dark.goto("/admin/allocation/queue/")
        expect(dark.locator("#header")).to_have_css("background-color", "rgb(26, 42, 74)")  # #1a2a4a
        shoot(dark, "7-queues-dark")

        # The way back, from admin and from the API docs.
        page.goto("/admin/")
        page.get_by_role("link", name="Back to the portal").click()
        expect(page.locator(".topbar .brand")).to_have_text("WFO Portal")  # the portal's home, wherever it leads
        page.goto("/api/docs/")
        expect(page.locator("link[rel='icon']")).to_have_attribute("href", "/static/favicon.svg")
        expect(page.locator(".portal-bar")).to_have_css("background-color", NAVY)
        expect(page.locator("#swagger-ui .title")).to_contain_text("WFO Portal API")
        shoot(page, "8-api-docs")
        page.get_by_role("link", name="← Back to the portal").click()
        expect(page.locator(".topbar .brand")).to_have_text("WFO Portal")


def test_a_quality_lead_edits_and_reorders_a_forms_questions(open_page, shoot):
    """The form builder: a question's wording changed — refused first, on the field at fault —
    then moved up its section. No evaluation uses version 1 yet, so the changes apply to it."""
    lena = factories.UserFactory(roles=[roles.QUALITY_LEAD], username="lena", first_name="Lena", last_name="Lead")
    form, version, questions = factories.form_with_questions()
    tone = questions[2]
    with time_machine.travel(TUESDAY, tick=True):
        page = open_page(lena)
        page.goto(f"/quality/forms/{form.pk}/")
        expect(page.get_by_role("button", name="Move “Right reason code?” up")).to_have_count(0)

        page.locator(f"#question-{tone.pk} summary").click()
        editing = page.get_by_role("form", name="Edit “Letter tone”")
        editing.get_by_label("Question").fill("Letter tone and clarity")
        editing.get_by_label("Weight").fill("0")
        editing.get_by_role("button", name="Save the question").click()
        refused = page.get_by_role("form", name="Edit “Letter tone”")
        expect(refused.get_by_role("alert")).to_have_text("A weight above 0.")
        shoot(page, "9-builder-refused")

        refused.get_by_label("Weight").fill("2")
        refused.get_by_role("button", name="Save the question").click()
        expect(page.get_by_role("status")).to_contain_text("Question changed in version 1.")
        page.get_by_role("button", name="Move “Letter tone and clarity” up").click()
        expect(page.locator(".question-text strong")).to_have_text(
            ["Right reason code?", "Letter tone and clarity", "Evidence attached?"])
        shoot(page, "10-builder")
        tone.refresh_from_db()
        assert (tone.text, tone.weight, tone.position, tone.section.version) == (
            "Letter tone and clarity", 2, 1, version)
