"""Reads of the quality domain for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from core import roles
from quality import transitions
from quality.exceptions import (
    CalibrationNotFound,
    CalibrationStillBlind,
    EvaluationHidden,
    EvaluationNotFound,
)
from quality.models import (
    DONE_EVALUATION_STATUSES,
    Answer,
    CalibrationSession,
    Evaluation,
    EvaluationForm,
    EvaluationSource,
    FormVersion,
    Question,
)
from quality.statistics import Agreement, Spread, question_agreement, score_spread, session_kappa


def _evaluations() -> QuerySet[Evaluation]:
    # The agent's profile: its team says which supervisors decide a dispute (transitions.may_decide).
    return Evaluation.objects.select_related("item__queue", "agent__agent_profile", "evaluator", "version__form")


def evaluations_to_do(user) -> QuerySet[Evaluation]:
    """The evaluations the user is assigned to score and has not submitted yet."""
    return (_evaluations().filter(evaluator=user, status__in=transitions.statuses_allowing(transitions.SUBMIT))
            .order_by("created_at", "id"))


def evaluations_given(user) -> QuerySet[Evaluation]:
    return _evaluations().filter(evaluator=user, status__in=DONE_EVALUATION_STATUSES).order_by("-submitted_at", "-id")


def evaluations_received(user) -> QuerySet[Evaluation]:
    """An agent's evaluated work: submitted ones only (drafts are the evaluator's own), and
    never a calibration (it judges the evaluators, not the agent)."""
    return (_evaluations().not_calibration().filter(agent=user, status__in=DONE_EVALUATION_STATUSES)
            .order_by("-submitted_at", "-id"))


def evaluations_visible_to(user) -> QuerySet[Evaluation]:
    """The one rule of who sees an evaluation: its evaluator; the agent whose work it is,
    once submitted; a supervisor, its teams' agents' submitted ones; quality leads and
    admins, all. A calibration evaluation only its evaluator and quality leads."""
    evaluations = _evaluations().order_by("-created_at", "-id")
    if roles.leads_quality(user):
        return evaluations
    visible = Q(evaluator=user) | Q(pk__in=evaluations_received(user).values("pk"))
    if roles.is_supervisor(user):
        visible |= Q(pk__in=evaluations_of_supervised_agents(user).values("pk"))
    return evaluations.filter(visible)


def evaluators():
    """Everyone who may be given evaluations to score, by username (calibration, sampling
    rules): active quality evaluators and quality leads."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(
        is_active=True, groups__name__in=[roles.QUALITY_EVALUATOR, roles.QUALITY_LEAD],
    ).distinct().order_by("username")


def evaluator_user_ids(user_ids) -> list[int]:
    """Of these users, the ones who may be given evaluations to score."""
    return list(evaluators().filter(pk__in=user_ids).values_list("pk", flat=True))


def evaluations_of_supervised_agents(user) -> QuerySet[Evaluation]:
    """A supervisor's teams' agents' submitted evaluations (not calibrations), newest first."""
    return _evaluations().not_calibration().filter(
        agent__agent_profile__team__in=roles.supervised_team_ids(user), status__in=DONE_EVALUATION_STATUSES,
    ).order_by("-submitted_at", "-id")


def disputes_to_decide(user, *, limit: int = 50) -> list[Evaluation]:
    """The disputed evaluations waiting for this user's decision, oldest first: those it sees
    and may decide (quality/transitions.py, the one table: quality leads, the agent's team's
    supervisors, never the scorer)."""
    disputed = (evaluations_visible_to(user).filter(status__in=transitions.statuses_allowing(transitions.UPHOLD))
                .order_by("submitted_at", "id"))
    return list(islice((e for e in disputed if transitions.is_party(e, user, transitions.DECIDER)), limit))


def _active_users():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True)


def quality_leads_and_supervisors(*, team_id: int | None):
    """Active quality leads, and the supervisors of a team: who may decide a dispute of that
    team's agent (the services ask transitions.may_decide of each)."""
    supervisors = Q(groups__name=roles.SUPERVISOR, supervised_teams=team_id) if team_id is not None else Q()
    deciders = _active_users().filter(Q(groups__name=roles.QUALITY_LEAD) | supervisors).distinct().order_by("pk")
    return roles.with_roles(deciders)


def admins():
    """Active admins: superusers and the Admin role's members."""
    admins = _active_users().filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN)).distinct().order_by("pk")
    return roles.with_roles(admins)


def evaluation_for_page(*, user, evaluation_id: int) -> Evaluation:
    """The evaluation for whoever may see it (`evaluations_visible_to`); 403/404 otherwise."""
    evaluation = evaluations_visible_to(user).filter(pk=evaluation_id).first()
    if evaluation is not None:
        return evaluation
    hidden = Evaluation.objects.filter(pk=evaluation_id).values_list("source", flat=True).first()
    if hidden == EvaluationSource.CALIBRATION:
        raise EvaluationHidden(f"Evaluation #{evaluation_id} is part of a calibration session: only its "
                               "evaluators and quality leads see it.")
    if hidden is not None:
        raise EvaluationHidden("This evaluation is not yours to see.")
    raise EvaluationNotFound(f"Evaluation #{evaluation_id} does not exist.")


def form_latest_version(form: EvaluationForm) -> FormVersion | None:
    """The form's newest version: the one new evaluations are scored on and the builder edits
    (a version in use gets a newer one first: services.form_version_for_editing). None for a
    form without versions."""
    return form.versions.order_by("-number").first()


