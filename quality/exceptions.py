"""Errors raised by quality services and selectors. Each says in plain words what was refused;
each is a class of the one hierarchy (core/exceptions.py), so the API and the pages answer it
as any domain error of its kind (404, 403, 409)."""

from core.exceptions import DomainError, NotFound, PermissionDenied


class EvaluationNotFound(NotFound):
    code = "evaluation_not_found"


class EvaluationHidden(PermissionDenied):
    """The evaluation exists but is not the user's to see (quality.selectors.evaluations_visible_to)."""

    code = "evaluation_hidden"


class NotEvaluationParty(PermissionDenied):
    """The action is for another party of the evaluation: its evaluator, the agent whose work
    it judges, or whoever decides (quality/transitions.py)."""

    code = "not_evaluation_party"


class IllegalEvaluationTransition(DomainError):
    """The evaluation is not in a state, or of a kind, that allows the action (often: someone
    else acted on it first)."""

    code = "illegal_transition"


class NotAQualityLead(PermissionDenied):
    """Forms, calibration sessions: quality leads' (and admins') work."""

    code = "not_a_quality_lead"


class FormNotFound(NotFound):
    code = "form_not_found"


class QuestionNotFound(NotFound):
    code = "question_not_found"


class FormNotReady(DomainError):
    """A form with no questions yet: nothing can be evaluated on it."""

    code = "form_not_ready"


class CalibrationNotFound(NotFound):
    code = "calibration_not_found"


class CalibrationStillBlind(PermissionDenied):
    """An evaluator sees a calibration's results once it has submitted its own evaluation."""

    code = "calibration_still_blind"


__all__ = [
    "CalibrationNotFound",
    "CalibrationStillBlind",
    "EvaluationHidden",
    "EvaluationNotFound",
    "FormNotFound",
    "FormNotReady",
    "IllegalEvaluationTransition",
    "NotAQualityLead",
    "NotEvaluationParty",
    "QuestionNotFound",
]
