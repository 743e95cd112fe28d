"""core/roles.py: the one place that answers who is what. Each role is explicit (its group,
or for agents the agent profile), never a model permission standing in for it."""

import pytest
from django.contrib.auth.models import AnonymousUser, Permission

from core import roles
from core.actors import SystemActor
from tests import factories

pytestmark = pytest.mark.django_db

CHECKS = {
    "agent": roles.is_agent,
    "supervisor": roles.is_supervisor,
    "quality_evaluator": roles.is_quality_evaluator,
    "quality_lead": roles.is_quality_lead,
    "admin": roles.is_admin,
    "source_system": roles.is_source_system,
}


def _answers(user) -> set[str]:
    return {name for name, check in CHECKS.items() if check(user)}


def test_each_role_is_its_own_and_no_other(team):
    people = {
        "agent": factories.AgentFactory(team=team).user,
        "supervisor": factories.UserFactory(roles=[roles.SUPERVISOR]),
        "quality_evaluator": factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]),
        "quality_lead": factories.UserFactory(roles=[roles.QUALITY_LEAD]),
        "admin": factories.UserFactory(roles=[roles.ADMIN]),
        "source_system": factories.SourceSystemFactory(),
    }
    for role, user in people.items():
        assert _answers(user) == {role}, role
    assert _answers(factories.UserFactory(is_superuser=True)) == {"admin"}
    assert _answers(factories.UserFactory()) == set()
    assert _answers(AnonymousUser()) == set() and _answers(SystemActor("job")) == set()


def test_a_model_permission_does_not_make_a_role():
    """Source systems hold view_workitem too: that once made them 'supervisors' of reports."""
    user = factories.UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_workitem", "change_queue",
                                                                        "resolve_dispute"]))
    assert _answers(user) == set()
    assert not roles.oversees_work(user) and not roles.leads_quality(user)


def test_supervisor_of_its_teams_only(team):
    other_team = factories.TeamFactory()
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)

    assert roles.is_supervisor_of(supervisor, team_id=team.pk)
    assert not roles.is_supervisor_of(supervisor, team_id=other_team.pk)
    assert not roles.is_supervisor_of(supervisor, team_id=None)
    other_team.supervisors.add(factories.UserFactory())  # supervising a team is not the role
    assert roles.supervised_team_ids(other_team.supervisors.get()) == frozenset()


def test_a_source_system_knows_its_sources():
    source = factories.SourceSystemFactory(sources=["cards", "cards-eu"])
    assert roles.sources_of(source) == {"cards", "cards-eu"}
    assert roles.sources_of(factories.UserFactory(roles=[roles.ADMIN])) == frozenset()


def test_answers_are_read_once_per_user_object(django_assert_num_queries, team):
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    with django_assert_num_queries(2):  # its groups, its teams
        for _ in range(3):
            roles.is_supervisor(supervisor), roles.is_admin(supervisor), roles.is_supervisor_of(supervisor,
                                                                                             team_id=team.pk)
