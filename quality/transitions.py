"""Who may do what to an evaluation, from which state: the one table of the evaluation
workflow (DESIGN.md, "Quality semantics"): the evaluator scores it, the agent acknowledges or
disputes it, and a quality lead or the agent's supervisor upholds or re-scores a dispute or
sends failed work back as rework.

The services enforce it (each raises a quality error for a move outside it), and the pages
read it to offer only the actions that would be accepted, so the two cannot drift — as
allocation/transitions.py does for work items.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist

from core import roles
from core.actors import Actor, SystemActor
from quality.models import OPEN_EVALUATION_STATUSES, STANDING_EVALUATION_STATUSES, Evaluation, EvaluationStatus

SAVE, SUBMIT, ACKNOWLEDGE, DISPUTE = "save", "submit", "acknowledge", "dispute"
UPHOLD, RESCORE, REWORK = "uphold", "rescore", "rework"
ACTIONS = (SAVE, SUBMIT, ACKNOWLEDGE, DISPUTE, UPHOLD, RESCORE, REWORK)

# The parties of an evaluation: the evaluator it is assigned to, the agent whose work it
# judges, and whoever decides on it (may_decide).
EVALUATOR, AGENT, DECIDER = "evaluator", "agent", "decider"

# Who takes each action, and the statuses it accepts then.
TAKEN_BY: dict[str, str] = {
    SAVE: EVALUATOR,
    SUBMIT: EVALUATOR,
    ACKNOWLEDGE: AGENT,
    DISPUTE: AGENT,
    UPHOLD: DECIDER,
    RESCORE: DECIDER,
    REWORK: DECIDER,
}
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    SAVE: OPEN_EVALUATION_STATUSES,
    SUBMIT: OPEN_EVALUATION_STATUSES,
    ACKNOWLEDGE: (EvaluationStatus.SUBMITTED,),
    DISPUTE: (EvaluationStatus.SUBMITTED,),
    UPHOLD: (EvaluationStatus.DISPUTED,),
    RESCORE: (EvaluationStatus.DISPUTED,),
    # A scored evaluation whose score stands (and failed: applies_to). A re-scored one gave
    # way to its re-score, which decides instead.
    REWORK: STANDING_EVALUATION_STATUSES,
}

# The status each action leaves the evaluation in (a re-score replaces it with a new,
# submitted evaluation; rework leaves it as it was).
LEADS_TO: dict[str, str] = {
    SAVE: EvaluationStatus.DRAFT,
    SUBMIT: EvaluationStatus.SUBMITTED,
    ACKNOWLEDGE: EvaluationStatus.ACKNOWLEDGED,
    DISPUTE: EvaluationStatus.DISPUTED,
    UPHOLD: EvaluationStatus.UPHELD,
    RESCORE: EvaluationStatus.RESCORED,
}

# A calibration evaluation judges the evaluators, not the agent: nobody acknowledges or
# disputes it, and its failure sends no work back.
NOT_FOR_CALIBRATION = (ACKNOWLEDGE, DISPUTE, REWORK)


def agent_team_id(evaluation: Evaluation) -> int | None:
    """The evaluated agent's team: its supervisors decide on the evaluation."""
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
    return roles.leads_quality(actor) or roles.is_supervisor_of(actor, team_id=agent_team_id(evaluation))


def is_party(evaluation: Evaluation, actor: Actor, party: str) -> bool:
    """Whether `actor` is that party of `evaluation` (system jobs are none)."""
    if isinstance(actor, SystemActor):
        return False
    if party == EVALUATOR:
        return evaluation.evaluator_id == actor.pk
    if party == AGENT:
        return evaluation.agent_id == actor.pk
    return may_decide(actor, evaluation)


def statuses_allowing(action: str) -> tuple[str, ...]:
    """Every status from which `action` is accepted (of its party: TAKEN_BY)."""
    return ALLOWED_FROM[action]


def applies_to(action: str, evaluation: Evaluation) -> bool:
    """Beyond status: nothing of the agent's part, nor rework, for a calibration evaluation;
    rework only for a failed evaluation."""
    if action in NOT_FOR_CALIBRATION and evaluation.is_calibration:
        return False
    return action != REWORK or evaluation.passed is False


def actions_allowed(evaluation: Evaluation, actor: Actor) -> list[str]:
    """The actions `actor` may take on `evaluation` now, in display order."""
    parties = {party for party in (EVALUATOR, AGENT, DECIDER) if is_party(evaluation, actor, party)}
    return [
        action
        for action in ACTIONS
        if TAKEN_BY[action] in parties and evaluation.status in ALLOWED_FROM[action] and applies_to(action, evaluation)
    ]
