"""Live agents (README, "Live agents"): each figure against a hand-built floor, the links
behind the numbers, who sees whom, filters and order, hostile parameters, setting an agent
away from its row, and a query count that does not grow with the agents."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocation import services
from allocation.models import EventKind, Presence, PresenceChange, PresenceReason, WorkItem, WorkItemEvent
from core import roles
from reporting import rollups
from reporting.agents_now import HELD, IDLE, LAST_ACTION, WORKING, AgentFilters, agents_now, figures_fill
from tests import factories
from tests.helpers import queued_item, supervisor_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("role_groups", "presence_reasons")]

MIN = timedelta(minutes=1)
# A Wednesday, 14:00 in London (UTC in winter): the portal's day began at midnight.
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def start(item, agent) -> None:
    """Start through the service; its one-statement path reads the database's clock, which
    the frozen test clock does not move: the start is set back to the test's time."""
    services.item_start(item_id=item.pk, actor=agent.user)
    WorkItem.objects.filter(pk=item.pk).update(started_at=timezone.now())
    WorkItemEvent.objects.filter(item_id=item.pk, kind=EventKind.STARTED).update(at=timezone.now())


def person(team, first: str, **fields):
    return factories.AgentFactory(team=team, user__first_name=first, user__last_name="Test",
                                  user__username=first.lower(), **fields)


@pytest.fixture
def floor(team):
    """Queue A (standard time 15 min) served by the team; queue B by another team.
    Ann: started an item 20 min ago (over its 15 min), holds one more not started, one
    pended; completed 2 items today, one after its due time. Bob: available since 09:00, his
    last action 30 min ago, nothing held — 3 items wait in A. Cy: away (Lunch). Di: offline.
    Eve, of the other team, available."""
    lead = supervisor_for()
    team.supervisors.add(lead)
    a = factories.QueueFactory(teams=[team], name="A", code="a", standard_handle_time=15 * MIN)
    other = factories.TeamFactory(name="Other")
    b = factories.QueueFactory(teams=[other], name="B", code="b")
    with time_machine.travel(NOW - 5 * 60 * MIN, tick=False) as clock:  # 09:00
        ann, bob = person(team, "Ann", capacity=5), person(team, "Bob")
        cy, di = person(team, "Cy"), person(team, "Di", presence=Presence.OFFLINE)
        eve = person(other, "Eve")
        for agent in (ann, bob, cy, eve):
            services.agent_set_presence(agent_id=agent.pk, presence=Presence.AVAILABLE, actor=agent.user)
        lunch = PresenceReason.objects.get(presence=Presence.AWAY, label="Lunch")
        services.agent_set_presence(agent_id=cy.pk, presence=Presence.AWAY, actor=cy.user, reason_id=lunch.pk)
        # Ann's day: two completed (one late), one pended, one started 20 min before now, one offered.
        clock.move_to(NOW - 4 * 60 * MIN)
        on_time = queued_item(a, title="On time")
        late = queued_item(a, title="Late", received_at=NOW - 3 * 24 * 60 * MIN)
        for item in (on_time, late):
            services.item_transfer(item_id=item.pk, actor=lead, to_agent_id=ann.pk)
            start(item, ann)
            services.item_complete(item_id=item.pk, actor=ann.user)
        pended = queued_item(a, title="Pended")
        services.item_transfer(item_id=pended.pk, actor=lead, to_agent_id=ann.pk)
        start(pended, ann)
        services.item_pend(item_id=pended.pk, actor=ann.user, until=NOW + 24 * 60 * MIN, reason="Waiting")
        clock.move_to(NOW - 30 * MIN)
        bobs = queued_item(a, title="Bob's last")
        services.item_transfer(item_id=bobs.pk, actor=lead, to_agent_id=bob.pk)
        start(bobs, bob)
        services.item_complete(item_id=bobs.pk, actor=bob.user)
        clock.move_to(NOW - 20 * MIN)
        working = queued_item(a, title="Working on it")
        services.item_transfer(item_id=working.pk, actor=lead, to_agent_id=ann.pk)
        start(working, ann)
        offered = queued_item(a, title="Offered")
        services.item_transfer(item_id=offered.pk, actor=lead, to_agent_id=ann.pk)
        for n in range(3):
            queued_item(a, title=f"Waiting {n}")
        queued_item(b, title="Elsewhere")
    return {"lead": lead, "ann": ann, "bob": bob, "cy": cy, "di": di, "eve": eve, "a": a, "b": b,
            "working": working, "lunch": lunch}


