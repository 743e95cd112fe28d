"""The wallboard against a hand-counted fixture; who may see it; its query count; the API."""

import html as html_text
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from allocation import services
from allocation.models import Presence, WorkItem
from core import roles
from reporting import rollups
from reporting.selectors import wallboard
from tests import factories
from tests.helpers import assigned_item, pended_item, queued_item, started_item, supervisor_for

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


@pytest.fixture
def floor(team, agent):
    """Queue A (24 h target): 3 waiting — one received 23.5 h ago (at risk: past 50 %, due in
    30 min), one 30 h ago (breached), one just now —, 1 assigned, 1 in progress, 1 pended,
    1 completed today. Queue B: 1 waiting. Agents: 1 available (`agent`), 1 away."""
    agent.capacity = 10
    agent.save()
    a = factories.QueueFactory(teams=[team], name="A", code="a")
    b = factories.QueueFactory(teams=[team], name="B", code="b")
    now = timezone.now()
    done = started_item(agent, a, received_at=now - 2 * HOUR)
    services.item_complete(item_id=done.pk, actor=agent.user)
    assigned_item(agent, a, received_at=now - 3 * HOUR)
    started_item(agent, a, received_at=now - 4 * HOUR)
    pended_item(agent, a, received_at=now - 5 * HOUR)
    risky = queued_item(a, received_at=now - 23.5 * HOUR)
    late = queued_item(a, received_at=now - 30 * HOUR)
    queued_item(a)
    queued_item(b, received_at=now - HOUR)
    away = factories.AgentFactory(team=team)
    services.agent_set_presence(agent_id=away.pk, presence=Presence.AWAY, actor=away.user)
    from allocation.services.sla_alerts import sla_alerts_raise

    sla_alerts_raise()  # the clocks move past the thresholds they crossed
    return a, b, risky, late


def test_counts_match_the_floor(floor):
    *_, late = floor
    board = wallboard()
    rows = {row.queue.code: row for row in board.queues}
    assert rows["a"].by_status == {"queued": 3, "assigned": 1, "in_progress": 1, "pended": 1}
    assert rows["b"].by_status == {"queued": 1}
    assert rows["a"].oldest_queued == WorkItem.objects.get(pk=late.pk).received_at
    assert (rows["a"].breached, rows["a"].at_risk) == (1, 1)
    assert (rows["b"].breached, rows["b"].at_risk) == (0, 0)
    assert rows["a"].completed_today == 1
    # Arrivals count when items entered the portal (their created event), whatever received
    # time the source gave: all 8 of them came in just now.
    assert (rows["a"].arrivals_today, rows["b"].arrivals_today) == (7, 1)
    rollups.rollups_update()  # the same figures once the rollup has read them
    rows = {row.queue.code: row for row in wallboard().queues}
    assert (rows["a"].arrivals_today, rows["a"].completed_today, rows["b"].arrivals_today) == (7, 1, 1)
    assert board.presence == {"available": 1, "away": 1, "offline": 0}
    aging = {key: n for key, _, n in board.aging}
    assert aging["breached"] == 1 and aging["lt_1h"] == 1  # the late one; the risky one (due in 30 min)
    assert sum(aging.values()) == 7  # every open item in one bucket
    assert board.totals.open == 7 and board.totals.breached == 1


BOARD_LINK = re.compile(r'<a (?:class="[^"]*" )?href="([^"]+)">([^<]*)')


def _board_links(html: str) -> list[tuple[str, str]]:
    """(address, text) of every link on the board, the downloads left out."""
    board = html[html.index('<div id="board"'):html.index('class="muted small refreshed"')]
    return [(html_text.unescape(href), text.strip()) for href, text in BOARD_LINK.findall(board)]


@pytest.fixture
def at_a_fixed_moment():
    # The board and the lists its numbers open are read at the same moment.
    with time_machine.travel(datetime(2031, 3, 12, 10, 30, tzinfo=UTC), tick=False):
        yield


def test_every_number_on_the_wallboard_lists_the_items_it_counts(at_a_fixed_moment, client, floor, team):
    """Follow every link on the board: a number opens the item list showing exactly the
    items it counts; the oldest waiting opens that item. Besides the floor: an item in each
    band of time left, and a queue switched off that still holds open work."""
    a, b, *_ = floor
    now = timezone.now()
    queued_item(a, received_at=now - 22 * HOUR)  # 2 h left
    queued_item(a, received_at=now - 14 * HOUR)  # 10 h left
    longer = factories.QueueFactory(teams=[team], name="Longer", code="longer", sla_target=48 * HOUR)
    queued_item(longer)  # 2 days left
    off = factories.QueueFactory(teams=[team], name="Old queue", code="old", sla_target=100 * HOUR)
    queued_item(off, received_at=now - HOUR)  # 99 h left
    off.is_active = False
    off.save(update_fields=["is_active"])
    lead = supervisor_for(a, b, longer, off)
    client.force_login(lead)
    links = _board_links(client.get(reverse("reports:wallboard")).content.decode())
    board = wallboard()
    items_url, followed = reverse("work:items"), 0
    for href, text in links:
        if href.startswith(items_url + "?"):
            shown = int(re.match(r"\d+", text).group())
            page = client.get(href)
            assert page.status_code == 200, href
            assert page.context["page"].paginator.count == shown, f"{href} lists a different number than {text}"
            followed += 1
    # Tiles: open, waiting, at risk, breached, arrived and completed today; six bands; per
    # queue four statuses, at risk, breached and completed today.
    assert followed == 6 + 6 + 7 * len(board.queues)
    assert {row.queue.code for row in board.queues} == {"a", "b", "longer", "old"}
    # The oldest waiting, of all and then of each queue, opens that item.
    opened = [client.get(href).context["item"].pk for href, _ in links if re.fullmatch(r"/work/items/\d+/", href)]
    waiting = WorkItem.objects.filter(status="queued").order_by("received_at", "id")
    assert opened == [waiting.first().pk, *(waiting.filter(queue=row.queue).first().pk for row in board.queues)]
    counted = {key: n for key, _, n in board.aging}
    assert all(counted.values()), counted  # every band has items, so no link is trivially 0 = 0
    assert board.totals.at_risk and board.totals.breached
    assert board.totals.arrivals_today and board.totals.completed_today


