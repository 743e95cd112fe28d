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
        raise QuestionNotFound("That question is not on this form.")
    version = form_version_for_editing(form=form, actor=actor)
    copy = Question.objects.filter(
        section__version=version, section__title=question.section.title, text=question.text
    ).first()
    if copy is not None:
        copy.delete()
    return version
