"""The form builder page: create a form, add and remove questions; an in-use version is
never changed (a new version takes the change); results compare versions."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core import roles
from quality import services
from quality.models import EvaluationForm, Question
from quality.selectors import form_results_by_version
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(client):
    user = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    client.force_login(user)
    return user


def add(client, form, **fields):
    data = {"action": "add", "section": "Accuracy", "text": "Right code?", "kind": "yes_no", "weight": "1"} | fields
    return client.post(reverse("quality:form", args=[form.pk]), data)


def test_build_a_form_then_change_it_once_in_use(client, lead, queue, agent):
    created = client.post(reverse("quality:forms"), {"name": "Refund handling", "pass_mark": "75"})
    form = EvaluationForm.objects.get(name="Refund handling")
    assert created.url == reverse("quality:form", args=[form.pk])
    assert add(client, form).status_code == 302
    assert add(client, form, text="Tone", kind="scale", scale_min="1", scale_max="5", weight="2").status_code == 302
    bad = add(client, form, text="Broken scale", kind="scale", scale_min="5", scale_max="1")
    assert bad.status_code == 400 and "minimum below its maximum" in bad.content.decode()
    v1 = form.versions.get()
    assert Question.objects.filter(section__version=v1).count() == 2

    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    scored = factories.EvaluationFactory(item=item, evaluator=lead, version=v1)
    right = Question.objects.get(section__version=v1, text="Right code?")
    tone = Question.objects.get(section__version=v1, text="Tone")
    services.evaluation_submit(evaluation_id=scored.pk, actor=lead, answers={right.pk: "yes", tone.pk: "3"})
    page = client.get(reverse("quality:form", args=[form.pk])).content.decode()
    assert "a change makes version 2" in page and "v1" in page
    client.post(reverse("quality:form", args=[form.pk]), {"action": "remove", "question": tone.pk})
    v2 = form.versions.get(number=2)
    assert [q.text for q in Question.objects.filter(section__version=v2)] == ["Right code?"]
    assert Question.objects.filter(section__version=v1).count() == 2  # the scored version is untouched
    results = {r.number: r for r in form_results_by_version(form)}
    assert results[1].evaluations == 1 and results[1].average == float(Decimal("66.67"))


def test_only_quality_leads_build_forms(client, agent):
    client.force_login(agent.user)
    assert client.get(reverse("quality:forms")).status_code == 403
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    client.force_login(supervisor)
    assert client.get(reverse("quality:forms")).status_code == 403
    client.force_login(factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]))
    assert client.get(reverse("quality:forms")).status_code == 403
    client.force_login(factories.UserFactory(roles=[roles.QUALITY_LEAD]))
    assert client.get(reverse("quality:forms")).status_code == 200


def test_admin_refuses_a_rule_with_both_share_and_count(client, lead, queue):
    form = factories.EvaluationFormFactory(name="F")
    lead.is_staff = True
    lead.save()
    response = client.post(reverse("admin:quality_samplingrule_add"), {
        "queue": queue.pk, "form": form.pk, "period": "day", "share_percent": "10", "count": "2",
        "extra_after_fail": "0", "evaluators": [lead.pk], "is_active": "on",
    })
    assert response.status_code == 200
    assert "Give either a share (percent) or a count per period, not both." in response.content.decode()


def test_removing_a_question_that_is_not_a_number_is_a_404(client, lead):
    client.post(reverse("quality:forms"), {"name": "Tiny", "pass_mark": "75"})
    form = EvaluationForm.objects.get(name="Tiny")
    response = client.post(reverse("quality:form", args=[form.pk]), {"action": "remove", "question": "abc"})
    assert response.status_code == 404 and "not on this form" in response.content.decode()
