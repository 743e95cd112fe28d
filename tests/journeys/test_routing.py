"""Routing steps (README, "Routing steps"), in Chromium on the real pages, with the routing
job run between steps as beat would run it (the Celery task function) and the clock moved
past a step's wait. Each step asserts what the supervisor and the agents see.

An overflow, while a supervisor watches the wallboard:
1. An item waits in Spanish servicing (its team all offline); the wallboard says so, and an
   agent of General servicing asking for work gets nothing: step 1 does not admit it.
2. Half an hour passes; the job runs; the wallboard, refreshing itself, shows the item
   waiting in General servicing and no longer in Spanish servicing.
3. The Spanish desk comes back: nothing for it now. The General servicing agent gets exactly
   that item; its item page and the supervisor's say why it is there, and the supervisor's
   says why the agent has it.

A widening step: after the wait, an agent of the team the step adds gets the item, and the
supervisor's item page says the step admitted the agent.

Screenshots of each page, at a desk's and a phone's size, go to the test's tmp_path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from allocation import services
from allocation import tasks as allocation_tasks
from allocation.models import ItemStatus, Presence, WorkItem
from core import roles
from tests import factories
from tests.helpers import queued_item, supervisor_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# A Monday morning, years ahead of the wall clock: the journey never depends on today, and
# moving forward from here keeps Python's clock ahead of the database's, as get-next needs.
MONDAY = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
WAIT = timedelta(minutes=30)
SIZES = {"desk": (1280, 800), "phone": (390, 844)}
NOTHING_WAITING = "Nothing is waiting for you right now. Try again in a moment."


@pytest.fixture
def shoot(tmp_path):
    """shoot(page, name): full-page screenshots of `page` at a desk's and a phone's size,
    in tmp_path; the page is left at the desk's size."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def save(page, name: str) -> list[Path]:
        paths = []
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            path = folder / f"{name}-{size}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size({"width": SIZES["desk"][0], "height": SIZES["desk"][1]})
        return paths

    return save


def person(first: str, last: str, **fields):
    return factories.AgentFactory(user__first_name=first, user__last_name=last,
                                  user__username=first.lower(), **fields)


def sofia_supervising(*queues):
    """Sofia Lind, a supervisor of every team serving `queues`."""
    sofia = supervisor_for(*queues)
    sofia.first_name, sofia.last_name = "Sofia", "Lind"
    sofia.save()
    return sofia


def waiting_cell(board, queue_name: str):
    """The Waiting cell of the queue's row on the wallboard."""
    row = board.locator("#board table.wallboard tbody tr").filter(
        has=board.get_by_role("rowheader", name=queue_name, exact=True))
    return row.locator("td[data-label=Waiting]")


def get_next_work(page) -> None:
    """The agent, on My work, asks for its next work with the button."""
    page.goto("/work/")
    page.get_by_role("button", name=re.compile("Get next work")).click()


@pytest.fixture
def servicing(settings):
    """Spanish servicing (the Spanish desk, Marta, offline) overflows after half an hour's
    wait to General servicing (the General desk, Olivia, available); Sofia supervises both."""
    settings.WFO_WALLBOARD_REFRESH_SECONDS = 1
    spanish_desk = factories.TeamFactory(name="Spanish desk")
    general_desk = factories.TeamFactory(name="General desk")
    spanish = factories.QueueFactory(teams=[spanish_desk], name="Spanish servicing", code="servicing-es")
    general = factories.QueueFactory(teams=[general_desk], name="General servicing", code="servicing")
    factories.RoutingStepFactory(queue=spanish, position=2, minutes=30, overflow_queue=general)
    marta = person("Marta", "Ruiz", team=spanish_desk, presence=Presence.OFFLINE)
    olivia = person("Olivia", "Reyes", team=general_desk)
    sofia = sofia_supervising(spanish, general)
    return spanish, general, marta, olivia, sofia