def test_supervisors_see_it_agents_get_403_and_queries_are_few(client, floor, agent):
    client.force_login(agent.user)
    assert client.get(reverse("reports:wallboard")).status_code == 403
    client.force_login(supervisor_for(floor[0]))
    page = client.get(reverse("reports:wallboard"))
    html = page.content.decode()
    assert page.status_code == 200 and "Open items by time left to SLA" in html
    assert f"{reverse('work:items')}?queue=a&amp;status=queued" in html and reverse("work:reassign") in html
    live = client.get(reverse("reports:wallboard-live"))
    assert live.content.decode().lstrip().startswith('<div id="board"')
    client.get(reverse("reports:wallboard"))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("reports:wallboard"))
    # session, user, permissions, queues, 8 board queries (today: the rollup + events unread), the
    # queues in the supervisor's reach, the navigation; the user's wallboard choice, the queues'
    # thresholds, the filter's teams and queues
    assert len(queries) <= 19


def test_another_teams_supervisor_sees_the_counts_without_links_to_items_it_may_not_open(client, floor):
    a = floor[0]
    elsewhere = factories.QueueFactory(teams=[factories.TeamFactory()], name="C", code="c")
    client.force_login(supervisor_for(elsewhere))
    html = client.get(reverse("reports:wallboard")).content.decode()
    assert '<th scope="row" data-label="Queue">A</th>' in html  # counted, organisation-wide
    assert f"{reverse('work:items')}?queue=a&amp;" not in html and f"?queue={a.pk}\"" not in html
    assert f"{reverse('work:items')}?queue=c&amp;status=queued" in html


def test_backlog_api(floor, agent):
    api = APIClient()
    api.force_authenticate(agent.user)
    assert api.get(reverse("report-backlog")).status_code == 403
    api.force_authenticate(factories.UserFactory(roles=[roles.SUPERVISOR]))
    data = api.get(reverse("report-backlog")).json()
    rows = {row["queue"]: row for row in data["queues"]}
    assert rows["a"]["open"] == 7 - 1 and rows["a"]["breached"] == 1 and data["aging"]["breached"] == 1
    assert data["presence"]["away"] == 1


def test_customer_journey_report(client, team, agent):
    from quality.models import EvaluationSource

    queue = factories.QueueFactory(teams=[team], name="Disputes")
    other = factories.QueueFactory(teams=[team], name="Refunds")
    first = started_item(agent, queue, customer_ref="CUST-9", title="Dispute 1")
    services.item_complete(item_id=first.pk, actor=agent.user)
    queued_item(other, customer_ref="CUST-9", title="Refund 1")
    queued_item(other, customer_ref="CUST-8", title="Someone else")
    _, version, _ = factories.form_with_questions()
    factories.EvaluationFactory(item=first, agent=agent.user, evaluator=factories.UserFactory(), version=version,
                                source=EvaluationSource.MANUAL, status="submitted", score=88, passed=True,
                                submitted_at=timezone.now())
    url = reverse("reports:customer-journey")
    client.force_login(agent.user)
    assert client.get(url, {"ref": "CUST-9"}).status_code == 403
    client.force_login(factories.UserFactory(roles=[roles.SUPERVISOR]))
    html = client.get(url, {"ref": "CUST-9"}).content.decode()
    assert "2 items for CUST-9" in html and html.index("Dispute 1") < html.index("Refund 1")
    assert "Someone else" not in html and "QA 88" in html and "Met" in html and "Completed" in html
    for _ in range(3):
        queued_item(other, customer_ref="CUST-9")
    client.get(url, {"ref": "CUST-9"})
    with CaptureQueriesContext(connection) as few:
        client.get(url, {"ref": "CUST-8"})
    with CaptureQueriesContext(connection) as many:
        client.get(url, {"ref": "CUST-9"})
    assert len(many) == len(few)
    assert "No work items for NOPE" in client.get(url, {"ref": "NOPE"}).content.decode()


@pytest.mark.parametrize("query", ["arrived_after=yesterday", "closed_after=99999-01-01T00:00", "arrived_after=%00"])
def test_the_todays_filters_refuse_what_is_not_a_moment(client, floor, query):
    a, b, *_ = floor
    client.force_login(supervisor_for(a, b))
    response = client.get(f"{reverse('work:items')}?{query}")
    assert response.status_code == 400
