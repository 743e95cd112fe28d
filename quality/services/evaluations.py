"""Evaluations: the evaluator's answers and score, the agent's acknowledgement or dispute,
the decision of a quality lead or the agent's supervisor (uphold, re-score as a new
evaluation), rework of failed work."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from allocation.actors import Actor, SystemActor
from quality import selectors
from quality.exceptions import EvaluationNotFound, IllegalEvaluationTransition, NotEvaluationParty
from quality.models import (
    OPEN_EVALUATION_STATUSES,
    Answer,
    Evaluation,
    EvaluationSource,
    EvaluationStatus,
    FormVersion,
    Question,
)
from quality.scoring import InvalidAnswer, ScoredQuestion, evaluation_score
from wfo import roles
from wfo.exceptions import InvalidInput
from wfo.services import NotificationDraft, notifications_create


def _scored(version: FormVersion) -> list[ScoredQuestion]:
    return [
        ScoredQuestion(id=q.pk, kind=q.kind, weight=q.weight, allow_na=q.allow_na, critical=q.critical,
                       scale_min=q.scale_min, scale_max=q.scale_max)
        for q in Question.objects.filter(section__version=version)
    ]


@transaction.atomic
def evaluation_save(
    *, evaluation_id: int, actor: Actor, answers: dict[int, str | None], comments: dict[int, str] | None = None,
    submit: bool = False,
) -> Evaluation:
    """Save the evaluator's answers (a draft), or submit them: the score is computed from
    the evaluation's own form version and fixed. Every bad answer is reported by question."""
    evaluation = Evaluation.objects.select_for_update().select_related("version__form").filter(
        pk=evaluation_id
    ).first()
    if evaluation is None:
        raise EvaluationNotFound(f"Evaluation #{evaluation_id} does not exist.")
    if isinstance(actor, SystemActor) or evaluation.evaluator_id != actor.pk:
        raise NotEvaluationParty("Only the evaluator it is assigned to can score this evaluation.")
    if evaluation.status not in OPEN_EVALUATION_STATUSES:
        raise IllegalEvaluationTransition(f"Evaluation #{evaluation.pk} was already submitted.")
    questions = _scored(evaluation.version)
    known = {q.id for q in questions}
    errors: dict[str, list[str]] = {}
    for question_id in answers:
        if question_id not in known:
            errors[f"question_{question_id}"] = ["Not a question of this form version."]
    try:
        score = evaluation_score(questions, answers)
    except InvalidAnswer as bad:
        errors[f"question_{bad.question_id}"] = [bad.message]
    if submit and not errors:
        unanswered = [q.id for q in questions if not answers.get(q.id)]
        errors.update({f"question_{qid}": ["Answer this question (or N/A where allowed)."] for qid in unanswered})
    if errors:
        raise InvalidInput("Some answers need attention; nothing was saved.", fields=errors)
    comments = comments or {}
    Answer.objects.filter(evaluation=evaluation).delete()
    Answer.objects.bulk_create(
        Answer(evaluation=evaluation, question_id=qid, value=value, comment=comments.get(qid, ""))
        for qid, value in answers.items() if value
    )
    if submit:
        evaluation.score = score.value
        evaluation.passed = score.passed(evaluation.version.form.pass_mark)
        evaluation.status = EvaluationStatus.SUBMITTED
        evaluation.submitted_at = timezone.now()
    else:
        evaluation.status = EvaluationStatus.DRAFT
    evaluation.save(update_fields=["score", "passed", "status", "submitted_at"])
    return evaluation


# The agent's answer, the decider's decision ----------------------------------------------------

REWORK_SOURCE = "quality-rework"
REWORKER = SystemActor("quality-rework")
DISPUTE_NOTIFICATION_KIND = "quality_dispute"


def _evaluation_lock(evaluation_id: int) -> Evaluation:
    evaluation = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("version__form", "item__queue", "agent__agent_profile")
        .filter(pk=evaluation_id).first()
    )
    if evaluation is None:
        raise EvaluationNotFound(f"Evaluation #{evaluation_id} does not exist.")
    return evaluation


