"""Quality services: form versions, scoring an evaluation, sampling."""

from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from allocation.models import ItemStatus
from quality import services
from quality.models import (
    Evaluation,
    EvaluationForm,
    EvaluationSource,
    EvaluationStatus,
    FormSection,
    Question,
    SamplingRule,
)
from tests import factories
from tests.helpers import at_the_same_time
from wfo import roles
from wfo.exceptions import DomainError, InvalidInput, PermissionDenied

pytestmark = pytest.mark.django_db


def form_with_questions(name="Chargeback handling"):
    form = EvaluationForm.objects.create(name=name, pass_mark=Decimal("80"))
    version = services.form_version_for_editing(form=form, actor=factories.UserFactory())
    section = FormSection.objects.create(version=version, title="Accuracy")
    right = Question.objects.create(section=section, text="Right reason code?", weight=2)
    evidence = Question.objects.create(section=section, text="Evidence attached?", weight=1, allow_na=True)
    tone = Question.objects.create(section=section, text="Letter tone", kind="scale", scale_min=1, scale_max=5,
                                   weight=1)
    return form, version, (right, evidence, tone)


def completed_item(queue, agent_user, closed_at):
    return factories.WorkItemFactory(queue=queue, status=ItemStatus.COMPLETED, completed_by=agent_user,
                                     closed_at=closed_at, outcome="done")


# Versions -----------------------------------------------------------------------------------------

def test_a_version_in_use_is_never_edited_in_place(queue, agent, client):
    form, v1, (_right, _, _) = form_with_questions()
    assert services.form_version_for_editing(form=form, actor=agent.user) == v1  # not used yet: edit in place
    evaluator = factories.UserFactory()
    item = completed_item(queue, agent.user, timezone.now())
    evaluation = Evaluation.objects.create(item=item, agent=agent.user, evaluator=evaluator, version=v1,
                                           source=EvaluationSource.MANUAL)
    v2 = services.form_version_for_editing(form=form, actor=agent.user, note="clearer wording")
    assert (v2.number, v2.note) == (2, "clearer wording")
    copied = Question.objects.filter(section__version=v2)
    assert [q.text for q in copied] == [q.text for q in Question.objects.filter(section__version=v1)]
    assert not set(copied.values_list("pk", flat=True)) & set(
        Question.objects.filter(section__version=v1).values_list("pk", flat=True)
    )
    evaluation.refresh_from_db()
    assert evaluation.version == v1
    admin = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    client.force_login(admin)
    url = reverse("admin:quality_formversion_change", args=[v1.pk])
    assert client.post(url, {"note": "sneaky"}).status_code == 403
    assert client.get(reverse("admin:quality_formversion_change", args=[v2.pk])).status_code == 200


# Scoring an evaluation ---------------------------------------------------------------------------

def test_evaluator_drafts_then_submits_and_the_score_is_fixed(queue, agent):
    _form, version, (right, evidence, tone) = form_with_questions()
    evaluator = factories.UserFactory()
    item = completed_item(queue, agent.user, timezone.now())
    evaluation = Evaluation.objects.create(item=item, agent=agent.user, evaluator=evaluator, version=version,
                                           source=EvaluationSource.MANUAL)
    draft = services.evaluation_save(evaluation_id=evaluation.pk, actor=evaluator, answers={right.pk: "yes"})
    assert draft.status == EvaluationStatus.DRAFT and draft.score is None
    with pytest.raises(InvalidInput) as missing:
        services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator, answers={right.pk: "yes"})
    assert set(missing.value.fields) == {f"question_{evidence.pk}", f"question_{tone.pk}"}
    with pytest.raises(InvalidInput) as bad:
        services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                                   answers={right.pk: "yes", evidence.pk: "na", tone.pk: "9"})
    assert bad.value.fields == {f"question_{tone.pk}": ["Answer from 1 to 5."]}
    done = services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                                      answers={right.pk: "yes", evidence.pk: "na", tone.pk: "4"})
    # (2×100 + 1×75) / 3 = 91.67 ≥ 80
    assert (done.score, done.passed, done.status) == (Decimal("91.67"), True, EvaluationStatus.SUBMITTED)
    with pytest.raises(DomainError, match="already submitted"):
        services.evaluation_save(evaluation_id=evaluation.pk, actor=evaluator, answers={right.pk: "no"})


def test_only_the_assigned_evaluator_scores(queue, agent):
    _, version, (right, _, _) = form_with_questions()
    item = completed_item(queue, agent.user, timezone.now())
    evaluation = Evaluation.objects.create(item=item, agent=agent.user, evaluator=factories.UserFactory(),
                                           version=version, source=EvaluationSource.MANUAL)
    with pytest.raises(PermissionDenied):
        services.evaluation_save(evaluation_id=evaluation.pk, actor=agent.user, answers={right.pk: "yes"})


