"""The audit invariant: every item's state equals the replay of its events.

Items taken through every life the services offer pass the audit (and the replay says what
they went through, so a replay that compared nothing would fail here); each compared field,
and each rule about the events themselves, is caught when one item is corrupted by hand.
"""

import io
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from allocation import events, services
from allocation.audit import EVENT_COLUMNS, UNKNOWN, AuditTally, EventRow, item_replay, items_audit
from allocation.lock_objects import item_lock
from allocation.management.commands import audit_items
from allocation.models import (
    HELD_STATUSES,
    AgentProfile,
    AllocationMode,
    EventKind,
    ItemStatus,
    Presence,
    SlaClock,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import bulk, push, rebalancing, reservations
from core import roles
from core.actors import SystemActor
from demo import seed as demo
from quality import services as quality_services
from quality.models import Evaluation, EvaluationSource
from tests import factories
from tests.helpers import assigned_item, pended_item, queued_item, started_item

pytestmark = pytest.mark.django_db

SUPERVISOR_JOB = SystemActor("tests-supervisor")


def audit(**options) -> tuple[list, AuditTally]:
    tally = AuditTally()
    return list(items_audit(tally=tally, **options)), tally


def assert_every_item_passes() -> AuditTally:
    mismatches, tally = audit()
    assert [str(m) for m in mismatches] == []
    assert tally.items_checked == WorkItem.objects.count() > 0
    return tally


def replayed(item):
    rows = WorkItemEvent.objects.filter(item_id=item.pk).order_by("at", "id").values_list(*EVENT_COLUMNS)
    return item_replay(item.pk, [EventRow._make(row) for row in rows])


def reload(item) -> WorkItem:
    return WorkItem.objects.get(pk=item.pk)


def kinds(item) -> list[str]:
    return list(WorkItemEvent.objects.filter(item_id=item.pk).order_by("at", "id").values_list("kind", flat=True))


def follow_up_soon(agent, queue) -> WorkItem:
    """A pended item whose follow-up time comes a moment later (the test waits for it)."""
    item = started_item(agent, queue)
    until = timezone.now() + timedelta(milliseconds=200)
    return services.item_pend(item_id=item.pk, actor=agent.user, until=until, reason="Customer calls back")


def wait_for_follow_ups():
    time.sleep(0.25)


@pytest.fixture
def colleague(team):
    return factories.AgentFactory(team=team, user__username="colleague")


@pytest.fixture
def other_queue():
    """A queue the agents' team does not serve, so moving an item there takes it off their get-next."""
    return factories.QueueFactory()


# Every life through the real services passes ---------------------------------------------------

def test_an_item_worked_to_completion_through_a_pend_and_its_follow_up(agent, queue):
    item = follow_up_soon(agent, queue)
    wait_for_follow_ups()
    assert services.item_get_next(agent_id=agent.pk).pk == item.pk  # the follow-up comes first
    services.item_start(item_id=item.pk, actor=agent.user)
    services.item_complete(item_id=item.pk, actor=agent.user, outcome="resolved", note="done")

    assert_every_item_passes()
    replay = replayed(item)
    assert (replay.status, replay.completed_by_id, replay.outcome) == (ItemStatus.COMPLETED, agent.pk, "resolved")
    assert replay.started_at < replay.assigned_at < replay.closed_at  # the first start, the last assignment


def test_items_still_pended_and_held(agent, queue):
    agent.capacity = 5
    agent.save()
    pended = pended_item(agent, queue, minutes=90)
    assigned = assigned_item(agent, queue)
    started = started_item(agent, queue)

    assert_every_item_passes()
    assert replayed(pended).pended_until == reload(pended).pended_until
    assert replayed(assigned).assignee_id == replayed(started).assignee_id == agent.pk


def test_released_items_taken_again_by_someone_else(agent, colleague, queue):
    unstarted = assigned_item(agent, queue)
    begun = started_item(agent, queue)
    services.item_release(item_id=unstarted.pk, actor=agent.user, reason="Shift ending")
    services.item_release(item_id=begun.pk, actor=agent.user, reason="Needs a senior")
    services.item_get_next(agent_id=colleague.pk)

    assert_every_item_passes()
    assert {replayed(unstarted).assignee_id, replayed(begun).assignee_id} == {None, colleague.pk}


def supervisor_of(team):
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    return lead


def test_transfers_to_a_queue_and_to_an_agent(agent, colleague, team, queue, other_queue):
    agent.capacity = 5
    agent.save()
    own = started_item(agent, queue)
    services.item_transfer(item_id=own.pk, actor=agent.user, to_queue_id=other_queue.pk, reason="Wrong queue")
    waiting = queued_item(queue)
    supervisor = supervisor_of(team)
    services.item_transfer(item_id=waiting.pk, actor=supervisor, to_agent_id=colleague.pk, reason="Expert")
    handed_on = started_item(agent, queue)
    services.item_transfer(item_id=handed_on.pk, actor=agent.user, to_agent_id=colleague.pk)
    pended = pended_item(agent, queue)
    services.item_transfer(item_id=pended.pk, actor=supervisor, to_queue_id=other_queue.pk)

    assert_every_item_passes()
    assert replayed(own).queue_id == replayed(pended).queue_id == other_queue.pk
    assert replayed(waiting).assignee_id == replayed(handed_on).assignee_id == colleague.pk


def test_bulk_reassign_to_an_agent_and_to_a_queue(agent, colleague, queue, other_queue):
    colleague.capacity = 5
    colleague.save()
    held = [started_item(agent, queue).pk, assigned_item(agent, queue).pk]
    waiting = [queued_item(queue).pk, queued_item(queue).pk]
    to_agent, to_queue = [held[0], waiting[0]], [held[1], waiting[1]]
    supervisor = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    moved = bulk.items_reassign(actor=supervisor, item_ids=to_agent, to_agent_id=colleague.pk)
    assert len(moved.moving) == 2
    moved = bulk.items_reassign(actor=supervisor, item_ids=to_queue, to_queue_id=other_queue.pk)
    assert len(moved.moving) == 2

    assert_every_item_passes()
    assert {replayed(WorkItem(pk=pk)).assignee_id for pk in to_agent} == {colleague.pk}


def test_cancelled_while_queued_and_while_held(agent, queue):
    held = started_item(agent, queue)
    waiting = queued_item(queue)
    services.item_cancel(item_id=waiting.pk, actor=SUPERVISOR_JOB, reason="Withdrawn")
    services.item_cancel(item_id=held.pk, actor=SUPERVISOR_JOB, reason="Duplicate")

    assert_every_item_passes()
    assert replayed(held).closed_at == reload(held).closed_at is not None
    assert replayed(held).completed_by_id is None


def test_priority_changes_before_and_after_get_next(agent, queue):
    item = queued_item(queue)
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5, reason="Escalated")
    services.item_get_next(agent_id=agent.pk)
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=2)

    assert_every_item_passes()
    assert replayed(item).priority == 2


