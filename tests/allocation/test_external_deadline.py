"""External deadlines: a source sends its own deadline (a card network's respond-by date) at
intake. It is an absolute instant: pauses and calendars do not move it. The item's due at
is the earlier of the policy's due at and the external deadline; start by, warning
percentages, alerts and attainment follow the governing one, and the item page, the API
and the events say which governs.

The clock is set to fixed moments (after the database's own clock, which dates get-next's
and start's events, so every event keeps its order): Monday 10 March 2031, 09:00 London
(= UTC in winter)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from allocation import services, sla
from allocation.audit import items_audit
from allocation.models import EventKind, SlaAlert, SlaClock, WorkItem
from allocation.services.rebalancing import rebalance
from allocation.services.sla_alerts import sla_alerts_raise
from allocation.sla.clock import SlaState
from tests import factories
from tests.helpers import office_hours_queue, supervisor_for, token_client

pytestmark = pytest.mark.django_db

MONDAY_9 = datetime(2031, 3, 10, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
ITEMS = "/api/v1/items/"


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def office(team):
    """8 working hours, Monday to Friday 09:00–17:00: taken in Monday 09:00, due Monday 17:00."""
    return office_hours_queue(team)


@pytest.fixture
def source_api():
    return token_client(factories.SourceSystemFactory(username="card-platform", sources=["cards"]))


def _row(queue, n=1, **fields) -> dict:
    return {"queue": queue.code, "source": "cards", "external_id": f"CB-{n}", "customer_ref": "CUST-1",
            "title": f"Chargeback {n}", **fields}


def _take_in(queue, *, external_deadline=None, n=1) -> WorkItem:
    draft = services.ItemDraft(queue=queue, source="cards", external_id=f"CB-{n}", customer_ref="CUST-1",
                               title=f"Chargeback {n}", external_deadline=external_deadline)
    return services.item_intake(actor=factories.UserFactory(roles=["Admin"]), draft=draft).item


def _reading(item):
    from allocation.selectors import with_clock_readings

    item = WorkItem.objects.select_related("sla_clock", "queue").get(pk=item.pk)
    return with_clock_readings([item], now=datetime.now(UTC))[0].sla  # the travelled clock


# Intake ---------------------------------------------------------------------------------

def test_an_earlier_external_deadline_governs_and_everyone_is_told(clock, office, source_api):
    deadline = MONDAY_9 + 3 * HOUR  # before the policy's Monday 17:00

    response = source_api.post(ITEMS, _row(office, external_deadline=deadline.isoformat()), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["due_at"] == body["external_deadline"] == "2031-03-10T12:00:00Z"
    item = WorkItem.objects.get(pk=body["id"])
    assert item.start_by == deadline - office.standard_handle_time
    created = item.events.get(kind=EventKind.CREATED)
    assert created.data["governed_by"] == "external_deadline"
    assert created.data["external_deadline"] == created.data["due_at"] == deadline.isoformat()
    detail = source_api.get(f"{ITEMS}{item.pk}/").json()
    assert detail["sla"]["governed_by"] == "external_deadline"
    assert detail["sla"]["policy_due_at"] == "2031-03-10T17:00:00Z"
    assert detail["sla"]["target_seconds"] == 3 * 3600  # receipt to the deadline, plain time
    assert detail["sla"]["around_the_clock"] is True


def test_a_later_external_deadline_leaves_the_policy_governing(clock, office, source_api):
    deadline = MONDAY_9 + 30 * HOUR  # Tuesday 15:00, after the policy's Monday 17:00

    body = source_api.post(ITEMS, _row(office, external_deadline=deadline.isoformat()), format="json").json()

    assert body["due_at"] == "2031-03-10T17:00:00Z" and body["external_deadline"] == "2031-03-11T15:00:00Z"
    item = WorkItem.objects.get(pk=body["id"])
    assert item.events.get(kind=EventKind.CREATED).data["governed_by"] == "policy"
    sla_body = source_api.get(f"{ITEMS}{item.pk}/").json()["sla"]
    assert sla_body["governed_by"] == "policy" and sla_body["target_seconds"] == 8 * 3600


def test_without_an_external_deadline_nothing_changes(clock, office, source_api):
    body = source_api.post(ITEMS, _row(office), format="json").json()

    assert body["external_deadline"] is None and body["due_at"] == "2031-03-10T17:00:00Z"
    created = WorkItem.objects.get(pk=body["id"]).events.get(kind=EventKind.CREATED)
    assert created.data == {"source": "cards", "external_id": "CB-1", "queue_id": office.pk,
                            "due_at": "2031-03-10T17:00:00+00:00", "start_by": created.item.start_by.isoformat()}


@pytest.mark.parametrize(("when", "message"), [
    (MONDAY_9 - HOUR, "Must be in the future, after the item was received."),
    (MONDAY_9, "Must be in the future, after the item was received."),
    (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "Must be before 2500-01-01."),
])
def test_an_external_deadline_in_the_past_or_out_of_range_is_a_400(clock, office, source_api, when, message):
    response = source_api.post(ITEMS, [_row(office, n=1), _row(office, n=2, external_deadline=when.isoformat())],
                               format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["rows"] == {"2": {"external_deadline": [message]}}
    assert WorkItem.objects.count() == 0


def test_an_external_deadline_before_the_receipt_is_a_400(clock, office, source_api):
    row = _row(office, received_at=(MONDAY_9 - HOUR).isoformat(),
               external_deadline=(MONDAY_9 - 2 * HOUR).isoformat())

    response = source_api.post(ITEMS, row, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"external_deadline": ["Must be in the future, after the item was received."]}


def test_get_next_orders_by_the_governing_deadline(clock, office, team):
    agent = factories.AgentFactory(team=team)
    policy_only = _take_in(office, n=1)  # due Monday 17:00
    pressed = _take_in(office, n=2, external_deadline=MONDAY_9 + 2 * HOUR)  # due Monday 11:00

    assert services.item_get_next(agent_id=agent.pk).pk == pressed.pk
    assert services.item_get_next(agent_id=agent.pk).pk == policy_only.pk


# Pauses and calendars do not move it -----------------------------------------------------

def test_pending_does_not_move_an_external_deadline(clock, office, team):
    agent = factories.AgentFactory(team=team)
    deadline = MONDAY_9 + 4 * HOUR
    item = _take_in(office, external_deadline=deadline)
    services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=item.pk, actor=agent.user)
    clock.shift(HOUR)

    services.item_pend(item_id=item.pk, actor=agent.user, until=MONDAY_9 + 2 * HOUR, reason="Waiting")
    assert WorkItem.objects.get(pk=item.pk).due_at == deadline
    clock.shift(HOUR)
    services.item_get_next(agent_id=agent.pk)  # the follow-up comes back and the pause ends

    item = WorkItem.objects.get(pk=item.pk)
    assert item.due_at == deadline and item.start_by == deadline - office.standard_handle_time
    assert _reading(item).governed_by == sla.EXTERNAL_DEADLINE


def test_while_the_policy_clock_is_paused_the_external_deadline_governs_and_alerts(clock, office, team):
    """The policy governs (its due Monday 17:00 is before the source's Tuesday 12:00), but a
    pend pauses it and moves its due at later: the source's deadline, still running, governs
    from the pause — and its breach reaches the holder while the item is pended."""
    agent = factories.AgentFactory(team=team)
    deadline = MONDAY_9 + 27 * HOUR  # Tuesday 12:00
    item = _take_in(office, external_deadline=deadline)
    assert item.due_at == MONDAY_9 + 8 * HOUR
    services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=item.pk, actor=agent.user)

    services.item_pend(item_id=item.pk, actor=agent.user, until=MONDAY_9 + 72 * HOUR, reason="Waiting for the bank")

    item = WorkItem.objects.get(pk=item.pk)
    assert item.due_at == deadline
    pended = item.events.get(kind=EventKind.PENDED)
    assert pended.data["governed_by"] == "external_deadline" and pended.data["due_at"] == deadline.isoformat()
    reading = _reading(item)
    assert (reading.governed_by, reading.policy_paused, reading.state) == (
        sla.EXTERNAL_DEADLINE, True, SlaState.ON_TRACK)
    clock.move_to(deadline + timedelta(minutes=1))  # Tuesday 12:01, still pended
    sla_alerts_raise()
    assert SlaAlert.objects.filter(item=item, threshold=100).exists()
    assert _reading(item).state == SlaState.BREACHED


def test_after_a_long_pause_the_earlier_of_the_two_governs_again(clock, office, team):
    agent = factories.AgentFactory(team=team)
    deadline = MONDAY_9 + 27 * HOUR  # Tuesday 12:00
    item = _take_in(office, external_deadline=deadline)
    services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=item.pk, actor=agent.user)
    services.item_pend(item_id=item.pk, actor=agent.user, until=MONDAY_9 + 2 * HOUR, reason="Waiting")
    clock.shift(2 * HOUR)
    # The rebalancing job brings the follow-up back at 11:00 (get-next would too, but it dates
    # its moves by the database's clock, which this test does not move): the policy's due
    # moves 2 working hours later, from Monday 17:00 to Tuesday 11:00.
    rebalance()

    item = WorkItem.objects.get(pk=item.pk)
    assert item.due_at == MONDAY_9 + 26 * HOUR  # Tuesday 11:00 (2 paused working hours), before the deadline
    assert _reading(item).governed_by == sla.POLICY


# Thresholds, alerts and attainment follow the governing deadline ------------------------

def test_warnings_are_shares_of_the_plain_time_to_the_external_deadline(clock, office):
    item = _take_in(office, external_deadline=MONDAY_9 + 4 * HOUR)  # warnings at 50/75/90%: 11:00, 12:00, 12:36
    assert SlaClock.objects.get(item=item).next_alert_at == MONDAY_9 + 2 * HOUR

    clock.move_to(MONDAY_9 + 2 * HOUR - timedelta(minutes=1))
    sla_alerts_raise()
    assert not SlaAlert.objects.filter(item=item).exists()
    clock.move_to(MONDAY_9 + 3 * HOUR + timedelta(minutes=1))
    sla_alerts_raise()

    assert sorted(SlaAlert.objects.filter(item=item).values_list("threshold", flat=True)) == [50, 75]
    assert _reading(item).state == SlaState.WARNING


def test_a_breach_of_the_external_deadline_goes_out_at_night(clock, office):
    """Monday 22:00 is outside the office's hours: the policy's clock does not run, but the
    source's deadline does, and its breach is sent at once — not behind the warnings that
    wait for the morning."""
    deadline = MONDAY_9 + 13 * HOUR  # Monday 22:00; the policy's due is 17:00, so it governs…
    item = _take_in(office, external_deadline=deadline)
    assert item.due_at == MONDAY_9 + 8 * HOUR  # …until a priority change gives it a longer target
    office.sla_policies.update(target=timedelta(hours=16))  # two working days for every priority
    lead = supervisor_for(office)
    services.item_change_priority(item_id=item.pk, actor=lead, priority=4, reason="Escalated by the network")
    item = WorkItem.objects.get(pk=item.pk)
    assert item.due_at == deadline
    event = item.events.get(kind=EventKind.PRIORITY_CHANGED)
    assert event.data["governed_by"] == "external_deadline" and event.data["to_due_at"] == deadline.isoformat()

    clock.move_to(MONDAY_9 + 12 * HOUR)  # 21:00: the warnings' time came, but not working time
    assert sla_alerts_raise().warnings_deferred == 1
    assert SlaClock.objects.get(item=item).next_alert_at == deadline  # not tomorrow 09:00
    clock.move_to(deadline + timedelta(minutes=5))
    sla_alerts_raise()

    assert list(SlaAlert.objects.filter(item=item).values_list("threshold", flat=True)) == [100]


def test_attainment_is_judged_against_the_external_deadline(clock, office, team):
    agent = factories.AgentFactory(team=team, capacity=5)
    deadline = MONDAY_9 + 2 * HOUR
    late, on_time = (_take_in(office, n=n, external_deadline=deadline) for n in (1, 2))
    for item in (late, on_time):
        services.item_get_next(agent_id=agent.pk)
        services.item_start(item_id=item.pk, actor=agent.user)
    clock.shift(HOUR)
    services.item_complete(item_id=on_time.pk, actor=agent.user)
    clock.shift(2 * HOUR)  # 12:00: after the source's deadline, before the policy's 17:00
    services.item_complete(item_id=late.pk, actor=agent.user)

    assert _reading(on_time).state == SlaState.MET
    assert _reading(late).state == SlaState.MISSED
    assert WorkItem.objects.get(pk=late.pk).due_at == deadline
    assert [str(mismatch) for mismatch in items_audit()] == []


def test_the_item_page_says_which_deadline_governs(clock, office, team, client):
    item = _take_in(office, external_deadline=MONDAY_9 + 3 * HOUR)
    lead = supervisor_for(office)
    client.force_login(lead)

    page = client.get(reverse("work:item", args=[item.pk])).content.decode()

    assert "set by the source&#x27;s deadline" in page
    assert "<dt>Source's deadline</dt><dd>Mon 10 Mar 2031, 12:00 <span class=\"badge\">governs</span>" in page
    assert "<dt>SLA policy's due</dt><dd>Mon 10 Mar 2031, 17:00</dd>" in page
