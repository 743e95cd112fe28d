"""The query count of every quality page and API operation, pinned. Each is measured with a
few rows and again with more (forms, versions, questions, answers, evaluations, evaluators,
item events): the count is the same fixed number, so a query per row shows as a failure."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from allocation import services as allocation_services
from core import roles
from core.models import Notification
from quality import services
from tests import factories
from tests.helpers import evaluation_in_state, pended_item, seen_just_now

pytestmark = pytest.mark.django_db

FEW, MANY = 3, 6


@pytest.fixture
def office(queue, agent, team, settings):
    # The agent's visit is recorded once a minute (allocation.middleware): recorded already,
    # and not again for a day, so no count depends on when in the minute a request falls.
    settings.WFO_AGENT_SEEN_EVERY = timedelta(days=1)
    seen_just_now(agent.user)
    supervisor = factories.UserFactory(username="sup", roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    return {
        "queue": queue, "agent": agent.user, "supervisor": supervisor,
        "evaluator": factories.UserFactory(username="eva", roles=[roles.QUALITY_EVALUATOR]),
        "lead": factories.UserFactory(username="qa-lead", roles=[roles.QUALITY_LEAD]),
    }


def form_version(questions: int, *, form=None):
    """A new version (of `form`, or of a new form) with `questions` yes/no questions in two sections."""
    version = factories.FormVersionFactory(**({"form": form} if form else {}))
    first, second = factories.FormSectionFactory(version=version), factories.FormSectionFactory(version=version)
    for n in range(questions):
        factories.QuestionFactory(section=first if n % 2 else second)
    return version


def all_yes(version) -> dict[int, str]:
    from quality.selectors import questions_of_version

    return {question.pk: "yes" for question in questions_of_version(version)}


def evaluation(office, version, state: str = "assigned", *, item=None, evaluator=None):
    """An evaluation of the agent's work on `version`, taken to `state` through the services
    (every question answered yes; a dispute objects to every answer)."""
    assigned = factories.EvaluationFactory(
        item=item or factories.CompletedItemFactory(queue=office["queue"], completed_by=office["agent"]),
        evaluator=evaluator or office["evaluator"], version=version,
    )
    answers = all_yes(version)
    if state == "disputed":
        evaluation_in_state("submitted", evaluation=assigned, answers=answers, decider=None)
        return services.evaluation_dispute(evaluation_id=assigned.pk, actor=office["agent"], comment="Unfair",
                                           question_comments={pk: "It was right" for pk in answers})
    return evaluation_in_state(state, evaluation=assigned, answers=answers, decider=office["lead"])


def lived_item(office, *, follow_ups: int):
    """A completed item with its events (taken in, assigned, started, `follow_ups` times
    pended and resumed, completed): the evaluation page shows its timeline."""
    agent = office["agent"].agent_profile
    item = pended_item(agent, office["queue"])
    for n in range(follow_ups):
        item = allocation_services.item_resume(item_id=item.pk, actor=office["agent"])
        if n + 1 < follow_ups:
            item = allocation_services.item_pend(item_id=item.pk, actor=office["agent"], until=item.due_at,
                                                 reason="Waiting for the customer")
    return allocation_services.item_complete(item_id=item.pk, actor=office["agent"], outcome="done")


def counted(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code < 400, (response.status_code, getattr(response, "content", b"")[:500])
    return len(captured)


def page_queries(client, user, url: str) -> int:
    client.force_login(user)
    client.get(url)  # the session's once-a-minute "last seen" write happens here, not in what is counted
    return counted(lambda: client.get(url))


def api_for(user) -> APIClient:
    """A client for `user` as a request would load it: roles not yet read (core.roles reads
    them once per user object)."""
    api = APIClient()
    api.force_authenticate(type(user).objects.get(pk=user.pk))
    return api


# Pages ---------------------------------------------------------------------------------

# Session, user with its agent profile and roles (groups, supervised teams: one statement,
# allocation.identity), one query per list the role sees (to do, given, received, disputes
# to decide, its teams'; a lead's first-pass figures three), unread notifications.
HOME = {"evaluator": 6, "agent": 6, "supervisor": 8, "lead": 10}


@pytest.mark.parametrize("viewer", list(HOME))
def test_the_quality_home(client, office, viewer):
    def more(n: int) -> None:
        version = form_version(FEW)
        for _ in range(n):
            for state in ("assigned", "submitted", "disputed"):
                evaluation(office, version, state)

    url = reverse("quality:home")
    more(1)
    few = page_queries(client, office[viewer], url)
    more(MANY - 1)
    assert (few, page_queries(client, office[viewer], url)) == (HOME[viewer], HOME[viewer])


# The evaluator scoring, the agent answering, a decider deciding: session, user (with its
# roles and permissions), the evaluation, its questions, its answers, the item's events,
# navigation.
EVALUATION_PAGE = {"assigned": 7, "submitted": 7, "disputed": 7}


@pytest.mark.parametrize("state", list(EVALUATION_PAGE))
def test_the_evaluation_page(client, office, state):
    viewer = {"assigned": "evaluator", "submitted": "agent", "disputed": "lead"}[state]
    few = evaluation(office, form_version(FEW), state, item=lived_item(office, follow_ups=1))
    many = evaluation(office, form_version(MANY), state, item=lived_item(office, follow_ups=4))
    counts = [page_queries(client, office[viewer], reverse("quality:evaluation", args=[e.pk])) for e in (few, many)]
    assert counts == [EVALUATION_PAGE[state]] * 2


FORMS_PAGE = 4


def test_the_forms_page(client, office):
    for _ in range(FEW):
        form_version(FEW)
    few = page_queries(client, office["lead"], reverse("quality:forms"))
    for _ in range(MANY):
        form_version(MANY)
    assert (few, page_queries(client, office["lead"], reverse("quality:forms"))) == (FORMS_PAGE, FORMS_PAGE)


FORM_PAGE = 8


def test_the_form_page(client, office):
    """The latest version's questions, and the results of every version."""
    def form_with(versions: int, questions: int):
        version = form_version(questions)
        evaluation(office, version, "submitted")
        for _ in range(versions - 1):
            version = form_version(questions, form=version.form)
            evaluation(office, version, "submitted")
        return version.form

    counts = [page_queries(client, office["lead"], reverse("quality:form", args=[form.pk]))
              for form in (form_with(1, FEW), form_with(3, MANY))]
    assert counts == [FORM_PAGE] * 2


