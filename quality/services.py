"""Every write of the quality domain: form versions, evaluations, sampling.

Rules in one place: a form version in use is never changed (edits go to a new version);
an evaluator never evaluates its own work (also a database constraint); sampling draws an
item at most once per rule and period (a unique constraint), so the daily job may run
twice at once or again after a crash.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from allocation.actors import Actor, SystemActor
from allocation.models import ItemStatus, WorkItem
from quality.models import (
    Answer,
    Evaluation,
    EvaluationForm,
    EvaluationSource,
    EvaluationStatus,
    FormSection,
    FormVersion,
    Question,
    SamplingPeriod,
    SamplingRule,
)
from quality.scoring import InvalidAnswer, ScoredQuestion, evaluation_score
from wfo.exceptions import DomainError, InvalidInput, NotFound, PermissionDenied

OPEN_EVALUATION = (EvaluationStatus.ASSIGNED, EvaluationStatus.DRAFT)
SAMPLER = SystemActor("quality-sampling")


# Form versions -------------------------------------------------------------------------------

def form_version_in_use(version: FormVersion) -> bool:
    return version.evaluations.exists()


@transaction.atomic
def form_version_for_editing(*, form: EvaluationForm, actor: Actor, note: str = "") -> FormVersion:
    """The version to edit: the latest one while no evaluation uses it, else a new version
    copied from it (sections and questions), so evaluations keep what they were scored on."""
    EvaluationForm.objects.select_for_update().get(pk=form.pk)  # one editor makes a version at a time
    latest = form.versions.order_by("-number").first()
    if latest is not None and not form_version_in_use(latest):
        return latest
    number = (latest.number + 1) if latest else 1
    version = FormVersion.objects.create(
        form=form, number=number, note=note, created_by=None if isinstance(actor, SystemActor) else actor
    )
    if latest is not None:
        for section in latest.sections.prefetch_related("questions"):
            questions = list(section.questions.all())
            section.pk, section.version = None, version
            section.save()
            for question in questions:
                question.pk, question.section = None, section
            Question.objects.bulk_create(questions)
    return version


def form_current_version(form: EvaluationForm) -> FormVersion:
    version = form.versions.order_by("-number").first()
    if version is None or not Question.objects.filter(section__version=version).exists():
        raise DomainError(f"Form {form} has no questions yet: add some before evaluating with it.")
    return version


# Evaluations ----------------------------------------------------------------------------------

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
        raise NotFound(f"Evaluation #{evaluation_id} does not exist.")
    if isinstance(actor, SystemActor) or evaluation.evaluator_id != actor.pk:
        raise PermissionDenied("Only the evaluator it is assigned to can score this evaluation.")
    if evaluation.status not in OPEN_EVALUATION:
        raise DomainError(f"Evaluation #{evaluation.pk} was already submitted.")
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


# Sampling -------------------------------------------------------------------------------------

@dataclass
class SampleResult:
    created: int = 0
    already_drawn: int = 0
    unassigned: int = 0  # no evaluator other than the agent itself
    by_rule: dict[int, int] = field(default_factory=dict)


def period_bounds(period: str, day: date) -> tuple[date, datetime, datetime]:
    """The sampling period containing `day`: its first day, and its start and end instants
    (in the portal's time zone)."""
    first = day - timedelta(days=day.weekday()) if period == SamplingPeriod.WEEK else day
    length = timedelta(days=7 if period == SamplingPeriod.WEEK else 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    return first, start, start + length


def _sample_size(rule: SamplingRule, *, completed: int, is_new: bool, failed_last: bool) -> tuple[float, int]:
    """(expected sample size, extra items for risk)."""
    if rule.count is not None:
        size = rule.count
    else:
        share = rule.new_agent_share_percent if is_new and rule.new_agent_share_percent is not None \
            else rule.share_percent
        # A share of a few items rounds by chance (e.g. 10 % of 4 is 0 or 1 with odds 0.6 : 0.4)
        # so that the rate holds on average however small each agent's volume.
        size = completed * share / 100
    return size, rule.extra_after_fail if failed_last else 0


def samples_draw(*, day: date, seed: int | None = None) -> SampleResult:
    """Draw each active rule's sample for the period containing `day`, creating the
    evaluations (assigned to evaluators by workload, never to the agent itself). Safe to
    run again or concurrently: the draw is reproducible per (rule, period, agent) and an
    item is drawn at most once per rule and period."""
    result = SampleResult()
    for rule in SamplingRule.objects.filter(is_active=True, form__is_active=True).select_related("form", "queue"):
        try:
            version = form_current_version(rule.form)
        except DomainError:
            continue
        result.by_rule[rule.pk] = _draw_rule(rule, version, day=day, seed=seed, result=result)
    return result


def _draw_rule(rule: SamplingRule, version: FormVersion, *, day: date, seed: int | None, result: SampleResult) -> int:
    first, start, end = period_bounds(rule.period, day)
    completed = (
        WorkItem.objects.filter(queue=rule.queue, status=ItemStatus.COMPLETED, closed_at__gte=start, closed_at__lt=end)
        .values_list("pk", "completed_by_id").order_by("pk")
    )
    by_agent: dict[int, list[int]] = {}
    for item_id, agent_id in completed:
        by_agent.setdefault(agent_id, []).append(item_id)
    if not by_agent:
        return 0
    from django.contrib.auth import get_user_model

    joined = dict(get_user_model().objects.filter(pk__in=by_agent).values_list("pk", "date_joined"))
    failed_last = _agents_whose_last_evaluation_failed(by_agent, before=start)
    evaluators = list(rule.evaluators.filter(is_active=True).values_list("pk", flat=True))
    workload = Counter(dict(
        Evaluation.objects.filter(evaluator_id__in=evaluators, status__in=OPEN_EVALUATION)
        .values("evaluator_id").annotate(n=Count("*")).values_list("evaluator_id", "n")
    ))
    drafts = []
    for agent_id, items in sorted(by_agent.items()):
        rng = random.Random(f"{seed}:{rule.pk}:{first.isoformat()}:{agent_id}")
        is_new = rule.new_agent_days is not None and joined[agent_id] > start - timedelta(days=rule.new_agent_days)
        size, extra = _sample_size(rule, completed=len(items), is_new=is_new, failed_last=agent_id in failed_last)
        whole = int(size)
        count = min(len(items), whole + (1 if rng.random() < size - whole else 0) + extra)
        for item_id in rng.sample(items, count):
            candidates = [e for e in evaluators if e != agent_id]
            evaluator = min(candidates, key=lambda e: (workload[e], e)) if candidates else None
            if evaluator is None:
                result.unassigned += 1
            else:
                workload[evaluator] += 1
            drafts.append(Evaluation(
                item_id=item_id, agent_id=agent_id, evaluator_id=evaluator, version=version,
                source=EvaluationSource.SAMPLING, sampling_rule=rule, period_start=first,
            ))
    drawn = Evaluation.objects.filter(sampling_rule=rule, period_start=first)
    before = drawn.count()
    Evaluation.objects.bulk_create(drafts, ignore_conflicts=True)  # evaluation_sampled_once decides
    created = drawn.count() - before
    result.created += created
    result.already_drawn += len(drafts) - created
    return created


def _agents_whose_last_evaluation_failed(agent_ids, *, before: datetime) -> set[int]:
    latest = (
        Evaluation.objects.filter(agent_id__in=agent_ids, submitted_at__lt=before, score__isnull=False)
        .values("agent_id").annotate(last=Max("submitted_at"))
    )
    failed = set()
    for row in latest:
        last = Evaluation.objects.filter(agent_id=row["agent_id"], submitted_at=row["last"]).first()
        if last is not None and last.passed is False:
            failed.add(row["agent_id"])
    return failed



# The agent's answer, the supervisor's decision ---------------------------------------------------

RESOLVE_PERMISSION = "quality.resolve_dispute"
REWORK_SOURCE = "quality-rework"
REWORKER = SystemActor("quality-rework")


def _evaluation_lock(evaluation_id: int) -> Evaluation:
    evaluation = (
        Evaluation.objects.select_for_update(of=("self",)).select_related("version__form", "item__queue")
        .filter(pk=evaluation_id).first()
    )
    if evaluation is None:
        raise NotFound(f"Evaluation #{evaluation_id} does not exist.")
    return evaluation


def _require_agent(evaluation: Evaluation, actor: Actor) -> None:
    if isinstance(actor, SystemActor) or actor.pk != evaluation.agent_id:
        raise PermissionDenied("Only the agent whose work was evaluated can do this.")


def _require_status(evaluation: Evaluation, allowed: tuple[str, ...], action: str) -> None:
    if evaluation.status not in allowed:
        raise DomainError(
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
    """The agent objects, overall and/or per question, with comments for the supervisor."""
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
    return evaluation


def _require_resolver(actor: Actor) -> None:
    if isinstance(actor, SystemActor) or not actor.has_perm(RESOLVE_PERMISSION):
        raise PermissionDenied("Only supervisors can uphold or re-score an evaluation.")


@transaction.atomic
def evaluation_uphold(*, evaluation_id: int, actor: Actor, reason: str) -> Evaluation:
    _require_resolver(actor)
    evaluation = _evaluation_lock(evaluation_id)
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
    _require_resolver(actor)
    old = _evaluation_lock(evaluation_id)
    _require_status(old, (EvaluationStatus.DISPUTED,), "re-scored")
    if not reason.strip():
        raise InvalidInput("Say why it is re-scored.", fields={"reason": ["Give a reason."]})
    if actor.pk == old.agent_id:
        raise PermissionDenied("Nobody re-scores their own work.")
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

    _require_resolver(actor)
    evaluation = _evaluation_lock(evaluation_id)
    if evaluation.passed is not False:
        raise DomainError("Only a failed evaluation creates rework.")
    if evaluation.rework_item_id:
        return evaluation
    item = evaluation.item
    draft = allocation_services.ItemDraft(
        queue=item.queue, source=REWORK_SOURCE, external_id=f"evaluation-{evaluation.pk}",
        customer_ref=item.customer_ref, title=f"Rework: {item.title}"[:200], priority=item.priority,
        payload={"rework_of_item": item.pk, "evaluation": evaluation.pk, "score": str(evaluation.score),
                 **{k: v for k, v in item.payload.items() if k not in ("rework_of_item", "evaluation", "score")}},
    )
    evaluation.rework_item = allocation_services.item_intake(actor=REWORKER, draft=draft).item
    evaluation.save(update_fields=["rework_item"])
    return evaluation


# Calibration -----------------------------------------------------------------------------------

@transaction.atomic
def calibration_start(*, item_id: int, form: EvaluationForm, evaluator_ids: list[int], actor: Actor):
    """Several evaluators score one completed item on the form's current version, blind."""
    from quality.models import CalibrationSession

    if isinstance(actor, SystemActor) or not actor.has_perm("quality.add_calibrationsession"):
        raise PermissionDenied("Only supervisors can run calibration sessions.")
    item = WorkItem.objects.filter(pk=item_id, status=ItemStatus.COMPLETED).first()
    if item is None:
        raise InvalidInput("Pick a completed item.", fields={"item": ["Not a completed item."]})
    evaluators = [pk for pk in dict.fromkeys(evaluator_ids) if pk != item.completed_by_id]
    if len(evaluators) < 2:
        raise InvalidInput("Pick at least two evaluators (not the agent who did the work).",
                           fields={"evaluators": ["At least two, not the agent."]})
    version = form_current_version(form)
    session = CalibrationSession.objects.create(item=item, version=version, created_by=actor)
    Evaluation.objects.bulk_create(
        Evaluation(item=item, agent_id=item.completed_by_id, evaluator_id=pk, version=version,
                   source=EvaluationSource.CALIBRATION, calibration=session)
        for pk in evaluators
    )
    return session


# The form builder ------------------------------------------------------------------------------

BUILD_PERMISSION = "quality.change_evaluationform"


def _require_builder(actor: Actor) -> None:
    if isinstance(actor, SystemActor) or not actor.has_perm(BUILD_PERMISSION):
        raise PermissionDenied("Only quality leads can change evaluation forms.")


@transaction.atomic
def form_create(*, actor: Actor, name: str, pass_mark: Decimal, description: str = "") -> EvaluationForm:
    _require_builder(actor)
    name = name.strip()
    if not name:
        raise InvalidInput("Name the form.", fields={"name": ["Required."]})
    if EvaluationForm.objects.filter(name__iexact=name).exists():
        raise InvalidInput("A form has this name already.", fields={"name": ["Choose another name."]})
    form = EvaluationForm.objects.create(name=name, pass_mark=pass_mark, description=description.strip())
    form_version_for_editing(form=form, actor=actor, note="First version")
    return form


@transaction.atomic
def form_question_add(
    *, form: EvaluationForm, actor: Actor, section_title: str, text: str, kind: str, weight: Decimal,
    allow_na: bool = False, critical: bool = False, guidance: str = "", scale_min: int | None = None,
    scale_max: int | None = None,
) -> Question:
    """Add a question (to the section of that title, made if new) — in a new version if the
    current one is in use."""
    _require_builder(actor)
    errors: dict[str, list[str]] = {}
    if not text.strip():
        errors["text"] = ["Write the question."]
    if not section_title.strip():
        errors["section"] = ["Name the section."]
    if weight is None or weight <= 0:
        errors["weight"] = ["A weight above 0."]
    if kind == "scale" and (scale_min is None or scale_max is None or scale_max <= scale_min):
        errors["scale_max"] = ["A scale needs a minimum below its maximum."]
    if errors:
        raise InvalidInput("The question needs attention; nothing was changed.", fields=errors)
    version = form_version_for_editing(form=form, actor=actor)
    section, _ = FormSection.objects.get_or_create(
        version=version, title=section_title.strip(), defaults={"position": version.sections.count()}
    )
    return Question.objects.create(
        section=section, text=text.strip(), kind=kind, weight=weight, allow_na=allow_na, critical=critical,
        guidance=guidance.strip(), position=section.questions.count(),
        scale_min=scale_min if kind == "scale" else None, scale_max=scale_max if kind == "scale" else None,
    )


@transaction.atomic
def form_question_remove(*, form: EvaluationForm, actor: Actor, question_id: int) -> FormVersion:
    """Remove a question of the form's current version — from a new version if the current
    one is in use (the evaluations scored on it keep it)."""
    _require_builder(actor)
    question = Question.objects.select_related("section__version").filter(
        pk=question_id, section__version__form=form
    ).first()
    if question is None:
        raise NotFound("That question is not on this form.")
    version = form_version_for_editing(form=form, actor=actor)
    copy = Question.objects.filter(
        section__version=version, section__title=question.section.title, text=question.text
    ).first()
    if copy is not None:
        copy.delete()
    return version
