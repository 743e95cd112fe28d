"""The supervisor's live view, in Chromium on the real pages (README, "Supervisor home" and
"Live agents").

Dana lands on her home: Ben went away twenty minutes ago still holding two items. Live
agents shows Amelia idle with work waiting and Ben away; from Ben's row Dana reassigns his
work to Amelia (bulk reassign, previewed before it moves), and her home's attention list
empties. Screenshots at 1920×1080, 1280×800 and 390×844.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from allocation import services
from allocation.models import Presence, SlaPolicy, WorkItem
from core import roles
from reporting import tasks as reporting_tasks
from tests import factories
from tests.helpers import queued_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# A Wednesday afternoon, years ahead of the wall clock.
WEDNESDAY = datetime(2031, 3, 12, 14, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_a_supervisor_sees_an_agent_idle_with_work_waiting_and_reassigns_from_the_row(open_page, screenshot, team,
                                                                                       settings):
    settings.WFO_WALLBOARD_REFRESH_SECONDS = 1
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    SlaPolicy.objects.create(queue=refunds, target=timedelta(hours=24))
    amelia, ben = (factories.AgentFactory(team=team, capacity=5, user__first_name=first, user__last_name=last,
                                          user__username=f"{first.lower()}.{last.lower()}")
                   for first, last in (("Amelia", "Hart"), ("Ben", "Walsh")))
    dana = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan")
    team.supervisors.add(dana)

    with time_machine.travel(WEDNESDAY - 3 * 60 * MIN, tick=True) as clock:
        # The morning: Amelia completes four refunds, then has nothing in progress.
        for n in range(4):
            item = queued_item(refunds, title=f"Refund {n + 1}")
            services.item_get_next(agent_id=amelia.pk)
            services.item_start(item_id=item.pk, actor=amelia.user)
            services.item_complete(item_id=item.pk, actor=amelia.user)
        clock.move_to(WEDNESDAY - 40 * MIN)
        held = [queued_item(refunds, title=f"Refund for Ben {n + 1}") for n in range(2)]
        services.agent_set_presence(agent_id=amelia.pk, presence=Presence.AWAY, actor=amelia.user)
        for _ in held:
            services.item_get_next(agent_id=ben.pk)
        services.agent_set_presence(agent_id=amelia.pk, presence=Presence.AVAILABLE, actor=amelia.user)
        clock.move_to(WEDNESDAY - 20 * MIN)
        services.agent_set_presence(agent_id=ben.pk, presence=Presence.AWAY, actor=ben.user)
        queued_item(refunds, title="Refund waiting")
        assert set(WorkItem.objects.filter(assignee=ben.user).values_list("pk", flat=True)) == {i.pk for i in held}

        clock.move_to(WEDNESDAY)
        reporting_tasks.rollups_update()  # as beat runs it every minute
        page = open_page(dana)
        page.goto("/")
        expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
        attention = page.locator("ol.attention")
        expect(attention.get_by_role("link", name=re.compile(
            r"Ben Walsh has been away for 2\d min and still holds 2 items"))).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("Completed"))).to_contain_text("4")
        screenshot(page, "journey-supervisor-live-1-home-1280")

        # Live agents: Amelia idle with work waiting, Ben away holding two.
        page.get_by_role("navigation", name="Reports").get_by_role("link", name="Live agents").click()
        amelia_row = page.get_by_role("row", name=re.compile("Amelia Hart"))
        ben_row = page.get_by_role("row", name=re.compile("Ben Walsh"))
        expect(amelia_row.locator(".badge")).to_have_text("Idle")
        expect(amelia_row.get_by_role("link", name=re.compile("items waiting that Amelia Hart could take"))) \
            .to_have_text(re.compile(r"^1"))
        expect(ben_row.locator(".badge")).to_have_text("Away")
        expect(ben_row.get_by_role("link", name="2 items held")).to_be_visible()
        screenshot(page, "journey-supervisor-live-2-agents-1280")
        for width, height in ((1920, 1080), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, f"journey-supervisor-live-2-agents-{width}")
        page.set_viewport_size({"width": 1280, "height": 800})

        # From Ben's row: his work, selected, previewed, moved to Amelia.
        ben_row.get_by_role("link", name="Reassign their work").click()
        for item in held:
            expect(page.get_by_label(f"Select #{item.pk}")).to_be_checked()
        page.get_by_label("Move to").select_option(label="Amelia Hart (" + team.name + ")")
        page.get_by_role("button", name="Preview").click()
        page.get_by_role("button", name=re.compile("Apply: move 2 items")).click()
        expect(page.get_by_text(re.compile("Moved 2 items to Amelia Hart"))).to_be_visible()
        assert set(WorkItem.objects.filter(assignee=amelia.user).values_list("pk", flat=True)) == \
            {i.pk for i in held}

        # The home's attention list is empty now.
        page.goto("/")
        expect(page.get_by_text("Nothing needs your attention right now")).to_be_visible()
        screenshot(page, "journey-supervisor-live-3-home-empty-1280")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "journey-supervisor-live-3-home-empty-390")
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto("/reports/agents/")
        expect(page.get_by_role("row", name=re.compile("Amelia Hart")).get_by_role("link", name="2 items held")) \
            .to_be_visible()

        # Ben will not be back today: offline, from his row. The table refreshes every
        # second, but not while the row's form is open.
        ben_row = page.get_by_role("row", name=re.compile("Ben Walsh"))
        ben_row.get_by_role("link", name="Set away or offline…").click()
        stamp = page.locator("#agents-h").inner_text()
        page.wait_for_timeout(2500)
        expect(page.locator("#agents-h")).to_have_text(stamp)  # held while the form is open
        ben_row.get_by_label("Set Ben Walsh to").select_option(label="Offline (no reason)")
        ben_row.get_by_role("button", name="Set").click()
        expect(page.get_by_text(re.compile("Ben Walsh is now offline."))).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("Ben Walsh")).locator(".badge")).to_have_text("Offline")
        expect(page.locator("#agents-h")).not_to_have_text(page.locator("#agents-h").inner_text(), timeout=5000)


def test_the_wallboard_on_the_wall(open_page, screenshot, team):
    """Dana sets Refunds' thresholds, chooses her team and the dark theme, and puts the
    board in wall mode: full screen, no navigation, Refunds' waiting cell red."""
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    other = factories.QueueFactory(teams=[factories.TeamFactory(name="Elsewhere")], name="Mortgages", code="mortgages")
    SlaPolicy.objects.create(queue=refunds, target=timedelta(hours=24))
    dana = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan")
    team.supervisors.add(dana)
    with time_machine.travel(WEDNESDAY, tick=True):
        for n in range(4):
            queued_item(refunds, title=f"Refund {n + 1}", received_at=WEDNESDAY - (n + 1) * 20 * MIN)
        queued_item(other, title="Mortgage")
        page = open_page(dana)
        page.goto("/reports/wallboard/thresholds/")
        page.get_by_label("Refunds — Waiting: amber").fill("2")
        page.get_by_label("Refunds — Waiting: red").fill("1")  # wrong way round: refused
        page.get_by_role("button", name="Save thresholds").click()
        expect(page.get_by_text("Amber must be below red (1).")).to_be_visible()
        screenshot(page, "journey-wall-1-thresholds-refused-1280")
        page.get_by_label("Refunds — Waiting: red").fill("4")
        page.get_by_label("Refunds — Oldest waiting (minutes): amber").fill("30")
        page.get_by_role("button", name="Save thresholds").click()
        expect(page.get_by_text("Thresholds saved for 1 queue.")).to_be_visible()

        page.goto("/reports/wallboard/")
        page.get_by_text("Showing: Every queue").click()
        page.get_by_label("Teams", exact=True).select_option(label=team.name)
        page.get_by_label("Wall mode").select_option(label="Dark")
        page.get_by_role("button", name="Show and remember").click()
        expect(page.get_by_text("The wallboard shows your choice")).to_be_visible()
        expect(page.get_by_role("rowheader", name="Mortgages")).to_have_count(0)
        expect(page.get_by_role("row", name=re.compile("Refunds")).locator("td.level-red")).to_have_count(1)
        page.get_by_role("link", name="Wall mode (full screen)").click()
        wall = page
        wall.set_viewport_size({"width": 1920, "height": 1080})
        expect(wall.locator("html")).to_have_attribute("data-theme", "dark")
        expect(wall.get_by_role("navigation")).to_have_count(0)
        refunds_row = wall.get_by_role("row", name=re.compile("Refunds"))
        expect(refunds_row.locator("td.level-red")).to_have_text("4")
        expect(refunds_row.locator("td.level-amber")).to_have_text(re.compile("hour"))  # oldest: 80 min
        screenshot(wall, "journey-wall-2-dark-1920")
        big = wall.locator(".wall-big").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert big >= 80  # numbers read across a room
        wall.emulate_media(color_scheme="light")
        page.goto(f"/reports/wallboard/?filter=1&teams={team.pk}&theme=auto&wall=1")
        expect(wall.locator("html")).to_have_attribute("data-theme", "auto")
        screenshot(wall, "journey-wall-3-light-1920")
        wall.set_viewport_size({"width": 1280, "height": 800})
        screenshot(wall, "journey-wall-3-light-1280")
        wall.set_viewport_size({"width": 390, "height": 844})
        screenshot(wall, "journey-wall-3-light-390")
