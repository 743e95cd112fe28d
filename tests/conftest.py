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
