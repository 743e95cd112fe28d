"""Intake: idempotent on (source, external_id), all-or-nothing batches, deadlines."""

import functools
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from allocation import services
from allocation.exceptions import IntakeRejected
from allocation.models import EventKind, ItemStatus, SlaPolicy, WorkItem, WorkItemEvent
from allocation.services import intake
from core.actors import SystemActor
from core.exceptions import PermissionDenied
from tests import factories
from tests.helpers import at_the_same_time, office_hours_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def source_system(db):
    return factories.SourceSystemFactory(username="card-platform", sources=["cards", "claims"])


def _draft(queue, n=1, **overrides):
    fields = {"source": "cards", "external_id": f"CB-{n}", "customer_ref": "CUST-1", "title": f"Chargeback {n}"}
    return services.ItemDraft(queue=queue, **{**fields, **overrides})


def test_creates_a_queued_item_with_deadlines_and_a_created_event(queue, source_system):
    received = timezone.now() - timedelta(hours=1)
    result = services.item_intake(actor=source_system, draft=_draft(queue, received_at=received, payload={"amount": 5}))
    item = result.item
    assert result.created
    assert item.status == ItemStatus.QUEUED
    assert item.received_at == received
    assert item.due_at == received + queue.sla_target
    assert item.start_by == item.due_at - queue.standard_handle_time
    event = item.events.get()
    assert (event.kind, event.to_status, event.actor) == (EventKind.CREATED, ItemStatus.QUEUED, source_system)


def test_repeat_returns_the_existing_item(queue, source_system):
    first = services.item_intake(actor=source_system, draft=_draft(queue))
    again = services.item_intake(actor=source_system, draft=_draft(queue, title="Changed title"))
    assert not again.created
    assert again.item.pk == first.item.pk
    assert again.item.title == "Chargeback 1"
    assert WorkItem.objects.count() == 1
    assert WorkItemEvent.objects.count() == 1


def test_same_external_id_from_another_source_is_another_item(queue, source_system):
    services.item_intake(actor=source_system, draft=_draft(queue))
    other = services.item_intake(actor=source_system, draft=_draft(queue, source="claims"))
    assert other.created
    assert WorkItem.objects.count() == 2


def test_batch_mixes_new_and_existing_and_keeps_order(queue, source_system):
    existing = services.item_intake(actor=source_system, draft=_draft(queue, 2)).item
    results = services.items_intake(actor=source_system, drafts=[_draft(queue, n) for n in (1, 2, 3)])
    assert [r.created for r in results] == [True, False, True]
    assert results[1].item.pk == existing.pk
    assert [r.item.external_id for r in results] == ["CB-1", "CB-2", "CB-3"]
    assert WorkItemEvent.objects.filter(kind=EventKind.CREATED).count() == 3


def test_invalid_row_rejects_the_whole_batch_with_row_numbers(team, source_system):
    queue = factories.QueueFactory(teams=[team])
    inactive = factories.QueueFactory(teams=[team], is_active=False)
    drafts = [
        _draft(queue, 1),
        _draft(inactive, 2),
        _draft(queue, 3, received_at=timezone.now() + timedelta(days=1)),
        _draft(queue, 1),
    ]
    with pytest.raises(IntakeRejected) as error:
        services.items_intake(actor=source_system, drafts=drafts)
    rows = error.value.fields["rows"]
    assert set(rows) == {"2", "3", "4"}
    assert "inactive" in rows["2"]["queue"][0]
    assert rows["3"]["received_at"] == ["Must not be in the future."]
    assert rows["4"]["external_id"] == ["Repeats row 1 (same source and external id)."]
    assert WorkItem.objects.count() == 0


@override_settings(WFO_MAX_PAYLOAD_BYTES=100)
def test_oversized_payload_is_rejected(queue, source_system):
    with pytest.raises(IntakeRejected) as error:
        services.item_intake(actor=source_system, draft=_draft(queue, payload={"notes": "x" * 200}))
    assert "limit is 100 bytes" in error.value.fields["payload"][0]


