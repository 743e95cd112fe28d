import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def team(db):
    return factories.TeamFactory()


@pytest.fixture
def queue(team):
    return factories.QueueFactory(teams=[team])


@pytest.fixture
def agent(team):
    return factories.AgentFactory(team=team)


@pytest.fixture
def role_groups(db):
    """The role groups a data migration made. Transactional tests flush the database after
    each test, groups included, so tests that run after one ask for them again here."""
    from django.apps import apps

    from wfo.roles import role_groups_sync

    role_groups_sync(apps)
