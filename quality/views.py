"""Quality pages: the evaluator's inbox and scoring page, the agent's evaluations
(acknowledge, dispute), the decisions of quality leads and supervisors (uphold, re-score,
rework), and calibration results. Thin: selectors read, one service writes, errors come back as the
service said them (400 with a message per question, else a message on the page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core import roles
from core.exceptions import DomainError, InvalidInput, PermissionDenied
from core.forms import form_errors_from
from quality import selectors, services, transitions
from quality.exceptions import FormNotFound, NotAQualityLead, QuestionNotFound
from quality.forms import CalibrationForm, NewFormForm, QuestionForm
from quality.models import EvaluationForm, Question
from quality.scoring import answer_label


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not roles.takes_part_in_quality(user):
        raise PermissionDenied("Quality is for agents, quality evaluators and leads, supervisors and admins.")
    leads = roles.leads_quality(user)
    context = {
        "leads": leads,
        "decides": leads or roles.is_supervisor(user),
        "evaluates": leads or roles.is_quality_evaluator(user),
        "is_agent": roles.is_agent(user),
        "to_do": list(selectors.evaluations_to_do(user)[:100]),
        "given": list(selectors.evaluations_given(user)[:20]),
        "received": list(selectors.evaluations_received(user)[:20]),
        "disputed": selectors.disputes_to_decide(user) if leads or roles.is_supervisor(user) else [],
        "supervises": roles.is_supervisor(user),
        "teams": list(selectors.evaluations_of_supervised_agents(user)[:20]) if roles.is_supervisor(user) else [],
        "first_pass": selectors.first_pass(since=timezone.now() - timedelta(days=30), until=timezone.now())
        if leads else None,
    }
    return render(request, "quality/home.html", context)


def _answers_from(post) -> tuple[dict[int, str | None], dict[int, str], dict[int, str]]:
    answers, comments, disputes = {}, {}, {}
    for key, value in post.items():
        kind, _, raw_id = key.partition("_")
        if not raw_id.isdigit():
            continue
        if kind == "q":
            answers[int(raw_id)] = value or None
        elif kind == "c" and value.strip():
            comments[int(raw_id)] = value.strip()
        elif kind == "d" and value.strip():
            disputes[int(raw_id)] = value.strip()
    return answers, comments, disputes


@login_required
def evaluation_page(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = selectors.evaluation_for_page(user=request.user, evaluation_id=evaluation_id)
    errors: dict[str, list[str]] = {}
    posted: dict[int, str | None] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        answers, comments, disputes = _answers_from(request.POST)
        posted = answers
        try:
            done = _act(request, evaluation, action, answers, comments, disputes)
        except InvalidInput as error:
            errors = error.fields
            messages.error(request, error.message)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("quality:evaluation", evaluation_id=evaluation_id)
        else:
            messages.success(request, done[0])
            return redirect(done[1])
    questions = selectors.questions_of(evaluation)
    saved = selectors.answers_of(evaluation)
    rows = []
    for question in questions:
        answer = saved.get(question.pk)
        value = posted.get(question.pk) if posted else (answer.value if answer else None)
        scale = range(question.scale_min, question.scale_max + 1) if question.kind == "scale" else []
        rows.append({"question": question, "answer": answer, "value": value, "scale": [str(v) for v in scale],
                     "answer_label": answer_label(question, answer.value if answer else None),
                     "errors": errors.get(f"question_{question.pk}", [])})
    context = {
        "evaluation": evaluation, "rows": rows, "errors": errors, "events": selectors.item_timeline(evaluation),
        "disputed_questions": sum(1 for answer in saved.values() if answer.dispute_comment),
        # What the page offers is what the services would accept (quality/transitions.py).
        "allowed": transitions.actions_allowed(evaluation, request.user),
    }
    return render(request, "quality/evaluation.html", context, status=400 if errors else 200)


def _act(request, evaluation, action, answers, comments, disputes) -> tuple[str, str]:
    """Run the posted action; returns (what to say, where to go)."""
    user, pk = request.user, evaluation.pk
    page = f"/quality/evaluations/{pk}/"
    if action == "save":
        services.evaluation_save(evaluation_id=pk, actor=user, answers=answers, comments=comments)
        return "Draft saved.", page
    if action == "submit":
        done = services.evaluation_submit(evaluation_id=pk, actor=user, answers=answers, comments=comments)
        verdict = {True: ", passed", False: ", failed"}.get(done.passed, "")
        return f"Evaluation submitted: {done.score if done.score is not None else 'no score'}{verdict}.", "/quality/"
    if action == "acknowledge":
        services.evaluation_acknowledge(evaluation_id=pk, actor=user)
        return "Acknowledged.", page
    if action == "dispute":
        services.evaluation_dispute(evaluation_id=pk, actor=user, comment=request.POST.get("comment", ""),
                                    question_comments=disputes)
        return "Dispute sent: a quality lead or your supervisor decides, and you will see the outcome here.", page
    if action == "uphold":
        services.evaluation_uphold(evaluation_id=pk, actor=user, reason=request.POST.get("reason", ""))
        return "The evaluation stands.", page
    if action == "rescore":
        new = services.evaluation_rescore(evaluation_id=pk, actor=user, answers=answers,
                                          reason=request.POST.get("reason", ""))
        return f"Re-scored: {new.score if new.score is not None else 'no score'}.", f"/quality/evaluations/{new.pk}/"
    if action == "rework":
        done = services.evaluation_rework(evaluation_id=pk, actor=user)
        return f"Rework item #{done.rework_item_id} is waiting in {evaluation.item.queue.name}.", page
    raise DomainError("Unknown action.")


@login_required
def calibration_new(request: HttpRequest) -> HttpResponse:
    """A quality lead picks a completed item, a form and the evaluators; each scores blind."""
    if not roles.leads_quality(request.user):
        raise NotAQualityLead("Only quality leads can run calibration sessions.")
    form = CalibrationForm(request.POST or None, initial={"item": request.GET.get("item")})
    if request.method == "POST" and form.is_valid():
        try:
            session = services.calibration_start(
                item_id=form.cleaned_data["item"], form=form.cleaned_data["form"],
                evaluator_ids=[user.pk for user in form.cleaned_data["evaluators"]], actor=request.user,
            )
        except InvalidInput as error:
            form_errors_from(form, error)
        else:
            messages.success(request, "Calibration started: each evaluator finds it in their Quality inbox.")
            return redirect("quality:calibration", session_id=session.pk)
    return render(request, "quality/calibration_new.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
@login_required
def calibration_page(request: HttpRequest, session_id: int) -> HttpResponse:
    result = selectors.calibration_result(user=request.user, session_id=session_id)
    questions = {q.pk: q for q in selectors.questions_of(result.evaluations[0])} if result.evaluations else {}
    rows = [(questions.get(qid), agreement) for qid, agreement in result.agreement.items()]
    return render(request, "quality/calibration.html", {"result": result, "rows": rows})


# The form builder -------------------------------------------------------------------------------

def _require_forms_page(user) -> None:
    if not roles.leads_quality(user):
        raise NotAQualityLead("Only quality leads can build evaluation forms.")


@login_required
def forms_page(request: HttpRequest) -> HttpResponse:
    _require_forms_page(request.user)
    new = NewFormForm(request.POST or None)
    if request.method == "POST" and new.is_valid():
        try:
            form = services.form_create(actor=request.user, **new.cleaned_data)
        except InvalidInput as error:
            form_errors_from(new, error)
        else:
            return redirect("quality:form", form_id=form.pk)
    forms_list = EvaluationForm.objects.order_by("name")
    return render(request, "quality/forms.html", {"forms": forms_list, "new": new}, status=400 if new.errors else 200)


@dataclass(frozen=True)
class QuestionRow:
    """A question as the builder lists it: its edit form, and whether it can move up or down."""

    question: Question
    edit_form: QuestionForm
    first: bool
    last: bool


def _question_id(post) -> int:
    raw = post.get("question", "")
    if not raw.isdigit():
        raise QuestionNotFound("That question is not on this form.")
    return int(raw)


def _question_rows(questions: list[Question], edited: QuestionForm | None) -> list[QuestionRow]:
    rows = []
    for index, question in enumerate(questions):
        before = questions[index - 1] if index else None
        after = questions[index + 1] if index + 1 < len(questions) else None
        edit_form = edited if edited is not None and edited.prefix == f"q{question.pk}" else \
            QuestionForm.for_question(question)
        rows.append(QuestionRow(question, edit_form, first=before is None or before.section_id != question.section_id,
                                last=after is None or after.section_id != question.section_id))
    return rows


def _question_fields(data: dict) -> dict:
    """A question form's input as the builder's services take it."""
    return {"section_title": data["section"], "text": data["text"], "kind": data["kind"], "weight": data["weight"],
            "allow_na": data["allow_na"], "critical": data["critical"], "guidance": data["guidance"],
            "scale_min": data["scale_min"], "scale_max": data["scale_max"]}


@login_required
def form_page(request: HttpRequest, form_id: int) -> HttpResponse:
    """The form builder: add a question, change one, move it up or down its section, remove
    it. Each change goes to the version being edited (a new one once evaluations use the
    current); input errors come back on the form that sent them (400)."""
    _require_forms_page(request.user)
    form = EvaluationForm.objects.filter(pk=form_id).first()
    if form is None:
        raise FormNotFound(f"Evaluation form #{form_id} does not exist.")
    action = request.POST.get("action")
    question_form = QuestionForm(request.POST if action == "add" else None)
    edited: QuestionForm | None = None  # a change refused, shown open with its errors
    refusal = ""
    if request.method == "POST":
        try:
            if action == "remove":
                version = services.form_question_remove(form=form, actor=request.user,
                                                        question_id=_question_id(request.POST))
                messages.success(request, f"Question removed in version {version.number}.")
                return redirect("quality:form", form_id=form.pk)
            if action == "move":
                direction = request.POST.get("direction", "")
                question = services.form_question_move(form=form, actor=request.user,
                                                       question_id=_question_id(request.POST), direction=direction)
                messages.success(request, f"“{question.text}” moved {direction} in version "
                                          f"{question.section.version.number}.")
                return redirect("quality:form", form_id=form.pk)
            if action == "change":
                question_id = _question_id(request.POST)
                edited = QuestionForm(request.POST, prefix=f"q{question_id}")
                if edited.is_valid():
                    question = services.form_question_change(form=form, actor=request.user, question_id=question_id,
                                                             **_question_fields(edited.cleaned_data))
                    messages.success(request, f"Question changed in version {question.section.version.number}.")
                    return redirect("quality:form", form_id=form.pk)
            if action == "add" and question_form.is_valid():
                question = services.form_question_add(form=form, actor=request.user,
                                                      **_question_fields(question_form.cleaned_data))
                messages.success(request, f"Question added to version {question.section.version.number}.")
                return redirect("quality:form", form_id=form.pk)
        except InvalidInput as error:
            if action == "move":
                refusal = error.message
            else:
                form_errors_from(edited if action == "change" else question_form, error)
    version = selectors.form_latest_version(form)
    questions = selectors.questions_of_version(version) if version else []
    if edited is not None and edited.errors and all(edited.prefix != f"q{q.pk}" for q in questions):
        raise QuestionNotFound("That question is not on the form's current version: reload the page and try again.")
    context = {
        "form": form, "version": version, "rows": _question_rows(questions, edited), "question_form": question_form,
        "in_use": version is not None and services.form_version_in_use(version),
        "results": selectors.form_results_by_version(form), "refusal": refusal,
    }
    refused = refusal or question_form.errors or (edited is not None and edited.errors)
    return render(request, "quality/form.html", context, status=400 if refused else 200)
