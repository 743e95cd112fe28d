"""Evaluations: the evaluator's answers and score, the agent's acknowledgement or dispute,
the decision of a quality lead or the agent's supervisor (uphold, re-score as a new
evaluation), rework of failed work."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor, SystemActor
from core.exceptions import InvalidInput
from core.services import NotificationDraft, change_record, notifications_create
from quality import selectors, transitions
from quality.exceptions import EvaluationNotFound, IllegalEvaluationTransition, NotEvaluationParty
from quality.models import (
    Answer,
    Evaluation,
    EvaluationSource,
    EvaluationStatus,
    FormVersion,
    Question,
)
from quality.scoring import InvalidAnswer, Score, ScoredQuestion, evaluation_score


def _scored(version: FormVersion) -> list[ScoredQuestion]:
    return [
        ScoredQuestion(id=q.pk, kind=q.kind, weight=q.weight, allow_na=q.allow_na, critical=q.critical,
                       scale_min=q.scale_min, scale_max=q.scale_max)
        for q in Question.objects.filter(section__version=version)
    ]


def _answers_checked(evaluation: Evaluation, answers: dict[int, str | None], *, complete: bool) -> Score:
    """The score of `answers` on the evaluation's own form version; every bad answer (and,
    when they must be `complete`, every unanswered question) reported by question."""
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
    if complete and not errors:
        unanswered = [q.id for q in questions if not answers.get(q.id)]
        errors.update({f"question_{qid}": ["Answer this question (or N/A where allowed)."] for qid in unanswered})
    if errors:
        raise InvalidInput("Some answers need attention; nothing was saved.", fields=errors)
    return score


def _answers_write(evaluation: Evaluation, answers: dict[int, str | None], comments: dict[int, str] | None) -> None:
    comments = comments or {}
    Answer.objects.filter(evaluation=evaluation).delete()
    Answer.objects.bulk_create(
        Answer(evaluation=evaluation, question_id=qid, value=value, comment=comments.get(qid, ""))
        for qid, value in answers.items() if value
    )


@transaction.atomic
def evaluation_save(
    *, evaluation_id: int, actor: Actor, answers: dict[int, str | None], comments: dict[int, str] | None = None,
) -> Evaluation:
    """Save the evaluator's answers as a draft: each answer checked, none required yet, no
    score. Every bad answer is reported by question."""
    evaluation = _evaluation_lock(evaluation_id)
    _require_allowed(evaluation, actor, transitions.SAVE)
    _answers_checked(evaluation, answers, complete=False)
    _answers_write(evaluation, answers, comments)
    evaluation.status = transitions.LEADS_TO[transitions.SAVE]
    evaluation.save(update_fields=["status"])
    return evaluation


@transaction.atomic
def evaluation_submit(
    *, evaluation_id: int, actor: Actor, answers: dict[int, str | None], comments: dict[int, str] | None = None,
) -> Evaluation:
    """Submit the evaluator's answers, every question answered (or N/A where allowed): the
    score is computed from the evaluation's own form version and fixed, and the agent sees it.
    Every bad or missing answer is reported by question."""
    evaluation = _evaluation_lock(evaluation_id)
    _require_allowed(evaluation, actor, transitions.SUBMIT)
    score = _answers_checked(evaluation, answers, complete=True)
    _answers_write(evaluation, answers, comments)
    evaluation.score = score.value
    evaluation.passed = score.passed(evaluation.version.form.pass_mark)
    evaluation.status = transitions.LEADS_TO[transitions.SUBMIT]
    evaluation.submitted_at = timezone.now()
    evaluation.save(update_fields=["score", "passed", "status", "submitted_at"])
    return evaluation


# The agent's answer, the decider's decision ----------------------------------------------------

REWORK_SOURCE = "quality-rework"
REWORKER = SystemActor("quality-rework")
DISPUTE_NOTIFICATION_KIND = "quality_dispute"


def _evaluation_lock(evaluation_id: int) -> Evaluation:
    evaluation = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("version__form", "item__queue", "agent__agent_profile", "evaluator")
        .filter(pk=evaluation_id).first()
    )
    if evaluation is None:
        raise EvaluationNotFound(f"Evaluation #{evaluation_id} does not exist.")
    return evaluation


# What each party is told when the action is another's (transitions.TAKEN_BY).
_NOT_YOURS = {
    transitions.EVALUATOR: "Only the evaluator it is assigned to can score this evaluation.",
    transitions.AGENT: "Only the agent whose work was evaluated can do this.",
    transitions.DECIDER: "Only a quality lead or a supervisor of the agent's team decides on an evaluation, "
                         "never whoever scored it, and nobody on their own work.",
}
_PAST_TENSE = {transitions.ACKNOWLEDGE: "acknowledged", transitions.DISPUTE: "disputed",
               transitions.UPHOLD: "upheld", transitions.RESCORE: "re-scored"}


def _status_refusal(evaluation: Evaluation, action: str) -> str:
    if action in (transitions.SAVE, transitions.SUBMIT):
        return f"Evaluation #{evaluation.pk} was already submitted."
    if action == transitions.REWORK:
        if evaluation.status == EvaluationStatus.RESCORED:
            # Its score no longer stands: the re-score that replaced it decides (it may pass).
            return f"Evaluation #{evaluation.pk} was re-scored: its re-score decides on rework."
        return "Only a failed evaluation creates rework."
    status = evaluation.get_status_display().lower()
    return f"Evaluation #{evaluation.pk} is {status}, so it cannot be {_PAST_TENSE[action]}."


def _calibration_refusal(evaluation: Evaluation, action: str) -> str:
    if action == transitions.REWORK:
        return "A calibration evaluation compares the evaluators: it sends no work back as rework."
    return (f"Evaluation #{evaluation.pk} is part of a calibration session, which compares the evaluators: it is "
            "not the agent's to acknowledge or dispute.")


def _require_allowed(evaluation: Evaluation, actor: Actor, action: str) -> None:
    """The transition table (quality/transitions.py), with the refusal that says which part failed:
    the party first, then the kind of evaluation, its status, and the rest of applies_to."""
    party = transitions.TAKEN_BY[action]
    if not transitions.is_party(evaluation, actor, party):
        raise NotEvaluationParty(_NOT_YOURS[party])
    if action in transitions.NOT_FOR_CALIBRATION and evaluation.is_calibration:
        raise IllegalEvaluationTransition(_calibration_refusal(evaluation, action))
    if evaluation.status not in transitions.statuses_allowing(action):
        raise IllegalEvaluationTransition(_status_refusal(evaluation, action))
    if not transitions.applies_to(action, evaluation):
        raise IllegalEvaluationTransition("Only a failed evaluation creates rework.")


@transaction.atomic
def evaluation_acknowledge(*, evaluation_id: int, actor: Actor) -> Evaluation:
    evaluation = _evaluation_lock(evaluation_id)
    _require_allowed(evaluation, actor, transitions.ACKNOWLEDGE)
    was, evaluation.status = evaluation.status, transitions.LEADS_TO[transitions.ACKNOWLEDGE]
    evaluation.save(update_fields=["status"])
    _decision_record(evaluation, actor, "evaluation.acknowledged", was=was)
    return evaluation


def _decision_record(evaluation: Evaluation, actor: Actor, action: str, *, was: str, reason: str = "",
                     **after) -> None:
    """A party's step in the evaluation's workflow, in the change log (core): the status
    it left and the one it reached, with what the step said."""
    change_record(actor=actor, action=action, subject=evaluation, before={"status": was},
                  after={"status": evaluation.status, **after}, reason=reason)


@transaction.atomic
def evaluation_dispute(
    *, evaluation_id: int, actor: Actor, comment: str = "", question_comments: dict[int, str] | None = None
) -> Evaluation:
    """The agent objects, overall and/or per question, with comments for whoever decides
    (transitions.may_decide); they are told once the dispute is saved."""
    evaluation = _evaluation_lock(evaluation_id)
    _require_allowed(evaluation, actor, transitions.DISPUTE)
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
    was = evaluation.status
    evaluation.status, evaluation.dispute_comment = transitions.LEADS_TO[transitions.DISPUTE], comment.strip()
    evaluation.save(update_fields=["status", "dispute_comment"])
    _decision_record(evaluation, actor, "evaluation.disputed", was=was, reason=evaluation.dispute_comment,
                     disputed_questions=sorted(question_comments))
    # In the dispute's transaction: the deciders hear of it exactly when it stands.
    _deciders_notify(evaluation_id=evaluation.pk)
    return evaluation


def dispute_deciders(evaluation: Evaluation) -> list:
    """Who is told of a dispute: every quality lead and supervisor of the agent's team who
    may decide it; the admins only when nobody else may, so that no dispute waits unheard."""
    team_id = transitions.agent_team_id(evaluation)
    deciders = [user for user in selectors.quality_leads_and_supervisors(team_id=team_id)
                if transitions.may_decide(user, evaluation)]
    return deciders or [user for user in selectors.admins() if transitions.may_decide(user, evaluation)]


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
    _require_allowed(evaluation, actor, transitions.UPHOLD)
    if not reason.strip():
        raise InvalidInput("Say why the evaluation stands.", fields={"reason": ["Give a reason."]})
    was, evaluation.status = evaluation.status, transitions.LEADS_TO[transitions.UPHOLD]
    evaluation.reason, evaluation.resolved_by = reason.strip(), actor
    evaluation.save(update_fields=["status", "reason", "resolved_by"])
    _decision_record(evaluation, actor, "evaluation.upheld", was=was, reason=evaluation.reason)
    return evaluation


@transaction.atomic
def evaluation_rescore(
    *, evaluation_id: int, actor: Actor, answers: dict[int, str | None], reason: str
) -> Evaluation:
    """Re-score a disputed evaluation: a new evaluation on the same version replaces it
    (with the reason); the disputed one is kept as history."""
    old = _evaluation_lock(evaluation_id)
    _require_allowed(old, actor, transitions.RESCORE)
    if not reason.strip():
        raise InvalidInput("Say why it is re-scored.", fields={"reason": ["Give a reason."]})
    was, old.status, old.resolved_by = old.status, transitions.LEADS_TO[transitions.RESCORE], actor
    old.save(update_fields=["status", "resolved_by"])
    new = Evaluation.objects.create(
        item=old.item, agent_id=old.agent_id, evaluator=actor, version=old.version, source=EvaluationSource.RESCORE,
        replaces=old, reason=reason.strip(),
    )
    _decision_record(old, actor, "evaluation.rescored", was=was, reason=new.reason, replaced_by=new.pk)
    return evaluation_submit(evaluation_id=new.pk, actor=actor, answers=answers)


@transaction.atomic
def evaluation_rework(*, evaluation_id: int, actor: Actor) -> Evaluation:
    """A failed evaluation sends the item back as a linked rework item in the same queue,
    through allocation's intake (idempotent: asking twice makes one)."""
    from allocation import services as allocation_services

    evaluation = _evaluation_lock(evaluation_id)
    _require_allowed(evaluation, actor, transitions.REWORK)
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
