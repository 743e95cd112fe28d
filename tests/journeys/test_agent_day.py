"""An agent's day, in a real browser at a desk (1280×800) and on a phone (390×844): the
promises an agent relies on, across allocation, the SLA clock, quality and reporting. Each
step asserts what the agent sees, and what the database now holds.

1. Logs in through the login form: offline, so "Get next work" says why it would refuse;
   the scorecard counts yesterday's one item.
2. Sets itself available: the button comes alive in place.
3. `n` brings the next best item; starts it.
4. Pends it with a follow-up time, which the message repeats in the agent's own time.
5. A more urgent item arrives; the follow-up time comes: `n` brings the pended item back first.
6. Releases the urgent item with a reason: the next `n` brings another item, not that one.
7. Completes the first item with an outcome: the message and the page show its label, not
   the queue's code; the SLA clock has stopped (Met, time used of the target, no countdown).
8. Sampling draws the completed item for QA and an evaluator scores it; the agent reads the
   result on its Quality page and acknowledges it.
9. Hours later the rollup job runs: the scorecard's "Items completed" and quality move.

Time: the follow-up time comes by moving it to a minute ago, as test_inbox does, not by
moving the clock: get-next and the moves stamp their time with the database's clock, which
time_machine cannot move, so a Python clock an hour ahead would record the item's return
before its follow-up time. Only the last step, which reads reports, moves the clock
(forward). The SLA target runs around the clock (no calendar), yesterday is a whole local
day back and the scorecard spans four weeks, so neither the hour of day nor midnight
changes what the agent sees.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from allocation.audit import items_audit
from allocation.labels import moment_words
from allocation.models import CoolOff, ItemStatus, Presence, WorkItem
from core import roles
from quality import services as quality
from quality.models import Evaluation, EvaluationStatus
from reporting.rollups import day_start
from reporting.tasks import rollups_update
from tests import factories
from tests.browser_support import log_in, pend_on_page, presence_switch_ready, release_on_page
from tests.helpers import queued_item
from tests.reporting.builder import Life, item_write, presence_write

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "item_action_reasons")]

ZONE = "America/New_York"  # the agent's browser; the portal's own zone is another
RESOLVED = "resolved-for-cardholder"


@pytest.fixture
def desk(team):
    queue = factories.QueueFactory(teams=[team], name="Chargebacks", sla_target=timedelta(hours=24),
                                   outcomes=[RESOLVED, "resolved-for-merchant"])
    agent = factories.AgentFactory(team=team, capacity=3, presence=Presence.OFFLINE, user__username="amelia",
                                   user__first_name="Amelia", user__last_name="Hart")
    return queue, agent


def yesterdays_work(queue, agent) -> None:
    """Two hours available yesterday morning and one item completed, as the rollups find them."""
    start = day_start(timezone.localdate() - timedelta(days=1)) + timedelta(hours=10)
    presence_write(agent, (start, Presence.AVAILABLE), (start + timedelta(hours=2), Presence.OFFLINE))
    item_write(Life(queue, start - timedelta(minutes=5), start + timedelta(hours=24), agent,
                    [(start, start + timedelta(minutes=12))], completed=start + timedelta(minutes=12)))


def evaluation_scored(item: WorkItem) -> Evaluation:
    """A quality lead's form and sampling rule; the nightly draw picks the item; an evaluator
    scores it: 2 × yes and 1 × 4 on 1–5 = (200 + 75) / 3 = 91.67."""
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], first_name="Eva", last_name="Lund")
    form = quality.form_create(actor=lead, name="Chargeback handling", pass_mark=Decimal("80"))
    right = quality.form_question_add(form=form, actor=lead, section_title="Accuracy", text="Right reason code?",
                                      kind="yes_no", weight=Decimal("2"))
    tone = quality.form_question_add(form=form, actor=lead, section_title="Letter", text="Letter tone",
                                     kind="scale", weight=Decimal("1"), scale_min=1, scale_max=5)
    factories.SamplingRuleFactory(queue=item.queue, form=form, count=1, evaluators=[evaluator])
    drawn = quality.samples_draw(day=timezone.localdate(item.closed_at), seed=17)
    assert drawn.created == 1
    evaluation = Evaluation.objects.get(item=item)
    return quality.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                                     answers={right.pk: "yes", tone.pk: "4"}, comments={tone.pk: "Clear and polite"})


def go_to(page, link: str) -> None:
    """Follow a link of the main navigation, as the agent does, and wait for the page."""
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()


def press_n(page) -> None:
    """The get-next key. The page's (deferred) script listens for it once the page has loaded."""
    page.wait_for_load_state()
    page.keyboard.press("n")


