"""Presence as agents and supervisors meet it: "Get next work" says why it would refuse
before the click, and presence changes carry an optional reason (admins keep the list)
that supervisors see."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from allocation import services
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable
from allocation.models import AgentProfile, Presence, PresenceChange, PresenceReason
from core import roles
from core.exceptions import InvalidInput
from tests import factories
from tests.helpers import queued_item, started_item, supervisor_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("presence_reasons")]

GET_NEXT = re.compile(r'<form id="get-next-form".*?</form>', re.DOTALL)


def _reason(presence: str, label: str) -> PresenceReason:
    return PresenceReason.objects.get(presence=presence, label=label)  # a default reason (data migration)


def _get_next_form(html: str) -> str:
    found = GET_NEXT.search(html)
    assert found, "no Get next work form"
    return found.group(0)


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent.user)
    return client


# "Get next work" refuses before the click -----------------------------------------------

AT_CAPACITY = "You already hold 3 of 3 items: finish, pend or release one first."


@pytest.mark.parametrize(("presence", "reason", "held", "refusal", "shown"), [
    (Presence.AVAILABLE, None, 0, None, None),
    (Presence.AVAILABLE, None, 2, None, None),
    (Presence.AVAILABLE, None, 3, AgentAtCapacity, AT_CAPACITY),
    (Presence.AWAY, None, 0, AgentNotAvailable, "You are away: set yourself available to get work."),
    (Presence.AWAY, "Lunch", 0, AgentNotAvailable, "You are away (Lunch): set yourself available to get work."),
    (Presence.OFFLINE, "End of shift", 1, AgentNotAvailable,
     "You are offline (End of shift): set yourself available to get work."),
])
def test_the_button_is_disabled_exactly_when_get_next_refuses_and_says_why(
    agent_client, agent, queue, presence, reason, held, refusal, shown
):
    for _ in range(held):
        started_item(agent, queue)
    queued_item(queue)
    reason_id = _reason(presence, reason).pk if reason else None
    services.agent_set_presence(agent_id=agent.pk, presence=presence, actor=agent.user, reason_id=reason_id)

    button = _get_next_form(agent_client.get(reverse("work:inbox")).content.decode())
    if refusal is None:
        assert " disabled" not in button and "get-next-why" not in button
        assert services.item_get_next(agent_id=agent.pk) is not None
        return
    assert " disabled" in button
    assert re.search(r'id="get-next-why"[^>]*>(.*?)</p>', button).group(1) == shown
    with pytest.raises(refusal):
        services.item_get_next(agent_id=agent.pk)


def test_changing_presence_in_place_updates_the_button_beside_it(agent_client, agent):
    htmx = {"HX-Request": "true"}
    away = agent_client.post(reverse("work:presence"), {"presence": "away"}, headers=htmx).content.decode()
    assert 'hx-swap-oob="true"' in _get_next_form(away) and " disabled" in _get_next_form(away)
    back = agent_client.post(reverse("work:presence"), {"presence": "available"}, headers=htmx).content.decode()
    assert 'hx-swap-oob="true"' in _get_next_form(back) and " disabled" not in _get_next_form(back)


def test_the_inbox_refresh_updates_the_button_when_its_refusal_changes(agent_client, agent, queue):
    item = started_item(agent, queue)
    agent.capacity = 1
    agent.save(update_fields=["capacity"])
    htmx = {"HX-Request": "true"}
    page = agent_client.get(reverse("work:inbox")).content.decode()
    shown = re.search(r'hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    # Nothing changed: the refresh leaves the button alone (a swap would drop its focus).
    assert "get-next-form" not in agent_client.get(shown, headers=htmx).content.decode()
    services.item_complete(item_id=item.pk, actor=agent.user)
    refreshed = agent_client.get(shown, headers=htmx).content.decode()
    assert 'hx-swap-oob="true"' in _get_next_form(refreshed) and " disabled" not in _get_next_form(refreshed)
    # The list swapped in carries the state it showed: the next refresh leaves the button alone.
    shown = re.search(r'hx-get="([^"]+)"', refreshed).group(1).replace("&amp;", "&")
    assert "get-next-form" not in agent_client.get(shown, headers=htmx).content.decode()


# Reasons ------------------------------------------------------------------------------------

def test_a_reason_is_kept_on_the_change_and_the_agent(agent):
    lunch, meeting = _reason("away", "Lunch"), _reason("away", "Meeting")
    services.agent_set_presence(agent_id=agent.pk, presence="away", actor=agent.user, reason_id=lunch.pk)
    agent.refresh_from_db()
    since = agent.presence_since
    assert (agent.presence, agent.presence_reason, agent.presence_label) == ("away", lunch, "Away (Lunch)")
    assert PresenceChange.objects.get(agent=agent).reason == lunch

    services.agent_set_presence(agent_id=agent.pk, presence="away", actor=agent.user, reason_id=lunch.pk)
    assert PresenceChange.objects.filter(agent=agent).count() == 1  # the same again changes nothing

    services.agent_set_presence(agent_id=agent.pk, presence="away", actor=agent.user, reason_id=meeting.pk)
    agent.refresh_from_db()
    assert agent.presence_reason == meeting and agent.presence_since == since  # still away since then
    assert list(PresenceChange.objects.filter(agent=agent).order_by("id").values_list("reason__label", flat=True)) \
        == ["Lunch", "Meeting"]

    services.agent_set_presence(agent_id=agent.pk, presence="available", actor=agent.user)
    agent.refresh_from_db()
    assert agent.presence_reason is None and agent.presence_label == "Available"


@pytest.mark.parametrize(("presence", "reason"), [
    ("available", ("away", "Lunch")),  # available takes none
    ("offline", ("away", "Lunch")),  # another presence's
    ("away", "retired"),
    ("away", 2**70),
    ("away", -1),
])
def test_a_reason_that_does_not_fit_is_refused_and_nothing_changes(agent, presence, reason):
    if reason == "retired":
        reason_id = PresenceReason.objects.create(presence="away", label="Old", active=False).pk
    elif isinstance(reason, tuple):
        reason_id = _reason(*reason).pk
    else:
        reason_id = reason
    before = agent.presence
    with pytest.raises(InvalidInput) as refused:
        services.agent_set_presence(agent_id=agent.pk, presence=presence, actor=agent.user, reason_id=reason_id)
    assert "reason" in refused.value.fields
    agent.refresh_from_db()
    assert agent.presence == before and not PresenceChange.objects.filter(agent=agent).exists()


def test_the_page_offers_the_reasons_of_the_agents_presence(agent_client, agent):
    agent_client.post(reverse("work:presence"), {"presence": "away"})
    page = agent_client.get(reverse("work:inbox")).content.decode()
    offered = set(re.findall(r'<option value="\d+">([^<]+)</option>', page))
    assert offered == set(PresenceReason.objects.filter(presence="away", active=True).values_list("label", flat=True))

    lunch = _reason("away", "Lunch")
    response = agent_client.post(reverse("work:presence"), {"presence": "away", "reason": lunch.pk}, follow=True)
    assert "You are now away (Lunch)." in response.content.decode()
    # Switching presence with the old list's reason still posted starts without one.
    agent_client.post(reverse("work:presence"), {"presence": "offline", "reason": lunch.pk})
    agent.refresh_from_db()
    assert (agent.presence, agent.presence_reason) == ("offline", None)


def test_the_api_takes_a_reason_and_refuses_a_bad_one_by_field(agent):
    client = APIClient()
    client.force_authenticate(agent.user)
    url = "/api/v1/agent/presence/"
    offered = client.get(url).json()["reasons_offered"]
    assert {(r["presence"], r["label"]) for r in offered} == set(
        PresenceReason.objects.filter(active=True).values_list("presence", "label"))
    training = next(r for r in offered if r["label"] == "Training")

    body = client.put(url, {"presence": "away", "reason": training["id"]}, format="json").json()
    assert body["reason"] == training
    assert body["get_next_refusal"] == "You are away (Training): set yourself available to get work."

    for bad in ({"presence": "available", "reason": training["id"]}, {"presence": "away", "reason": "lunch"},
                {"presence": "away", "reason": 10**30}, {"presence": "away", "reason": 0}):
        response = client.put(url, bad, format="json")
        assert response.status_code == 400 and "reason" in response.json()["errors"], bad
    assert PresenceChange.objects.filter(agent=agent).count() == 1

    body = client.put(url, {"presence": "available"}, format="json").json()
    assert body["reason"] is None and body["get_next_refusal"] is None


# Supervisors see it ---------------------------------------------------------------------------

def test_supervisors_see_each_agents_presence_and_why(client, agent, queue, team):
    other = factories.AgentFactory(team=team)
    services.agent_set_presence(agent_id=agent.pk, presence="away", actor=agent.user,
                                reason_id=_reason("away", "Training").pk)
    services.agent_set_presence(agent_id=other.pk, presence="offline", actor=other.user)
    client.force_login(supervisor_for(queue))

    listing = client.get(reverse("reports:scorecards")).content.decode()
    assert "Away (Training)" in listing and "Offline" in listing

    card = client.get(reverse("reports:scorecard", args=[agent.pk])).content.decode()
    today = card.split('id="presence-h"')[1]
    assert "Away (Training)" in today and "<td data-label=\"Why\">Training</td>" in today


def test_admins_keep_the_reasons(admin_client):
    response = admin_client.post(reverse("admin:allocation_presencereason_add"),
                                 {"presence": "away", "label": "Volunteering", "active": "on", "position": 9})
    assert response.status_code == 302
    assert PresenceReason.objects.filter(label="Volunteering", presence="away", active=True).exists()
    assert AgentProfile._meta.get_field("presence_reason").remote_field.on_delete.__name__ == "PROTECT"


def test_the_wallboards_agents_by_presence_open_those_agents_with_their_reasons(client, team, agent):
    """The board's agent counts link to the scorecards list of those agents (presence now,
    and why) for a user who sees every agent there; a supervisor of one team of two gets
    the numbers without links, as the list would count fewer."""
    other_team = factories.TeamFactory()
    away = factories.AgentFactory(team=team)
    factories.AgentFactory(team=other_team)  # offline by default
    services.agent_set_presence(agent_id=agent.pk, presence="available", actor=agent.user)
    services.agent_set_presence(agent_id=away.pk, presence="away", actor=away.user,
                                reason_id=_reason("away", "Meeting").pk)
    client.force_login(factories.UserFactory(is_superuser=True, is_staff=True))
    board = client.get(reverse("reports:wallboard")).content.decode()
    links = re.findall(r'href="(/reports/scorecards/\?presence=(\w+))">(\d+)<', board)
    assert {presence for _, presence, _ in links} == {"available", "away", "offline"}
    for href, presence, shown in links:
        listing = client.get(href)
        assert len(listing.context["agents"]) == int(shown) == AgentProfile.objects.filter(presence=presence).count()
    assert "Away (Meeting)" in client.get("/reports/scorecards/?presence=away").content.decode()
    assert client.get("/reports/scorecards/?presence=lunch").status_code == 400

    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    client.force_login(lead)
    assert "/reports/scorecards/?presence=" not in client.get(reverse("reports:wallboard")).content.decode()


@pytest.mark.parametrize("data", [
    {"presence": "away", "reason": "99999999999999999999999"},
    {"presence": "away", "reason": "-1"},
    {"presence": "away", "reason": "lunch"},
    {"presence": "asleep"},
    {"presence": "away", "reason": "1\x00"},
])
@pytest.mark.parametrize("start", [Presence.AVAILABLE, Presence.AWAY])  # away: the reasons' list is offered
def test_a_hostile_presence_post_is_refused_with_a_message_and_changes_nothing(agent_client, agent, data, start):
    services.agent_set_presence(agent_id=agent.pk, presence=start, actor=agent.user)
    changes = PresenceChange.objects.filter(agent=agent).count()
    response = agent_client.post(reverse("work:presence"), data, headers={"HX-Request": "true"})
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    agent.refresh_from_db()
    assert agent.presence == start and PresenceChange.objects.filter(agent=agent).count() == changes


def test_the_presence_poll_reads_in_one_statement_what_the_rules_say(agent, queue, settings):
    """The poll (twice a minute from every API agent) reads the items held, the agent's
    reason and the reasons offered in one statement: the same answers as the rules'
    own reads (eligibility.active_item_count, presence_reasons_offered in the model's order,
    agent_next_work_refusal), whatever the admins' list holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from allocation import eligibility, selectors
    from tests.helpers import assigned_item, pended_item, seen_just_now

    PresenceReason.objects.create(presence=Presence.AWAY, label="Team huddle", position=0)
    PresenceReason.objects.create(presence=Presence.AWAY, label="Archived reason", active=False)
    PresenceReason.objects.create(presence=Presence.OFFLINE, label="Another shift", position=0)
    agent.capacity = 4
    agent.save()
    started_item(agent, queue)
    assigned_item(agent, queue)
    pended_item(agent, queue)  # does not count against capacity
    reason = _reason(Presence.AWAY, "Lunch")
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY, reason_id=reason.pk, actor=agent.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent.user).key}")
    seen_just_now(agent.user)  # the visit (once a minute; here not again for a day) is not the poll's
    settings.WFO_AGENT_SEEN_EVERY = timedelta(days=1)

    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/v1/agent/presence/").json()

    assert len(queries) == 2, [q["sql"][:80] for q in queries]  # who is calling, then the state
    agent = AgentProfile.objects.get(pk=agent.pk)
    held = eligibility.active_item_count(agent.pk)
    assert held == 2
    assert body["holding"] == held
    assert body["reason"] == {"id": reason.pk, "presence": Presence.AWAY, "label": "Lunch"}
    assert body["reasons_offered"] == [{"id": r.pk, "presence": r.presence, "label": r.label}
                                       for r in selectors.presence_reasons_offered()]
    assert "Archived reason" not in str(body["reasons_offered"])
    assert body["get_next_refusal"] == services.agent_next_work_refusal(agent, held=held).message
    assert "(Lunch)" in body["get_next_refusal"]


