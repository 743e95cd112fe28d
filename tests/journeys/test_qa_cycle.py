"""A QA cycle, in Chromium on the real pages, with the nightly sampling job and the report
rollups run between steps as beat would run them (the Celery task functions), and the clock
moved forward where time must pass. Each step asserts what each person sees.

1. The sampling job draws one of the items an agent completed yesterday for the evaluator.
2. The evaluator scores it from the Quality inbox so that it fails (a critical "no"), with
   a comment, and submits.
3. The agent sees the failed result and disputes two questions, each with an objection.
4. A quality lead (not the scorer) sees, beside each disputed question, the answer, the
   evaluator's comment and the agent's objection, and re-scores: it still fails.
5. The agent's supervisor (not the re-score's scorer) sends the item back as rework, which
   the agent gets with `n`.
6. After the rollup job, first-pass yield of the day the item was completed drops on the
   history page.
7. A calibration session on the same item never reaches the agent (Quality page, API).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from allocation import services as allocation_services
from allocation.models import ItemStatus, WorkItem
from core import roles
from quality import services
from quality import tasks as quality_tasks
from quality.models import (
    Evaluation,
    EvaluationSource,
    EvaluationStatus,
)
from reporting import tasks as reporting_tasks
from tests import factories
from tests.helpers import started_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# A Tuesday years ahead of the wall clock: the agent's day; the sampling job runs the next
# morning (it draws yesterday), and the clock only ever moves forward from here.
TUESDAY = datetime(2031, 3, 11, 10, 0, tzinfo=UTC)
WEDNESDAY_MORNING = datetime(2031, 3, 12, 7, 0, tzinfo=UTC)
HISTORY = "/reports/history/?since=2031-03-10&until=2031-03-12&grain=day"


@pytest.fixture
def floor(team):
    """Chargebacks, served by Amelia's team (Dana supervises it); a form with a critical
    question sampled daily, one item per agent, scored by Eva; Quinn leads quality, Finn is
    another evaluator for calibration."""
    chargebacks = factories.QueueFactory(teams=[team], name="Chargebacks", code="chargebacks")
    amelia = factories.AgentFactory(team=team, capacity=3, user__username="amelia", user__first_name="Amelia",
                                    user__last_name="Hart")
    dana = factories.UserFactory(roles=[roles.SUPERVISOR], username="dana", first_name="Dana", last_name="Morgan")
    team.supervisors.add(dana)
    eva = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], username="eva", first_name="Eva", last_name="Stone")
    finn = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], username="finn", first_name="Finn",
                                 last_name="Byrne")
    quinn = factories.UserFactory(roles=[roles.QUALITY_LEAD], username="quinn", first_name="Quinn", last_name="Lee")
    form = factories.EvaluationFormFactory(name="Chargeback handling", pass_mark=Decimal("80"))
    version = services.form_version_for_editing(form=form, actor=quinn, note="First version")
    section = factories.FormSectionFactory(version=version, title="Accuracy")
    questions = {
        "code": factories.QuestionFactory(section=section, text="Right reason code?", weight=3, critical=True),
        "amount": factories.QuestionFactory(section=section, text="Amount correct to the cent?", weight=2),
        "letter": factories.QuestionFactory(section=section, text="Clarity of the letter", scale=True),
    }
    factories.SamplingRuleFactory(queue=chargebacks, form=form, count=1, evaluators=[eva])
    return chargebacks, amelia, dana, eva, finn, quinn, form, questions


def first_pass_yield(page) -> str:
    """The total row's first-pass yield on the history page, as shown ("100.0 %")."""
    page.goto(HISTORY)
    cell = page.locator("#h-quality").locator("xpath=ancestor::section").locator(
        "tfoot td[data-label='First-pass yield %']")
    return cell.inner_text().strip()


def question_block(page, text: str):
    return page.locator(".question").filter(has_text=text)


