"""Quality pages through Django's client: score, acknowledge, dispute, decide; who sees what."""

import pytest
from django.urls import reverse

from core import roles
from quality import services
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def to_score(queue, agent):
    _, version, questions = factories.form_with_questions()
    evaluator = factories.UserFactory(username="eva", roles=[roles.QUALITY_EVALUATOR])
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, evaluator=evaluator, version=version,
                                             source=EvaluationSource.SAMPLING)
    return evaluation, questions


def url(evaluation):
    return reverse("quality:evaluation", args=[evaluation.pk])


def test_evaluator_scores_from_the_inbox(client, to_score):
    evaluation, (right, evidence, tone) = to_score
    client.force_login(evaluation.evaluator)
    inbox = client.get(reverse("quality:home")).content.decode()
    assert f'href="{url(evaluation)}"' in inbox
    page = client.get(url(evaluation)).content.decode()
    assert "Right reason code?" in page and f'name="q_{right.pk}"' in page and "N/A" in page
    assert "The item: what the source system sent, and its timeline" in page
    bad = client.post(url(evaluation), {"action": "submit", f"q_{right.pk}": "yes", f"q_{tone.pk}": "4"})
    assert bad.status_code == 400 and "Answer this question" in bad.content.decode()
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.ASSIGNED
    draft = client.post(url(evaluation), {"action": "save", f"q_{right.pk}": "yes"})
    assert draft.status_code == 302
    done = client.post(url(evaluation), {"action": "submit", f"q_{right.pk}": "yes", f"q_{evidence.pk}": "na",
                                         f"q_{tone.pk}": "4", f"c_{tone.pk}": "Polite"})
    assert done.status_code == 302 and done.url == reverse("quality:home")
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUBMITTED and str(evaluation.score) == "91.67"
    assert evaluation.answers.get(question=tone).comment == "Polite"


def test_the_agent_sees_it_after_submission_and_disputes(client, to_score, agent):
    evaluation, (right, evidence, tone) = to_score
    client.force_login(agent.user)
    assert client.get(url(evaluation)).status_code == 403  # not submitted yet
    services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluation.evaluator,
                               answers={right.pk: "no", evidence.pk: "yes", tone.pk: "2"})
    page = client.get(url(evaluation)).content.decode()
    assert "Acknowledge" in page and "Dispute" in page
    empty = client.post(url(evaluation), {"action": "dispute"})
    assert empty.status_code == 400 and "Say what you dispute" in empty.content.decode()
    client.post(url(evaluation), {"action": "dispute", f"d_{right.pk}": "Right code per letter"})
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.DISPUTED


def test_a_quality_lead_decides_and_strangers_are_refused(client, to_score, agent, team):
    evaluation, (right, evidence, tone) = to_score
    services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluation.evaluator,
                               answers={right.pk: "no", evidence.pk: "yes", tone.pk: "2"})
    services.evaluation_dispute(evaluation_id=evaluation.pk, actor=agent.user, comment="unfair")
    client.force_login(factories.AgentFactory().user)
    assert client.get(url(evaluation)).status_code == 403
    # Another team's supervisor neither sees nor decides it.
    other_supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    factories.TeamFactory().supervisors.add(other_supervisor)
    client.force_login(other_supervisor)
    assert client.get(url(evaluation)).status_code == 403
    refused = client.post(url(evaluation), {"action": "uphold", "reason": "fine"})
    assert refused.status_code == 403
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.DISPUTED
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    client.force_login(lead)
    assert f'href="{url(evaluation)}"' in client.get(reverse("quality:home")).content.decode()
    response = client.post(url(evaluation), {"action": "rescore", "reason": "Letter proves it",
                                             f"q_{right.pk}": "yes", f"q_{evidence.pk}": "yes", f"q_{tone.pk}": "2"})
    new = Evaluation.objects.get(replaces=evaluation)
    assert response.url == url(new) and new.status == EvaluationStatus.SUBMITTED
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.RESCORED