def _rows(user, **filters):
    return {row.first_name: row for row in agents_now(user, AgentFilters(**filters), now=NOW)}


def test_each_figure_of_each_agent(floor):
    rows = _rows(floor["lead"])
    assert set(rows) == {"Ann", "Bob", "Cy", "Di"}  # Eve is another team's
    ann, bob, cy, di = rows["Ann"], rows["Bob"], rows["Cy"], rows["Di"]
    assert (ann.state, ann.held, ann.offered, ann.in_progress, ann.pended) == (WORKING, 2, 1, 1, 1)
    assert (ann.working_on.pk, ann.working_for, ann.over_standard) == (floor["working"].pk, 20 * MIN, True)
    assert (ann.completed_today, ann.met_today) == (2, 1)
    assert ann.idle_for is None and ann.waiting == 3
    assert (bob.state, bob.held, bob.completed_today, bob.met_today) == (IDLE, 0, 1, 1)
    assert bob.idle_for == 30 * MIN  # since his last action, later than becoming available at 09:00
    assert bob.presence_for == 5 * 60 * MIN and bob.last_assigned_at == NOW - 30 * MIN
    assert (cy.state, cy.presence_label, cy.presence_for, cy.idle_for) == (
        Presence.AWAY, "Away (Lunch)", 5 * 60 * MIN, None)
    assert (di.state, di.waiting) == (Presence.OFFLINE, 3)


def test_todays_figures_are_the_same_before_and_after_the_rollup_reads_them(floor):
    with time_machine.travel(NOW, tick=False):
        rollups.rollups_update()
    rows = _rows(floor["lead"])
    assert [(rows[n].completed_today, rows[n].met_today) for n in ("Ann", "Bob")] == [(2, 1), (1, 1)]
    with time_machine.travel(NOW + MIN, tick=False):
        services.item_complete(item_id=floor["working"].pk, actor=floor["ann"].user)  # after the rollup
    assert (_rows(floor["lead"])["Ann"].completed_today, _rows(floor["lead"])["Ann"].met_today) == (3, 2)


def test_filters_and_order(floor):
    lead = floor["lead"]
    assert set(_rows(lead, state=IDLE)) == {"Bob"}
    assert set(_rows(lead, state=Presence.AWAY)) == {"Cy"}
    assert set(_rows(lead, queue_id=floor["a"].pk)) == {"Ann", "Bob", "Cy", "Di"}
    assert set(_rows(lead, queue_id=floor["b"].pk)) == set()  # B admits only the other team
    skill = factories.SkillFactory(name="French")
    factories.AgentSkillFactory(agent=floor["cy"], skill=skill)
    assert set(_rows(lead, skill_id=skill.pk)) == {"Cy"}
    order = [row.first_name for row in agents_now(lead, sort="completed_today", now=NOW)]
    assert order == ["Ann", "Bob", "Cy", "Di"]
    order = [row.first_name for row in agents_now(lead, sort="idle_for", now=NOW)]
    assert order[0] == "Bob"
    admin = factories.UserFactory(roles=[roles.ADMIN])
    assert "Eve" in _rows(admin)


def test_the_query_count_does_not_grow_with_the_agents(floor, team):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            agents_now(floor["lead"], now=NOW)
        return len(queries)

    count()  # the user's roles, read once and remembered
    few = count()
    for n in range(12):  # each holding an item, half of them started
        agent = person(team, f"More{n}")
        queued_item(floor["a"])
        item = services.item_get_next(agent_id=agent.pk)
        if n % 2:
            start(item, agent)
    assert len(agents_now(floor["lead"], now=NOW)) == 16
    assert count() == few <= 9


def test_a_page_reads_for_every_agent_only_the_figures_its_order_needs(floor):
    lead = floor["lead"]
    rows = agents_now(lead, sort="name", now=NOW, figures=False)
    assert [row.name for row in rows] == ["Ann Test", "Bob Test", "Cy Test", "Di Test"]
    assert not any(row.read for row in rows) and rows[0].held == 0  # not read yet
    figures_fill(rows[:2], now=NOW)
    assert [row.filled for row in rows] == [True, True, False, False]
    assert (rows[0].held, rows[0].completed_today, rows[1].idle_for) == (2, 2, 30 * MIN)
    # Idle the longest needs what each agent holds and its last action; nothing else is read.
    idle_first = agents_now(lead, sort="idle_for", now=NOW, figures=False)
    assert [row.name for row in idle_first][:1] == ["Bob Test"]
    assert all(row.read == {HELD, LAST_ACTION} for row in idle_first)
    assert all(row.completed_today == 0 and row.waiting == 0 for row in idle_first)
    # A filter by state reads what each holds.
    idle = agents_now(lead, AgentFilters(state=IDLE), now=NOW, figures=False)
    assert [(row.name, row.read) for row in idle] == [("Bob Test", {HELD})]
    # Filling the page afterwards reads the rest, once.
    with CaptureQueriesContext(connection) as queries:
        figures_fill(idle_first, now=NOW)
    assert all(row.filled for row in idle_first) and idle_first[0].completed_today == 1
    with CaptureQueriesContext(connection) as again:
        figures_fill(idle_first, now=NOW)
    assert len(queries) == 6 and len(again) == 0