@override_settings(WFO_MAX_BATCH_ITEMS=2)
def test_batch_size_is_limited(queue, source_system):
    with pytest.raises(IntakeRejected, match="at most 2 items"):
        services.items_intake(actor=source_system, drafts=[_draft(queue, n) for n in range(3)])


def test_empty_batch_is_rejected(source_system):
    with pytest.raises(IntakeRejected):
        services.items_intake(actor=source_system, drafts=[])


def test_needs_the_intake_permission(queue, agent):
    with pytest.raises(PermissionDenied):
        services.item_intake(actor=agent.user, draft=_draft(queue))
    assert WorkItem.objects.count() == 0


def test_slight_clock_skew_is_accepted_as_now(queue):
    result = services.item_intake(
        actor=SystemActor("tests"), draft=_draft(queue, received_at=timezone.now() + timedelta(minutes=2))
    )
    assert result.item.received_at <= timezone.now()


YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)


def test_receipt_times_outside_the_plausible_window_are_refused_row_by_row(team, queue, source_system):
    office = office_hours_queue(team)
    now = timezone.now()
    drafts = [
        _draft(office, 1, received_at=now - timedelta(days=2)),
        _draft(office, 2, received_at=YEAR_1),
        _draft(queue, 3, received_at=YEAR_1),  # around the clock: nothing overflows, still refused
        _draft(queue, 4, received_at=now - timedelta(days=367)),
        _draft(queue, 5, received_at=now + timedelta(minutes=10)),
        _draft(queue, 6, received_at=datetime(9999, 12, 31, tzinfo=UTC)),
    ]
    with pytest.raises(IntakeRejected) as error:
        services.items_intake(actor=source_system, drafts=drafts)
    rows = error.value.fields["rows"]
    assert set(rows) == {"2", "3", "4", "5", "6"}
    for row in ("2", "3", "4"):
        assert rows[row] == {"received_at": ["Must be within the last 366 days."]}
    for row in ("5", "6"):
        assert rows[row] == {"received_at": ["Must not be in the future."]}
    assert WorkItem.objects.count() == 0


@override_settings(WFO_MAX_RECEIPT_AGE=timedelta(days=30))
def test_the_receipt_window_is_a_setting(team, source_system):
    office = office_hours_queue(team)
    now = timezone.now()
    with pytest.raises(IntakeRejected) as error:
        services.item_intake(actor=source_system, draft=_draft(office, received_at=now - timedelta(days=31)))
    assert error.value.fields == {"received_at": ["Must be within the last 30 days."]}
    result = services.item_intake(actor=source_system, draft=_draft(office, received_at=now - timedelta(days=29)))
    assert result.created and result.item.received_at == now - timedelta(days=29)


def test_a_target_beyond_what_the_sla_engine_counts_refuses_the_row(team, queue, source_system):
    odd = factories.QueueFactory(teams=[team])
    SlaPolicy.objects.create(queue=odd, target=timedelta(days=3_000_000))  # entered in error: 8,000 years
    with pytest.raises(IntakeRejected) as error:
        services.items_intake(actor=source_system, drafts=[_draft(queue, 1), _draft(odd, 2)])
    assert set(error.value.fields["rows"]) == {"2"}
    assert "an admin must correct it" in error.value.fields["rows"]["2"]["queue"][0]
    assert WorkItem.objects.count() == 0


def test_a_calendar_without_working_time_refuses_the_row(team, queue, source_system):
    from allocation.models import BusinessCalendar

    closed = factories.QueueFactory(teams=[team])
    never_open = BusinessCalendar.objects.create(name="No windows", time_zone="Europe/London")
    SlaPolicy.objects.create(queue=closed, target=timedelta(hours=8), calendar=never_open)
    with pytest.raises(IntakeRejected) as error:
        services.items_intake(actor=source_system, drafts=[_draft(queue, 1), _draft(closed, 2)])
    assert error.value.fields["rows"] == {"2": {"queue": [
        f"The SLA policy of queue {closed.code!r} gives no due time (the calendar has no working windows); "
        "an admin must correct it."
    ]}}
    assert WorkItem.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_create_one_item(team):
    queue = factories.QueueFactory(teams=[team])
    results = at_the_same_time(
        lambda: services.item_intake(actor=SystemActor("tests"), draft=_draft(queue, 77)), times=8
    )
    created = [result.created for result in results]
    assert sorted(created) == [False] * 7 + [True]
    assert WorkItem.objects.count() == 1
    assert WorkItemEvent.objects.count() == 1


