"""What an agent's API actions answer — get next, start, complete — is the item as it is
after the action, rendered from what the action itself read: the answer is the one a fresh
read of the item renders, and rendering it sends no statement of its own (each once read
the item's SLA clock again, for its external deadline, and complete its holder). Each is
one statement for the common case.

The clock is set to a fixed moment (after the database's own clock, which dates get-next's
and start's events): Monday 10 March 2031, 09:00 UTC."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocation import services
from allocation.api.common import ItemOutputSerializer
from allocation.models import SlaClock, WorkItem
from tests import factories
from tests.helpers import office_hours_queue, seen_just_now, token_client

pytestmark = pytest.mark.django_db

MONDAY_9 = datetime(2031, 3, 10, 9, tzinfo=UTC)
NEXT, START, COMPLETE = "/api/v1/agent/next/", "/api/v1/items/{}/start/", "/api/v1/items/{}/complete/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def office(team):
    queue = office_hours_queue(team)
    queue.outcomes = ["resolved"]
    queue.save(update_fields=["outcomes"])
    return queue


def _take_in(queue, *, external_deadline=None) -> WorkItem:
    draft = services.ItemDraft(queue=queue, source="cards", external_id="CB-1", customer_ref="CUST-1",
                               title="Chargeback 1", external_deadline=external_deadline)
    return services.item_intake(actor=factories.UserFactory(roles=["Admin"]), draft=draft).item


def _fresh(item_id: int) -> dict:
    item = WorkItem.objects.select_related("queue", "assignee", "completed_by", "sla_clock").get(pk=item_id)
    return ItemOutputSerializer(item).data


def _act(client, path: str, body: dict | None = None) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as statements:
        response = client.post(path, body or {}, format="json")
    assert response.status_code == 200, response.json()
    return response.json(), [statement["sql"] for statement in statements.captured_queries]


@pytest.mark.parametrize("external", [True, False], ids=["with an external deadline", "on the policy alone"])
def test_each_answer_is_the_item_as_a_fresh_read_renders_it(office, agent, external):
    deadline = MONDAY_9 + timedelta(hours=5)
    item = _take_in(office, external_deadline=deadline if external else None)
    client = token_client(agent.user)

    actions = [(NEXT, None), (START.format(item.pk), None), (COMPLETE.format(item.pk), {"outcome": "resolved"})]
    for path, body in actions:
        answer, _ = _act(client, path, body)
        assert answer == _fresh(item.pk)
        assert answer["external_deadline"] == (deadline.isoformat().replace("+00:00", "Z") if external else None)
    assert answer["status"] == "completed" and answer["completed_by"] == agent.user.username


def test_an_item_without_a_clock_answers_no_external_deadline(queue, agent):
    item = factories.WorkItemFactory(queue=queue)
    assert not SlaClock.objects.filter(item=item).exists()
    client = token_client(agent.user)

    for path in (NEXT, START.format(item.pk)):
        answer, _ = _act(client, path)
        assert answer == _fresh(item.pk)
        assert answer["external_deadline"] is None


def test_rendering_an_answer_reads_nothing_the_action_did_not(office, agent):
    item = _take_in(office, external_deadline=MONDAY_9 + timedelta(hours=5))
    client = token_client(agent.user)
    seen_just_now(agent.user)  # the once-a-minute visit is not the action's

    # After the action's own statement (get-next's, start's, complete's), nothing.
    _, statements = _act(client, NEXT)
    assert statements[-1].startswith("WITH agent AS"), statements
    _, statements = _act(client, START.format(item.pk))
    assert statements[-1].startswith("WITH locked AS"), statements
    _, statements = _act(client, COMPLETE.format(item.pk), {"outcome": "resolved"})
    assert statements[-1].startswith("WITH locked AS") and "allocation_slaclock" in statements[-1], statements


def test_the_checked_complete_keeps_what_it_read_in_hand(office, agent):
    """A paused clock takes the checked path (test_lifecycle.py): it reads the clock and the
    item once, and the answer reads neither again, nor the holder."""
    item = _take_in(office)
    client = token_client(agent.user)
    _act(client, NEXT)
    _act(client, START.format(item.pk))
    SlaClock.objects.filter(item=item).update(paused_since=MONDAY_9 - timedelta(hours=1))

    answer, statements = _act(client, COMPLETE.format(item.pk), {"outcome": "resolved"})
    assert answer == _fresh(item.pk)
    # Its transaction ends last (a savepoint's release here: the test runs in a transaction).
    assert statements[-1] == "COMMIT" or statements[-1].startswith("RELEASE SAVEPOINT"), statements
    assert not [sql for sql in statements[1:] if 'FROM "auth_user"' in sql], "the holder was read again"


def test_the_item_get_next_hands_over_carries_its_whole_clock(office, agent):
    item = _take_in(office, external_deadline=MONDAY_9 + timedelta(hours=5))
    stored = SlaClock.objects.get(item=item)

    got = services.item_get_next(agent_id=agent.pk)
    with CaptureQueriesContext(connection) as statements:
        clock = got.sla_clock
        read = {field.attname: getattr(clock, field.attname) for field in SlaClock._meta.concrete_fields}
    assert statements.captured_queries == []
    assert read == {field.attname: getattr(stored, field.attname) for field in SlaClock._meta.concrete_fields}
    assert clock.item is got
