"""Evaluation forms and their versions: a version in use is never changed; the form
builder's edits go to the editable version (a new one once evaluations use the current)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from core import roles
from core.actors import Actor, SystemActor
from core.exceptions import InvalidInput
from quality import selectors
from quality.exceptions import FormNotReady, NotAQualityLead, QuestionNotFound
from quality.models import (
    EvaluationForm,
    FormSection,
    FormVersion,
    Question,
)


def form_version_in_use(version: FormVersion) -> bool:
    return version.evaluations.exists()


@transaction.atomic
def form_version_for_editing(*, form: EvaluationForm, actor: Actor, note: str = "") -> FormVersion:
    """The version to edit: the latest one while no evaluation uses it, else a new version
    copied from it (sections and questions), so evaluations keep what they were scored on."""
    EvaluationForm.objects.select_for_update().get(pk=form.pk)  # one editor makes a version at a time
    latest = selectors.form_latest_version(form)
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
    version = selectors.form_latest_version(form)
    if version is None or not Question.objects.filter(section__version=version).exists():
        raise FormNotReady(f"Form {form} has no questions yet: add some before evaluating with it.")
    return version


# The form builder ------------------------------------------------------------------------------

def _require_builder(actor: Actor) -> None:
    if isinstance(actor, SystemActor) or not roles.leads_quality(actor):
        raise NotAQualityLead("Only quality leads can change evaluation forms.")


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


def _question_errors(*, section_title: str, text: str, kind: str, weight: Decimal | None,
                     scale_min: int | None, scale_max: int | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not text.strip():
        errors["text"] = ["Write the question."]
    if not section_title.strip():
        errors["section"] = ["Name the section."]
    if weight is None or weight <= 0:
        errors["weight"] = ["A weight above 0."]
    if kind == "scale" and (scale_min is None or scale_max is None or scale_max <= scale_min):
        errors["scale_max"] = ["A scale needs a minimum below its maximum."]
    return errors


def _section_named(version: FormVersion, title: str) -> FormSection:
    section, _ = FormSection.objects.get_or_create(
        version=version, title=title.strip(), defaults={"position": version.sections.count()}
    )
    return section


@transaction.atomic
def form_question_add(
    *, form: EvaluationForm, actor: Actor, section_title: str, text: str, kind: str, weight: Decimal,
    allow_na: bool = False, critical: bool = False, guidance: str = "", scale_min: int | None = None,
    scale_max: int | None = None,
) -> Question:
    """Add a question (to the section of that title, made if new) — in a new version if the
    current one is in use."""
    _require_builder(actor)
    errors = _question_errors(section_title=section_title, text=text, kind=kind, weight=weight,
                              scale_min=scale_min, scale_max=scale_max)
    if errors:
        raise InvalidInput("The question needs attention; nothing was changed.", fields=errors)
    version = form_version_for_editing(form=form, actor=actor)
    section = _section_named(version, section_title)
    return Question.objects.create(
        section=section, text=text.strip(), kind=kind, weight=weight, allow_na=allow_na, critical=critical,
        guidance=guidance.strip(), position=section.questions.count(),
        scale_min=scale_min if kind == "scale" else None, scale_max=scale_max if kind == "scale" else None,
    )


def _question_to_edit(*, form: EvaluationForm, actor: Actor, question_id: int) -> Question:
    """The question the builder shows (one of the form's latest version) as it stands in the
    version being edited: itself while no evaluation uses its version, else its copy in the
    new version form_version_for_editing makes — at the same place, since the copy keeps the
    order of sections and of questions."""
    question = Question.objects.select_related("section__version").filter(
        pk=question_id, section__version__form=form
    ).first()
    if question is None:
        raise QuestionNotFound("That question is not on this form.")
    if question.section.version != selectors.form_latest_version(form):
        raise QuestionNotFound("That question is not on the form's current version: reload the page and try again.")
    version = form_version_for_editing(form=form, actor=actor)
    if version.pk == question.section.version_id:
        return question
    sections = list(question.section.version.sections.order_by("position", "id"))
    copied_sections = list(version.sections.order_by("position", "id"))
    neighbours = list(question.section.questions.order_by("position", "id"))
    copied_section = copied_sections[sections.index(question.section)]
    return list(copied_section.questions.order_by("position", "id"))[neighbours.index(question)]


@transaction.atomic
def form_question_change(
    *, form: EvaluationForm, actor: Actor, question_id: int, section_title: str, text: str, kind: str,
    weight: Decimal, allow_na: bool = False, critical: bool = False, guidance: str = "",
    scale_min: int | None = None, scale_max: int | None = None,
) -> Question:
    """Change a question of the form's current version — its copy in a new version if the
    current one is in use (the evaluations scored on it keep it as it was). A new section
    title moves it to the end of that section (made if new)."""
    _require_builder(actor)
    errors = _question_errors(section_title=section_title, text=text, kind=kind, weight=weight,
                              scale_min=scale_min, scale_max=scale_max)
    if errors:
        raise InvalidInput("The question needs attention; nothing was changed.", fields=errors)
    question = _question_to_edit(form=form, actor=actor, question_id=question_id)
    if question.section.title != section_title.strip():
        left = question.section
        question.section = _section_named(left.version, section_title)
        question.position = question.section.questions.count()
        question.save(update_fields=["section", "position"])
        _renumber(left)
    question.text, question.kind, question.weight = text.strip(), kind, weight
    question.allow_na, question.critical, question.guidance = allow_na, critical, guidance.strip()
    question.scale_min = scale_min if kind == "scale" else None
    question.scale_max = scale_max if kind == "scale" else None
    question.full_clean()
    question.save()
    return question


MOVES = {"up": -1, "down": 1}


@transaction.atomic
def form_question_move(*, form: EvaluationForm, actor: Actor, question_id: int, direction: str) -> Question:
    """Move a question of the form's current version one place up or down its section — in
    a new version if the current one is in use. Scores do not depend on the order; what
    evaluators read does."""
    _require_builder(actor)
    if direction not in MOVES:
        raise InvalidInput("Move a question up or down.", fields={"direction": ["Choose up or down."]})
    question = _question_to_edit(form=form, actor=actor, question_id=question_id)
    order = list(question.section.questions.order_by("position", "id"))
    here = order.index(question)
    there = here + MOVES[direction]
    if not 0 <= there < len(order):
        where = "first" if direction == "up" else "last"
        raise InvalidInput(f"“{question.text}” is {where} in its section already.",
                           fields={"direction": [f"It is {where} already."]})
    order[here], order[there] = order[there], order[here]
    _renumber(question.section, order)
    question.refresh_from_db()
    return question


def _renumber(section: FormSection, order: list[Question] | None = None) -> None:
    """Number the section's questions 0, 1, 2… in `order` (by default the present one)."""
    order = order if order is not None else list(section.questions.order_by("position", "id"))
    for position, question in enumerate(order):
        if question.position != position:
            Question.objects.filter(pk=question.pk).update(position=position)


@transaction.atomic
def form_question_remove(*, form: EvaluationForm, actor: Actor, question_id: int) -> FormVersion:
    """Remove a question of the form's current version — from a new version if the current
    one is in use (the evaluations scored on it keep it)."""
    _require_builder(actor)
    question = Question.objects.select_related("section__version").filter(
        pk=question_id, section__version__form=form
    ).first()
    if question is None:
        raise QuestionNotFound("That question is not on this form.")
    version = form_version_for_editing(form=form, actor=actor)
    copy = Question.objects.filter(
        section__version=version, section__title=question.section.title, text=question.text
    ).first()
    if copy is not None:
        copy.delete()
    return version