# Sampling ---------------------------------------------------------------------------------------

START = date(2026, 6, 1)


def at(day: date, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_sampling_rates_hold_over_many_periods(queue, team):
    form, _, _ = form_with_questions()
    evaluators = [factories.UserFactory() for _ in range(3)]
    rule = SamplingRule.objects.create(queue=queue, form=form, share_percent=25, new_agent_days=30,
                                       new_agent_share_percent=60)
    rule.evaluators.set(evaluators)
    veteran = factories.AgentFactory(team=team, user__date_joined=at(START - timedelta(days=400)))
    newcomer = factories.AgentFactory(team=team, user__date_joined=at(START - timedelta(days=5)))
    days = 60
    for n in range(days):
        day = START + timedelta(days=n)
        for _ in range(10):
            completed_item(queue, veteran.user, at(day))
            completed_item(queue, newcomer.user, at(day))
    for n in range(days):
        services.samples_draw(day=START + timedelta(days=n), seed=7)
    drawn = Counter(Evaluation.objects.values_list("agent_id", flat=True))
    # 25 % of 10 a day = 2.5 on average: 150 over 60 days; the newcomer (joined 5 days before) is at
    # 60 % (6 a day) until day 25, then at 25 %: 25 × 6 + 35 × 2.5 = 237.5.
    assert abs(drawn[veteran.pk] - 150) <= 15
    assert abs(drawn[newcomer.pk] - 237.5) <= 15
    per_evaluator = Counter(Evaluation.objects.values_list("evaluator_id", flat=True))
    assert max(per_evaluator.values()) - min(per_evaluator.values()) <= 1  # spread by workload
    assert not Evaluation.objects.filter(evaluator_id=F("agent_id")).exists()


def test_never_own_work_and_extra_after_a_failed_evaluation(queue, team):
    form, version, _ = form_with_questions()
    agent = factories.AgentFactory(team=team)
    colleague = factories.AgentFactory(team=team)
    rule = SamplingRule.objects.create(queue=queue, form=form, count=1, extra_after_fail=2)
    rule.evaluators.set([agent.user, colleague.user])  # the agent evaluates others, never itself
    day = START
    earlier = completed_item(queue, agent.user, at(day - timedelta(days=3)))
    Evaluation.objects.create(item=earlier, agent=agent.user, evaluator=colleague.user, version=version,
                              source=EvaluationSource.MANUAL, status=EvaluationStatus.SUBMITTED,
                              score=Decimal("40"), passed=False, submitted_at=at(day - timedelta(days=2)))
    for _ in range(6):
        completed_item(queue, agent.user, at(day))
        completed_item(queue, colleague.user, at(day))
    services.samples_draw(day=day)
    sampled = Evaluation.objects.filter(source=EvaluationSource.SAMPLING)
    assert sampled.filter(agent=agent.user).count() == 3  # 1 + 2 after the failed evaluation
    assert sampled.filter(agent=colleague.user).count() == 1
    assert set(sampled.filter(agent=agent.user).values_list("evaluator_id", flat=True)) == {colleague.pk}
    assert set(sampled.filter(agent=colleague.user).values_list("evaluator_id", flat=True)) == {agent.pk}


def test_drawing_again_draws_nothing_more(queue, team):
    form, _, _ = form_with_questions()
    rule = SamplingRule.objects.create(queue=queue, form=form, share_percent=50)
    rule.evaluators.set([factories.UserFactory()])
    agent = factories.AgentFactory(team=team)
    for _ in range(8):
        completed_item(queue, agent.user, at(START))
    first = services.samples_draw(day=START)
    again = services.samples_draw(day=START)
    assert first.created == 4 and again.created == 0 and again.already_drawn == 4
    assert Evaluation.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_draws_sample_each_item_once(role_groups, team):
    queue = factories.QueueFactory(teams=[team])
    form, _, _ = form_with_questions()
    rule = SamplingRule.objects.create(queue=queue, form=form, share_percent=30)
    rule.evaluators.set([factories.UserFactory() for _ in range(2)])
    agents = [factories.AgentFactory(team=team) for _ in range(5)]
    for agent in agents:
        for _ in range(20):
            completed_item(queue, agent.user, at(START))
    at_the_same_time(lambda: services.samples_draw(day=START))
    sampled = Evaluation.objects.filter(sampling_rule=rule)
    assert sampled.count() == 5 * 6  # 30 % of 20 for each agent, once
    assert sampled.values("item_id").distinct().count() == sampled.count()
