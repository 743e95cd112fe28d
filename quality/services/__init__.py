"""Every write of the quality domain. Rules in one place each: a form version in use is
never changed (forms.py); an evaluator never evaluates its own work (also a database
constraint); sampling draws an item at most once per rule and period (a unique
constraint), so the nightly job may run twice at once or again after a crash (sampling.py);
scoring, disputes, decisions, re-scores and rework (evaluations.py), each step taken only by
whom and from where the workflow's table says (quality/transitions.py); calibration
(calibration.py)."""

from quality.services.calibration import calibration_start
from quality.services.evaluations import (
    DISPUTE_NOTIFICATION_KIND,
    REWORK_SOURCE,
    dispute_deciders,
    evaluation_acknowledge,
    evaluation_dispute,
    evaluation_rescore,
    evaluation_rework,
    evaluation_save,
    evaluation_submit,
    evaluation_uphold,
)
from quality.services.forms import (
    form_create,
    form_current_version,
    form_question_add,
    form_question_change,
    form_question_move,
    form_question_remove,
    form_version_for_editing,
    form_version_in_use,
)
from quality.services.sampling import SAMPLER, SampleResult, period_bounds, samples_draw

__all__ = [
    "DISPUTE_NOTIFICATION_KIND", "REWORK_SOURCE", "SAMPLER", "SampleResult",
    "calibration_start", "dispute_deciders", "evaluation_acknowledge", "evaluation_dispute", "evaluation_rescore",
    "evaluation_rework", "evaluation_save", "evaluation_submit", "evaluation_uphold", "form_create",
    "form_current_version", "form_question_add", "form_question_change", "form_question_move",
    "form_question_remove", "form_version_for_editing",
    "form_version_in_use", "period_bounds", "samples_draw",
]