def _require_agent(evaluation: Evaluation, actor: Actor) -> None:
    if isinstance(actor, SystemActor) or actor.pk != evaluation.agent_id:
        raise NotEvaluationParty("Only the agent whose work was evaluated can do this.")
    if evaluation.is_calibration:
        raise IllegalEvaluationTransition(
            f"Evaluation #{evaluation.pk} is part of a calibration session, which compares the evaluators: it is "
            "not the agent's to acknowledge or dispute."
        )


def _require_status(evaluation: Evaluation, allowed: tuple[str, ...], action: str) -> None:
    if evaluation.status not in allowed:
        raise IllegalEvaluationTransition(
            f"Evaluation #{evaluation.pk} is {evaluation.get_status_display().lower()}, so it cannot be {action}."
        )


@transaction.atomic
def evaluation_acknowledge(*, evaluation_id: int, actor: Actor) -> Evaluation:
    evaluation = _evaluation_lock(evaluation_id)
    _require_agent(evaluation, actor)
    _require_status(evaluation, (EvaluationStatus.SUBMITTED,), "acknowledged")
    evaluation.status = EvaluationStatus.ACKNOWLEDGED
    evaluation.save(update_fields=["status"])
    return evaluation


@transaction.atomic
def evaluation_dispute(
    *, evaluation_id: int, actor: Actor, comment: str = "", question_comments: dict[int, str] | None = None
) -> Evaluation:
    """The agent objects, overall and/or per question, with comments for whoever decides
    (`may_decide`); they are told once the dispute is saved."""
    evaluation = _evaluation_lock(evaluation_id)
    _require_agent(evaluation, actor)
    _require_status(evaluation, (EvaluationStatus.SUBMITTED,), "disputed")
    question_comments = {qid: text.strip() for qid, text in (question_comments or {}).items() if text.strip()}
    if not comment.strip() and not question_comments:
        raise InvalidInput("Say what you dispute.", fields={"comment": ["Comment on the evaluation or a question."]})
    answers = {a.question_id: a for a in evaluation.answers.all()}
    unknown = [qid for qid in question_comments if qid not in answers]
    if unknown:
        raise InvalidInput("Dispute only answered questions.",
                           fields={f"question_{qid}": ["Not answered in this evaluation."] for qid in unknown})
    for qid, text in question_comments.items():
        answers[qid].dispute_comment = text
    Answer.objects.bulk_update([answers[qid] for qid in question_comments], ["dispute_comment"])
    evaluation.status, evaluation.dispute_comment = EvaluationStatus.DISPUTED, comment.strip()
    evaluation.save(update_fields=["status", "dispute_comment"])
    # In the dispute's transaction: the deciders hear of it exactly when it stands.
    _deciders_notify(evaluation_id=evaluation.pk)
    return evaluation


def _agent_team_id(evaluation: Evaluation) -> int | None:
    try:
        return evaluation.agent.agent_profile.team_id
    except ObjectDoesNotExist:
        return None


def may_decide(actor: Actor, evaluation: Evaluation) -> bool:
    """Who decides a dispute, re-scores or sends rework: a quality lead (or an admin), or a
    supervisor of the evaluated agent's team — never whoever scored the evaluation, and
    never the agent on its own work."""
    if isinstance(actor, SystemActor) or actor.pk in (evaluation.agent_id, evaluation.evaluator_id):
        return False
    return roles.leads_quality(actor) or roles.is_supervisor_of(actor, team_id=_agent_team_id(evaluation))


def _require_decider(actor: Actor, evaluation: Evaluation) -> None:
    if not may_decide(actor, evaluation):
        raise NotEvaluationParty("Only a quality lead or a supervisor of the agent's team decides on an evaluation, "
                               "never whoever scored it, and nobody on their own work.")


def dispute_deciders(evaluation: Evaluation) -> list:
    """Who is told of a dispute: every quality lead and supervisor of the agent's team who
    may decide it; the admins only when nobody else may, so that no dispute waits unheard."""
    deciders = [user for user in selectors.quality_leads_and_supervisors(team_id=_agent_team_id(evaluation))
                if may_decide(user, evaluation)]
    return deciders or [user for user in selectors.admins() if may_decide(user, evaluation)]