def test_reservations_that_expire(agent, queue):
    queue.reservation_timeout = timedelta(milliseconds=1)
    queue.save()
    item = assigned_item(agent, queue)
    time.sleep(0.01)
    assert reservations.reservations_expire().to_queue == 1

    assert_every_item_passes()
    assert kinds(item)[-1] == EventKind.RESERVATION_EXPIRED and replayed(item).assignee_id is None


def test_rebalancing_away_from_an_absent_holder(agent, colleague, queue, settings):
    settings.WFO_REBALANCE_GRACE = timedelta(0)
    to_colleague = started_item(agent, queue)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.OFFLINE, actor=agent.user)
    alone = factories.AgentFactory(team=factories.TeamFactory(), user__username="alone")
    lonely_queue = factories.QueueFactory(teams=[alone.team])
    to_queue = started_item(alone, lonely_queue)
    services.agent_set_presence(agent_id=alone.pk, presence=Presence.AWAY, actor=alone.user)

    result = rebalancing.rebalance()
    assert result.by_rule[events.RULE_ABSENT].to_agent == 1
    assert result.by_rule[events.RULE_ABSENT].to_queue == 1

    assert_every_item_passes()
    assert replayed(to_colleague).assignee_id == colleague.pk and replayed(to_queue).status == ItemStatus.QUEUED


def test_rebalancing_an_agent_over_its_lowered_capacity(agent, colleague, queue):
    items = [assigned_item(agent, queue) for _ in range(3)]
    AgentProfile.objects.filter(pk=agent.pk).update(capacity=1)

    assert rebalancing.rebalance().by_rule[events.RULE_OVER_CAPACITY].moved == 2

    assert_every_item_passes()
    assert sorted(replayed(item).assignee_id for item in items) == sorted([agent.pk, colleague.pk, colleague.pk])


def test_follow_ups_returned_by_rebalancing_to_the_holder_or_the_queue(agent, queue):
    back_to_holder = follow_up_soon(agent, queue)
    absent = factories.AgentFactory(team=agent.team, user__username="absent")
    back_to_queue = follow_up_soon(absent, queue)
    services.agent_set_presence(agent_id=absent.pk, presence=Presence.AWAY, actor=absent.user)
    wait_for_follow_ups()

    assert rebalancing.rebalance().by_rule[events.RULE_FOLLOW_UP].moved == 2

    assert_every_item_passes()
    assert replayed(back_to_holder).assignee_id == agent.pk and replayed(back_to_holder).pended_until is None
    assert replayed(back_to_queue).status == ItemStatus.QUEUED


def test_rebalancing_away_from_a_holder_no_longer_eligible(agent, queue):
    item = started_item(agent, queue)
    other_team = factories.TeamFactory()
    receiver = factories.AgentFactory(team=other_team, user__username="receiver")
    queue.teams.set([other_team])

    assert rebalancing.rebalance().by_rule[events.RULE_NOT_ELIGIBLE].to_agent == 1

    assert_every_item_passes()
    assert replayed(item).assignee_id == receiver.pk