ROUNDS, CONNECTIONS, BATCH, KEYS_PER_ROUND = 20, 4, 50, 80


def _send_one_of(batches, queue):
    """Take in the next of `batches` (an iterator shared by the threads: each gets its own)."""
    drafts = [_draft(queue, external_id=key) for key in next(batches)]
    return services.items_intake(actor=SystemActor("tests"), drafts=drafts)


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_in_any_order_never_deadlock(team):
    """Each round, four connections send 50-row batches drawn from the same 80 keys, each in
    its own order, at once. Inserted in the order given, two batches holding each other's
    next key deadlock (PostgreSQL aborts one); intake inserts in key order, so none does."""
    queue = factories.QueueFactory(teams=[team])
    rng = random.Random(20261202)
    created: Counter = Counter()
    for round_number in range(ROUNDS):
        keys = [f"R{round_number}-{n}" for n in range(KEYS_PER_ROUND)]
        batches = [rng.sample(keys, BATCH) for _ in range(CONNECTIONS)]
        for results in at_the_same_time(functools.partial(_send_one_of, iter(batches), queue), times=CONNECTIONS):
            created.update(r.item.external_id for r in results if r.created)
        sent = {key for batch in batches for key in batch}
        assert set(WorkItem.objects.filter(external_id__in=sent).values_list("external_id", flat=True)) == sent

    assert set(created.values()) == {1}, "an item was reported created twice"
    assert WorkItem.objects.count() == len(created)
    assert WorkItem.objects.values("source", "external_id").distinct().count() == len(created)
    events = Counter(WorkItemEvent.objects.filter(kind=EventKind.CREATED).values_list("item_id", flat=True))
    assert len(events) == WorkItem.objects.count() and set(events.values()) == {1}


def _post_one_of(batches, user, queue):
    """POST the next of `batches` as `user`, on this thread's own client and connection."""
    client = APIClient()
    client.force_authenticate(user)
    rows = [{"queue": queue.code, "source": "cards", "external_id": key, "customer_ref": "CUST-1", "title": key}
            for key in next(batches)]
    return client.post("/api/v1/items/", rows, format="json").status_code


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_through_the_api_never_deadlock(team, role_groups, monkeypatch):
    """As above, through the API: every answer is a 201 or a 200, where a deadlock's loser
    would get a 503. Each request's own reading of its body spreads the requests out, so
    they are released together at the insert, as the service calls above are."""
    queue = factories.QueueFactory(teams=[team])
    source = factories.SourceSystemFactory(sources=["cards"])
    at_the_insert = threading.Barrier(CONNECTIONS, timeout=60)
    insert = intake._insert_new

    def insert_together(*args, **kwargs):
        at_the_insert.wait()
        return insert(*args, **kwargs)

    monkeypatch.setattr(intake, "_insert_new", insert_together)
    rng = random.Random(20261203)
    statuses: Counter = Counter()
    for round_number in range(5):
        keys = [f"API{round_number}-{n}" for n in range(KEYS_PER_ROUND)]
        batches = [rng.sample(keys, BATCH) for _ in range(CONNECTIONS)]
        statuses.update(at_the_same_time(functools.partial(_post_one_of, iter(batches), source, queue),
                                         times=CONNECTIONS))
    assert set(statuses) <= {200, 201}, statuses
    assert WorkItem.objects.count() == WorkItemEvent.objects.filter(kind=EventKind.CREATED).count()
    assert WorkItem.objects.values("source", "external_id").distinct().count() == WorkItem.objects.count()