def test_the_poll_says_who_set_the_agent_away_or_offline_when_another_did(agent, queue, settings):
    """An API agent whose client stopped, or whom a supervisor took off work, reads who did
    it in its poll (`set_by`, in the poll's one statement), by the rule the inbox's switch
    follows (selectors.presence_set_by_another); its own change names no one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from allocation import selectors
    from allocation.services.rebalancing import agents_idle_set_offline
    from tests.helpers import seen_just_now

    supervisor = supervisor_for(queue)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent.user).key}")
    settings.WFO_AGENT_SEEN_EVERY = timedelta(days=1)

    def poll() -> dict:
        seen_just_now(agent.user)
        with CaptureQueriesContext(connection) as queries:
            body = api.get("/api/v1/agent/presence/").json()
        assert len(queries) == 2, [q["sql"][:80] for q in queries]  # who is calling, then the state
        rule = selectors.presence_set_by_another(AgentProfile.objects.get(pk=agent.pk))
        assert body["set_by"] == (rule.actor_label if rule else None)
        return body

    assert poll()["set_by"] is None  # available
    services.agent_set_presence_by_supervisor(agent_id=agent.pk, presence=Presence.AWAY, actor=supervisor,
                                              reason_id=_reason(Presence.AWAY, "Meeting").pk)
    assert poll()["set_by"] == supervisor.get_username()
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.OFFLINE, actor=agent.user)
    assert poll()["set_by"] is None  # her own
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AVAILABLE, actor=agent.user)
    type(agent).objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(hours=2))
    assert agents_idle_set_offline() == 1
    body = poll()
    assert body["presence"] == Presence.OFFLINE and body["set_by"] == "system: idle-timeout"
    assert body["get_next_refusal"].startswith("You are offline")