CALIBRATION_NEW_PAGE = 5


def test_the_new_calibration_page(client, office):
    url = reverse("quality:calibration-new")
    form_version(FEW)
    few = page_queries(client, office["lead"], url)
    for _ in range(MANY):
        form_version(FEW)
        factories.UserFactory(roles=[roles.QUALITY_EVALUATOR])
    assert (few, page_queries(client, office["lead"], url)) == (CALIBRATION_NEW_PAGE, CALIBRATION_NEW_PAGE)


CALIBRATION_PAGE = 7


def test_the_calibration_page(client, office):
    def session_of(evaluators: int, questions: int):
        version = form_version(questions)
        item = factories.CompletedItemFactory(queue=office["queue"], completed_by=office["agent"])
        people = [factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]) for _ in range(evaluators)]
        session = services.calibration_start(item_id=item.pk, form=version.form, evaluator_ids=[p.pk for p in people],
                                             actor=office["lead"])
        for person in people:
            services.evaluation_submit(evaluation_id=session.evaluations.get(evaluator=person).pk, actor=person,
                                       answers=all_yes(version))
        return session

    counts = [page_queries(client, office["lead"], reverse("quality:calibration", args=[session.pk]))
              for session in (session_of(2, FEW), session_of(5, MANY))]
    assert counts == [CALIBRATION_PAGE] * 2


# The API -------------------------------------------------------------------------------

