"""A supervisor's day, in Chromium on the real pages, with the periodic jobs run between
steps as beat would run them (the Celery task functions) and the clock moved forward where
time must pass. Each step asserts what the supervisor, and the agents it affects, see.

1. The wallboard: each kind of number (tiles, bands, a queue's cells, today's, the oldest
   waiting) opens the items it counts.
2. An agent goes offline holding work; the supervisor gives it to another agent at once
   (bulk reassign): that agent is told, and the work stays past the reservation timeout.
3. An agent goes away holding work; past the grace period the rebalancing job moves it, and
   the item page says why.
4. A breach outside working hours: the alert reaches the supervisor on a Saturday.
5. A priority change: the due time moves, and the timeline says from what to what.
6. A cancellation asks for a confirmation and leaves no SLA outcome.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.conf import settings
from playwright.sync_api import expect

from allocation import services
from allocation import tasks as allocation_tasks
from allocation.models import BusinessCalendar, ItemStatus, Priority, SlaPolicy, WorkingWindow, WorkItem
from core import roles
from core.models import Notification
from reporting import tasks as reporting_tasks
from tests import factories
from tests.helpers import queued_item, started_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# A Wednesday afternoon, years ahead of the wall clock: the journey never depends on today,
# and moving forward from here keeps Python's clock ahead of the database's, as get-next needs.
WEDNESDAY = datetime(2031, 3, 12, 14, 0, tzinfo=UTC)
SATURDAY = datetime(2031, 3, 15, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LISTED = re.compile(r"(\d+) items?\b")


@pytest.fixture
def floor(team):
    """Chargebacks (8 working hours, Mon–Fri 09:00–17:00 UTC; urgent items 2 h) and Refunds
    (24 h around the clock); Amelia, Ben and Chloe in the team; Dana supervises it."""
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="UTC")
    for weekday in range(5):
        WorkingWindow.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    chargebacks = factories.QueueFactory(teams=[team], name="Chargebacks", code="chargebacks")
    SlaPolicy.objects.create(queue=chargebacks, target=8 * HOUR, calendar=calendar)
    SlaPolicy.objects.create(queue=chargebacks, priority=Priority.URGENT, target=2 * HOUR, calendar=calendar)
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    people = {
        name: factories.AgentFactory(team=team, capacity=5, user__first_name=name, user__last_name=last)
        for name, last in (("Amelia", "Hart"), ("Ben", "Walsh"), ("Chloe", "Lambert"))
    }
    dana = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan",
                                 email="dana@example.com")
    team.supervisors.add(dana)
    return chargebacks, refunds, people, dana


def listed_count(page) -> int:
    """The number of items the Work items list says it shows ("3 items, newest first")."""
    found = LISTED.search(page.locator("main").inner_text())
    return int(found.group(1)) if found else 0


def test_a_supervisors_day(open_page, screenshot, floor):
    chargebacks, refunds, people, dana = floor
    amelia, ben, chloe = people["Amelia"], people["Ben"], people["Chloe"]
    with time_machine.travel(WEDNESDAY, tick=True) as clock:
        # The morning's work: one done already; some breached, some at risk, some fresh.
        done = started_item(ben, refunds, title="Refund done", received_at=WEDNESDAY - 2 * HOUR)
        services.item_complete(item_id=done.pk, actor=ben.user)
        breached = queued_item(chargebacks, title="Visa 10.4 — Helix", received_at=WEDNESDAY - 30 * HOUR)
        queued_item(chargebacks, title="Visa 13.1 — Skyline", received_at=WEDNESDAY - 5 * HOUR)  # at risk
        for n in range(3):
            queued_item(refunds, title=f"Refund {n}", received_at=WEDNESDAY - (n + 1) * HOUR)
        reporting_tasks.rollups_update()

        # 1. The wallboard: every kind of number opens the items it counts.
        board = open_page(dana)
        board.goto("/reports/wallboard/")
        screenshot(board, "journey-supervisor-wallboard-1280")
        kinds = {
            "open": "#board .tile .big a >> nth=0",
            "at risk": "#board .tile.warn .big a",
            "breached": "#board .tile.bad .big a",
            "a band": "#board table.aging a >> nth=0",
            "a queue's waiting": "#board table.wallboard td[data-label=Waiting] a >> nth=0",
            "today's completions": "#board td[data-label='In / done today'] a >> nth=0",
        }
        for kind, selector in kinds.items():
            board.goto("/reports/wallboard/")
            link = board.locator(selector)
            shown = int(re.match(r"\d+", link.inner_text()).group())
            link.click()
            expect(board.get_by_role("heading", name="Work items")).to_be_visible()
            assert listed_count(board) == shown, f"{kind}: the list shows another number than {shown}"
        board.goto("/reports/wallboard/")
        board.locator("#board .tile .big + p a[href^='/work/items/']").last.click()  # the oldest waiting
        expect(board.get_by_role("heading", name=re.compile("Visa 10.4 — Helix"))).to_be_visible()
        assert board.url.endswith(f"/work/items/{breached.pk}/")

        # 2. Chloe goes offline holding two items; Dana gives them to Ben at once.
        held = [services.item_get_next(agent_id=chloe.pk) for _ in range(2)]
        services.agent_set_presence(agent_id=chloe.pk, presence="offline", actor=chloe.user)
        board.goto("/work/reassign/")
        board.get_by_label("Held by (name or username)").fill("chloe")
        board.get_by_role("button", name="Filter").click()
        board.get_by_role("link", name=re.compile("Select all")).click()
        eligible = board.locator("optgroup[label='Agents who may take these items now'] option")
        expect(eligible.filter(has_text="Ben Walsh")).to_have_count(1)
        board.get_by_label("Move to").select_option(value=f"agent:{ben.pk}")
        board.get_by_role("button", name="Preview").click()
        screenshot(board, "journey-supervisor-reassign-preview-1280")
        board.get_by_role("button", name=re.compile("Apply")).click()
        expect(board.get_by_text(re.compile(r"Moved 2 items to Ben Walsh"))).to_be_visible()
        inbox = open_page(ben.user)
        inbox.goto("/work/")
        for item in held:
            expect(inbox.get_by_role("row", name=re.compile(re.escape(item.title)))).to_contain_text(
                "given to you by Dana Morgan")
        assert Notification.objects.filter(user=ben.user, email=True).count() == 2
        screenshot(inbox, "journey-supervisor-ben-told-1280")
        # The reservation timeout passes, the expiry job runs: the work stays with Ben.
        clock.move_to(WEDNESDAY + chargebacks.reservation_timeout + 10 * timedelta(minutes=1))
        allocation_tasks.reservations_expire()
        assert set(WorkItem.objects.filter(pk__in=[i.pk for i in held]).values_list("assignee_id", "status")) == {
            (ben.pk, ItemStatus.ASSIGNED)}

        # 3. Amelia goes away holding an item; past the grace period rebalancing moves it.
        taken = services.item_get_next(agent_id=amelia.pk)
        services.item_start(item_id=taken.pk, actor=amelia.user)
        services.agent_set_presence(agent_id=amelia.pk, presence="away", actor=amelia.user)
        clock.move_to(WEDNESDAY + 2 * HOUR + settings.WFO_REBALANCE_GRACE + timedelta(minutes=1))
        allocation_tasks.rebalance()
        taken.refresh_from_db()
        assert taken.assignee_id != amelia.pk
        board.goto(f"/work/items/{taken.pk}/")
        explained = board.get_by_role("region", name=re.compile("Why .* has this item|Timeline"))
        expect(board.locator("main")).to_contain_text("Because its holder was absent")
        expect(explained.first).to_be_visible()
        screenshot(board, "journey-supervisor-rebalanced-1280")

        # 4. Saturday morning: the alert scan raises the breach of a waiting item, at once.
        waiting = queued_item(chargebacks, title="Mastercard 4837 — Bolt")  # due Thursday
        clock.move_to(SATURDAY)
        allocation_tasks.sla_alerts_raise()
        board.goto("/notifications/")
        expect(board.get_by_text(re.compile(f"SLA breached.*#{waiting.pk}|#{waiting.pk}.*breached"))).to_be_visible()
        screenshot(board, "journey-supervisor-breach-saturday-1280")

        # 5. A priority change: the due time moves, and the timeline says from what to what.
        board.goto(f"/work/items/{waiting.pk}/")
        board.locator("summary", has_text="Change priority").click()
        board.get_by_label("New priority").select_option(label="Urgent")
        board.get_by_label("Priority reason").fill("Cardholder complained to the regulator")
        board.get_by_role("button", name="Change priority").click()
        moved = WorkItem.objects.get(pk=waiting.pk)
        assert moved.priority == Priority.URGENT and moved.due_at < waiting.due_at
        expect(board.locator(".timeline")).to_contain_text("From Normal to Urgent")
        expect(board.locator(".timeline")).to_contain_text("→")
        screenshot(board, "journey-supervisor-priority-1280")

        # 6. A cancellation asks to confirm, then leaves no SLA outcome.
        board.locator("summary", has_text="Cancel item").click()
        board.get_by_label("Cancel reason").fill("Duplicate of a case the network closed")
        board.get_by_role("button", name="Cancel item").click()
        expect(board.get_by_text("Tick this box to confirm the cancellation.")).to_be_visible()
        assert WorkItem.objects.get(pk=waiting.pk).status == ItemStatus.QUEUED
        board.get_by_label(re.compile("Yes, cancel this item")).check()
        board.get_by_role("button", name="Cancel item").click()
        expect(board.get_by_text("No SLA outcome (cancelled)").first).to_be_visible()
        assert WorkItem.objects.get(pk=waiting.pk).status == ItemStatus.CANCELLED
        screenshot(board, "journey-supervisor-cancelled-1280")