def test_push_allocation_and_a_rejection(agent, colleague, queue):
    queue.allocation_mode = AllocationMode.PUSH
    queue.save()
    item = queued_item(queue)
    assert push.push_assign().to_agent == 1
    first = reload(item).assignee
    services.item_reject(item_id=item.pk, actor=first, reason="Not my market")
    assert push.push_assign().to_agent == 1

    assert_every_item_passes()
    assert replayed(item).assignee_id == ({agent.pk, colleague.pk} - {first.pk}).pop()


def test_rework_from_a_failed_evaluation(agent, team, queue):
    item = started_item(agent, queue)
    services.item_complete(item_id=item.pk, actor=agent.user)
    _form, version, (right, evidence, tone) = factories.form_with_questions()
    evaluator = factories.UserFactory(username="evaluator")
    evaluation = factories.EvaluationFactory(item=item, agent=agent.user, evaluator=evaluator, version=version,
                                             source=EvaluationSource.MANUAL)
    quality_services.evaluation_submit(evaluation_id=evaluation.pk, actor=evaluator,
                                       answers={right.pk: "no", evidence.pk: "no", tone.pk: "1"})
    lead = factories.UserFactory(roles=[roles.QUALITY_LEAD])
    rework = quality_services.evaluation_rework(evaluation_id=evaluation.pk, actor=lead).rework_item
    assert Evaluation.objects.get(pk=evaluation.pk).score < Decimal("80")

    tally = assert_every_item_passes()
    assert tally.items_checked == 2
    assert replayed(rework).source == quality_services.REWORK_SOURCE


def test_the_seeded_demo_passes():
    demo.demo_seed(items=300)

    tally = assert_every_item_passes()
    assert tally.items_checked == 300 and tally.events_replayed == WorkItemEvent.objects.count()
    assert WorkItem.objects.filter(status=ItemStatus.COMPLETED).exists()  # history, written in bulk
    assert WorkItem.objects.filter(status=ItemStatus.PENDED).exists()  # today's backlog, through services


# Who holds the item: every event that can change it says so the same way ------------------------

HOLDER_CHANGING_KINDS = {
    EventKind.ASSIGNED, EventKind.TRANSFERRED, EventKind.REBALANCED, EventKind.RESERVATION_EXPIRED,
    EventKind.FOLLOW_UP_DUE, EventKind.RELEASED, EventKind.REJECTED, EventKind.COMPLETED, EventKind.CANCELLED,
}


def test_get_next_names_the_agent_it_gave_the_item_to(agent, colleague, team, queue):
    by_itself = queued_item(queue)
    services.item_get_next(agent_id=agent.pk)
    for_colleague = queued_item(queue)
    services.item_get_next(agent_id=colleague.pk, actor=SUPERVISOR_JOB)  # a job acting for the agent
    by_supervisor = queued_item(queue)
    services.item_get_next(agent_id=colleague.pk, actor=supervisor_of(team))

    for item, holder in ((by_itself, agent), (for_colleague, colleague), (by_supervisor, colleague)):
        event = events_of(item, EventKind.ASSIGNED).get()
        assert (event.data["from_agent"], event.data["to_agent"]) == (None, holder.pk)
        assert replayed(item).assignee_id == holder.pk  # known from the event, whoever asked
    assert_every_item_passes()

    retouch(events_of(for_colleague, EventKind.ASSIGNED), to_agent=agent.pk)
    mismatches, _ = audit()
    assert [(m.item_id, m.field, m.expected, m.actual) for m in mismatches] == [
        (for_colleague.pk, "assignee_id", agent.pk, colleague.pk)
    ]


def test_every_event_that_can_change_the_holder_names_it_the_same_way(agent, colleague, team, queue, other_queue):
    agent.capacity = colleague.capacity = 10
    agent.save()
    colleague.save()
    supervisor = supervisor_of(team)
    services.item_release(item_id=assigned_item(agent, queue).pk, actor=agent.user, reason="Shift ending")
    services.item_get_next(agent_id=colleague.pk)  # takes the released item again
    services.item_complete(item_id=started_item(agent, queue).pk, actor=agent.user)
    services.item_cancel(item_id=started_item(agent, queue).pk, actor=SUPERVISOR_JOB, reason="Duplicate")
    services.item_cancel(item_id=queued_item(queue).pk, actor=SUPERVISOR_JOB, reason="Withdrawn")
    services.item_transfer(item_id=started_item(agent, queue).pk, actor=supervisor, to_agent_id=colleague.pk)
    services.item_transfer(item_id=started_item(agent, queue).pk, actor=agent.user, to_queue_id=other_queue.pk)
    follow_up = follow_up_soon(agent, queue)
    follow_up_soon(colleague, queue)  # for rebalancing to return
    wait_for_follow_ups()
    assert services.item_get_next(agent_id=agent.pk).pk == follow_up.pk
    queue.reservation_timeout = timedelta(milliseconds=1)
    queue.save()
    time.sleep(0.01)
    assert reservations.reservations_expire().to_queue > 0  # every item assigned and not started
    services.item_get_next(agent_id=agent.pk)
    pushed = factories.QueueFactory(teams=[team], allocation_mode=AllocationMode.PUSH)
    rejected = queued_item(pushed)
    push.push_assign()
    services.item_reject(item_id=rejected.pk, actor=reload(rejected).assignee, reason="Not my market")
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.OFFLINE, actor=agent.user)
    with override_settings(WFO_REBALANCE_GRACE=timedelta(0)):
        result = rebalancing.rebalance()
    assert result.by_rule[events.RULE_ABSENT].to_agent > 0 and result.by_rule[events.RULE_FOLLOW_UP].to_agent

    changes = WorkItemEvent.objects.filter(kind__in=HOLDER_CHANGING_KINDS).order_by("id")
    assert {event.kind for event in changes} == HOLDER_CHANGING_KINDS
    for event in changes:
        assert "from_agent" in event.data, event
        assert ("to_agent" in event.data) == (event.to_status in HELD_STATUSES), event
    assert_every_item_passes()


