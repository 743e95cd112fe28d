"""The one table of the evaluation workflow (quality/transitions.py): for every state and
every party, the services accept exactly what the table allows, and the evaluation page
offers exactly that — the page re-implements no rule."""

import pytest
from django.urls import reverse

from core import roles
from core.models import ChangeRecord
from quality import services, transitions
from tests import factories
from tests.helpers import EVALUATION_STATES, evaluation_act, evaluation_in_state, service_accepts

pytestmark = pytest.mark.django_db

FAILING = ("no", "no", "2")  # (0 + 0 + 25) / 4: fails a pass mark of 80
PASSING = ("yes", "yes", "4")  # (200 + 100 + 75) / 4

SCORING, AGENTS, DECIDING = {"save", "submit"}, {"acknowledge", "dispute"}, {"uphold", "rescore"}
# What each party may do to a failed evaluation in each state (a passed one: the same, no rework).
FAILED = {
    "assigned": {"evaluator": SCORING},
    "draft": {"evaluator": SCORING},
    "submitted": {"agent": AGENTS, "decider": {"rework"}},
    "acknowledged": {"decider": {"rework"}},
    "disputed": {"decider": DECIDING | {"rework"}},
    "upheld": {"decider": {"rework"}},
    "rescored": {},  # its re-score decides now
}


@pytest.fixture
def office(queue, agent, team):
    """The agent's completed item, a quality evaluator, a quality lead, a supervisor of the
    agent's team and one of another team, and another agent."""
    _, version, questions = factories.form_with_questions()
    supervisor, other_supervisor = (factories.UserFactory(roles=[roles.SUPERVISOR]) for _ in range(2))
    team.supervisors.add(supervisor)
    factories.TeamFactory().supervisors.add(other_supervisor)
    viewers = {
        "evaluator": factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]),
        "agent": agent.user,
        "lead": factories.UserFactory(roles=[roles.QUALITY_LEAD]),
        "supervisor": supervisor,
        "other_supervisor": other_supervisor,
        "other_agent": factories.AgentFactory().user,
    }
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    return {"version": version, "questions": questions, "viewers": viewers, "item": item}


PARTY_OF = {"evaluator": "evaluator", "agent": "agent", "lead": "decider", "supervisor": "decider"}


def _service_accepts(action: str, evaluation, actor, answers: dict) -> bool:
    """Whether the service takes `action` from `actor` now (nothing it writes stays)."""
    return service_accepts(lambda: evaluation_act(action, evaluation_id=evaluation.pk, actor=actor, answers=answers))


def offered(html: str) -> set[str]:
    """The actions whose button the page shows."""
    return {action for action in transitions.ACTIONS if f'name="action" value="{action}"' in html}


def _assert_page_offers_what_the_services_accept(client, evaluation, viewers, answers, expected):
    for name, viewer in viewers.items():
        accepted = {action for action in transitions.ACTIONS if _service_accepts(action, evaluation, viewer, answers)}
        assert accepted == expected.get(PARTY_OF.get(name), set()), name
        assert set(transitions.actions_allowed(evaluation, viewer)) == accepted, name
        client.force_login(viewer)
        page = client.get(reverse("quality:evaluation", args=[evaluation.pk]))
        if page.status_code == 403:  # who may not see it may do nothing to it
            assert accepted == set(), name
            continue
        assert page.status_code == 200 and offered(page.content.decode()) == accepted, name


@pytest.mark.parametrize(("state", "values"), [
    *((state, FAILING) for state in EVALUATION_STATES),
    ("submitted", PASSING),
    ("upheld", PASSING),
])
def test_the_page_offers_what_the_services_accept(client, office, state, values):
    answers = dict(zip((q.pk for q in office["questions"]), values, strict=True))
    assigned = factories.EvaluationFactory(item=office["item"], evaluator=office["viewers"]["evaluator"],
                                           version=office["version"])
    evaluation = evaluation_in_state(state, evaluation=assigned, answers=answers, decider=office["viewers"]["lead"])
    expected = FAILED[state]
    if values == PASSING:
        expected = {party: actions - {"rework"} for party, actions in expected.items()}
    _assert_page_offers_what_the_services_accept(client, evaluation, office["viewers"], answers, expected)


def test_a_calibration_evaluation_is_nobodys_to_acknowledge_dispute_or_send_back(client, office):
    answers = dict(zip((q.pk for q in office["questions"]), FAILING, strict=True))
    viewers = office["viewers"]
    session = services.calibration_start(item_id=office["item"].pk, form=office["version"].form,
                                         evaluator_ids=[viewers["evaluator"].pk, viewers["lead"].pk],
                                         actor=viewers["lead"])
    scored = session.evaluations.get(evaluator=viewers["evaluator"])
    evaluation = evaluation_in_state("submitted", evaluation=scored, answers=answers, decider=None)
    assert evaluation.passed is False
    others = {name: user for name, user in viewers.items() if name != "lead"}  # the lead scores one too
    _assert_page_offers_what_the_services_accept(client, evaluation, others, answers, {})



@pytest.mark.parametrize(("state", "steps"), [
    ("acknowledged", [("evaluation.acknowledged", "submitted", "acknowledged", "", "agent")]),
    ("upheld", [("evaluation.disputed", "submitted", "disputed", "Unfair", "agent"),
                ("evaluation.upheld", "disputed", "upheld", "Procedure 4.2", "lead")]),
    ("rescored", [("evaluation.disputed", "submitted", "disputed", "Unfair", "agent"),
                  ("evaluation.rescored", "disputed", "rescored", "Second look", "lead")]),
])
def test_every_acknowledgement_dispute_and_decision_is_in_the_change_log(office, state, steps):
    answers = dict(zip((q.pk for q in office["questions"]), FAILING, strict=True))
    assigned = factories.EvaluationFactory(item=office["item"], evaluator=office["viewers"]["evaluator"],
                                           version=office["version"])
    evaluation = evaluation_in_state(state, evaluation=assigned, answers=answers, decider=office["viewers"]["lead"])

    records = ChangeRecord.objects.filter(subject_type="quality.evaluation", subject_id=str(assigned.pk))
    noted = [(r.action, r.before["status"], r.after["status"], r.reason, r.actor_id) for r in records.order_by("id")]
    assert noted == [(action, was, now, reason, office["viewers"][who].pk) for action, was, now, reason, who in steps]
    if state == "rescored":
        assert records.get(action="evaluation.rescored").after["replaced_by"] == evaluation.replaced_by.pk


def test_the_tests_take_every_action_of_the_workflow(office):
    """evaluation_act knows each action of the table (an unknown one would raise KeyError)."""
    for action in transitions.ACTIONS:
        assert service_accepts(lambda action=action: evaluation_act(
            action, evaluation_id=0, actor=office["viewers"]["evaluator"], answers={})) is False
