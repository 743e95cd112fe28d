"""The evaluation workflow: acknowledge, dispute, uphold, re-score (history kept), rework,
calibration with blind results."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from allocation.models import WorkItem
from core import roles
from core.exceptions import DomainError, InvalidInput, PermissionDenied
from core.models import Notification
from quality import selectors, services, transitions
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(queue, agent):
    _form, version, questions = factories.form_with_questions()
    evaluator = factories.UserFactory(username="evaluator", roles=[roles.QUALITY_EVALUATOR])
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=version)
    right, evidence, tone = questions
    services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                               answers={right.pk: "no", evidence.pk: "yes", tone.pk: "3"})
    evaluation.refresh_from_db()
    return evaluation, questions


def test_the_agent_acknowledges(scored, agent):
    evaluation, _ = scored
    assert evaluation.score == Decimal("37.50") and evaluation.passed is False  # (0 + 100 + 50) / 4
    with pytest.raises(PermissionDenied):
        services.evaluation_acknowledge(evaluation_id=evaluation.pk, actor=evaluation.evaluator)
    done = services.evaluation_acknowledge(evaluation_id=evaluation.pk, actor=agent.user)
    assert done.status == EvaluationStatus.ACKNOWLEDGED
    with pytest.raises(DomainError, match="acknowledged, so it cannot be disputed"):
        services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="late")


def test_dispute_then_a_quality_lead_rescores_keeping_history(scored, agent):
    evaluation, (right, evidence, tone) = scored
    with pytest.raises(InvalidInput, match="Say what you dispute"):
        services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user)
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="See the notes",
                                question_comments={right.pk: "10.4 was the right code: see the network letter"})
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.DISPUTED
    assert evaluation.answers.get(question=right).dispute_comment.startswith("10.4 was the right code")
    with pytest.raises(PermissionDenied):
        services.evaluation_rescore(evaluation_id=evaluation.pk, actor=agent.user, answers={}, reason="mine")
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    new = services.evaluation_rescore(evaluation_id=evaluation.pk, actor=lead, reason="Agent was right",
                                      answers={right.pk: "yes", evidence.pk: "yes", tone.pk: "3"})
    assert new.replaces_id == evaluation.pk and new.source == EvaluationSource.RESCORE
    assert new.score == Decimal("87.50") and new.passed is True  # (200 + 100 + 50) / 4
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.RESCORED and evaluation.score == Decimal("37.50")  # kept
    assert list(selectors.evaluations_received(agent.user)) == [new, evaluation]


def test_a_dispute_objects_only_to_the_evaluations_own_answers(agent):
    submitted = factories.EvaluationFactory(item__completed_by=agent.user, status=EvaluationStatus.SUBMITTED,
                                            score=Decimal("0"), passed=False, submitted_at=timezone.now())
    answered = factories.AnswerFactory(evaluation=submitted, value="no")
    elsewhere = factories.QuestionFactory()  # of another form
    with pytest.raises(InvalidInput, match="Dispute only answered questions") as refused:
        services.evaluation_dispute(evaluation_id=submitted.pk, actor=agent.user, comment="Unfair",
                                    question_comments={answered.question_id: "It was right", elsewhere.pk: "And this"})
    assert refused.value.fields == {f"question_{elsewhere.pk}": ["Not answered in this evaluation."]}
    assert Evaluation.objects.get(pk=submitted.pk).status == EvaluationStatus.SUBMITTED
    answered.refresh_from_db()
    assert answered.dispute_comment == ""


def test_answers_are_to_the_evaluations_own_version(scored, queue, agent):
    evaluation, (right, _, _) = scored
    to_score = factories.EvaluationFactory(item__queue=queue, item__completed_by=agent.user,
                                           evaluator=evaluation.evaluator, version=evaluation.version)
    elsewhere = factories.QuestionFactory()  # of another form
    with pytest.raises(InvalidInput) as refused:
        services.evaluation_save(evaluation_id=to_score.pk, actor=evaluation.evaluator,
                                 answers={right.pk: "yes", elsewhere.pk: "yes"})
    assert refused.value.fields == {f"question_{elsewhere.pk}": ["Not a question of this form version."]}
    assert not to_score.answers.exists()


def test_uphold_needs_a_reason_and_a_quality_lead(scored, agent):
    evaluation, _ = scored
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="unfair")
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    with pytest.raises(InvalidInput):
        services.evaluation_uphold(evaluation_id=evaluation.pk, actor=lead, reason=" ")
    upheld = services.evaluation_uphold(evaluation_id=evaluation.pk, actor=lead, reason="Procedure 4.2")
    assert upheld.status == EvaluationStatus.UPHELD and upheld.resolved_by == lead


# Who decides (transitions.may_decide, the one rule): a quality lead or a supervisor of the
# agent's team — never whoever scored the evaluation, never the agent on its own work.
def test_a_quality_lead_or_the_agents_supervisor_decides_never_the_scorer_nor_the_agent(scored, agent, team):
    evaluation, _ = scored
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="unfair")
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    other_supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    factories.TeamFactory().supervisors.add(other_supervisor)
    scorer = evaluation.evaluator
    scorer.groups.add(Group.objects.get(name=roles.QUALITY_LEAD), Group.objects.get(name=roles.SUPERVISOR))
    team.supervisors.add(scorer)
    scorer = type(scorer).objects.get(pk=scorer.pk)  # roles are read once per user object
    agent.user.groups.add(Group.objects.get(name=roles.QUALITY_LEAD), Group.objects.get(name=roles.SUPERVISOR))
    team.supervisors.add(agent.user)
    own_work = type(agent.user).objects.get(pk=agent.pk)
    for refused in (other_supervisor, scorer, own_work, factories.AgentFactory(team=team).user):
        with pytest.raises(PermissionDenied, match="never whoever scored it, and nobody on their own work"):
            services.evaluation_uphold(evaluation_id=evaluation.pk, actor=refused, reason="Procedure 4.2")
        assert not transitions.may_decide(refused, evaluation)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    admin = factories.UserFactory(roles=[roles.ADMIN])
    assert transitions.may_decide(lead, evaluation) and transitions.may_decide(admin, evaluation)
    assert transitions.may_decide(supervisor, evaluation)
    upheld = services.evaluation_uphold(evaluation_id=evaluation.pk, actor=supervisor, reason="Procedure 4.2")
    assert upheld.status == EvaluationStatus.UPHELD and upheld.resolved_by == supervisor


def test_the_agents_supervisor_rescores(scored, agent, team):
    evaluation, (right, evidence, tone) = scored
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user,
                                question_comments={right.pk: "10.4 was right"})
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    new = services.evaluation_rescore(evaluation_id=evaluation.pk, actor=supervisor, reason="Letter proves it",
                                      answers={right.pk: "yes", evidence.pk: "yes", tone.pk: "3"})
    assert (new.evaluator, new.replaces_id, new.score) == (supervisor, evaluation.pk, Decimal("87.50"))
    assert Evaluation.objects.get(pk=evaluation.pk).resolved_by == supervisor


def test_a_dispute_tells_whoever_decides_in_its_transaction(scored, agent, team):
    evaluation, (right, _, _) = scored
    supervisor = factories.UserFactory(username="sup-a", roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    lead = factories.UserFactory(username="qa-lead", roles=[roles.QUALITY_LEAD])
    factories.UserFactory(username="away-lead", roles=[roles.QUALITY_LEAD], is_active=False)
    other_supervisor = factories.UserFactory(username="sup-b", roles=[roles.SUPERVISOR])
    factories.TeamFactory().supervisors.add(other_supervisor)
    factories.UserFactory(username="admin", roles=[roles.ADMIN])
    evaluation.evaluator.groups.add(Group.objects.get(name=roles.QUALITY_LEAD))  # scored it: not told
    with pytest.raises(InvalidInput):  # a dispute refused tells nobody
        services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment=" ")
    assert not Notification.objects.exists()
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="See the letter",
                                question_comments={right.pk: "10.4 was right"})
    told = Notification.objects.filter(kind=services.DISPUTE_NOTIFICATION_KIND)
    assert sorted(told.values_list("user__username", flat=True)) == ["qa-lead", "sup-a"]
    note = told.get(user=lead)
    assert note.title == f"Dispute to decide: evaluation #{evaluation.pk}"
    assert note.url == reverse("quality:evaluation", args=[evaluation.pk])
    assert "“See the letter”" in note.body and "score 37.50" in note.body


def test_the_admins_hear_of_a_dispute_nobody_else_may_decide(scored, agent):
    evaluation, _ = scored
    admin = factories.UserFactory(roles=[roles.ADMIN])
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="unfair")
    assert list(Notification.objects.values_list("user", flat=True)) == [admin.pk]


def test_a_failed_evaluation_creates_one_linked_rework_item(scored):
    evaluation, _ = scored
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    first = services.evaluation_rework(evaluation_id=evaluation.pk, actor=lead)
    again = services.evaluation_rework(evaluation_id=evaluation.pk, actor=lead)
    rework = WorkItem.objects.get(source=services.REWORK_SOURCE)
    assert first.rework_item == again.rework_item == rework
    assert rework.queue_id == evaluation.item.queue_id and rework.status == "queued"
    assert rework.customer_ref == evaluation.item.customer_ref
    assert rework.payload["rework_of_item"] == evaluation.item_id


def test_a_re_scored_evaluation_sends_no_rework_its_re_score_decides(scored, agent, client):
    evaluation, (right, evidence, tone) = scored
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="See the notes")
    lead, other_lead = (factories.UserFactory(roles=[roles.QUALITY_LEAD]) for _ in range(2))
    new = services.evaluation_rescore(evaluation_id=evaluation.pk, actor=lead, reason="Agent was right",
                                      answers={right.pk: "yes", evidence.pk: "yes", tone.pk: "3"})
    assert new.passed is True
    # The replaced evaluation failed, but it no longer stands: the item passed.
    with pytest.raises(DomainError, match="re-scored"):
        services.evaluation_rework(evaluation_id=evaluation.pk, actor=other_lead)
    client.force_login(other_lead)
    page = client.get(reverse("quality:evaluation", args=[evaluation.pk])).content.decode()
    assert "Re-scored" in page and "Send back as rework" not in page
    assert not WorkItem.objects.filter(source=services.REWORK_SOURCE).exists()


def test_calibration_is_blind_until_you_submit(queue, agent):
    form, _version, (right, evidence, tone) = factories.form_with_questions()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    a, b, c = (factories.UserFactory(username=name, roles=[roles.QUALITY_EVALUATOR]) for name in ("ann", "bob", "cy"))
    with pytest.raises(InvalidInput, match="at least two"):
        services.calibration_start(item_id=item.pk, form=form, evaluator_ids=[a.pk, agent.pk], actor=lead)
    session = services.calibration_start(item_id=item.pk, form=form, evaluator_ids=[a.pk, b.pk, c.pk],
                                         actor=lead)
    mine = {e.evaluator_id: e for e in session.evaluations.all()}
    services.evaluation_submit(evaluation_id=mine[a.pk].pk, actor=a,
                               answers={right.pk: "yes", evidence.pk: "yes", tone.pk: "5"})
    with pytest.raises(PermissionDenied, match="once you have submitted"):
        selectors.calibration_result(user=b, session_id=session.pk)
    services.evaluation_submit(evaluation_id=mine[b.pk].pk, actor=b,
                               answers={right.pk: "yes", evidence.pk: "no", tone.pk: "3"})
    services.evaluation_submit(evaluation_id=mine[c.pk].pk, actor=c,
                               answers={right.pk: "yes", evidence.pk: "na", tone.pk: "1"})
    result = selectors.calibration_result(user=b, session_id=session.pk)
    # scores: ann (200+100+100)/4 = 100; bob (200+0+50)/4 = 62.5; cy (200+0)/3 = 66.67
    assert result.submitted == 3 and result.spread.minimum == 62.5 and result.spread.maximum == 100
    assert result.agreement[right.pk].percent_agreement == 1
    assert result.agreement[tone.pk].percent_agreement == 0
    assert result.kappa is not None
    assert selectors.calibration_result(user=lead, session_id=session.pk).submitted == 3
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    with pytest.raises(PermissionDenied):
        selectors.calibration_result(user=supervisor, session_id=session.pk)


def test_calibration_is_run_by_quality_leads_with_quality_evaluators(queue, agent):
    form, _version, _questions = factories.form_with_questions()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluators = [factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]) for _ in range(2)]
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    with pytest.raises(PermissionDenied, match="Only quality leads"):
        services.calibration_start(item_id=item.pk, form=form, evaluator_ids=[e.pk for e in evaluators],
                                   actor=supervisor)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    with pytest.raises(InvalidInput, match="Only quality evaluators and quality leads") as refused:
        services.calibration_start(item_id=item.pk, form=form, evaluator_ids=[evaluators[0].pk, supervisor.pk],
                                   actor=lead)
    assert refused.value.fields == {"evaluators": [f"Not a quality evaluator or lead: user #{supervisor.pk}."]}


def test_first_pass_yield_and_rework_rate_count_rework(scored, queue, agent):
    from datetime import timedelta

    evaluation, _ = scored
    for _ in range(3):
        factories.CompletedItemFactory(queue=queue, completed_by=agent.user)  # 4 completed originals in all
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    services.evaluation_rework(evaluation_id=evaluation.pk, actor=lead)
    window = {"since": timezone.now() - timedelta(hours=1), "until": timezone.now() + timedelta(hours=1)}
    result = selectors.first_pass(**window)
    assert (result.completed, result.reworked, result.rework_items) == (4, 1, 1)
    assert result.first_pass_yield == 0.75 and result.rework_rate == 0.25
    assert selectors.first_pass(**window, queue_ids=[0]).first_pass_yield is None
