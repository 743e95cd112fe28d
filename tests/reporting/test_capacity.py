"""The capacity plan against a hand-computed queue."""

from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import roles
from reporting import rollups
from reporting.selectors import capacity_plan
from tests import factories
from tests.reporting.builder import Life, item_write

pytestmark = pytest.mark.django_db


def at(day: date, hour: int):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_capacity_figures(team):
    """Planning from Monday 2026-12-07 for 5 days with 2 weeks of history: 3 arrivals on
    each Monday of those weeks (6 → 3 a Monday), 1 on each Tuesday (2 → 1), and the 2
    completed items arrived on the last Friday (2 → 1). Forecast: 3 + 1 + 1 = 5. Backlog:
    6 open. Handle time: the completed items were worked 30 and 90 min → 1 h.
    Workload (6 + 5) × 1 h = 11 h; ÷ (5 h × 5 days) = 0.44; ÷ (1 − 0.2) = 0.55 FTE."""
    queue = factories.QueueFactory(teams=[team], name="Claims")
    monday = date(2026, 12, 7)
    for week in (1, 2):
        for n in range(3):
            day = monday - timedelta(weeks=week)
            item_write(Life(queue, at(day, 10 + n), at(day, 20), cancelled=at(day, 18)))
        tuesday = monday - timedelta(weeks=week, days=-1)
        item_write(Life(queue, at(tuesday, 10), at(tuesday, 20), cancelled=at(tuesday, 18)))
    agent = factories.AgentFactory(team=team)
    for minutes in (30, 90):
        start = at(monday - timedelta(days=3), 9)
        item_write(Life(queue, start - timedelta(hours=1), start + timedelta(hours=5), agent,
                        [(start, start + timedelta(minutes=minutes))], completed=start + timedelta(minutes=minutes)))
    for _ in range(6):  # open, received in older history
        item_write(Life(queue, at(monday - timedelta(weeks=5), 9), at(monday, 9)))
    rollups.rollups_update(now=at(monday, 8))
    factories.AgentFactory(team=team)
    row = next(r for r in capacity_plan(days=5, history_weeks=2, productive_hours=5, shrinkage=0.2, today=monday)
               if r.queue == queue)
    assert row.backlog == 6 and row.forecast_arrivals == pytest.approx(5)
    assert row.handle_hours == pytest.approx(1)
    assert row.fte_needed == pytest.approx(0.55)
    assert row.skilled_agents == 2 and row.shortfall == 0


def test_capacity_page(client, agent):
    client.force_login(agent.user)
    assert client.get(reverse("reports:capacity")).status_code == 403
    client.force_login(factories.UserFactory(roles=[roles.SUPERVISOR]))
    assert client.get(reverse("reports:capacity")).status_code == 200
    bad = client.get(reverse("reports:capacity"), {"days": "0", "weeks": "4", "hours": "7.5", "shrinkage": "30"})
    assert bad.status_code == 400 and "greater than or equal to 1" in bad.content.decode()


def test_exports_open_with_the_same_numbers(client, team):
    import csv
    import io

    from openpyxl import load_workbook

    queue = factories.QueueFactory(teams=[team], name="Claims")
    for _ in range(3):
        factories.WorkItemFactory(queue=queue)
    client.force_login(factories.UserFactory(roles=[roles.SUPERVISOR]))
    params = {"days": "5", "weeks": "4", "hours": "7.5", "shrinkage": "30"}
    plan = {r.queue.name: r for r in capacity_plan(days=5, history_weeks=4, productive_hours=7.5, shrinkage=0.3)}
    xlsx = client.get(reverse("reports:capacity"), params | {"format": "xlsx"})
    assert xlsx["Content-Disposition"] == 'attachment; filename="capacity-plan.xlsx"'
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["Claims"][1] == plan["Claims"].backlog == 3
    assert rows["Claims"][4] == pytest.approx(plan["Claims"].fte_needed, abs=0.01)
    text = client.get(reverse("reports:capacity"), params | {"format": "csv"}).content.decode()
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:2] == ["Queue", "Backlog"] and lines[1][:2] == ["Claims", "3"]
    board = client.get(reverse("reports:wallboard"), {"format": "xlsx"})
    wall = {row[0]: row for row in load_workbook(io.BytesIO(board.content)).active.iter_rows(min_row=2,
                                                                                           values_only=True)}
    assert wall["Claims"][1] == 3  # waiting


def test_capacity_queries_do_not_grow_with_queues(client, team):
    client.force_login(factories.UserFactory(roles=[roles.SUPERVISOR]))
    factories.QueueFactory(teams=[team])
    client.get(reverse("reports:capacity"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("reports:capacity"))
    for _ in range(4):
        factories.QueueFactory(teams=[team])
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("reports:capacity"))
    assert len(page.context["rows"]) == 5
    assert len(many) == len(few) <= 10
