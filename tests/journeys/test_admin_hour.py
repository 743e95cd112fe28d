"""An admin's hour, in Chromium on Django admin and the agent's pages: the operation is
configured through the admin forms, then a source system's item reaches the agent the new
configuration admits, due on the new calendar. Each step asserts what the admin, and then
the agent, see.

1. A skill.
2. A business calendar (Europe/London, Monday to Friday 09:00–17:00) whose English public
   holidays are loaded from the `holidays` package.
3. A queue requiring the skill, served by the existing Disputes team, with an 8-working-hour SLA policy on
   that calendar.
4. An agent profile for an existing user: the Disputes team, the skill.
5. A source system sends an item on the Thursday before Easter; the agent gets exactly that
   item with "Get next work" (not an older one of a queue whose skill it lacks), due on
   Tuesday: Good Friday, the weekend and Easter Monday skipped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from allocation.models import AgentProfile, BusinessCalendar, Queue, Skill, WorkItem
from allocation.sla.policies import working_calendar
from core import roles
from core.models import ChangeRecord
from tests import factories
from tests.browser_support import presence_switch_ready
from tests.helpers import queued_item, token_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# Maundy Thursday 2031, early afternoon in London (BST, UTC+1), years ahead of the wall clock.
THURSDAY = datetime(2031, 4, 10, 12, 0, tzinfo=UTC)
ARRIVAL = datetime(2031, 4, 10, 14, 0, tzinfo=UTC)  # 15:00 in London: two working hours left today
LONDON = "Europe/London"
SKILL = "Chargebacks — Visa"
CALENDAR = "London office"


def select2_pick(page, select_name: str, search: str, choice: str) -> None:
    """Choose `choice` in an admin autocomplete (select2) field by typing `search`."""
    page.locator(f"select[name='{select_name}'] + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=choice).click()
    expect(page.locator(f"select[name='{select_name}'] + .select2")).to_contain_text(choice)


def saved(page, text: str) -> None:
    expect(page.locator(".messagelist .success")).to_contain_text(text)


@pytest.fixture
def operation(team):
    """Before the hour: the Disputes team serves Mastercard disputes (which needs a skill
    the new agent will not hold) with an older item waiting; Oliver has a login but no
    agent profile yet; the card platform has its source token."""
    admin = factories.UserFactory(roles=[roles.ADMIN], username="ada", first_name="Ada", last_name="Admin",
                                  is_staff=True, is_superuser=True)
    team.name = "Disputes"
    team.save()
    mastercard = factories.QueueFactory(teams=[team], name="Mastercard disputes", code="mastercard")
    factories.QueueSkillFactory(queue=mastercard, skill=factories.SkillFactory(name="Mastercard"))
    oliver = factories.UserFactory(roles=[roles.AGENT], username="oliver", first_name="Oliver", last_name="Grant")
    cards = token_client(factories.SourceSystemFactory(username="card-platform", sources=["card-platform"]))
    return admin, team, mastercard, oliver, cards


def test_an_admins_hour(open_page, screenshot, operation):
    admin, team, mastercard, oliver, cards = operation
    with time_machine.travel(THURSDAY, tick=True) as clock:
        older = queued_item(mastercard, title="Mastercard 4837 — Bolt", received_at=THURSDAY - timedelta(hours=3))
        page = open_page(admin, height=900)

        # 1. A skill.
        page.goto("/admin/allocation/skill/add/")
        page.get_by_label("Name").fill(SKILL)
        page.get_by_role("button", name="Save", exact=True).click()
        saved(page, SKILL)
        skill = Skill.objects.get(name=SKILL)

        # 2. A business calendar: Monday to Friday 09:00–17:00 in London.
        page.goto("/admin/allocation/businesscalendar/add/")
        page.get_by_label("Name").fill(CALENDAR)
        page.get_by_label("Time zone").fill(LONDON)
        for weekday in range(5):
            page.get_by_role("button", name="Add another Working window").click()
            page.locator(f"select[name='windows-{weekday}-weekday']").select_option(str(weekday))
            page.locator(f"input[name='windows-{weekday}-start']").fill("09:00")
            page.locator(f"input[name='windows-{weekday}-end']").fill("17:00")
        screenshot(page, "journey-admin-calendar-windows-1280")
        page.get_by_role("button", name="Save and continue editing").click()
        saved(page, CALENDAR)
        calendar = BusinessCalendar.objects.get(name=CALENDAR)
        assert calendar.windows.count() == 5 and not calendar.holidays.exists()
        # The preview of the next windows runs from now: Thursday afternoon, then Friday (no holiday yet).
        preview = page.locator(".sla-preview li")
        expect(preview.first).to_contain_text("Thu 10 Apr 2031")
        expect(preview.nth(1)).to_contain_text("Fri 11 Apr 2031 09:00")
        # … and England's public holidays, loaded from the holidays package.
        page.get_by_role("link", name="Load public holidays…").click()
        page.get_by_label("Country").fill("United Kingdom (GB)")
        page.get_by_label("Subdivision").fill("ENG")
        expect(page.get_by_label("First year")).to_have_value("2031")
        page.get_by_label("Last year").fill("2031")
        screenshot(page, "journey-admin-load-holidays-1280")
        page.get_by_role("button", name="Load holidays").click()
        saved(page, f"Added 8 holidays to {CALENDAR}")
        holidays = dict(calendar.holidays.values_list("date", "name"))
        assert holidays[datetime(2031, 4, 11).date()] == "Good Friday"
        assert holidays[datetime(2031, 4, 14).date()] == "Easter Monday"
        # The preview now skips Good Friday, the weekend and Easter Monday.
        expect(preview.nth(1)).to_contain_text("Tue 15 Apr 2031 09:00")
        screenshot(page, "journey-admin-calendar-holidays-1280")

        # 3. A queue that needs the skill, served by the Disputes team, 8 working hours on the calendar.
        page.goto("/admin/allocation/queue/add/")
        page.get_by_label("Code").fill("chargebacks-visa")
        page.locator("#id_name").fill("Visa chargebacks")
        page.locator("#id_teams_from").select_option(label=team.name)
        page.locator("#id_teams_add").click()
        select2_pick(page, "skill_requirements-0-skill", "Visa", SKILL)
        page.locator("input[name='skill_requirements-0-min_proficiency']").fill("3")
        page.get_by_role("button", name="Add another SLA policy").click()
        page.locator("input[name='sla_policies-0-target_hours']").fill("8")
        page.locator("input[name='sla_policies-0-target_minutes']").fill("0")
        page.locator("select[name='sla_policies-0-calendar']").select_option(label=str(calendar))
        screenshot(page, "journey-admin-queue-1280")
        page.get_by_role("button", name="Save", exact=True).click()
        saved(page, "Visa chargebacks")
        visa = Queue.objects.get(code="chargebacks-visa")
        assert list(visa.teams.all()) == [team]
        assert list(visa.skill_requirements.values_list("skill__name", "min_proficiency")) == [(SKILL, 3)]
        policy = visa.sla_policies.get()
        assert (policy.priority, policy.target, policy.calendar) == (None, timedelta(hours=8), calendar)

        # 4. Oliver's agent profile: the Disputes team, the skill at 4.
        page.goto("/admin/allocation/agentprofile/add/")
        select2_pick(page, "user", "oliver", "oliver")
        page.get_by_label("Team").select_option(label=team.name)
        select2_pick(page, "skill_levels-0-skill", "Visa", SKILL)
        page.locator("input[name='skill_levels-0-proficiency']").fill("4")
        page.get_by_role("button", name="Save", exact=True).click()
        saved(page, "The agent profile “Oliver Grant” was added")
        profile = AgentProfile.objects.get(user=oliver)
        assert profile.team == team
        assert list(profile.skill_levels.values_list("skill", "proficiency")) == [(skill.pk, 4)]
        screenshot(page, "journey-admin-agents-1280")
        # The change log says who configured Oliver, and how.
        page.goto("/admin/wfo/changerecord/")
        expect(page.locator("#result_list")).to_contain_text("agent.configured")
        expect(page.locator("#result_list")).to_contain_text("Oliver Grant")
        record = ChangeRecord.objects.get(action="agent.configured", subject_id=str(profile.pk))
        assert record.after == {"team": team.name, "capacity": profile.capacity, "skills": {SKILL: 4}}

        # 5. At 15:00 in London the card platform sends a Visa chargeback.
        clock.move_to(ARRIVAL)
        created = cards.post("/api/v1/items/", {
            "queue": "chargebacks-visa", "source": "card-platform", "external_id": "CB-9001",
            "customer_ref": "CUST-77", "title": "Visa 10.4 — Helix", "payload": {"amount": "120.00"},
        }, format="json")
        assert created.status_code == 201, created.json()
        item = WorkItem.objects.get(pk=created.json()["id"])
        # 8 working hours from Thursday 15:00: 2 on Thursday; Good Friday, the weekend and Easter
        # Monday skipped; 6 on Tuesday: due 15:00 on Tuesday, as the calendar arithmetic says.
        calendar.refresh_from_db()
        due = working_calendar(calendar).add(ARRIVAL, timedelta(hours=8))
        assert item.due_at == due == datetime(2031, 4, 15, 14, 0, tzinfo=UTC)

        # Oliver, in the browser in London, sets himself available and gets next work.
        work = open_page(oliver, timezone_id=LONDON)
        work.goto("/work/")
        expect(work.get_by_role("button", name=re.compile("Get next work"))).to_be_disabled()
        work.locator("#presence").get_by_role("radio", name="Available", exact=True).check()
        presence_switch_ready(work, "available")
        work.get_by_role("button", name=re.compile("Get next work")).click()
        expect(work).to_have_url(re.compile(f"/work/items/{item.pk}/$"))
        expect(work.get_by_role("heading", level=1)).to_have_text(f"#{item.pk} Visa 10.4 — Helix")
        expect(work.get_by_text("You got")).to_contain_text("from Visa chargebacks")
        details = work.get_by_role("region", name="Details")
        expect(details.locator("dt:has-text('Received') + dd")).to_have_text("Thu 10 Apr 2031, 15:00")
        expect(details.locator("dt:has-text('Due') + dd")).to_have_text("Tue 15 Apr 2031, 15:00")
        expect(details.locator("dt:has-text('SLA clock') + dd")).to_contain_text("in working hours")
        screenshot(work, "journey-admin-agent-item-1280")
        older.refresh_from_db()
        assert older.status == "queued" and older.assignee_id is None