def test_an_item_overflows_while_the_supervisor_watches(open_page, shoot, servicing):
    spanish, general, marta, olivia, sofia = servicing
    with time_machine.travel(MONDAY, tick=True) as clock:
        item = queued_item(spanish, title="Cambio de domicilio — Ana Gómez")

        # 1. The wallboard: the item waits in Spanish servicing; General servicing is empty.
        board = open_page(sofia)
        board.goto("/reports/wallboard/")
        expect(waiting_cell(board, "Spanish servicing")).to_have_text("1")
        expect(waiting_cell(board, "General servicing")).to_have_text("0")
        shoot(board, "routing-1-wallboard-before")
        # Olivia asks for work: step 1 of Spanish servicing does not admit her.
        desk = open_page(olivia.user)
        get_next_work(desk)
        expect(desk.get_by_text(NOTHING_WAITING)).to_be_visible()
        # Beat runs the job within the wait: nothing moves.
        clock.move_to(MONDAY + WAIT - timedelta(minutes=1))
        allocation_tasks.routing_advance()
        item.refresh_from_db()
        assert (item.queue_id, item.routing_step) == (spanish.pk, 1)

        # 2. Past the wait the job overflows it; the board, refreshing itself, shows it.
        clock.move_to(MONDAY + WAIT + timedelta(minutes=1))
        assert allocation_tasks.routing_advance() == {"entered": 1, "skipped": 0}
        expect(waiting_cell(board, "General servicing")).to_have_text("1")
        expect(waiting_cell(board, "Spanish servicing")).to_have_text("0")
        item.refresh_from_db()
        assert (item.queue_id, item.routing_step, item.status) == (general.pk, 1, ItemStatus.QUEUED)
        shoot(board, "routing-2-wallboard-after")

        # 3. Marta comes back: the item has left her queue, so there is nothing for her.
        services.agent_set_presence(agent_id=marta.pk, presence=Presence.AVAILABLE, actor=marta.user)
        spanish_page = open_page(marta.user)
        get_next_work(spanish_page)
        expect(spanish_page.get_by_text(NOTHING_WAITING)).to_be_visible()
        # Olivia gets exactly that item, and her item page says how it came to her queue.
        get_next_work(desk)
        expect(desk.get_by_text(f"You got #{item.pk} from General servicing.")).to_be_visible()
        expect(desk.get_by_role("heading", name=re.compile("Cambio de domicilio"))).to_be_visible()
        assert desk.url.endswith(f"/work/items/{item.pk}/")
        assert WorkItem.objects.get(pk=item.pk).assignee_id == olivia.pk
        entered = desk.locator(".timeline li").filter(has_text="Routing step entered")
        expect(entered).to_have_count(1)
        expect(entered).to_contain_text(
            "Overflowed from Spanish servicing (step 1) to General servicing")
        expect(entered).to_contain_text("Step 2 — waited 30 min at step 1: moved to the queue General servicing.")
        shoot(desk, "routing-3-agent-item")

        # The supervisor's item page: the same entry, and why Olivia has the item.
        board.goto(f"/work/items/{item.pk}/")
        expect(board.locator(".timeline li").filter(has_text="Routing step entered")).to_contain_text(
            "Overflowed from Spanish servicing (step 1) to General servicing")
        why = board.get_by_role("region", name="Why Olivia Reyes has this item")
        expect(why).to_contain_text("Assigned to Olivia Reyes by get next work.")
        expect(why).to_contain_text("How it came within reach:")
        expect(why).to_contain_text("Step 2 — waited 30 min at step 1: moved to the queue General servicing.")
        shoot(board, "routing-3-supervisor-item")


@pytest.fixture
def widening():
    """Spanish servicing (the Spanish desk, nobody there) widens after half an hour's wait to
    the Spanish level 2 team (Lucas, available); Sofia supervises both teams."""
    spanish_desk = factories.TeamFactory(name="Spanish desk")
    level_two = factories.TeamFactory(name="Spanish level 2")
    spanish = factories.QueueFactory(teams=[spanish_desk], name="Spanish servicing", code="servicing-es")
    factories.RoutingStepFactory(queue=spanish, position=2, minutes=30, added_teams=[level_two])
    lucas = person("Lucas", "Moreno", team=level_two)
    sofia = sofia_supervising(spanish)
    level_two.supervisors.add(sofia)
    return spanish, lucas, sofia


