"""The History page and the report APIs: who sees what, bad input, exports that open with
the same numbers, and a query count that does not grow with the history."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core import roles
from reporting import history_tables
from reporting.history import Scope, history
from reporting.models import QueueDay
from tests import factories
from tests.reporting.builder import worked_days

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


@pytest.fixture
def supervisor(team):
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    return lead


def test_agents_get_403_supervisors_the_report(client, agent, supervisor, queue):
    worked_days(queue, agent, 3)
    client.force_login(agent.user)
    assert client.get(reverse("reports:history")).status_code == 403
    assert client.get(reverse("report-history")).status_code == 403
    assert client.get(reverse("report-sla")).status_code == 403
    client.force_login(supervisor)
    page = client.get(reverse("reports:history"))
    assert page.status_code == 200
    html = page.content.decode()
    for title in ("Arrivals, completions and backlog", "SLA attainment", "Handle time", "First-pass yield",
                  "Intraday profile"):
        assert title in html
    assert 'data-chart="chart-sla"' in html and 'id="chart-sla"' in html
    total = page.context["report"].total
    assert (total.completed, total.met) == (6, 3)  # 2 a day for 3 days; the 5-minute target is missed


def test_bad_input_is_400_per_field(client, supervisor):
    client.force_login(supervisor)
    page = client.get(reverse("reports:history"), {"since": "2026-05-01", "until": "2026-04-01", "grain": "month",
                                                   "queue": "999999"})
    assert page.status_code == 400
    errors = page.context["form"].errors
    assert set(errors) == {"until", "grain", "queue"}
    api = client.get(reverse("report-history"), {"since": "2020-01-01", "until": "2026-01-01"})
    assert api.status_code == 400 and "at most 366 days" in api.json()["errors"]["until"][0]
    assert client.get(reverse("report-sla"), {"since": "yesterday"}).status_code == 400
    team = factories.TeamFactory()
    both = client.get(reverse("report-sla"), {"team": team.pk, "agent": factories.AgentFactory(team=team).pk})
    assert both.status_code == 400 and set(both.json()["errors"]) == {"agent"}


def test_supervisors_pick_only_their_teams_agents(client, supervisor, agent, queue):
    stranger = factories.AgentFactory()
    client.force_login(supervisor)
    assert client.get(reverse("reports:history"), {"agent": agent.pk}).status_code == 200
    refused = client.get(reverse("report-history"), {"agent": stranger.pk})
    assert refused.status_code == 400 and "agent" in refused.json()["errors"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_table_exports_the_numbers_shown(client, supervisor, agent, queue, fmt):
    worked_days(queue, agent, 4)
    client.force_login(supervisor)
    since = timezone.localdate() - timedelta(days=6)
    params = {"since": since.isoformat(), "until": timezone.localdate().isoformat(), "grain": "day"}
    report = history(Scope(since=since, until=timezone.localdate()))
    for table in history_tables.tables_for(report):
        response = client.get(reverse("reports:history"), {**params, "table": table.key, "format": fmt})
        assert response.status_code == 200, table.key
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(response.content.decode())))
            number = lambda cell: None if cell == "" else float(cell)  # noqa: E731
        else:
            rows = [list(r) for r in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)]
            number = lambda cell: cell  # noqa: E731 — numbers stay numbers in XLSX
        assert rows[0] == history_tables.table_headers(table)
        assert len(rows) == len(report.periods) + 2  # header, the days, the total
        expected = history_tables.table_rows(table, report)
        for got, want in zip(rows[1:], expected, strict=True):
            assert got[0] == want[0]
            assert [number(c) for c in got[1:]] == [None if w is None else pytest.approx(w) for w in want[1:]]
    completions = next(t for t in history_tables.TABLES if t.key == "sla")
    assert history_tables.table_rows(completions, report)[-1][1:3] == [8, 4]  # the total row: completed, met
    hourly = client.get(reverse("reports:history"), {**params, "table": "hourly", "format": fmt})
    assert hourly.status_code == 200
    assert client.get(reverse("reports:history"), {**params, "table": "nope", "format": fmt}).status_code == 404


def test_queries_do_not_grow_with_the_history(client, supervisor, agent, queue):
    client.force_login(supervisor)
    worked_days(queue, agent, 2)
    client.get(reverse("reports:history"))  # the session's first request reads more
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("reports:history"))
    other = factories.QueueFactory(teams=[agent.team])
    worked_days(other, agent, 20, per_day=3)
    with CaptureQueriesContext(connection) as large:
        page = client.get(reverse("reports:history"), {"grain": "week"})
    assert page.status_code == 200 and page.context["report"].total.completed == 4 + 60
    assert len(large) == len(small)
    # session, user, permissions, the form's queues, teams and agents, 4 report queries, navigation
    assert len(large) <= 16


def test_the_apis_give_the_same_figures_as_the_page(client, supervisor, agent, queue):
    worked_days(queue, agent, 3)
    client.force_login(supervisor)
    body = client.get(reverse("report-history"), {"grain": "week"}).json()
    total = history(Scope(since=timezone.localdate() - timedelta(days=27), until=timezone.localdate())).total
    assert body["total"]["completed"] == total.completed == 6
    assert body["total"]["sla_attainment"] == pytest.approx(0.5)
    assert body["total"]["handle_minutes_avg"] == pytest.approx(10)
    assert body["total"]["productivity"] == pytest.approx(6 * queue.standard_handle_time.total_seconds() / (6 * 3600))
    assert body["total"]["backlog_end"] == 0 and body["total"]["arrivals"] == 6
    sla = client.get(reverse("report-sla"), {"queue": [queue.pk]}).json()
    assert sla["total"] == {"completed": 6, "met": 3, "attainment": 0.5}
    assert sla["queues"] == [{"queue": queue.code, "name": queue.name, "completed": 6, "met": 3, "attainment": 0.5}]
    mine = client.get(reverse("report-history"), {"agent": agent.pk}).json()
    assert "arrivals" not in mine["total"] and mine["total"]["completed"] == 6
    assert QueueDay.objects.filter(queue=queue).count() == 3