def forms_with_current_questions() -> QuerySet[EvaluationForm]:
    """Active forms by name, each with its latest version and that version's sections and
    questions prefetched (read them with current_version and current_questions): the forms
    API in a fixed number of queries however many forms and questions it lists."""
    newer = FormVersion.objects.filter(form=OuterRef("form"), number__gt=OuterRef("number"))
    latest = FormVersion.objects.filter(~Exists(newer)).prefetch_related("sections__questions")
    return (EvaluationForm.objects.filter(is_active=True).order_by("name")
            .prefetch_related(Prefetch("versions", queryset=latest, to_attr="current_versions")))


def current_version(form: EvaluationForm) -> FormVersion | None:
    """The latest version of a form from forms_with_current_questions."""
    return form.current_versions[0] if form.current_versions else None


def current_questions(version: FormVersion) -> list[Question]:
    """The questions of a version from forms_with_current_questions, in their own order
    (Question.Meta.ordering: section, position, id), each with its section."""
    questions = [question for section in version.sections.all() for question in section.questions.all()]
    return sorted(questions, key=lambda question: (question.section.position, question.position, question.pk))


def questions_of(evaluation: Evaluation) -> list[Question]:
    return questions_of_version(evaluation.version)


def questions_of_version(version) -> list[Question]:
    return list(Question.objects.filter(section__version=version).select_related("section"))


def answers_of(evaluation: Evaluation) -> dict[int, Answer]:
    return {answer.question_id: answer for answer in evaluation.answers.all()}


@dataclass(frozen=True)
class CalibrationResult:
    session: CalibrationSession
    evaluations: list[Evaluation]
    submitted: int
    spread: Spread
    agreement: dict[int, Agreement]  # per question: raters, answers, percent agreement
    kappa: float | None  # Fleiss' kappa over the form's questions


def calibration_result(*, user, session_id: int) -> CalibrationResult:
    """The spread and agreement of a calibration session. Blind: an evaluator sees it only
    once it has submitted its own evaluation; quality leads and admins always."""
    session = CalibrationSession.objects.select_related("item", "version__form").filter(pk=session_id).first()
    if session is None:
        raise CalibrationNotFound(f"Calibration session #{session_id} does not exist.")
    evaluations = list(_evaluations().filter(calibration=session).prefetch_related("answers"))
    mine = [e for e in evaluations if e.evaluator_id == user.pk]
    submitted_mine = bool(mine) and all(e.status in DONE_EVALUATION_STATUSES for e in mine)
    if not roles.leads_quality(user) and not submitted_mine:
        raise CalibrationStillBlind("You see the others' answers once you have submitted your own.")
    done = [e for e in evaluations if e.status in DONE_EVALUATION_STATUSES]
    answers = {e.evaluator_id: {a.question_id: a.value for a in e.answers.all()} for e in done}
    return CalibrationResult(
        session=session, evaluations=evaluations, submitted=len(done),
        spread=score_spread([e.score for e in done]),
        agreement=question_agreement(answers) if len(done) >= 2 else {},
        kappa=session_kappa(answers) if len(done) >= 2 else None,
    )


def item_timeline(evaluation: Evaluation):
    """The evaluated item's events, for the scoring page (an evaluator need not be able to
    open the item itself: it sees what it judges, here)."""
    from allocation.models import WorkItemEvent

    return list(WorkItemEvent.objects.filter(item_id=evaluation.item_id).select_related("actor").order_by("at", "id"))


@dataclass(frozen=True)
class VersionResult:
    number: int
    evaluations: int
    scored: int  # with a score ("no score" is left out of the average)
    average: float | None
    pass_rate: float | None


def form_results_by_version(form) -> list[VersionResult]:
    """The standing evaluations (`Evaluation.objects.standing()`, as reports count them) of
    each version of a form: how many, the average score (over those with a score) and the
    pass rate — so versions can be compared."""
    from django.db.models import Avg, Count, Q

    rows = (
        Evaluation.objects.standing().filter(version__form=form)
        .values("version__number")
        .annotate(n=Count("id"), scored=Count("id", filter=Q(score__isnull=False)), average=Avg("score"),
                  passed=Count("id", filter=Q(passed=True)))
        .order_by("-version__number")
    )
    return [
        VersionResult(number=row["version__number"], evaluations=row["n"], scored=row["scored"],
                      average=float(row["average"]) if row["average"] is not None else None,
                      pass_rate=row["passed"] / row["scored"] if row["scored"] else None)
        for row in rows
    ]


@dataclass(frozen=True)
class FirstPass:
    completed: int  # original items completed in the window (rework items not counted)
    reworked: int  # of them, sent back as rework by a failed evaluation
    rework_items: int  # rework items created in the window

    @property
    def first_pass_yield(self) -> float | None:
        return None if not self.completed else (self.completed - self.reworked) / self.completed

    @property
    def rework_rate(self) -> float | None:
        return None if not self.completed else self.rework_items / self.completed


def first_pass(*, since, until, queue_ids=None) -> FirstPass:
    """First-pass yield (share of completed items not sent back as rework) and rework rate
    (rework items per completed item) over a window; rework items are those made by a
    failed evaluation (services.REWORK_SOURCE). Issue 8's reports roll these up."""
    from allocation.models import ItemStatus, WorkItem
    from quality.services import REWORK_SOURCE

    completed = WorkItem.objects.filter(status=ItemStatus.COMPLETED, closed_at__gte=since, closed_at__lt=until)
    if queue_ids is not None:
        completed = completed.filter(queue_id__in=queue_ids)
    originals = completed.exclude(source=REWORK_SOURCE)
    reworked = Evaluation.objects.filter(item__in=originals, rework_item__isnull=False).values("item_id").distinct()
    rework_items = WorkItem.objects.filter(source=REWORK_SOURCE, received_at__gte=since, received_at__lt=until)
    if queue_ids is not None:
        rework_items = rework_items.filter(queue_id__in=queue_ids)
    return FirstPass(completed=originals.count(), reworked=reworked.count(), rework_items=rework_items.count())