def test_a_widening_step_admits_the_added_team(open_page, shoot, widening):
    spanish, lucas, sofia = widening
    with time_machine.travel(MONDAY, tick=True) as clock:
        item = queued_item(spanish, title="Cambio de titular — Luis Pardo")

        # Lucas asks for work while the item is at step 1: not his yet.
        desk = open_page(lucas.user)
        get_next_work(desk)
        expect(desk.get_by_text(NOTHING_WAITING)).to_be_visible()

        # Past the wait the job widens it to his team, and he gets it.
        clock.move_to(MONDAY + WAIT + timedelta(minutes=1))
        assert allocation_tasks.routing_advance() == {"entered": 1, "skipped": 0}
        get_next_work(desk)
        expect(desk.get_by_text(f"You got #{item.pk} from Spanish servicing.")).to_be_visible()
        item.refresh_from_db()
        assert (item.assignee_id, item.routing_step) == (lucas.pk, 2)
        entered = desk.locator(".timeline li").filter(has_text="Routing step entered")
        expect(entered).to_contain_text("From routing step 1 to step 2")
        expect(entered).to_contain_text("Step 2 — waited 30 min at step 1: also offered to Spanish level 2.")
        shoot(desk, "routing-4-agent-item-widened")

        # The supervisor's item page says the step admitted him.
        board = open_page(sofia)
        board.goto(f"/work/items/{item.pk}/")
        why = board.get_by_role("region", name="Why Lucas Moreno has this item")
        expect(why).to_contain_text("it had reached routing step 2; routing step 2 admitted this agent")
        shoot(board, "routing-4-supervisor-item-widened")


def test_an_admins_change_reaches_the_agents_next_request(open_page, shoot):
    """An admin takes the General desk off General servicing and puts it back, in Django
    admin; Olivia, of that desk, asking for work after each change, gets what the change
    says at once: nothing while her team does not serve the queue, the next item once it
    does again (get-next keeps her eligibility between requests, and a change must not
    leave an old copy in use)."""
    general_desk = factories.TeamFactory(name="General desk")
    general = factories.QueueFactory(teams=[general_desk], name="General servicing", code="servicing")
    olivia = person("Olivia", "Reyes", team=general_desk)
    admin = factories.UserFactory(roles=[roles.ADMIN], username="ada", first_name="Ada", last_name="Admin",
                                  is_staff=True, is_superuser=True)
    with time_machine.travel(MONDAY, tick=True):
        first = queued_item(general, title="Cambio de domicilio — Ana Gómez")
        second = queued_item(general, title="Cambio de titular — Luis Pardo")
        desk = open_page(olivia.user)
        get_next_work(desk)
        expect(desk.get_by_text(f"You got #{first.pk} from General servicing.")).to_be_visible()

        console = open_page(admin)
        console.goto(f"/admin/allocation/queue/{general.pk}/change/")
        console.locator("#id_teams_to").select_option(label="General desk")
        console.locator("#id_teams_remove").click()
        console.get_by_role("button", name="Save", exact=True).click()
        expect(console.locator(".messagelist .success")).to_contain_text("General servicing")
        assert not general.teams.exists()
        get_next_work(desk)
        expect(desk.get_by_text(NOTHING_WAITING)).to_be_visible()
        shoot(desk, "routing-admin-change-nothing")

        console.goto(f"/admin/allocation/queue/{general.pk}/change/")
        console.locator("#id_teams_from").select_option(label="General desk")
        console.locator("#id_teams_add").click()
        console.get_by_role("button", name="Save", exact=True).click()
        expect(console.locator(".messagelist .success")).to_contain_text("General servicing")
        get_next_work(desk)
        expect(desk.get_by_text(f"You got #{second.pk} from General servicing.")).to_be_visible()
        shoot(desk, "routing-admin-change-back")