@pytest.mark.parametrize("role", [roles.QUALITY_LEAD, roles.SUPERVISOR])
def test_the_decider_sees_both_sides_beside_each_question(client, to_score, agent, team, role):
    """A quality lead, or the agent's supervisor, decides: its inbox lists the dispute, and
    the page shows, per question, the answer, the evaluator's comment and the agent's
    objection, with the agent's overall comment above."""
    evaluation, (right, evidence, tone) = to_score
    services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluation.evaluator,
                               answers={right.pk: "no", evidence.pk: "na", tone.pk: "2"},
                               comments={right.pk: "Code 13.1 does not fit a recurring charge"})
    client.force_login(agent.user)
    mine = client.get(url(evaluation)).content.decode()
    assert "Code 13.1 does not fit a recurring charge" in mine  # the evaluator's comment, to the agent
    client.post(url(evaluation), {"action": "dispute", "comment": "The network letter says otherwise",
                                  f"d_{right.pk}": "10.4 is the code for fraud, see the letter"})
    decider = factories.UserFactory(roles=[role])
    team.supervisors.add(decider)  # supervising the team is what counts, and only with the role
    client.force_login(decider)
    home = client.get(reverse("quality:home")).content.decode()
    disputes = home[home.index("Disputed: your decision"):]
    assert f'href="{url(evaluation)}"' in disputes[:disputes.index("</section>")]
    page = client.get(url(evaluation)).content.decode()
    assert 'value="uphold"' in page and 'value="rescore"' in page
    assert "The network letter says otherwise" in page
    question = page[page.index("Right reason code?"):page.index("Evidence attached?")]
    assert "<dt>Answer</dt><dd><strong>No</strong>" in question
    assert "Evaluator's comment</dt><dd>Code 13.1 does not fit a recurring charge" in question
    assert "Agent's objection</dt><dd class=\"reason\">“10.4 is the code for fraud, see the letter”" in question
    assert "<strong>N/A</strong>" in page and "<strong>2 (1–5)</strong>" in page
    done = client.post(url(evaluation), {"action": "uphold", "reason": "Procedure 4.2"})
    assert done.status_code == 302
    upheld = Evaluation.objects.get(pk=evaluation.pk)
    assert upheld.status == EvaluationStatus.UPHELD and upheld.resolved_by == decider
    assert "Upheld by" in client.get(url(evaluation)).content.decode()


def test_calibration_page(client, queue, agent):
    form, _, (right, evidence, tone) = factories.form_with_questions()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    a, b = (factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]) for _ in range(2))
    session = services.calibration_start(item_id=item.pk, form=form, evaluator_ids=[a.pk, b.pk], actor=lead)
    for evaluator, value in ((a, "yes"), (b, "no")):
        evaluation = session.evaluations.get(evaluator=evaluator)
        services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                                   answers={right.pk: value, evidence.pk: "yes", tone.pk: "3"})
    client.force_login(lead)
    html = client.get(reverse("quality:calibration", args=[session.pk])).content.decode()
    assert "2 of 2 evaluators submitted" in html and "Fleiss" in html and "Right reason code?" in html


def test_a_quality_lead_starts_a_calibration_from_a_page(client, queue, agent):
    form, _, _ = factories.form_with_questions()
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    peers = [factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]) for _ in range(2)]
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    client.force_login(lead)
    offered = client.get(reverse("quality:calibration-new")).content.decode()
    assert all(f'value="{p.pk}"' in offered for p in peers) and f'value="{supervisor.pk}"' not in offered
    new = reverse("quality:calibration-new")
    one = client.post(new, {"item": item.pk, "form": form.pk, "evaluators": [peers[0].pk]})
    assert one.status_code == 400 and "At least two" in one.content.decode()
    done = client.post(new, {"item": item.pk, "form": form.pk, "evaluators": [p.pk for p in peers]})
    assert done.status_code == 302
    assert Evaluation.objects.filter(source=EvaluationSource.CALIBRATION, evaluator__in=peers).count() == 2
    for refused in (agent.user, supervisor):
        client.force_login(refused)
        assert client.get(new).status_code == 403


def test_the_quality_home_shows_each_role_its_part(client, to_score, agent, team):
    evaluation, (right, evidence, tone) = to_score
    services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluation.evaluator,
                               answers={right.pk: "no", evidence.pk: "yes", tone.pk: "2"})
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    sections = {
        evaluation.evaluator: ["To evaluate", "Recently evaluated by me"],
        agent.user: ["Evaluations of my work"],
        supervisor: ["Disputed: your decision", "Your teams' recent evaluations"],
        lead: ["Disputed: your decision", "To evaluate"],
    }
    every = {heading for headings in sections.values() for heading in headings}
    for user, headings in sections.items():
        client.force_login(user)
        page = client.get(reverse("quality:home")).content.decode()
        for heading in every:
            assert (f">{heading}</h2>" in page) == (heading in headings), (user.username, heading)
    assert "No disputes are waiting for your decision." in page  # the lead's, last
