"""One definition of a standing evaluation (`Evaluation.objects.standing()`): scored, not
replaced by a re-score, not a calibration. Every quality figure counts it: the form's
results by version, the rollups behind history and scorecards, the customer journey's QA
results, risk-based sampling."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from allocation.models import WorkItem
from core import roles
from quality import services
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from quality.selectors import form_results_by_version
from reporting import rollups
from reporting.history import Scope, history
from reporting.selectors import customer_journey_report
from tests import factories
from tests.reporting.builder import Life, item_write

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 10)  # the work was completed that day; the reports are read two days later
NOW = datetime(2026, 3, 12, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def clock():
    with override_settings(TIME_ZONE="UTC"), time_machine.travel(NOW, tick=False):
        yield


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def history_of_evaluations(clock, queue, agent, team):
    """Four items the agent completed on DAY, for one customer, and their evaluations, made
    through the services:

    1. acknowledged, 100; also calibrated by two evaluators, 0 and 31.25;
    2. failed at 37.5, disputed, re-scored by a quality lead to 93.75;
    3. 87.5, disputed, upheld;
    4. assigned, never scored.
    Standing: 100, 93.75, 87.5 — average 93.75, all passed (pass mark 80). Counting every
    scored one instead gives 58.33 and half passed.
    """
    form, version, questions = factories.form_with_questions()

    def answers(*values: str) -> dict[int, str]:
        return {question.pk: value for question, value in zip(questions, values, strict=True)}

    def score(evaluation_id: int, evaluator, *values: str) -> None:
        services.evaluation_submit(evaluation_id=evaluation_id, actor=evaluator, answers=answers(*values))

    ann, bob = (factories.UserFactory(username=name, roles=[roles.QUALITY_EVALUATOR]) for name in ("ann", "bob"))
    lead = factories.UserFactory(username="qa-lead", roles=[roles.QUALITY_LEAD])
    items = [
        item_write(Life(queue, at(8), at(17), agent, [(at(9 + n), at(9 + n, 20))], completed=at(9 + n, 20)))[0]
        for n in range(4)
    ]
    WorkItem.objects.filter(pk__in=[item.pk for item in items]).update(customer_ref="CUST-QA")
    first, second, third, fourth = (
        factories.EvaluationFactory(item=item, agent=agent.user, evaluator=ann, version=version,
                                    source=EvaluationSource.SAMPLING)
        for item in items
    )
    score(first.pk, ann, "yes", "yes", "5")
    services.evaluation_acknowledge(evaluation_id=first.pk, actor=agent.user)
    session = services.calibration_start(item_id=items[0].pk, form=form, evaluator_ids=[ann.pk, bob.pk], actor=lead)
    score(session.evaluations.get(evaluator=ann).pk, ann, "no", "no", "1")
    score(session.evaluations.get(evaluator=bob).pk, bob, "no", "yes", "2")
    score(second.pk, ann, "no", "yes", "3")
    services.evaluation_dispute(evaluation_id=second.pk, actor=agent.user, comment="The letter proves it")
    rescored = services.evaluation_rescore(evaluation_id=second.pk, actor=lead, reason="Agent was right",
                                           answers=answers("yes", "yes", "4"))
    score(third.pk, ann, "yes", "yes", "3")
    services.evaluation_dispute(evaluation_id=third.pk, actor=agent.user, comment="Tone was fine")
    services.evaluation_uphold(evaluation_id=third.pk, actor=lead, reason="Procedure 4.2")
    assert [e.score for e in Evaluation.objects.exclude(pk=fourth.pk).order_by("pk")] == [
        Decimal("100.00"), Decimal("37.50"), Decimal("87.50"), Decimal("0.00"), Decimal("31.25"),
        Decimal("93.75")]
    return {"form": form, "lead": lead, "items": items, "standing": [first, rescored, third]}


def test_the_standing_evaluations(history_of_evaluations):
    assert set(Evaluation.objects.standing()) == set(history_of_evaluations["standing"])


def test_the_form_page_counts_the_standing_evaluations(client, history_of_evaluations):
    form = history_of_evaluations["form"]
    [version] = form_results_by_version(form)
    assert (version.evaluations, version.scored, version.average, version.pass_rate) == (3, 3, 93.75, 1.0)
    client.force_login(history_of_evaluations["lead"])
    page = client.get(reverse("quality:form", args=[form.pk])).content.decode()
    results = page[page.index("Results by version"):]
    assert ">3</td>" in results and "93.8" in results and "100 %" in results


def test_the_form_page_history_and_scorecard_agree(client, history_of_evaluations, agent):
    rollups.rollups_update()
    [version] = form_results_by_version(history_of_evaluations["form"])
    report = history(Scope(since=DAY, until=DAY))
    assert (report.total.qa_count, report.total.qa_average) == (version.scored, version.average) == (3, 93.75)
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    api = APIClient()
    api.force_authenticate(supervisor)
    total = api.get(reverse("report-history"), {"since": DAY, "until": DAY}).json()["total"]
    assert (total["qa_count"], total["qa_average"]) == (3, 93.75)
    client.force_login(agent.user)
    card = client.get(reverse("reports:scorecard", args=[agent.pk])).context["card"]
    assert (card.qa_count, card.qa_average) == (3, 93.75)


def test_the_customer_journey_shows_the_standing_results(history_of_evaluations):
    items = customer_journey_report(customer_ref="CUST-QA")
    assert [[e.score for e in item.evaluations_done] for item in items] == [
        [Decimal("100.00")], [Decimal("93.75")], [Decimal("87.50")], []]


START = date(2026, 6, 1)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.mark.parametrize("overturned", ["calibration", "rescored"])
def test_sampling_adds_no_extra_items_for_a_failure_that_does_not_stand(queue, team, overturned):
    """The agent's last standing evaluation before the period passed; a later calibration
    score, or a failure re-scored to a pass after the period began, is no reason to sample
    more."""
    form, version, _ = factories.form_with_questions()
    agent, colleague = factories.AgentFactory(team=team), factories.AgentFactory(team=team)
    factories.SamplingRuleFactory(queue=queue, form=form, count=1, extra_after_fail=2, evaluators=[colleague.user])

    def evaluation(days_before: int, score: str, **fields) -> Evaluation:
        item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user,
                                              closed_at=noon(START - timedelta(days=days_before + 1)))
        fields.setdefault("status", EvaluationStatus.SUBMITTED)
        return factories.EvaluationFactory(item=item, evaluator=colleague.user, version=version,
                                           score=Decimal(score), passed=Decimal(score) >= 80,
                                           submitted_at=noon(START - timedelta(days=days_before)), **fields)

    evaluation(3, "90")
    if overturned == "calibration":
        evaluation(2, "10", source=EvaluationSource.CALIBRATION)
    else:
        failed = evaluation(2, "40", status=EvaluationStatus.RESCORED)
        factories.EvaluationFactory(item=failed.item, evaluator=colleague.user, version=version,
                                    source=EvaluationSource.RESCORE, replaces=failed, status=EvaluationStatus.SUBMITTED,
                                    score=Decimal("95"), passed=True, submitted_at=noon(START) + MIN)
    for _ in range(4):
        factories.CompletedItemFactory(queue=queue, completed_by=agent.user, closed_at=noon(START))
    services.samples_draw(day=START)
    assert Evaluation.objects.filter(source=EvaluationSource.SAMPLING, agent=agent.user).count() == 1
