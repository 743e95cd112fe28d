"""Quality API: read forms and evaluations, submit, acknowledge, dispute; bad input is a 400."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core import roles
from core.models import Notification
from quality import selectors
from quality.models import Answer, Evaluation, EvaluationSource, EvaluationStatus
from tests import factories
from tests.helpers import evaluation_in_state

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_score_then_acknowledge_through_the_api(queue, agent):
    _, version, (right, evidence, tone) = factories.form_with_questions()
    evaluator = factories.UserFactory(username="eva", roles=[roles.QUALITY_EVALUATOR])
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=version,
                                             source=EvaluationSource.SAMPLING)
    api = client_for(evaluator)
    forms = api.get(reverse("quality-forms")).json()["results"]
    assert forms[0]["version"] == 1 and {q["id"] for q in forms[0]["questions"]} == {right.pk, evidence.pk, tone.pk}
    assert [e["id"] for e in api.get(reverse("quality-evaluations")).json()["results"]] == [evaluation.pk]
    submit = reverse("quality-submit", args=[evaluation.pk])
    bad = api.post(submit, {"answers": {str(tone.pk): "9"}}, format="json")
    assert bad.status_code == 400 and f"question_{tone.pk}" in bad.json()["errors"]
    keys = api.post(submit, {"answers": {"tone": "4"}}, format="json")
    assert keys.status_code == 400
    draft = api.post(submit, {"answers": {str(right.pk): "yes"}, "draft": True}, format="json")
    assert draft.status_code == 200 and (draft.json()["status"], draft.json()["score"]) == ("draft", None)
    done = api.post(submit, {"answers": {str(right.pk): "yes", str(evidence.pk): "na", str(tone.pk): "4"}},
                    format="json")
    assert done.status_code == 200 and done.json()["score"] == "91.67" and len(done.json()["answers"]) == 3

    agent_api = client_for(agent.user)
    assert agent_api.get(reverse("quality-evaluation", args=[evaluation.pk])).json()["passed"] is True
    assert agent_api.post(reverse("quality-acknowledge", args=[evaluation.pk])).json()["status"] == "acknowledged"
    again = agent_api.post(reverse("quality-dispute", args=[evaluation.pk]), {"comment": "no"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    not_theirs = agent_api.post(submit, {"answers": {str(right.pk): "no"}, "draft": True}, format="json")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (403, "not_evaluation_party")
    missing = agent_api.post(reverse("quality-acknowledge", args=[evaluation.pk + 1000]))
    assert (missing.status_code, missing.json()["code"]) == (404, "evaluation_not_found")


def test_dispute_and_visibility(queue, agent, team):
    _, version, (right, evidence, tone) = factories.form_with_questions()
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR])
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=version)
    agent_api = client_for(agent.user)
    assert agent_api.get(reverse("quality-evaluations")).json()["results"] == []  # not submitted yet
    assert agent_api.get(reverse("quality-evaluation", args=[evaluation.pk])).status_code == 403
    client_for(evaluator).post(reverse("quality-submit", args=[evaluation.pk]),
                               {"answers": {str(right.pk): "no", str(evidence.pk): "yes", str(tone.pk): "2"}},
                               format="json")
    disputed = agent_api.post(reverse("quality-dispute", args=[evaluation.pk]),
                              {"questions": {str(right.pk): "It was right"}}, format="json")
    assert disputed.status_code == 200 and disputed.json()["status"] == EvaluationStatus.DISPUTED
    stranger = client_for(factories.AgentFactory().user)
    assert stranger.get(reverse("quality-evaluation", args=[evaluation.pk])).status_code == 403
    lead = client_for(factories.UserFactory(roles=[roles.QUALITY_LEAD]))
    assert len(lead.get(reverse("quality-evaluations"), {"status": "disputed"}).json()["results"]) == 1
    # A supervisor sees its own teams' agents' evaluations, once submitted; another team's supervisor none.
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    assert len(client_for(supervisor).get(reverse("quality-evaluations")).json()["results"]) == 1
    other_supervisor = client_for(factories.UserFactory(roles=[roles.SUPERVISOR]))
    assert other_supervisor.get(reverse("quality-evaluations")).json()["results"] == []
    assert other_supervisor.get(reverse("quality-evaluation", args=[evaluation.pk])).status_code == 403


def test_source_systems_have_no_part_in_quality(queue, agent):
    source = client_for(factories.SourceSystemFactory())
    for name in ("quality-forms", "quality-evaluations"):
        response = source.get(reverse(name))
        assert response.status_code == 403, name
        assert response.json()["detail"] == "Your role has no part in quality evaluation."


def test_unknown_fields_and_parameters_are_refused_by_name(queue, agent):
    _, version, (right, evidence, tone) = factories.form_with_questions()
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR])
    evaluation = factories.EvaluationFactory(item__queue=queue, item__completed_by=agent.user, evaluator=evaluator,
                                             version=version)
    answers = {str(right.pk): "yes", str(evidence.pk): "yes", str(tone.pk): "4"}
    submit = client_for(evaluator).post(reverse("quality-submit", args=[evaluation.pk]),
                                        {"answers": answers, "comment": "Well done"}, format="json")
    assert submit.status_code == 400
    assert submit.json()["errors"] == {"comment": ["Unknown field: comment."]}  # the field is `comments`
    assert client_for(evaluator).post(reverse("quality-submit", args=[evaluation.pk]), {"answers": answers},
                                      format="json").status_code == 200
    agent_api = client_for(agent.user)
    for name in ("quality-acknowledge", "quality-dispute"):
        response = agent_api.post(reverse(name, args=[evaluation.pk]), {"reason": "x"}, format="json")
        assert response.status_code == 400, (name, response.json())
        assert response.json()["errors"] == {"reason": ["Unknown field: reason."]}
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.SUBMITTED

    lead = client_for(factories.UserFactory(roles=[roles.QUALITY_LEAD]))  # sees every evaluation
    misspelt = lead.get(reverse("quality-evaluations"), {"stauts": "disputed"})
    assert misspelt.status_code == 400 and misspelt.json()["errors"] == {"stauts": ["Unknown field: stauts."]}
    # The paginator's parameters and DRF's `format` are not the filter's, and not unknown.
    paged = lead.get(reverse("quality-evaluations"), {"status": "submitted", "page": 1, "page_size": 10,
                                                            "format": "json"})
    assert paged.status_code == 200 and len(paged.json()["results"]) == 1


def test_unknown_status_filter_is_a_400(queue, agent):
    supervisor = client_for(factories.UserFactory(roles=[roles.SUPERVISOR]))
    response = supervisor.get(reverse("quality-evaluations"), {"status": "lost"})
    assert response.status_code == 400 and "status" in response.json()["errors"]
    assert supervisor.get(reverse("quality-evaluations"), {"status": ""}).status_code == 200


@pytest.mark.parametrize("body", [[], [{"answers": {}}], "acknowledge", 1, None])
def test_a_body_that_is_not_a_json_object_is_a_400_and_changes_nothing(queue, agent, body):
    """Every quality operation reads its body through core.api.valid_body, as allocation's do."""
    _, version, questions = factories.form_with_questions()
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR])
    factories.UserFactory(roles=[roles.QUALITY_LEAD])  # would be told of a dispute
    to_score = factories.EvaluationFactory(item__queue=queue, item__completed_by=agent.user, evaluator=evaluator,
                                           version=version)
    scored = evaluation_in_state("submitted", evaluation=factories.EvaluationFactory(
        item__queue=queue, item__completed_by=agent.user, evaluator=evaluator, version=version,
    ), answers={q.pk: "yes" if q.kind == "yes_no" else "4" for q in questions}, decider=None)
    posts = [(evaluator, "quality-submit", to_score), (agent.user, "quality-acknowledge", scored),
             (agent.user, "quality-dispute", scored)]
    before = (list(Evaluation.objects.order_by("pk").values()), list(Answer.objects.order_by("pk").values()))
    for user, name, evaluation in posts:
        response = client_for(user).post(reverse(name, args=[evaluation.pk]), json.dumps(body),
                                         content_type="application/json")
        assert response.status_code == 400, (name, response.content)
        assert response.json() == {"detail": "The request is not valid.", "code": "invalid",
                                   "errors": {"non_field_errors": ["Send a JSON object."]}}, name
    assert (list(Evaluation.objects.order_by("pk").values()), list(Answer.objects.order_by("pk").values())) == before
    assert not Notification.objects.exists()