# A job's move is dated when it happens, not when its pass began ------------------------------------
# Each test starts a pass (`now`), has someone else write an event on the item, then runs the
# pass as of that `now`: the job's rules decide by `now`, but its move takes the item's lock
# after the other event was written, so it must be dated after it (allocation/services/moves.py).

def pass_starts():
    return timezone.now()


def assert_moved_after_the_other_event(item, *, other: str, move: str):
    events = list(WorkItemEvent.objects.filter(item_id=item.pk).order_by("id"))
    other_event = [e for e in events if e.kind == other][-1]
    moved = [e for e in events if e.kind == move][-1]
    assert other_event.pk < moved.pk and other_event.at < moved.at
    assert [e.at for e in events] == sorted(e.at for e in events)  # time order is the order of writing
    assert_every_item_passes()
    assert "0 mismatches on 0 items" in run()
    return moved


def test_a_reservation_expiry_is_dated_after_an_event_written_during_its_pass(agent, queue):
    queue.reservation_timeout = timedelta(milliseconds=1)
    queue.save()
    item = assigned_item(agent, queue)
    time.sleep(0.01)
    now = pass_starts()
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5, reason="Escalated")

    assert reservations.reservations_expire(now=now).to_queue == 1

    moved = assert_moved_after_the_other_event(item, other=EventKind.PRIORITY_CHANGED,
                                               move=EventKind.RESERVATION_EXPIRED)
    assert reload(item).updated_at == moved.at


def test_a_move_away_from_an_absent_holder_is_dated_after_its_last_action(agent, colleague, queue, settings):
    settings.WFO_REBALANCE_GRACE = timedelta(0)
    item = assigned_item(agent, queue)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.OFFLINE, actor=agent.user)
    now = pass_starts()
    services.item_start(item_id=item.pk, actor=agent.user)  # its request was on the way as it went offline

    assert rebalancing.rebalance(now=now).by_rule[events.RULE_ABSENT].to_agent == 1

    moved = assert_moved_after_the_other_event(item, other=EventKind.STARTED, move=EventKind.REBALANCED)
    assert reload(item).assigned_at == moved.at == AgentProfile.objects.get(pk=colleague.pk).last_assigned_at


def test_a_move_off_a_lowered_capacity_is_dated_after_an_event_written_during_its_pass(agent, colleague, queue):
    items = [assigned_item(agent, queue) for _ in range(3)]
    AgentProfile.objects.filter(pk=agent.pk).update(capacity=2)
    now = pass_starts()
    services.item_start(item_id=items[-1].pk, actor=agent.user)

    assert rebalancing.rebalance(now=now).by_rule[events.RULE_OVER_CAPACITY].to_agent == 1

    moved = assert_moved_after_the_other_event(items[-1], other=EventKind.STARTED, move=EventKind.REBALANCED)
    assert reload(items[-1]).assigned_at == moved.at and reload(items[-1]).assignee_id == colleague.pk


def test_a_due_follow_up_is_dated_after_an_event_written_during_its_pass(agent, queue):
    item = follow_up_soon(agent, queue)
    wait_for_follow_ups()
    now = pass_starts()
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5, reason="Escalated")

    assert rebalancing.rebalance(now=now).by_rule[events.RULE_FOLLOW_UP].to_agent == 1

    moved = assert_moved_after_the_other_event(item, other=EventKind.PRIORITY_CHANGED, move=EventKind.FOLLOW_UP_DUE)
    assert reload(item).assigned_at == moved.at
    clock = SlaClock.objects.get(item_id=item.pk)  # the pause ended with the move
    assert clock.paused_since is None and clock.paused_working >= timedelta(milliseconds=200)


