"""Who is signed in, read in one plain statement with the agent profile (allocation/identity.py)
and the session by one plain statement (core/sessions.py): the same answers as Django's and
DRF's own — expired sessions, inactive users, unknown and revoked tokens — with the profile
in hand for every check after, and an agent's last visit written once a minute at most."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from allocation.models import AgentProfile, Presence
from allocation.services import rebalancing
from core import roles
from tests import factories
from tests.helpers import started_item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("presence_reasons")]
HTMX = {"HX-Request": "true"}
NOW = datetime(2031, 3, 12, 10, 0, tzinfo=UTC)


def test_a_signed_in_agent_comes_with_its_profile_in_one_statement(client, agent, queue):
    started_item(agent, queue)
    client.force_login(agent.user)
    version = client.get(reverse("work:inbox-list"), headers=HTMX)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        again = client.get(reverse("work:inbox-list"), headers=HTMX | {"If-None-Match": version})
    assert again.status_code == 304
    # The session, the user with its profile, the inbox's version: nothing else.
    assert len(queries) == 3, [q["sql"][:80] for q in queries]
    assert 'LEFT JOIN "allocation_agentprofile"' in queries[1]["sql"]


def test_a_page_asks_nothing_more_of_the_roles_read_along_with_the_user(client, agent, queue):
    """request.user is a lazy wrapper: the role checks must find what the sign-in read on the
    user inside it (the item page asks whether its viewer is an admin, a supervisor, an agent)."""
    item = started_item(agent, queue)
    client.force_login(agent.user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("work:item", args=[item.pk])).status_code == 200
    assert [q["sql"][:80] for q in queries if '"auth_group"' in q["sql"] and "ARRAY(" not in q["sql"]] == []


def test_the_session_user_is_the_backends_with_its_profile_or_its_absence(rf, agent):
    supervisor = factories.UserFactory()
    for user, has_profile in ((agent.user, True), (supervisor, False)):
        request = _request_signed_in_as(rf, client_session_for(user))
        signed_in = get_user(request)
        assert signed_in.pk == user.pk and signed_in.username == user.username
        assert signed_in.password == user.password and signed_in.date_joined == user.date_joined
        with CaptureQueriesContext(connection) as queries:
            assert roles.is_agent(signed_in) is has_profile
            if has_profile:
                assert signed_in.agent_profile.capacity == agent.capacity
                assert signed_in.agent_profile.user is signed_in
        assert len(queries) == 0


@pytest.mark.usefixtures("role_groups")
def test_roles_and_permissions_come_with_the_user_as_djangos_backend_gives_them(rf, agent, team):
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission

    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    supervisor.user_permissions.add(Permission.objects.get(codename="view_team"))
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD, roles.QUALITY_EVALUATOR])
    boss = factories.UserFactory(is_superuser=True)
    for user in (agent.user, supervisor, lead, boss):
        signed_in = get_user(_request_signed_in_as(rf, client_session_for(user)))
        fresh = type(user).objects.get(pk=user.pk)
        with CaptureQueriesContext(connection) as queries:
            names, teams = roles.role_names(signed_in), roles.supervised_team_ids(signed_in)
            may = {perm: signed_in.has_perm(perm) for perm in ("allocation.view_team", "allocation.change_workitem",
                                                               "quality.add_evaluation")}
            if not user.is_superuser:
                permissions = ModelBackend().get_all_permissions(signed_in)
        assert len(queries) == 0, [q["sql"][:80] for q in queries]
        assert names == roles.role_names(fresh) and teams == roles.supervised_team_ids(fresh)
        assert may == {perm: fresh.has_perm(perm) for perm in may}
        if not user.is_superuser:
            assert permissions == ModelBackend().get_all_permissions(fresh) and permissions
    assert roles.supervised_team_ids(get_user(_request_signed_in_as(rf, client_session_for(supervisor)))) == {team.pk}


def test_an_inactive_user_or_an_expired_session_is_signed_out(client, agent):
    client.force_login(agent.user)
    assert client.get(reverse("work:inbox")).status_code == 200
    Session.objects.update(expire_date=datetime(2000, 1, 1, tzinfo=UTC))
    assert client.get(reverse("work:inbox")).status_code == 302  # to the login page
    client.force_login(agent.user)
    type(agent.user).objects.filter(pk=agent.user.pk).update(is_active=False)
    assert client.get(reverse("work:inbox")).status_code == 302


def test_a_session_key_nobody_holds_is_a_new_anonymous_session(client):
    client.cookies["sessionid"] = "x" * 32
    response = client.get(reverse("work:inbox"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_api_tokens_answer_as_before(client, agent):
    token = Token.objects.create(user=agent.user)
    url = reverse("agent-presence")
    ok = client.get(url, headers={"Authorization": f"Token {token.key}"})
    assert ok.status_code == 200
    unknown = client.get(url, headers={"Authorization": "Token " + "0" * 40})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "Invalid token."
    hostile = client.get(url, headers={"Authorization": "Token ' OR 1=1 --"})
    assert hostile.status_code == 401
    type(agent.user).objects.filter(pk=agent.user.pk).update(is_active=False)
    inactive = client.get(url, headers={"Authorization": f"Token {token.key}"})
    assert inactive.status_code == 401 and inactive.json()["detail"] == "User inactive or deleted."
    token.delete()
    revoked = client.get(url, headers={"Authorization": f"Token {token.key}"})
    assert revoked.status_code == 401 and revoked.json()["detail"] == "Invalid token."


def test_a_token_request_reads_user_and_profile_once(client, agent):
    token = Token.objects.create(user=agent.user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("agent-presence"), headers={"Authorization": f"Token {token.key}"}).status_code == 200
    reads = [q["sql"] for q in queries if "allocation_agentprofile" in q["sql"] and "authtoken_token" in q["sql"]]
    assert len(reads) == 1
    assert not [q for q in queries if q["sql"].startswith('SELECT "allocation_agentprofile"')]


def test_an_agents_visits_are_recorded_once_a_minute_without_writing_the_session(client, agent):
    with time_machine.travel(NOW, tick=False) as clock:
        client.force_login(agent.user)
        session_data = Session.objects.get().session_data
        client.get(reverse("work:inbox"))
        assert AgentProfile.objects.get(pk=agent.pk).last_seen_at == NOW
        clock.shift(timedelta(seconds=59))
        client.get(reverse("work:inbox"))
        assert AgentProfile.objects.get(pk=agent.pk).last_seen_at == NOW
        clock.shift(timedelta(seconds=1))
        client.get(reverse("work:inbox"))
        assert AgentProfile.objects.get(pk=agent.pk).last_seen_at == NOW + timedelta(seconds=60)
        assert Session.objects.get().session_data == session_data


def test_an_agent_working_through_the_api_is_recorded_and_not_taken_for_idle(client, agent, settings):
    """An agent who last used the pages yesterday and works through an API client today
    (polling its presence, pulling work) is seen by those requests: the idle sweep leaves
    it available. The token is read in the view, so the visit is recorded after it."""
    settings.WFO_PRESENCE_IDLE = timedelta(minutes=30)
    token = Token.objects.create(user=agent.user)
    auth = {"Authorization": f"Token {token.key}"}
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False) as clock:
        assert client.get(reverse("agent-presence"), headers=auth).status_code == 200
        assert AgentProfile.objects.get(pk=agent.pk).last_seen_at == NOW
        clock.shift(timedelta(minutes=29))
        assert client.get(reverse("agent-presence"), headers=auth).status_code == 200
        clock.shift(timedelta(minutes=29))
        assert rebalancing.agents_idle_set_offline() == 0
        assert AgentProfile.objects.get(pk=agent.pk).presence == Presence.AVAILABLE
        assert AgentProfile.objects.get(pk=agent.pk).last_seen_at == NOW + timedelta(minutes=29)


def test_someone_who_is_not_an_agent_is_not_recorded(client):
    supervisor = factories.UserFactory()
    client.force_login(supervisor)
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]


# Helpers ----------------------------------------------------------------------------------

def client_session_for(user) -> str:
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c.cookies["sessionid"].value


def _request_signed_in_as(rf, session_key: str):
    from importlib import import_module

    from django.conf import settings

    request = rf.get("/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return request
