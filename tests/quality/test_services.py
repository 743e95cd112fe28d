"""Quality services: form versions, scoring an evaluation, sampling."""

from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from core import roles
from core.exceptions import DomainError, InvalidInput, PermissionDenied
from quality import services
from quality.models import (
    Evaluation,
    EvaluationSource,
    EvaluationStatus,
    Question,
)
from tests import factories
from tests.helpers import at_the_same_time

pytestmark = pytest.mark.django_db


# Versions -----------------------------------------------------------------------------------------

def test_a_version_in_use_is_never_edited_in_place(queue, agent, client):
    form, v1, (_right, _, _) = factories.form_with_questions()
    assert services.form_version_for_editing(form=form, actor=agent.user) == v1  # not used yet: edit in place
    evaluator = factories.UserFactory()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=v1)
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
    _form, version, (right, evidence, tone) = factories.form_with_questions()
    evaluator = factories.UserFactory()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=version)
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
    _, version, (right, _, _) = factories.form_with_questions()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, version=version)
    with pytest.raises(PermissionDenied):
        services.evaluation_save(evaluation_id=evaluation.pk, actor=agent.user, answers={right.pk: "yes"})


# Sampling ---------------------------------------------------------------------------------------

START = date(2026, 6, 1)


def at(day: date, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_sampling_rates_hold_over_many_periods(queue, team):
    form, _, _ = factories.form_with_questions()
    evaluators = [factories.UserFactory() for _ in range(3)]
    factories.SamplingRuleFactory(queue=queue, form=form, share_percent=25, new_agent_days=30,
                                  new_agent_share_percent=60, evaluators=evaluators)
    veteran = factories.AgentFactory(team=team, user__date_joined=at(START - timedelta(days=400)))
    newcomer = factories.AgentFactory(team=team, user__date_joined=at(START - timedelta(days=5)))
    days = 60
    for n in range(days):
        day = START + timedelta(days=n)
        for _ in range(10):
            factories.CompletedItemFactory(queue=queue, completed_by=veteran.user, closed_at=at(day))
            factories.CompletedItemFactory(queue=queue, completed_by=newcomer.user, closed_at=at(day))
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
    form, version, _ = factories.form_with_questions()
    agent = factories.AgentFactory(team=team)
    colleague = factories.AgentFactory(team=team)
    # The agent evaluates others, never itself.
    factories.SamplingRuleFactory(queue=queue, form=form, count=1, extra_after_fail=2,
                                  evaluators=[agent.user, colleague.user])
    day = START
    earlier = factories.CompletedItemFactory(queue=queue, completed_by=agent.user,
                                             closed_at=at(day - timedelta(days=3)))
    factories.EvaluationFactory(item=earlier, evaluator=colleague.user, version=version,
                                status=EvaluationStatus.SUBMITTED, score=Decimal("40"), passed=False,
                                submitted_at=at(day - timedelta(days=2)))
    for _ in range(6):
        factories.CompletedItemFactory(queue=queue, completed_by=agent.user, closed_at=at(day))
        factories.CompletedItemFactory(queue=queue, completed_by=colleague.user, closed_at=at(day))
    services.samples_draw(day=day)
    sampled = Evaluation.objects.filter(source=EvaluationSource.SAMPLING)
    assert sampled.filter(agent=agent.user).count() == 3  # 1 + 2 after the failed evaluation
    assert sampled.filter(agent=colleague.user).count() == 1
    assert set(sampled.filter(agent=agent.user).values_list("evaluator_id", flat=True)) == {colleague.pk}
    assert set(sampled.filter(agent=colleague.user).values_list("evaluator_id", flat=True)) == {agent.pk}


def test_drawing_again_draws_nothing_more(queue, team):
    form, _, _ = factories.form_with_questions()
    factories.SamplingRuleFactory(queue=queue, form=form, share_percent=50, evaluators=[factories.UserFactory()])
    agent = factories.AgentFactory(team=team)
    for _ in range(8):
        factories.CompletedItemFactory(queue=queue, completed_by=agent.user, closed_at=at(START))
    first = services.samples_draw(day=START)
    again = services.samples_draw(day=START)
    assert first.created == 4 and again.created == 0 and again.already_drawn == 4
    assert Evaluation.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_draws_sample_each_item_once(role_groups, team):
    queue = factories.QueueFactory(teams=[team])
    form, _, _ = factories.form_with_questions()
    rule = factories.SamplingRuleFactory(queue=queue, form=form, share_percent=30,
                                         evaluators=[factories.UserFactory() for _ in range(2)])
    agents = [factories.AgentFactory(team=team) for _ in range(5)]
    for agent in agents:
        for _ in range(20):
            factories.CompletedItemFactory(queue=queue, completed_by=agent.user, closed_at=at(START))
    at_the_same_time(lambda: services.samples_draw(day=START))
    sampled = Evaluation.objects.filter(sampling_rule=rule)
    assert sampled.count() == 5 * 6  # 30 % of 20 for each agent, once
    assert sampled.values("item_id").distinct().count() == sampled.count()