def test_a_move_from_a_holder_no_longer_eligible_is_dated_after_its_last_action(agent, queue):
    item = assigned_item(agent, queue)
    other_team = factories.TeamFactory()
    receiver = factories.AgentFactory(team=other_team, user__username="receiver")
    queue.teams.set([other_team])
    now = pass_starts()
    services.item_start(item_id=item.pk, actor=agent.user)

    assert rebalancing.rebalance(now=now).by_rule[events.RULE_NOT_ELIGIBLE].to_agent == 1

    moved = assert_moved_after_the_other_event(item, other=EventKind.STARTED, move=EventKind.REBALANCED)
    assert reload(item).assigned_at == moved.at == AgentProfile.objects.get(pk=receiver.pk).last_assigned_at


def test_a_push_is_dated_after_an_event_written_during_its_pass(agent, queue):
    queue.allocation_mode = AllocationMode.PUSH
    queue.save()
    item = queued_item(queue)
    now = pass_starts()
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5, reason="Escalated")

    assert push.push_assign(now=now).to_agent == 1

    moved = assert_moved_after_the_other_event(item, other=EventKind.PRIORITY_CHANGED, move=EventKind.ASSIGNED)
    assert reload(item).assigned_at == moved.at == AgentProfile.objects.get(pk=agent.pk).last_assigned_at


def test_a_pass_run_as_of_a_later_time_dates_its_moves_then(agent, queue):
    """A caller may run a pass as of a time ahead of the clock: its moves are never dated
    before the pass's `now`."""
    queue.allocation_mode = AllocationMode.PUSH
    queue.save()
    item = queued_item(queue)
    later = timezone.now() + timedelta(hours=2)

    assert push.push_assign(now=later).to_agent == 1

    assert events_of(item, EventKind.ASSIGNED).get().at == reload(item).assigned_at == later


# A start is dated once it holds the item's lock -------------------------------------------------
# The start fast path is one statement (allocation/services/lifecycle.py) that may wait for the
# item's row lock; what another transaction wrote meanwhile was written first, so is dated first.

def item_start_waiting_on(item, agent) -> tuple[threading.Thread, list]:
    """Start `item` as `agent` in a thread of its own (its own connection) once the caller
    holds the item's row lock: returns once the start waits on that lock."""
    outcome = []

    def start():
        try:
            outcome.append(services.item_start(item_id=item.pk, actor=agent.user))
        except BaseException as error:  # surfaced by the test
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=start)
    thread.start()
    deadline = time.monotonic() + 10
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                           " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))")
            if cursor.fetchone()[0]:
                return thread, outcome
            time.sleep(0.005)
    thread.join()
    raise AssertionError(f"the start never waited for the item's lock: {outcome}")


@pytest.mark.django_db(transaction=True)
def test_a_start_is_dated_after_an_event_written_while_it_waited_for_the_item(agent, queue):
    """A supervisor's priority change holds the item while its agent starts it: the start
    waits, and is dated after the change (a time read before waiting would not be)."""
    item = assigned_item(agent, queue)
    with transaction.atomic():
        item_lock(item.pk)
        thread, outcome = item_start_waiting_on(item, agent)
        services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5, reason="Escalated")
    thread.join(timeout=10)

    [started] = outcome
    assert isinstance(started, WorkItem), started
    events = list(WorkItemEvent.objects.filter(item_id=item.pk).order_by("id"))
    assert [e.kind for e in events] == ["created", "assigned", "priority_changed", "started"]
    assert events[2].at < events[3].at == started.started_at == started.updated_at
    assert started.priority == 5
    assert_every_item_passes()


def test_a_start_is_dated_once_the_item_is_locked_as_stored(agent, queue):
    """The time the start reads after the lock is the item's started_at and updated_at and
    its event's, as stored; a restart keeps the first start."""
    item = assigned_item(agent, queue)
    started = services.item_start(item_id=item.pk, actor=agent.user)
    stored = reload(item)
    event = WorkItemEvent.objects.get(item_id=item.pk, kind=EventKind.STARTED)
    assert event.at == stored.started_at == stored.updated_at == started.started_at == started.updated_at
    assert event.at >= WorkItemEvent.objects.get(item_id=item.pk, kind=EventKind.ASSIGNED).at

    services.item_pend(item_id=item.pk, actor=agent.user, until=timezone.now() + timedelta(hours=1), reason="x")
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now())
    services.item_get_next(agent_id=agent.pk)
    restarted = services.item_start(item_id=item.pk, actor=agent.user)
    again = WorkItemEvent.objects.filter(item_id=item.pk, kind=EventKind.STARTED).latest("id")
    assert restarted.started_at == stored.started_at < again.at == restarted.updated_at
    assert_every_item_passes()


# Each compared field: a corrupted item is reported on that field ----------------------------------

def completed(agent, queue):
    item = started_item(agent, queue)
    return services.item_complete(item_id=item.pk, actor=agent.user, outcome="resolved")


