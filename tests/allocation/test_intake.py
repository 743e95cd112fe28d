"""Intake: idempotent on (source, external_id), all-or-nothing batches, deadlines."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from allocation import services
from allocation.actors import SystemActor
from allocation.exceptions import IntakeRejected
from allocation.models import EventKind, ItemStatus, SlaPolicy, WorkItem, WorkItemEvent
from tests import factories
from tests.helpers import at_the_same_time, office_hours_queue
from wfo import roles
from wfo.exceptions import PermissionDenied

pytestmark = pytest.mark.django_db


@pytest.fixture
def source_system(db):
    return factories.UserFactory(username="card-platform", roles=[roles.SOURCE_SYSTEM])


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
