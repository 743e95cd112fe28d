"""The agent scorecard against hand-computed figures; who may open whose."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import roles
from reporting import rollups
from tests import factories
from tests.reporting.builder import AVAILABLE, OFFLINE, Life, evaluation_write, item_write, presence_write

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


def test_scorecard_figures_against_the_team(client, team, agent):
    """Over the last 28 days: the agent completed two items of a 15-minute queue, one met
    (20 min worked) and one missed (40 min), and was available 3 h; its one teammate
    completed one item, met, 10 minutes, available 1 h. QA: the agent's met item scored 80."""
    queue = factories.QueueFactory(teams=[team], standard_handle_time=15 * MIN)
    mate = factories.AgentFactory(team=team)
    day = timezone.localdate() - timedelta(days=2)
    start = timezone.make_aware(datetime.combine(day, time(9)))
    met, _ = item_write(Life(queue, start, start + 60 * MIN, agent, [(start + MIN, start + 21 * MIN)],
                             completed=start + 21 * MIN))
    item_write(Life(queue, start, start + 30 * MIN, agent, [(start + 30 * MIN, start + 70 * MIN)],
                    completed=start + 70 * MIN))
    item_write(Life(queue, start, start + 60 * MIN, mate, [(start + MIN, start + 11 * MIN)],
                    completed=start + 11 * MIN))
    presence_write(agent, (start, AVAILABLE), (start + 180 * MIN, OFFLINE))
    presence_write(mate, (start, AVAILABLE), (start + 60 * MIN, OFFLINE))
    _, version, _ = factories.form_with_questions()
    evaluation_write(met, version=version, score="80", at=start + 120 * MIN)
    rollups.rollups_update()
    client.force_login(agent.user)
    page = client.get(reverse("reports:scorecard", args=[agent.pk]))
    card, team_average = page.context["card"], page.context["team"]
    assert (card.completed, card.met, card.sla_attainment) == (2, 1, 0.5)
    assert card.handle_minutes_avg == pytest.approx(30)  # (20 + 40) / 2
    assert card.productivity == pytest.approx(30 / 180)  # 2 × 15 standard minutes in 3 h available
    assert card.utilization == pytest.approx(60 / 180)  # 20 + 40 minutes handled in 3 h logged in
    assert (card.qa_average, card.qa_count) == (80.0, 1)
    assert team_average["completed"] == 1.5
    assert team_average["sla_attainment"] == pytest.approx((0.5 + 1.0) / 2)
    assert team_average["productivity"] == pytest.approx((30 / 180 + 15 / 60) / 2)
    assert team_average["qa_average"] == 80.0  # the teammate has none: left out
    assert sum(week.completed for week in page.context["weeks"]) == 2
    html = page.content.decode()
    assert "50 %" in html and "17 %" in html and "33 %" in html  # SLA met, productivity, utilization


def test_who_opens_which_scorecard(client, team, agent):
    colleague = factories.AgentFactory(team=team)
    client.force_login(agent.user)
    assert client.get(reverse("reports:scorecards")).url == reverse("reports:scorecard", args=[agent.pk])
    assert client.get(reverse("reports:scorecard", args=[agent.pk])).status_code == 200
    assert client.get(reverse("reports:scorecard", args=[colleague.pk])).status_code == 403
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    stranger = factories.AgentFactory()
    client.force_login(lead)
    html = client.get(reverse("reports:scorecards")).content.decode()
    assert reverse("reports:scorecard", args=[colleague.pk]) in html
    assert reverse("reports:scorecard", args=[stranger.pk]) not in html
    page = client.get(reverse("reports:scorecard", args=[colleague.pk]))
    assert page.status_code == 200 and "Team average" in page.content.decode()
    assert client.get(reverse("reports:scorecard", args=[stranger.pk])).status_code == 403


def test_scorecard_queries_do_not_grow_with_the_team(client, team, agent):
    queue = factories.QueueFactory(teams=[team])
    client.force_login(agent.user)
    url = reverse("reports:scorecard", args=[agent.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    start = timezone.now() - timedelta(days=1)
    for _ in range(5):
        mate = factories.AgentFactory(team=team)
        item_write(Life(queue, start, start + 60 * MIN, mate, [(start + MIN, start + 11 * MIN)],
                        completed=start + 11 * MIN))
    rollups.rollups_update()
    with CaptureQueriesContext(connection) as large:
        page = client.get(url)
    assert page.context["team"]["completed"] == pytest.approx(5 / 6)
    assert len(large) == len(small) <= 14


def test_reports_count_the_portals_days_for_a_viewer_west_of_it(client, team, agent, settings):
    """At 02:00 in the portal's zone (UTC) it is still yesterday evening in New York. An item
    completed at 01:00 belongs to the portal's today: the scorecard and the history page
    (both read the portal's days) end their range there and count it, whatever the
    browser's zone."""
    from core.middleware import TIMEZONE_COOKIE

    settings.TIME_ZONE = "UTC"
    queue = factories.QueueFactory(teams=[team])
    now = datetime(2026, 3, 10, 2, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        start = now - 60 * MIN
        item_write(Life(queue, start - MIN, start + 60 * MIN, agent, [(start, start + 10 * MIN)],
                        completed=start + 10 * MIN))
        rollups.rollups_update()
        client.cookies[TIMEZONE_COOKIE] = "America/New_York"
        client.force_login(agent.user)
        page = client.get(reverse("reports:scorecard", args=[agent.pk]))
        assert page.context["until"] == now.date()
        assert page.context["card"].completed == 1
        lead = factories.UserFactory(roles=[roles.SUPERVISOR])
        team.supervisors.add(lead)
        client.force_login(lead)
        report = client.get(reverse("reports:history")).context["report"]
        assert (report.scope.until, report.total.completed) == (now.date(), 1)