CORRUPTED_ROWS = {
    "status": (queued_item, lambda **world: {"status": ItemStatus.CANCELLED}),
    "queue_id": (queued_item, lambda **world: {"queue_id": world["other_queue"].pk}),
    "assignee_id": (assigned_item, lambda **world: {"assignee_id": world["colleague"].pk}),
    "assigned_at": (assigned_item, lambda **world: {"assigned_at": F("assigned_at") - timedelta(minutes=5)}),
    "started_at": (started_item, lambda **world: {"started_at": None}),
    "pended_until": (pended_item, lambda **world: {"pended_until": F("pended_until") + timedelta(days=1)}),
    "closed_at": (completed, lambda **world: {"closed_at": None}),
    "completed_by_id": (completed, lambda **world: {"completed_by_id": world["colleague"].pk}),
    "outcome": (completed, lambda **world: {"outcome": "rejected"}),
    "priority": (assigned_item, lambda **world: {"priority": 5}),  # get-next recorded it
    "source": (queued_item, lambda **world: {"source": "elsewhere"}),
    "external_id": (queued_item, lambda **world: {"external_id": "RENAMED-1"}),
    "received_at": (queued_item, lambda **world: {"received_at": F("received_at") + timedelta(hours=1)}),
}


@pytest.mark.parametrize("field", sorted(CORRUPTED_ROWS))
def test_a_corrupted_field_is_reported(field, agent, colleague, queue, other_queue):
    build, change = CORRUPTED_ROWS[field]
    untouched = started_item(colleague, queue)
    item = build(queue) if build is queued_item else build(agent, queue)
    WorkItem.objects.filter(pk=item.pk).update(**change(colleague=colleague, other_queue=other_queue))

    mismatches, tally = audit()

    assert tally.items_checked == 2 and tally.mismatched_items == 1
    assert [(m.item_id, m.field) for m in mismatches] == [(item.pk, field)]
    assert mismatches[0].actual == getattr(reload(item), field) and mismatches[0].expected != mismatches[0].actual
    assert untouched.pk not in {m.item_id for m in mismatches}


def test_an_item_without_events_is_reported(queue):
    item = factories.WorkItemFactory(queue=queue)
    mismatches, _ = audit()
    assert [(m.item_id, m.field) for m in mismatches] == [(item.pk, "events")]


def add_event(item, *, kind, from_status, to_status, at=None, data=None) -> WorkItemEvent:
    return WorkItemEvent.objects.create(item_id=item.pk, kind=kind, from_status=from_status, to_status=to_status,
                                        at=at or timezone.now(), system_actor="tampering", data=data or {})


def test_a_trail_that_does_not_begin_with_the_creation_is_reported(agent, queue):
    item = assigned_item(agent, queue)
    WorkItemEvent.objects.filter(item_id=item.pk, kind=EventKind.CREATED).delete()
    mismatches, _ = audit()
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("kind", "created", "assigned")]


def test_an_event_that_does_not_start_where_the_last_one_ended_is_reported(queue):
    item = queued_item(queue)
    wrong = add_event(item, kind=EventKind.RELEASED, from_status=ItemStatus.IN_PROGRESS, to_status=ItemStatus.QUEUED)
    mismatches, _ = audit()
    assert [(m.event_id, m.field, m.expected, m.actual) for m in mismatches] == [
        (wrong.pk, "from_status", ItemStatus.QUEUED, ItemStatus.IN_PROGRESS)
    ]


def test_a_move_its_kind_does_not_allow_is_reported(queue):
    item = queued_item(queue)
    wrong = add_event(item, kind=EventKind.REJECTED, from_status=ItemStatus.QUEUED, to_status=ItemStatus.QUEUED)
    mismatches, _ = audit()
    assert [(m.event_id, m.field) for m in mismatches] == [(wrong.pk, "to_status")]


def test_an_event_written_later_but_dated_earlier_is_reported(queue):
    item = queued_item(queue)
    now = timezone.now()
    first = add_event(item, kind=EventKind.PRIORITY_CHANGED, from_status=ItemStatus.QUEUED,
                      to_status=ItemStatus.QUEUED, at=now + timedelta(seconds=2))
    stale = add_event(item, kind=EventKind.PRIORITY_CHANGED, from_status=ItemStatus.QUEUED,
                      to_status=ItemStatus.QUEUED, at=now + timedelta(seconds=1))
    mismatches, _ = audit()
    assert [(m.event_id, m.field, m.actual) for m in mismatches] == [(stale.pk, "at", stale.at)]
    assert f"after event #{first.pk}" in mismatches[0].reason


def events_of(item, kind):
    return WorkItemEvent.objects.filter(item_id=item.pk, kind=kind)


def retouch(events, **changes):
    event = events.get()
    events.filter(pk=event.pk).update(data={**event.data, **changes})


def test_a_transfer_from_a_queue_the_item_was_not_in_is_reported(agent, queue, other_queue):
    item = started_item(agent, queue)
    services.item_transfer(item_id=item.pk, actor=agent.user, to_queue_id=other_queue.pk)
    retouch(events_of(item, EventKind.TRANSFERRED), from_queue_id=other_queue.pk)
    mismatches, _ = audit()
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [
        ("data.from_queue_id", queue.pk, other_queue.pk)
    ]