# Roles, the count, the forms, their latest versions, sections and questions.
FORMS_API = 8


def test_the_forms_api(office):
    url = reverse("quality-forms")
    for _ in range(FEW):
        form_version(FEW)
    few = counted(lambda: api_for(office["evaluator"]).get(url))
    for _ in range(MANY):
        form_version(FEW, form=form_version(MANY).form)  # an older version's questions are not read
    assert len(api_for(office["evaluator"]).get(url).json()["results"]) == FEW + MANY
    assert (few, counted(lambda: api_for(office["evaluator"]).get(url))) == (FORMS_API, FORMS_API)


# User, roles (a supervisor's teams too), the count, the page of evaluations.
EVALUATIONS_API = {"evaluator": 5, "agent": 5, "supervisor": 6, "lead": 5}


@pytest.mark.parametrize("viewer", list(EVALUATIONS_API))
def test_the_evaluations_api(office, viewer):
    def more(n: int) -> None:
        version = form_version(FEW)
        for _ in range(n):
            for state in ("assigned", "submitted", "disputed"):
                evaluation(office, version, state)

    url = reverse("quality-evaluations")
    more(1)
    few = counted(lambda: api_for(office[viewer]).get(url))
    more(MANY - 1)
    assert (few, counted(lambda: api_for(office[viewer]).get(url))) == (EVALUATIONS_API[viewer],) * 2


EVALUATION_API = 5


def test_the_evaluation_api(office):
    counts = [counted(lambda e=e: api_for(office["agent"]).get(reverse("quality-evaluation", args=[e.pk])))
              for e in (evaluation(office, form_version(FEW), "submitted"),
                        evaluation(office, form_version(MANY), "submitted"))]
    assert counts == [EVALUATION_API] * 2


# User, roles, the locked evaluation, its version's questions, the answers replaced (two
# statements whatever their number), the evaluation saved, the answers it answers with.
SUBMIT_API = {True: 11, False: 11}  # a draft, a submission


@pytest.mark.parametrize("draft", [True, False])
def test_the_submit_api(office, draft):
    def submit(questions: int) -> int:
        version = form_version(questions)
        to_score = evaluation(office, version)
        body = {"answers": {str(pk): value for pk, value in all_yes(version).items()}, "draft": draft}
        url = reverse("quality-submit", args=[to_score.pk])
        return counted(lambda: api_for(office["evaluator"]).post(url, body, format="json"))

    assert [submit(FEW), submit(MANY)] == [SUBMIT_API[draft]] * 2


ACKNOWLEDGE_API = 7  # with its line in the change log


def test_the_acknowledge_api(office):
    def acknowledge(questions: int) -> int:
        url = reverse("quality-acknowledge", args=[evaluation(office, form_version(questions), "submitted").pk])
        return counted(lambda: api_for(office["agent"]).post(url, {}, format="json"))

    assert [acknowledge(FEW), acknowledge(MANY)] == [ACKNOWLEDGE_API] * 2


# The dispute, its objections to every answer (one statement), its change log line, and
# telling whoever decides: the deciders with their roles read along (core.roles.with_roles),
# so two deciders or five cost the same.
DISPUTE_API = 14


def test_the_dispute_api(office, team):
    def dispute(questions: int) -> int:
        version = form_version(questions)
        scored = evaluation(office, version, "submitted")
        body = {"comment": "Unfair", "questions": {str(pk): "It was right" for pk in all_yes(version)}}
        url = reverse("quality-dispute", args=[scored.pk])
        return counted(lambda: api_for(office["agent"]).post(url, body, format="json"))

    assert [dispute(FEW), dispute(MANY)] == [DISPUTE_API] * 2
    for _ in range(2):  # more quality leads, and another supervisor of the agent's team
        factories.UserFactory(roles=[roles.QUALITY_LEAD])
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    assert dispute(FEW) == DISPUTE_API
    assert Notification.objects.filter(kind=services.DISPUTE_NOTIFICATION_KIND).values("user").distinct().count() == 5
