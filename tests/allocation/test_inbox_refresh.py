"""The inbox's conditional refresh (allocation/views.py inbox_list, selectors.agent_inbox_version):
a refresh that finds the inbox as the page holds it is answered 304 Not Modified with nothing
rendered; every change the list would show — an item given, started, pended, fallen due,
completed, released, re-prioritised; presence, reason or capacity; another time zone —
changes the version, so the next refresh swaps the new list in."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocation import selectors, services
from allocation.models import Presence, PresenceReason, WorkItem
from allocation.services.rebalancing import agents_idle_set_offline
from tests import factories
from tests.helpers import assigned_item, queued_item, started_item, supervisor_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("presence_reasons")]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent.user)
    return client


def refresh(client, version: str | None = None):
    headers = HTMX | ({"If-None-Match": version} if version else {})
    return client.get(reverse("work:inbox-list"), headers=headers)


def test_an_unchanged_inbox_is_not_rendered_again(agent_client, agent, queue):
    started_item(agent, queue, title="In hand")
    first = refresh(agent_client)
    version = first["ETag"]
    assert first.status_code == 200 and "In hand" in first.content.decode()
    # The list carries its version for the next refresh, and the browser keeps no copy.
    assert f'hx-headers=\'{{"If-None-Match": "\\u0022{version[1:-1]}\\u0022"}}\'' in first.content.decode()
    assert first["Cache-Control"] == "no-store"
    with CaptureQueriesContext(connection) as queries:
        again = refresh(agent_client, version)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == version
    assert len(queries) <= 4  # session, user, profile, the version
    # The full page hands its list the same version.
    assert version[1:-1] in agent_client.get(reverse("work:inbox")).content.decode()
    # A stale or foreign version gets the list.
    assert refresh(agent_client, '"not-it"').status_code == 200


def _changes(agent, queue, supervisor):
    """Each change an inbox shows, done to the agent's inbox in turn."""
    mine = started_item(agent, queue, title="Mine")
    yield "an item given by a supervisor", lambda: services.item_transfer(
        item_id=queued_item(queue).pk, actor=supervisor, to_agent_id=agent.pk, reason="urgent")
    given = WorkItem.objects.filter(assignee_id=agent.pk, status="assigned").get()
    yield "started", lambda: services.item_start(item_id=given.pk, actor=agent.user)
    yield "re-prioritised", lambda: services.item_change_priority(item_id=given.pk, actor=supervisor, priority=5,
                                                                   reason="VIP")
    yield "pended", lambda: services.item_pend(item_id=mine.pk, actor=agent.user, reason="Waiting",
                                               until=timezone.now() + timedelta(minutes=30))
    yield "its follow-up fell due", lambda: WorkItem.objects.filter(pk=mine.pk).update(
        pended_until=timezone.now() - timedelta(minutes=1))
    yield "completed", lambda: services.item_complete(item_id=given.pk, actor=agent.user)
    yield "the follow-up given back by get next", lambda: services.item_get_next(agent_id=agent.pk)
    yield "released", lambda: services.item_release(item_id=mine.pk, actor=agent.user, reason="Not mine")
    yield "taken from the queue", lambda: assigned_item(agent, queue, title="Next one")
    lunch = PresenceReason.objects.get(presence=Presence.AWAY, label="Lunch")
    yield "away for lunch", lambda: services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY,
                                                                actor=agent.user, reason_id=lunch.pk)
    yield "capacity", lambda: type(agent).objects.filter(pk=agent.pk).update(capacity=9)


def test_every_change_the_list_shows_changes_its_version(agent_client, agent, queue):
    supervisor = supervisor_for(queue)
    agent.capacity = 5
    agent.save()
    changes = _changes(agent, queue, supervisor)
    version = None
    for what, change in changes:
        if version is None:
            version = refresh(agent_client)["ETag"]
        change()
        answer = refresh(agent_client, version)
        assert answer.status_code == 200, f"the inbox did not change its version when {what}"
        version = answer["ETag"]
        assert refresh(agent_client, version).status_code == 304, f"not stable after {what}"


def test_another_time_zone_is_another_version(agent_client, agent, queue):
    assigned_item(agent, queue)
    version = refresh(agent_client)["ETag"]
    agent_client.cookies["wfo_tz"] = "America/New_York"
    assert refresh(agent_client, version).status_code == 200


def test_the_version_is_the_agents_own(agent, queue, team):
    other = factories.AgentFactory(team=team)
    started_item(agent, queue)
    now = timezone.now()
    before = selectors.agent_inbox_version(other, now=now)
    started_item(agent, queue)
    assert selectors.agent_inbox_version(other, now=now) == before


def _presence_card(answer) -> str:
    """The presence switch swapped in out of band with a refreshed list, or ""."""
    html = answer.content.decode()
    start = html.find('<section id="presence"')
    return html[start:html.index("</section>", start)] if start >= 0 else ""


def test_another_s_change_of_presence_comes_with_the_refreshed_list(agent_client, agent, queue):
    """The page says what its switch shows (`presence_shown`); a supervisor's change is
    swapped in with the list, saying who — the agent's own change already was."""
    supervisor = supervisor_for(queue)
    supervisor.first_name, supervisor.last_name = "Dana", "Morgan"
    supervisor.save()
    page = agent_client.get(reverse("work:inbox")).content.decode()
    assert 'name="presence_shown" value="available:"' in page and "presence-set-by" not in page
    assert 'hx-include="#presence-shown"' in page
    version = refresh(agent_client)["ETag"]

    services.agent_set_presence_by_supervisor(agent_id=agent.pk, presence=Presence.OFFLINE, actor=supervisor)
    answer = agent_client.get(reverse("work:inbox-list"), {"presence_shown": "available:"},
                              headers=HTMX | {"If-None-Match": version})
    card = _presence_card(answer)
    assert 'hx-swap-oob="true"' in card and 'value="offline:"' in card
    assert re.search(r'<p class="presence-set-by" role="status">Set offline by Dana Morgan at \d\d:\d\d\.</p>', card)
    assert re.search(r'value="offline"[^>]*checked', card)

    # A page that shows the change already gets the list alone, and no statement more.
    with CaptureQueriesContext(connection) as queries:
        again = agent_client.get(reverse("work:inbox-list"), {"presence_shown": "offline:"}, headers=HTMX)
    assert again.status_code == 200 and _presence_card(again) == ""
    assert not [q for q in queries if "presencechange" in q["sql"]]

    # Her own choice is hers to know: no one to name.
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY, actor=agent.user)
    card = _presence_card(agent_client.get(reverse("work:inbox-list"), {"presence_shown": "offline:"}, headers=HTMX))
    assert 'value="away:"' in card and "presence-set-by" not in card


def test_the_idle_sweeps_change_says_why(agent_client, agent, settings):
    settings.WFO_PRESENCE_IDLE = timedelta(minutes=45)
    type(agent).objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    assert agents_idle_set_offline() == 1
    page = agent_client.get(reverse("work:inbox")).content.decode()
    assert re.search(r"Set offline automatically at \d\d:\d\d: no page or API request came from you for "
                     r"45 minutes\.", page)


def test_an_available_agents_inbox_reads_no_presence_history(agent_client, agent):
    with CaptureQueriesContext(connection) as queries:
        assert agent_client.get(reverse("work:inbox")).status_code == 200
    assert not [q for q in queries if "presencechange" in q["sql"]]