def scorecard_figure(page, measure: str):
    """The agent's own figure (not the team average) on the scorecard row of `measure`."""
    return page.get_by_role("row", name=re.compile(f"^{measure}")).get_by_role("cell").first


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desk", "phone"])
def test_an_agents_day(open_page, desk, screenshot, time_machine, width, height):
    queue, agent = desk
    first = queued_item(queue, title="Visa chargeback 10.4 — FreshCart", customer_ref="CUST-1",
                        received_at=timezone.now() - timedelta(hours=3), payload={"amount": "534.69"})
    other = queued_item(queue, title="Mastercard chargeback 4837 — Bolt", customer_ref="CUST-2")
    yesterdays_work(queue, agent)
    rollups_update()

    # 1. Logs in through the form: offline as the day begins; the scorecard counts yesterday.
    page = open_page(width=width, height=height, timezone_id=ZONE)
    log_in(page, "amelia")
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    expect(page.get_by_text("You hold no items")).to_be_visible()
    get_next = page.get_by_role("button", name="Get next work")
    expect(get_next).to_be_disabled()
    expect(page.get_by_text("You are offline: set yourself available to get work.")).to_be_visible()
    screenshot(page, f"agent-day-1-logged-in-{width}")
    go_to(page, "Scorecard")
    expect(page).to_have_url(re.compile(rf"/reports/scorecards/{agent.pk}/$"))
    expect(page.get_by_role("heading", name=re.compile("Amelia Hart"))).to_be_visible()
    expect(scorecard_figure(page, "Items completed")).to_have_text("1")
    expect(scorecard_figure(page, "Quality")).to_have_text("—")
    screenshot(page, f"agent-day-1-scorecard-before-{width}")

    # 2. Sets itself available: the button comes alive without a reload.
    go_to(page, "My work")
    page.get_by_role("radio", name="Available", exact=True).check()
    presence_switch_ready(page, "available")
    expect(get_next).to_be_enabled()
    agent.refresh_from_db()
    assert agent.presence == Presence.AVAILABLE
    screenshot(page, f"agent-day-2-available-{width}")

    # 3. `n` brings the next best item (the oldest); the agent starts it.
    press_n(page)
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback 10.4"))).to_be_visible()
    status = page.locator(".tags .badge").first
    expect(status).to_have_text("Assigned")
    page.get_by_role("button", name="Start working on it").click()
    expect(status).to_have_text("In progress")
    first.refresh_from_db()
    assert (first.status, first.assignee_id) == (ItemStatus.IN_PROGRESS, agent.pk)
    screenshot(page, f"agent-day-3-started-{width}")

    # 4. Pends it until an hour from now, as the agent reads the clock in New York.
    follow_up = (timezone.now() + timedelta(hours=1)).astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    pend_on_page(page, follow_up)
    with timezone.override(ZONE):
        said = f"#{first.pk} pended until {moment_words(follow_up)}; it comes back to you first then."
    expect(page.get_by_text(said)).to_be_visible()
    first.refresh_from_db()
    assert (first.status, first.pended_until) == (ItemStatus.PENDED, follow_up)
    screenshot(page, f"agent-day-4-pended-{width}")

    # 5. A more urgent item arrives, then the follow-up time comes: the pended item is first.
    urgent = queued_item(queue, title="Amex dispute — Nordic Air", customer_ref="CUST-3",
                         received_at=timezone.now() - timedelta(hours=6))
    WorkItem.objects.filter(pk=first.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
    due_while_pended = first.due_at
    page.reload()
    expect(page.get_by_text("follow-up due: Get next brings it back")).to_be_visible()
    press_n(page)
    expect(page.get_by_role("heading", name=re.compile("Visa chargeback 10.4"))).to_be_visible()
    expect(page.get_by_text("Picked as its follow-up time came")).to_be_visible()
    first.refresh_from_db()
    urgent.refresh_from_db()
    assert (first.status, first.assignee_id, first.pended_until) == (ItemStatus.ASSIGNED, agent.pk, None)
    assert urgent.status == ItemStatus.QUEUED
    # Its SLA clock paused while it waited; the pause ended with the move: due later by the
    # time paused, as the event that gave the item back says (the audit replays it).
    assert first.sla_clock.paused_since is None and first.due_at > due_while_pended
    assert [str(mismatch) for mismatch in items_audit()] == []
    screenshot(page, f"agent-day-5-follow-up-back-{width}")

    # 6. The urgent item comes next; the agent releases it with a reason, and the next `n`
    #    brings the other item although the released one is still first in the queue.
    go_to(page, "My work")
    press_n(page)
    expect(page.get_by_role("heading", name=re.compile("Amex dispute"))).to_be_visible()
    release_on_page(page)
    expect(page.get_by_text(f"#{urgent.pk} released.")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Amex dispute"))).to_have_count(0)
    press_n(page)
    expect(page.get_by_role("heading", name=re.compile("Mastercard chargeback 4837"))).to_be_visible()
    urgent.refresh_from_db()
    other.refresh_from_db()
    assert (urgent.status, urgent.assignee_id) == (ItemStatus.QUEUED, None)
    assert urgent.start_by < other.start_by  # first in line, yet held back from this agent
    assert (other.status, other.assignee_id) == (ItemStatus.ASSIGNED, agent.pk)
    cool_off = CoolOff.objects.get(item=urgent, agent=agent)
    assert "French-speaking cardholder" in cool_off.reason
    screenshot(page, f"agent-day-6-after-release-{width}")

    # 7. Completes the first item with an outcome: its label everywhere, never the code.
    go_to(page, "My work")
    page.get_by_role("link", name=re.compile("Visa chargeback 10.4")).click()
    page.get_by_role("button", name="Start working on it").click()
    expect(status).to_have_text("In progress")
    page.get_by_label("Outcome").select_option(label="Resolved for cardholder")
    page.get_by_label("Note").fill("Receipt proves delivery")
    page.get_by_role("button", name="Complete item").click()
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.get_by_text(f"#{first.pk} completed (Resolved for cardholder). Press n for your next item."))\
        .to_be_visible()
    expect(page.get_by_text(RESOLVED)).to_have_count(0)
    first.refresh_from_db()
    assert (first.status, first.outcome, first.completed_by_id) == (ItemStatus.COMPLETED, RESOLVED, agent.pk)
    assert first.sla_clock.stopped_at == first.closed_at
    screenshot(page, f"agent-day-7-completed-inbox-{width}")

    # ... and on the item's page the SLA clock has stopped: met, time used of the target.
    page.goto(f"/work/items/{first.pk}/")
    expect(status).to_have_text("Completed")
    expect(page.get_by_text(re.compile(r"· Resolved for cardholder$"))).to_be_visible()
    sla = page.locator(".sla-pill [data-sla]")
    expect(sla).to_have_text(re.compile(r"^\s*Met · 3 h \d min of 1 d 0 h\s*$"))
    expect(sla.locator(".countdown")).to_have_count(0)
    assert sla.get_attribute("data-due-in") is None  # nothing for the page's script to count down
    expect(page.get_by_text(RESOLVED)).to_have_count(0)
    screenshot(page, f"agent-day-7-completed-item-{width}")

    # 8. QA: the item is sampled and scored; the agent reads the result and acknowledges it.
    evaluation = evaluation_scored(first)
    go_to(page, "Quality")
    mine = page.get_by_role("region", name="Evaluations of my work")
    row = mine.get_by_role("row", name=re.compile(f"#{evaluation.pk}"))
    expect(row).to_contain_text("Visa chargeback 10.4")
    expect(row).to_contain_text("Submitted")
    expect(row).to_contain_text("91.67 ✓")
    row.get_by_role("link", name=f"#{evaluation.pk}").click()
    expect(page.get_by_text("Score 91.67 · passed (pass mark 80.00)")).to_be_visible()
    expect(page.get_by_text("(outcome: Resolved for cardholder)")).to_be_visible()
    expect(page.get_by_text("Clear and polite")).to_be_visible()
    screenshot(page, f"agent-day-8-evaluation-{width}")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Acknowledged.", exact=True)).to_be_visible()
    expect(page.locator(".tags .badge").first).to_have_text("Acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.ACKNOWLEDGED

    # 9. Later in the day the rollup job runs: today's completion and its QA score reach the
    #    scorecard. (Later, so that today's available time is hours, as in a real day.)
    time_machine.move_to(timezone.now() + timedelta(hours=4))
    rollups_update()
    go_to(page, "Scorecard")
    expect(page.get_by_role("heading", name=re.compile("Amelia Hart"))).to_be_visible()
    expect(scorecard_figure(page, "Items completed")).to_have_text("2")
    expect(scorecard_figure(page, "Quality")).to_have_text("91.7 (1)")
    screenshot(page, f"agent-day-9-scorecard-after-{width}")
