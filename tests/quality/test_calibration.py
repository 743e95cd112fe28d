"""Calibration judges the evaluators, not the agent: the agent never sees, acknowledges or
disputes a calibration evaluation (selectors, pages, API, services), its supervisors do not
list it, and it sends no work back as rework."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core import roles
from core.exceptions import DomainError
from quality import selectors, services
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(queue, agent, team):
    """The agent's item scored twice in a calibration session (one evaluator failed it, the
    other has not submitted), and another item of the agent evaluated the ordinary way."""
    form, version, (right, evidence, tone) = factories.form_with_questions()
    lead = factories.UserFactory(username="qa-lead", roles=[roles.QUALITY_LEAD])
    ann, bob = (factories.UserFactory(username=name, roles=[roles.QUALITY_EVALUATOR]) for name in ("ann", "bob"))
    calibrated = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    session = services.calibration_start(item_id=calibrated.pk, form=form, evaluator_ids=[ann.pk, bob.pk],
                                         actor=lead)
    failed = session.evaluations.get(evaluator=ann)
    services.evaluation_submit(evaluation_id=failed.pk, actor=ann,
                               answers={right.pk: "no", evidence.pk: "no", tone.pk: "2"})
    ordinary = factories.EvaluationFactory(item__queue=queue, item__completed_by=agent.user, evaluator=bob,
                                           version=version, source=EvaluationSource.SAMPLING)
    services.evaluation_submit(evaluation_id=ordinary.pk, actor=bob,
                               answers={right.pk: "yes", evidence.pk: "yes", tone.pk: "4"})
    supervisor = factories.UserFactory(username="sup", roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    failed.refresh_from_db()
    assert failed.status == EvaluationStatus.SUBMITTED and failed.passed is False
    return {"calibration": failed, "ordinary": ordinary, "ann": ann, "lead": lead, "supervisor": supervisor}


def api_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def page(evaluation) -> str:
    return reverse("quality:evaluation", args=[evaluation.pk])


def test_the_agent_never_sees_a_calibration_evaluation(client, office, agent):
    calibration, ordinary = office["calibration"], office["ordinary"]
    assert list(selectors.evaluations_received(agent.user)) == [ordinary]
    assert list(selectors.evaluations_visible_to(agent.user)) == [ordinary]
    client.force_login(agent.user)
    home = client.get(reverse("quality:home")).content.decode()
    assert f'href="{page(ordinary)}"' in home and f'href="{page(calibration)}"' not in home
    refused = client.get(page(calibration))
    assert refused.status_code == 403 and "part of a calibration session" in refused.content.decode()
    api = api_for(agent.user)
    assert [e["id"] for e in api.get(reverse("quality-evaluations")).json()["results"]] == [ordinary.pk]
    detail = api.get(reverse("quality-evaluation", args=[calibration.pk]))
    assert detail.status_code == 403 and "part of a calibration session" in detail.json()["detail"]
    assert detail.json()["code"] == "evaluation_hidden"


def test_the_agent_neither_acknowledges_nor_disputes_a_calibration_evaluation(client, office, agent):
    calibration = office["calibration"]
    with pytest.raises(DomainError, match="part of a calibration session"):
        services.evaluation_acknowledge(evaluation_id=calibration.pk, actor=agent.user)
    with pytest.raises(DomainError, match="part of a calibration session"):
        services.evaluation_dispute(evaluation_id=calibration.pk, actor=agent.user, comment="Unfair")
    api = api_for(agent.user)
    acknowledged = api.post(reverse("quality-acknowledge", args=[calibration.pk]))
    assert acknowledged.status_code == 409 and "not the agent's to acknowledge" in acknowledged.json()["detail"]
    disputed = api.post(reverse("quality-dispute", args=[calibration.pk]), {"comment": "Unfair"}, format="json")
    assert disputed.status_code == 409
    client.force_login(agent.user)
    assert client.post(page(calibration), {"action": "dispute", "comment": "Unfair"}).status_code == 403
    assert Evaluation.objects.get(pk=calibration.pk).status == EvaluationStatus.SUBMITTED


def test_supervisors_do_not_list_calibration_evaluations(client, office):
    calibration, ordinary, supervisor = office["calibration"], office["ordinary"], office["supervisor"]
    assert list(selectors.evaluations_of_supervised_agents(supervisor)) == [ordinary]
    client.force_login(supervisor)
    home = client.get(reverse("quality:home")).content.decode()
    assert f'href="{page(ordinary)}"' in home and f'href="{page(calibration)}"' not in home
    assert [e["id"] for e in api_for(supervisor).get(reverse("quality-evaluations")).json()["results"]] == [
        ordinary.pk]
    assert client.get(page(calibration)).status_code == 403


def test_its_evaluators_and_quality_leads_still_see_it(client, office):
    calibration = office["calibration"]
    for user in (office["ann"], office["lead"]):
        client.force_login(user)
        assert client.get(page(calibration)).status_code == 200, user.username
        ids = [e["id"] for e in api_for(user).get(reverse("quality-evaluations")).json()["results"]]
        assert calibration.pk in ids, user.username


def test_a_failed_calibration_evaluation_sends_no_rework(client, office):
    calibration = office["calibration"]
    with pytest.raises(DomainError, match="sends no work back"):
        services.evaluation_rework(evaluation_id=calibration.pk, actor=office["lead"])
    client.force_login(office["lead"])
    assert 'value="rework"' not in client.get(page(calibration)).content.decode()
    assert Evaluation.objects.get(pk=calibration.pk).rework_item_id is None