def test_the_page_links_each_number_to_the_items_behind_it(floor, client):
    client.force_login(floor["lead"])
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("reports:agents")).content.decode()
        items = reverse("work:items")
        links = {
            "held": f'{items}?assignee=ann&amp;status=assigned&amp;status=in_progress">2<',
            "pended": f'{items}?assignee=ann&amp;status=pended">1<',
            "waiting": f'{items}?waiting_for={floor["bob"].pk}">3<',
        }
        for what, link in links.items():
            assert link in page, what
        assert f'href="{reverse("work:item", args=[floor["working"].pk])}"' in page
        # The lists behind them count the same.
        listed = client.get(items, {"waiting_for": floor["bob"].pk})
        assert listed.status_code == 200 and listed.context["page"].paginator.count == 3
        today = rollups.day_start(rollups.local_day(NOW)).isoformat()
        done = client.get(items, {"status": "completed", "completed_by": floor["ann"].pk, "closed_after": today})
        on_time = client.get(items, {"status": "completed", "completed_by": floor["ann"].pk, "closed_after": today,
                                     "on_time": "yes"})
        assert (done.context["page"].paginator.count, on_time.context["page"].paginator.count) == (2, 1)


def test_who_may_see_it_and_hostile_parameters(floor, client):
    client.force_login(floor["ann"].user)
    assert client.get(reverse("reports:agents")).status_code == 403
    client.force_login(floor["lead"])
    for params in ({"team": "x"}, {"team": floor["eve"].team_id}, {"queue": 10**30}, {"state": "asleep"},
                   {"sort": "salary"}, {"skill": "-1"}):
        response = client.get(reverse("reports:agents"), params)
        assert response.status_code == 400, params
        assert 'class="field-error"' in response.content.decode() or "errorlist" in response.content.decode()
    assert client.get(reverse("reports:agents-live"), {"state": "idle"}).status_code == 200


def test_a_supervisor_sets_an_agent_away_from_its_row(floor, client):
    lead, bob = floor["lead"], floor["bob"]
    client.force_login(lead)
    url = reverse("reports:agent-presence", args=[bob.pk])
    form = client.get(url, {"query": "state=idle"}, headers={"HX-Request": "true"}).content.decode()
    assert form.lstrip().startswith("{#") is False and "<details open" in form
    assert f'<option value="away:{floor["lunch"].pk}">Away — Lunch</option>' in form
    assert 'name="query" value="state=idle"' in form
    assert "<html" in client.get(url).content.decode()  # without JavaScript: a page of its own
    assert client.get(reverse("reports:agent-presence", args=[floor["eve"].pk])).status_code == 404
    response = client.post(url, {"presence": f"away:{floor['lunch'].pk}", "query": "state=idle"})
    assert response.status_code == 302 and response.url == reverse("reports:agents") + "?state=idle"
    bob.refresh_from_db()
    assert (bob.presence, bob.presence_reason_id) == (Presence.AWAY, floor["lunch"].pk)
    change = PresenceChange.objects.filter(agent=bob).latest("at")
    assert change.actor_id == lead.pk
    followed = client.get(response.url)
    assert "Bob Test is now away (Lunch)." in followed.content.decode()

    # Hostile: nothing written, a message.
    before = PresenceChange.objects.count()
    for presence in ("available", "away:999999999999999999999", "asleep", "", "offline:abc"):
        response = client.post(reverse("reports:agent-presence", args=[floor["di"].pk]), {"presence": presence})
        assert response.status_code == 400, presence
    response = client.post(reverse("reports:agent-presence", args=[floor["eve"].pk]), {"presence": "away"})
    assert response.status_code == 403  # another team's agent
    client.force_login(floor["ann"].user)
    assert client.post(reverse("reports:agent-presence", args=[floor["di"].pk]), {"presence": "away"}).status_code \
        == 403
    assert PresenceChange.objects.count() == before
    assert WorkItem.objects.filter(assignee=floor["eve"].user).count() == 0
