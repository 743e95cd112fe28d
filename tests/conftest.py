import shutil

import pytest
from rest_framework.test import APIClient

from tests import factories

# The browser fixtures and the no-chromium skip, for tests/browser and tests/journeys alike.
pytest_plugins = ["tests.browser_support"]


def pytest_report_header(config):
    """Say plainly, at the top of every run, whether the browser and broker fault tests run."""
    from tests.browser_support import chromium_path  # loaded as a plugin first (see pytest_plugins)

    path = chromium_path()
    browser = (f"browser tests: chromium at {path}" if path
               else "browser tests: SKIPPED, no chromium found (apt-get install chromium; .ci/run does)")
    redis = shutil.which("redis-server")
    faults = (f"broker fault test: redis-server at {redis}" if redis
              else "broker fault test: SKIPPED, no redis-server found (apt-get install redis-server; .ci/run does)")
    return [browser, faults]


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

    from core.roles import role_groups_sync

    role_groups_sync(apps)


@pytest.fixture
def presence_reasons(db):
    """The presence reasons a data migration made (Break, Lunch, …), for the same reason
    as role_groups: a transactional test before this one flushed them."""
    import importlib

    from django.apps import apps

    importlib.import_module("allocation.migrations.0013_presence_reasons").add_default_reasons(apps, None)


@pytest.fixture
def item_action_reasons(db):
    """The pend and release reasons a data migration made (Waiting for the customer, Going off
    shift, …), for the same reason as role_groups: a transactional test before this one
    flushed them."""
    import importlib

    from django.apps import apps

    importlib.import_module("allocation.migrations.0030_pend_and_release_reasons").add_default_reasons(apps, None)