def test_a_release_by_someone_who_did_not_hold_the_item_is_reported(agent, colleague, queue):
    item = assigned_item(agent, queue)
    services.item_release(item_id=item.pk, actor=agent.user, reason="Shift ending")
    retouch(events_of(item, EventKind.RELEASED), from_agent=colleague.pk)
    mismatches, _ = audit()
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("data.from_agent", agent.pk, colleague.pk)]


def test_deadlines_changed_without_an_event_are_reported(agent, queue):
    item = pended_item(agent, queue)
    WorkItem.objects.filter(pk=item.pk).update(due_at=F("due_at") + timedelta(hours=1),
                                               start_by=F("start_by") + timedelta(hours=1))
    mismatches, _ = audit()
    assert sorted(m.field for m in mismatches) == ["due_at", "start_by"]


def test_an_event_stating_other_deadlines_than_it_left_is_reported(agent, queue):
    item = started_item(agent, queue)
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5)
    event = events_of(item, EventKind.PRIORITY_CHANGED).get()
    retouch(events_of(item, EventKind.PRIORITY_CHANGED), start_by=event.data["from_due_at"])
    mismatches, _ = audit()
    assert [m.field for m in mismatches] == ["start_by"]


def test_every_change_of_an_items_deadlines_is_replayed_from_its_events(agent, colleague, queue, other_queue):
    """Intake, the source's deadline governing while the policy's clock pauses, a pause's
    end (a resume, get-next's follow-up, rebalancing's, a transfer) and a retarget: each
    moves due at or start by, and each is in an event the audit replays."""
    other_queue.teams.add(agent.team)
    other_queue.standard_handle_time = queue.standard_handle_time + timedelta(minutes=45)
    other_queue.save()
    start = timezone.now()
    resumed = pended_item(agent, queue)
    by_get_next = pended_item(agent, queue)
    by_rebalancing = pended_item(colleague, queue)
    transferred = pended_item(agent, queue)
    retargeted = started_item(colleague, queue)
    own_deadline = started_item(colleague, queue, external_deadline=start + timedelta(hours=5))
    services.item_pend(item_id=own_deadline.pk, actor=colleague.user, until=start + timedelta(minutes=30),
                       reason="Waiting for the merchant")
    created = {item.pk: reload(item).due_at for item in (resumed, by_get_next, by_rebalancing, transferred)}

    with time_machine.travel(start + timedelta(hours=2), tick=True):
        services.item_resume(item_id=resumed.pk, actor=agent.user)
        services.item_get_next(agent_id=agent.pk)
        services.agent_set_presence(agent_id=colleague.pk, presence=Presence.AVAILABLE, actor=colleague.user)
        rebalancing.rebalance()
        services.item_transfer(item_id=transferred.pk, actor=SUPERVISOR_JOB, to_queue_id=other_queue.pk,
                               reason="Needs the other desk")
        services.item_change_priority(item_id=retargeted.pk, actor=SUPERVISOR_JOB, priority=5)

    for item in (resumed, by_get_next, by_rebalancing, transferred):
        assert reload(item).status != ItemStatus.PENDED and reload(item).due_at > created[item.pk], item
    assert reload(own_deadline).due_at == start + timedelta(hours=5)  # the source's deadline governs
    for item in (resumed, by_get_next, by_rebalancing, transferred, retargeted, own_deadline):
        replay, row = replayed(item), reload(item)
        assert (replay.due_at, replay.start_by) == (row.due_at, row.start_by), item
    assert_every_item_passes()


def test_a_priority_change_from_a_priority_the_item_did_not_have_is_reported(agent, queue):
    item = assigned_item(agent, queue, priority=3)
    services.item_change_priority(item_id=item.pk, actor=SUPERVISOR_JOB, priority=5)
    retouch(events_of(item, EventKind.PRIORITY_CHANGED), from_priority=1)
    mismatches, _ = audit()
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("data.from_priority", 3, 1)]


def test_a_job_sending_an_item_back_to_a_queue_it_was_not_in_is_reported(agent, queue):
    queue.reservation_timeout = timedelta(milliseconds=1)
    queue.save()
    item = assigned_item(agent, queue)
    time.sleep(0.01)
    reservations.reservations_expire()
    retouch(events_of(item, EventKind.RESERVATION_EXPIRED), to_queue="somewhere-else")
    mismatches, _ = audit()
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("data.to_queue", queue.code, "somewhere-else")]


# The replay on its own ------------------------------------------------------------------------------

def _event(event_id, minute, kind, from_status, to_status, *, actor_id=None, data=None) -> EventRow:
    at = timezone.now().replace(microsecond=0) + timedelta(minutes=minute)
    return EventRow(1, event_id, at, kind, from_status, to_status, actor_id, data or {})