def _deciders_notify(*, evaluation_id: int) -> None:
    evaluation = (Evaluation.objects.select_related("agent__agent_profile", "item", "version__form")
                  .filter(pk=evaluation_id, status=EvaluationStatus.DISPUTED).first())
    if evaluation is None:  # decided already
        return
    agent = evaluation.agent.get_full_name() or evaluation.agent.get_username()
    score = "no score" if evaluation.score is None else f"score {evaluation.score}"
    body = (f"{agent} disputes the evaluation of #{evaluation.item_id} {evaluation.item.title} "
            f"({evaluation.version}, {score}).")
    if evaluation.dispute_comment:
        body += f" “{evaluation.dispute_comment}”"
    title = f"Dispute to decide: evaluation #{evaluation.pk}"
    url = reverse("quality:evaluation", args=[evaluation.pk])
    notifications_create(drafts=[NotificationDraft(user.pk, DISPUTE_NOTIFICATION_KIND, title, body, url)
                                 for user in dispute_deciders(evaluation)])


@transaction.atomic
def evaluation_uphold(*, evaluation_id: int, actor: Actor, reason: str) -> Evaluation:
    evaluation = _evaluation_lock(evaluation_id)
    _require_decider(actor, evaluation)
    _require_status(evaluation, (EvaluationStatus.DISPUTED,), "upheld")
    if not reason.strip():
        raise InvalidInput("Say why the evaluation stands.", fields={"reason": ["Give a reason."]})
    evaluation.status, evaluation.reason, evaluation.resolved_by = EvaluationStatus.UPHELD, reason.strip(), actor
    evaluation.save(update_fields=["status", "reason", "resolved_by"])
    return evaluation


@transaction.atomic
def evaluation_rescore(
    *, evaluation_id: int, actor: Actor, answers: dict[int, str | None], reason: str
) -> Evaluation:
    """Re-score a disputed evaluation: a new evaluation on the same version replaces it
    (with the reason); the disputed one is kept as history."""
    old = _evaluation_lock(evaluation_id)
    _require_decider(actor, old)
    _require_status(old, (EvaluationStatus.DISPUTED,), "re-scored")
    if not reason.strip():
        raise InvalidInput("Say why it is re-scored.", fields={"reason": ["Give a reason."]})
    old.status, old.resolved_by = EvaluationStatus.RESCORED, actor
    old.save(update_fields=["status", "resolved_by"])
    new = Evaluation.objects.create(
        item=old.item, agent_id=old.agent_id, evaluator=actor, version=old.version, source=EvaluationSource.RESCORE,
        replaces=old, reason=reason.strip(),
    )
    return evaluation_save(evaluation_id=new.pk, actor=actor, answers=answers, submit=True)


@transaction.atomic
def evaluation_rework(*, evaluation_id: int, actor: Actor) -> Evaluation:
    """A failed evaluation sends the item back as a linked rework item in the same queue,
    through allocation's intake (idempotent: asking twice makes one)."""
    from allocation import services as allocation_services

    evaluation = _evaluation_lock(evaluation_id)
    _require_decider(actor, evaluation)
    if evaluation.is_calibration:
        raise IllegalEvaluationTransition(
            "A calibration evaluation compares the evaluators: it sends no work back as rework."
        )
    if evaluation.status == EvaluationStatus.RESCORED:
        # Its score no longer stands: the re-score that replaced it decides (it may pass).
        raise IllegalEvaluationTransition(f"Evaluation #{evaluation.pk} was re-scored: its re-score decides on rework.")
    if evaluation.passed is not False:
        raise IllegalEvaluationTransition("Only a failed evaluation creates rework.")
    if evaluation.rework_item_id:
        return evaluation
    item = evaluation.item
    draft = allocation_services.ItemDraft(
        queue=item.queue, source=REWORK_SOURCE, external_id=f"evaluation-{evaluation.pk}",
        customer_ref=item.customer_ref, title=f"Rework: {item.title}"[:200], priority=item.priority,
        payload={"rework_of_item": item.pk, "evaluation": evaluation.pk, "score": str(evaluation.score),
                 "original": item.payload},
    )
    evaluation.rework_item = allocation_services.item_intake(actor=REWORKER, draft=draft).item
    evaluation.save(update_fields=["rework_item"])
    return evaluation