def test_the_forms_api_gives_each_forms_latest_version_and_its_questions_in_order(agent):
    form = factories.EvaluationFormFactory(name="Chargebacks")
    factories.QuestionFactory(section__version__form=form, text="Asked in version 1 only")
    latest = factories.FormVersionFactory(form=form)
    letter = factories.FormSectionFactory(version=latest, title="Letter", position=1)
    accuracy = factories.FormSectionFactory(version=latest, title="Accuracy", position=0)
    factories.QuestionFactory(section=letter, text="Tone", position=0)
    factories.QuestionFactory(section=accuracy, text="Right code?", position=1)
    factories.QuestionFactory(section=accuracy, text="Right amount?", position=0)
    empty = factories.EvaluationFormFactory(name="Refunds")  # no version yet
    factories.FormVersionFactory(form__name="Retired", form__is_active=False)
    assert (selectors.form_latest_version(form), selectors.form_latest_version(empty)) == (latest, None)
    forms = client_for(agent.user).get(reverse("quality-forms")).json()["results"]
    assert [(f["name"], f["version"], [(q["section"], q["text"]) for q in f["questions"]]) for f in forms] == [
        ("Chargebacks", 2, [("Accuracy", "Right amount?"), ("Accuracy", "Right code?"), ("Letter", "Tone")]),
        ("Refunds", None, []),
    ]
