"""Calibration sessions: several evaluators score one item blind."""

from __future__ import annotations

from django.db import transaction

from allocation.models import ItemStatus, WorkItem
from core import roles
from core.actors import Actor, SystemActor
from core.exceptions import InvalidInput
from quality.exceptions import NotAQualityLead
from quality.models import (
    Evaluation,
    EvaluationForm,
    EvaluationSource,
)
from quality.selectors import evaluator_user_ids
from quality.services.forms import form_current_version


@transaction.atomic
def calibration_start(*, item_id: int, form: EvaluationForm, evaluator_ids: list[int], actor: Actor):
    """Several evaluators score one completed item on the form's current version, blind."""
    from quality.models import CalibrationSession

    if isinstance(actor, SystemActor) or not roles.leads_quality(actor):
        raise NotAQualityLead("Only quality leads can run calibration sessions.")
    item = WorkItem.objects.filter(pk=item_id, status=ItemStatus.COMPLETED).first()
    if item is None:
        raise InvalidInput("Pick a completed item.", fields={"item": ["Not a completed item."]})
    evaluators = [pk for pk in dict.fromkeys(evaluator_ids) if pk != item.completed_by_id]
    not_evaluators = set(evaluators) - set(evaluator_user_ids(evaluators))
    if not_evaluators:
        raise InvalidInput("Only quality evaluators and quality leads score evaluations.",
                           fields={"evaluators": [f"Not a quality evaluator or lead: user #{pk}."
                                                  for pk in sorted(not_evaluators)]})
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