def test_an_assignment_naming_no_agent_leaves_the_holder_unknown_until_an_event_names_it():
    """The replay never guesses: an event that gives the item to an agent without naming it
    (a hand-written row, say) leaves the holder unknown, and a later event stating it makes
    it known again."""
    created = _event(1, 0, EventKind.CREATED, "", ItemStatus.QUEUED, data={"queue_id": 7})
    by_job = _event(2, 1, EventKind.ASSIGNED, ItemStatus.QUEUED, ItemStatus.ASSIGNED, data={"queue_id": 7})
    started = _event(3, 2, EventKind.STARTED, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS)
    moved = _event(4, 3, EventKind.REBALANCED, ItemStatus.IN_PROGRESS, ItemStatus.QUEUED,
                   data={"from_agent": 42, "to_queue": "q7"})
    completed_by_job = _event(4, 3, EventKind.COMPLETED, ItemStatus.IN_PROGRESS, ItemStatus.COMPLETED,
                              data={"outcome": "done"})

    assert item_replay(1, [created, by_job, started]).assignee_id is UNKNOWN
    assert item_replay(1, [created, by_job, started, completed_by_job]).completed_by_id is UNKNOWN
    replay = item_replay(1, [created, by_job, started, moved], queue_codes={7: "q7"})
    assert (replay.assignee_id, replay.status, replay.problems) == (None, ItemStatus.QUEUED, [])
    assert item_replay(1, [created, by_job, started, moved], queue_codes={7: "other"}).problems[0].field == (
        "data.to_queue"
    )


def test_the_priority_is_unknown_until_an_event_records_it():
    created = _event(1, 0, EventKind.CREATED, "", ItemStatus.QUEUED)
    assert item_replay(1, [created]).priority is UNKNOWN
    changed = _event(2, 1, EventKind.PRIORITY_CHANGED, ItemStatus.QUEUED, ItemStatus.QUEUED,
                     data={"from_priority": 3, "to_priority": 4})
    assert item_replay(1, [created, changed]).priority == 4


# The command --------------------------------------------------------------------------------------

def run(*args) -> str:
    out = io.StringIO()
    call_command("audit_items", *args, stdout=out)
    return out.getvalue()


def test_the_command_passes_a_consistent_database(agent, queue):
    started_item(agent, queue)
    queued_item(queue)
    output = run()
    assert "Audited 2 items (4 events)" in output and "0 mismatches on 0 items" in output


def test_the_command_prints_each_mismatch_and_fails(agent, queue):
    item = assigned_item(agent, queue)
    WorkItem.objects.filter(pk=item.pk).update(priority=1, external_id="RENAMED")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 items disagree") as failure:
        call_command("audit_items", stdout=out)
    assert failure.value.returncode == 1
    output = out.getvalue()
    assert f"#{item.pk} priority: expected 3, found 1" in output
    assert f"#{item.pk} external_id:" in output and "2 mismatches on 1 items" in output


def test_the_command_prints_at_most_the_limit(queue):
    for _ in range(3):
        WorkItem.objects.filter(pk=queued_item(queue).pk).update(source="elsewhere")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_items", "--limit", "1", stdout=out)
    lines = out.getvalue().splitlines()
    assert sum(" source: " in line for line in lines) == 1
    assert "… and 2 more (raise --limit to see them)." in lines


def test_the_command_audits_one_queue_or_the_items_from_an_id(queue, other_queue):
    broken = queued_item(queue)
    WorkItem.objects.filter(pk=broken.pk).update(source="elsewhere")
    later = queued_item(other_queue)
    assert "Audited 1 items" in run("--queue", other_queue.code)
    assert "Audited 1 items" in run("--since-id", str(later.pk))
    with pytest.raises(CommandError):
        run("--queue", queue.code)
    with pytest.raises(CommandError, match="No queue has the code 'nope'"):
        run("--queue", "nope")


def test_manage_py_exits_with_status_1_on_a_mismatch(queue, monkeypatch, capsys):
    WorkItem.objects.filter(pk=queued_item(queue).pk).update(status=ItemStatus.CANCELLED)
    monkeypatch.setattr(connections, "close_all", lambda: None)  # keep the test's transaction
    with pytest.raises(SystemExit) as exit_:
        audit_items.Command().run_from_argv(["manage.py", "audit_items"])
    assert exit_.value.code == 1
    assert "disagree with their events" in capsys.readouterr().err


# Bounded work ---------------------------------------------------------------------------------------

def test_a_chunk_costs_two_queries_whatever_its_size(agent, queue, django_assert_num_queries):
    agent.capacity = 10
    agent.save()
    for _ in range(5):
        started_item(agent, queue)
    # The queue codes, then three chunks of at most 2 items: their items, their events.
    with django_assert_num_queries(1 + 3 * 2):
        mismatches, tally = audit(chunk_size=2)
    assert (mismatches, tally.items_checked, tally.events_replayed) == ([], 5, 15)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_each_chunk_is_read_in_one_snapshot(queue):
    for _ in range(3):
        queued_item(queue)
    WorkItem.objects.filter(pk=WorkItem.objects.order_by("pk").last().pk).update(source="elsewhere")
    mismatches, tally = audit(chunk_size=2)
    assert tally.items_checked == 3 and [m.field for m in mismatches] == ["source"]
