"""Quality configuration people can fill in: the form builder's questions edited and moved
up or down (a version in use is never changed: the change makes a new version), the
questions in admin checked field by field, and a sampling rule's evaluators limited to
quality evaluators and leads. Bad input is refused with a message on its field, nothing saved."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse

from core import roles
from quality.models import Question, SamplingRule
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(client):
    user = factories.UserFactory(roles=[roles.QUALITY_LEAD], is_staff=True, username="lena")
    client.force_login(user)
    return user


@pytest.fixture
def built():
    """Chargeback handling, version 1: "Accuracy" (Right reason code?, Evidence attached?,
    Letter tone) — not used by any evaluation yet."""
    form, version, questions = factories.form_with_questions()
    right, evidence, tone = questions
    return SimpleNamespace(form=form, version=version, questions=questions, right=right, evidence=evidence, tone=tone)


def used(version, queue, agent) -> None:
    """An evaluation scored on `version`: from now on a change makes a new version."""
    factories.EvaluationFactory(item=factories.CompletedItemFactory(queue=queue, completed_by=agent.user),
                                version=version)


def texts(version) -> list[str]:
    return list(Question.objects.filter(section__version=version).values_list("text", flat=True))


def edit(client, form, question, **changes):
    data = {"section": question.section.title, "text": question.text, "kind": question.kind,
            "scale_min": question.scale_min or "", "scale_max": question.scale_max or "",
            "weight": str(question.weight), "guidance": question.guidance}
    if question.allow_na:
        data["allow_na"] = "on"
    data = {f"q{question.pk}-{name}": value for name, value in (data | changes).items()}
    return client.post(reverse("quality:form", args=[form.pk]),
                       {"action": "change", "question": question.pk} | data)


def move(client, form, question, direction):
    return client.post(reverse("quality:form", args=[form.pk]),
                       {"action": "move", "question": question.pk, "direction": direction})


# The form builder: edit ---------------------------------------------------------------------------

def test_a_question_not_yet_used_is_edited_in_place(client, lead, built):
    page = client.get(reverse("quality:form", args=[built.form.pk])).content.decode()
    assert f'name="q{built.right.pk}-text" value="Right reason code?"' in page  # each question's own edit form

    response = edit(client, built.form, built.right, text="Right reason code given?", weight="3", critical="on",
                    guidance="As the scheme's rules say.")

    assert response.status_code == 302
    built.right.refresh_from_db()
    assert (built.right.text, built.right.weight, built.right.critical, built.right.guidance) == (
        "Right reason code given?", Decimal("3"), True, "As the scheme's rules say.")
    assert built.form.versions.count() == 1


def test_a_question_in_use_is_edited_in_a_new_version(client, lead, built, queue, agent):
    used(built.version, queue, agent)

    response = edit(client, built.form, built.tone, text="Letter tone and clarity", scale_min="0", scale_max="10")

    assert response.status_code == 302
    v2 = built.form.versions.get(number=2)
    assert texts(v2) == ["Right reason code?", "Evidence attached?", "Letter tone and clarity"]
    copy = Question.objects.get(section__version=v2, text="Letter tone and clarity")
    assert (copy.scale_min, copy.scale_max) == (0, 10)
    assert texts(built.version) == ["Right reason code?", "Evidence attached?", "Letter tone"]  # the scored version


def test_a_question_moves_to_another_section_by_its_title(client, lead, built):
    assert edit(client, built.form, built.tone, section="Writing").status_code == 302
    built.tone.refresh_from_db()
    assert built.tone.section.title == "Writing" and built.tone.section.version == built.version
    assert [q.position for q in Question.objects.filter(section__title="Accuracy")] == [0, 1]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"text": ""}, "text", "This field is required."),
    ({"text": "   "}, "text", "This field is required."),
    ({"text": "x" * 301}, "text", "Ensure this value has at most 300 characters (it has 301)."),
    ({"section": ""}, "section", "This field is required."),
    ({"weight": "heavy"}, "weight", "Enter a number."),
    ({"weight": "-1"}, "weight", "Ensure this value is greater than or equal to 0."),
    ({"weight": "0"}, "weight", "A weight above 0."),
    ({"weight": "9" * 20}, "weight", "Ensure that there are no more than 6 digits in total."),
    ({"kind": "essay"}, "kind", "Select a valid choice. essay is not one of the available choices."),
    ({"kind": "scale", "scale_min": "5", "scale_max": "1"}, "scale_max", "A scale needs a minimum below its maximum."),
    ({"kind": "scale", "scale_min": "1", "scale_max": "9" * 30}, "scale_max",
     "Ensure this value is less than or equal to 100."),
    ({"kind": "scale", "scale_min": "one", "scale_max": "5"}, "scale_min", "Enter a whole number."),
    ({"guidance": "x" * 2001}, "guidance", "Ensure this value has at most 2000 characters (it has 2001)."),
])
def test_an_edit_that_makes_no_sense_is_refused_on_its_field(client, lead, built, changes, field, message):
    response = edit(client, built.form, built.right, **changes)

    assert response.status_code == 400
    [row] = [row for row in response.context["rows"] if row.question.pk == built.right.pk]
    assert dict(row.edit_form.errors) == {field: [message]}
    assert '<details class="question-edit" open>' in response.content.decode()  # shown open, to be corrected
    built.right.refresh_from_db()
    assert (built.right.text, built.right.weight, built.right.kind) == ("Right reason code?", Decimal("2"), "yes_no")
    assert built.form.versions.count() == 1


def test_editing_a_question_of_another_form_or_an_old_version_is_a_404(client, lead, built, queue, agent):
    _, _, (other, *_) = factories.form_with_questions(name="Refund handling")
    assert edit(client, built.form, other).status_code == 404
    used(built.version, queue, agent)
    assert edit(client, built.form, built.right, text="Right code?").status_code == 302  # makes version 2
    stale = edit(client, built.form, built.right, text="Right code, again?")  # a page still showing version 1
    assert stale.status_code == 404 and "current version: reload the page" in stale.content.decode()
    not_a_number = client.post(reverse("quality:form", args=[built.form.pk]), {"action": "change", "question": "x"})
    assert not_a_number.status_code == 404


# The form builder: order --------------------------------------------------------------------------

def test_questions_move_up_and_down_their_section(client, lead, built):
    page = client.get(reverse("quality:form", args=[built.form.pk])).content.decode()
    assert 'aria-label="Move “Right reason code?” up"' not in page  # first: it cannot go up
    assert 'aria-label="Move “Letter tone” down"' not in page  # last: nor down

    assert move(client, built.form, built.tone, "up").status_code == 302
    assert texts(built.version) == ["Right reason code?", "Letter tone", "Evidence attached?"]
    assert move(client, built.form, built.right, "down").status_code == 302
    assert texts(built.version) == ["Letter tone", "Right reason code?", "Evidence attached?"]
    assert [q.position for q in Question.objects.filter(section__version=built.version)] == [0, 1, 2]


def test_moving_a_question_in_use_makes_a_new_version(client, lead, built, queue, agent):
    used(built.version, queue, agent)
    assert move(client, built.form, built.evidence, "up").status_code == 302
    assert texts(built.form.versions.get(number=2)) == ["Evidence attached?", "Right reason code?", "Letter tone"]
    assert texts(built.version) == ["Right reason code?", "Evidence attached?", "Letter tone"]


@pytest.mark.parametrize(("which", "direction", "message"), [
    (0, "up", "“Right reason code?” is first in its section already."),
    (2, "down", "“Letter tone” is last in its section already."),
    (1, "sideways", "Move a question up or down."),
])
def test_a_move_that_cannot_be_made_is_refused(client, lead, built, which, direction, message):
    response = move(client, built.form, built.questions[which], direction)
    assert response.status_code == 400 and message in response.content.decode()
    assert texts(built.version) == ["Right reason code?", "Evidence attached?", "Letter tone"]


# Questions in admin (admins'; quality leads build forms on the portal's builder) -----------------

@pytest.fixture
def admin_client(client):
    client.force_login(factories.UserFactory(roles=[roles.ADMIN], is_staff=True, username="ada"))
    return client


def section_form(section, questions, **changes) -> dict:
    data = {"title": section.title, "position": str(section.position),
            "questions-TOTAL_FORMS": str(len(questions)), "questions-INITIAL_FORMS": str(len(questions))}
    for n, q in enumerate(questions):
        row = {"id": q.pk, "section": section.pk, "position": str(q.position), "text": q.text, "guidance": "",
               "kind": q.kind, "scale_min": q.scale_min or "", "scale_max": q.scale_max or "", "weight": str(q.weight)}
        data |= {f"questions-{n}-{name}": value for name, value in row.items()}
    return data | changes


def test_admin_reorders_and_edits_a_sections_questions(admin_client, built):
    url = reverse("admin:quality_formsection_change", args=[built.right.section_id])
    response = admin_client.post(url, section_form(built.right.section, built.questions, **{
        "questions-0-position": "2", "questions-2-position": "0", "questions-2-text": "Tone of the letter",
    }))
    assert response.status_code == 302
    assert texts(built.version) == ["Tone of the letter", "Evidence attached?", "Right reason code?"]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"questions-0-scale_min": "1"}, "scale_min", "A yes/no question has no scale: leave this empty."),
    ({"questions-2-scale_min": ""}, "scale_min", "Give the lowest value of the scale."),
    ({"questions-2-scale_max": "1"}, "scale_max", "The highest value is above the lowest."),
    ({"questions-2-scale_max": "99999"}, "scale_max", "Ensure this value is less than or equal to 100."),
    ({"questions-0-weight": "0"}, "weight", "A weight above 0."),
    ({"questions-0-weight": "lots"}, "weight", "Enter a number."),
    ({"questions-0-text": ""}, "text", "Write the question."),
    ({"questions-0-position": "-1"}, "position", "Ensure this value is greater than or equal to 0."),
    ({"questions-0-position": "9" * 30}, "position", "Ensure this value is less than or equal to 32767."),
])
def test_admin_refuses_a_question_that_makes_no_sense_on_its_field(admin_client, built, changes, field, message):
    url = reverse("admin:quality_formsection_change", args=[built.questions[0].section_id])
    response = admin_client.post(url, section_form(built.questions[0].section, built.questions, **changes))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    row = int(next(iter(changes)).split("-")[1])
    assert formset.forms[row].errors == {field: [message]}
    assert texts(built.version) == ["Right reason code?", "Evidence attached?", "Letter tone"]
    assert list(Question.objects.filter(section__version=built.version).values_list("weight", flat=True)) == [
        Decimal("2"), Decimal("1"), Decimal("1")]


# Sampling rules' evaluators --------------------------------------------------------------------------

def rule_form(queue, form, evaluators) -> dict:
    return {"queue": queue.pk, "form": form.pk, "period": "day", "share_percent": "10", "count": "",
            "extra_after_fail": "0", "evaluators": [user.pk for user in evaluators], "is_active": "on"}


def test_only_quality_evaluators_and_leads_are_offered_as_evaluators(client, lead, queue):
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], username="eve")
    factories.UserFactory(roles=[roles.SUPERVISOR], username="sam")
    factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], username="gone", is_active=False)
    page = client.get(reverse("admin:quality_samplingrule_add"))
    offered = {user.username for user in page.context["adminform"].form.fields["evaluators"].queryset}
    assert offered == {"eve", "lena"}

    form = factories.EvaluationFormFactory(name="Refunds QA")
    response = client.post(reverse("admin:quality_samplingrule_add"), rule_form(queue, form, [evaluator, lead]))
    assert response.status_code == 302
    assert set(SamplingRule.objects.get().evaluators.all()) == {evaluator, lead}


@pytest.mark.parametrize(("who", "message"), [
    ("supervisor", "Sam Supervisor is not a quality evaluator or quality lead: give the role first (Admin › Users), "
                   "or choose someone else."),
    ("agent", "Adam Agent is not a quality evaluator or quality lead: give the role first (Admin › Users), "
              "or choose someone else."),
    ("inactive", "Ina Former is not a quality evaluator or quality lead: give the role first (Admin › Users), "
                 "or choose someone else."),
])
def test_a_user_without_the_evaluator_role_is_refused_as_evaluator(client, lead, queue, who, message):
    user = {
        "supervisor": lambda: factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Sam", last_name="Supervisor"),
        "agent": lambda: factories.AgentFactory(user__first_name="Adam", user__last_name="Agent").user,
        "inactive": lambda: factories.UserFactory(roles=[roles.QUALITY_EVALUATOR], first_name="Ina",
                                                  last_name="Former", is_active=False),
    }[who]()
    form = factories.EvaluationFormFactory(name="Refunds QA")

    response = client.post(reverse("admin:quality_samplingrule_add"), rule_form(queue, form, [lead, user]))

    assert response.status_code == 200
    assert dict(response.context["adminform"].form.errors) == {"evaluators": [message]}
    assert not SamplingRule.objects.exists()


@pytest.mark.parametrize(("value", "message"), [
    ("x", "“x” is not a valid value."),
    ("9" * 30, "Select a valid choice. 999999999999999999999999999999 is not one of the available choices."),
])
def test_an_evaluator_that_is_not_a_user_is_refused(client, lead, queue, value, message):
    form = factories.EvaluationFormFactory(name="Refunds QA")
    data = rule_form(queue, form, [lead]) | {"evaluators": [lead.pk, value]}
    response = client.post(reverse("admin:quality_samplingrule_add"), data)
    assert dict(response.context["adminform"].form.errors) == {"evaluators": [message]}
    assert not SamplingRule.objects.exists()