def test_a_qa_cycle(open_page, screenshot, floor):
    chargebacks, amelia, dana, eva, finn, quinn, form, questions = floor
    with time_machine.travel(TUESDAY, tick=True) as clock:
        # Tuesday: Amelia completes two chargebacks.
        done = []
        for n, title in enumerate(("Visa 10.4 — Helix", "Visa 13.1 — Skyline")):
            item = started_item(amelia, chargebacks, title=title, received_at=TUESDAY - (n + 1) * timedelta(hours=1))
            done.append(allocation_services.item_complete(item_id=item.pk, actor=amelia.user))
        reporting_tasks.rollups_update()
        supervisor = open_page(dana)
        assert first_pass_yield(supervisor) == "100.0 %"

        # 1. Wednesday morning the sampling job draws one of yesterday's items for Eva.
        clock.move_to(WEDNESDAY_MORNING)
        drawn = quality_tasks.samples_draw()
        assert drawn["created"] == 1
        evaluation = Evaluation.objects.get(source=EvaluationSource.SAMPLING)
        assert evaluation.evaluator == eva and evaluation.item_id in {item.pk for item in done}
        sampled = evaluation.item

        # 2. Eva scores it from her Quality inbox: the reason code was wrong (critical).
        scorer = open_page(eva)
        scorer.goto("/quality/")
        to_do = scorer.get_by_role("region", name="To evaluate")
        expect(to_do.get_by_role("row", name=re.compile(re.escape(sampled.title)))).to_be_visible()
        screenshot(scorer, "journey-qa-evaluator-inbox-1280")
        to_do.get_by_role("link", name=f"#{evaluation.pk}").click()
        expect(scorer.get_by_role("heading", name=re.compile(f"Evaluation #{evaluation.pk}"))).to_be_visible()
        code, amount, letter = (question_block(scorer, questions[key].text) for key in ("code", "amount", "letter"))
        code.get_by_label("No").check()
        code.get_by_label(re.compile("Comment on")).fill("13.1 was used; the cardholder's letter says 10.4.")
        amount.get_by_label("Yes").check()
        letter.get_by_label(re.compile("Score")).select_option("2")
        letter.get_by_label(re.compile("Comment on")).fill("The letter does not say what happens next.")
        screenshot(scorer, "journey-qa-evaluator-scoring-1280")
        scorer.get_by_role("button", name="Submit evaluation").click()
        expect(scorer.get_by_text("Evaluation submitted: 0.00, failed.")).to_be_visible()
        evaluation.refresh_from_db()
        assert (evaluation.status, evaluation.score, evaluation.passed) == (EvaluationStatus.SUBMITTED, 0, False)

        # 3. Amelia sees the failed result and disputes two questions.
        clock.move_to(WEDNESDAY_MORNING + timedelta(hours=2))
        work = open_page(amelia.user)
        work.goto("/quality/")
        mine = work.get_by_role("region", name="Evaluations of my work")
        row = mine.get_by_role("row", name=re.compile(re.escape(sampled.title)))
        expect(row).to_contain_text("0.00 ✗")
        expect(row).to_contain_text("Submitted")
        screenshot(work, "journey-qa-agent-result-1280")
        row.get_by_role("link", name=f"#{evaluation.pk}").click()
        expect(work.get_by_text(re.compile(r"Score 0\.00 · failed"))).to_be_visible()
        expect(question_block(work, questions["code"].text)).to_contain_text("13.1 was used")
        question_block(work, questions["code"].text).get_by_label(re.compile("Your objection")).fill(
            "The cardholder's second letter changed the reason to 13.1.")
        question_block(work, questions["letter"].text).get_by_label(re.compile("Your objection")).fill(
            "The next steps are in the second paragraph.")
        work.get_by_label(re.compile("Your comment on the evaluation")).fill("Please read the second letter.")
        work.get_by_role("button", name="Dispute").click()
        expect(work.get_by_text(re.compile("Dispute sent"))).to_be_visible()
        screenshot(work, "journey-qa-agent-disputed-1280")
        evaluation.refresh_from_db()
        assert evaluation.status == EvaluationStatus.DISPUTED

        # 4. Quinn (a quality lead, not the scorer) decides: sees both sides per question, re-scores.
        lead = open_page(quinn)
        lead.goto("/quality/")
        waiting = lead.get_by_role("region", name="Disputed: your decision")
        waiting.get_by_role("link", name=f"#{evaluation.pk}").click()
        dispute = lead.get_by_role("region", name="The agent's dispute")
        expect(dispute).to_contain_text("Please read the second letter.")
        expect(dispute).to_contain_text("Objections to 2 questions")
        sides = {
            "code": ("No", "13.1 was used; the cardholder's letter says 10.4.",
                     "The cardholder's second letter changed the reason to 13.1."),
            "letter": ("2", "The letter does not say what happens next.",
                       "The next steps are in the second paragraph."),
        }
        for key, (answer, comment, objection) in sides.items():
            facts = question_block(lead, questions[key].text).locator("dl.facts")
            expect(facts.locator("dt:has-text('Answer') + dd")).to_have_text(re.compile(rf"^{answer}\b"))
            expect(facts.locator("dt:has-text(\"Evaluator's comment\") + dd")).to_have_text(comment)
            expect(facts.locator("dt:has-text(\"Agent's objection\") + dd")).to_have_text(f"“{objection}”")
        expect(question_block(lead, questions["amount"].text).get_by_text("Agent's objection")).to_have_count(0)
        screenshot(lead, "journey-qa-lead-deciding-1280")
        # The code stands corrected, but the amount was wrong after all and the letter stays poor.
        question_block(lead, questions["code"].text).get_by_label("Yes").check()
        question_block(lead, questions["amount"].text).get_by_label("No").check()
        question_block(lead, questions["letter"].text).get_by_label(re.compile("Score")).select_option("2")
        lead.get_by_label("Reason (required)").fill("The code was right after the second letter; "
                                                    "the refund amount missed the fee.")
        lead.get_by_role("button", name="Re-score with the answers above").click()
        expect(lead.get_by_text(re.compile(r"Re-scored: 54\.17"))).to_be_visible()
        rescored = Evaluation.objects.get(replaces=evaluation)
        assert (rescored.passed, rescored.evaluator) == (False, quinn)
        evaluation.refresh_from_db()
        assert evaluation.status == EvaluationStatus.RESCORED

        # 5. The re-score fails too, so the item goes back as rework — decided by someone who did
        # not score it: Quinn scored the re-score, Dana (Amelia's supervisor) sends it back.
        expect(lead.get_by_role("button", name="Send back as rework")).to_have_count(0)
        lead.goto(f"/quality/evaluations/{evaluation.pk}/")  # the replaced one no longer decides
        expect(lead.get_by_text(re.compile(rf"Re-scored by Quinn Lee: see #{rescored.pk}"))).to_be_visible()
        expect(lead.get_by_role("button", name="Send back as rework")).to_have_count(0)
        supervisor.goto("/quality/")
        supervisor.get_by_role("region", name="Your teams' recent evaluations").get_by_role(
            "link", name=f"#{rescored.pk}").click()
        expect(supervisor.get_by_text(re.compile(r"Score 54\.17 · failed"))).to_be_visible()
        supervisor.get_by_role("button", name="Send back as rework").click()
        expect(supervisor.get_by_text(re.compile(r"Rework item #\d+ is waiting in Chargebacks"))).to_be_visible()
        screenshot(supervisor, "journey-qa-supervisor-rework-1280")
        rescored.refresh_from_db()
        rework = rescored.rework_item
        assert rework is not None and rework.status == ItemStatus.QUEUED and rework.queue == chargebacks
        clock.move_to(WEDNESDAY_MORNING + timedelta(hours=3))
        work.goto("/work/")
        expect(work.get_by_role("button", name=re.compile("Get next work"))).to_be_enabled()
        work.keyboard.press("n")
        expect(work).to_have_url(re.compile(f"/work/items/{rework.pk}/$"))
        expect(work.get_by_role("heading", level=1)).to_have_text(f"#{rework.pk} Rework: {sampled.title}")
        screenshot(work, "journey-qa-agent-rework-1280")
        rework.refresh_from_db()
        assert (rework.assignee_id, rework.status) == (amelia.pk, ItemStatus.ASSIGNED)

        # 6. After the rollup job, the first-pass yield of Tuesday drops: one of two sent back.
        reporting_tasks.rollups_update()
        assert first_pass_yield(supervisor) == "50.0 %"
        screenshot(supervisor, "journey-qa-history-first-pass-1280")

        # 7. A calibration session on the item judges the evaluators, never the agent.
        lead.goto(f"/quality/calibrations/new/?item={sampled.pk}")
        lead.get_by_label("Evaluation form").select_option(label=form.name)
        for evaluator in (eva, finn):
            lead.get_by_label(re.compile(evaluator.username)).check()
        lead.get_by_role("button", name="Start calibration").click()
        expect(lead.get_by_text(re.compile("Calibration started"))).to_be_visible()
        calibration = list(Evaluation.objects.filter(source=EvaluationSource.CALIBRATION))
        assert {e.evaluator for e in calibration} == {eva, finn} and {e.agent for e in calibration} == {amelia.user}
        eva_part = next(e for e in calibration if e.evaluator == eva)
        services.evaluation_submit(evaluation_id=eva_part.pk, actor=eva, answers={
            questions["code"].pk: "yes", questions["amount"].pk: "no", questions["letter"].pk: "3"})
        work.goto("/quality/")
        listed = work.get_by_role("region", name="Evaluations of my work").get_by_role("link", name=re.compile("^#"))
        expect(listed).to_have_text([f"#{rescored.pk}", f"#{evaluation.pk}"])
        screenshot(work, "journey-qa-agent-after-calibration-1280")
        api = work.request.get("/api/v1/quality/evaluations/")
        assert api.ok
        ids = {row["id"] for row in api.json()["results"]}
        assert ids == {evaluation.pk, rescored.pk}
        assert work.request.get(f"/quality/evaluations/{eva_part.pk}/").status in (403, 404)
        assert WorkItem.objects.filter(source=services.REWORK_SOURCE).count() == 1
