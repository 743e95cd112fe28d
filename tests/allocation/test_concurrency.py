"""Exactly once under real concurrency: 50 agents, each on its own database connection,
get-next/start/complete until the backlog is gone."""

import functools
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from allocation import services
from allocation.audit import items_audit
from allocation.exceptions import AgentAtCapacity
from allocation.models import AgentEligibility, CoolOff, EventKind, ItemStatus, SlaClock, WorkItem, WorkItemEvent
from allocation.services import rebalancing
from allocation.services.next_work import agent_eligibility_judge
from core.exceptions import DomainError
from tests import factories
from tests.helpers import at_the_same_time, pended_item, started_item

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS = 50
ITEMS = 2000


def test_fifty_agents_drain_two_thousand_items_each_exactly_once():
    team = factories.TeamFactory()
    queues = [factories.QueueFactory(teams=[team]) for _ in range(4)]
    WorkItem.objects.bulk_create(
        factories.WorkItemFactory.build(queue=queues[n % len(queues)], priority=1 + n % 5) for n in range(ITEMS)
    )
    agents = [factories.AgentFactory(team=team, capacity=2) for _ in range(AGENTS)]
    barrier = threading.Barrier(AGENTS)
    taken: dict[int, list[int]] = {}
    failures: list[BaseException] = []

    def work(agent):
        mine = []
        try:
            barrier.wait()
            while (item := services.item_get_next(agent_id=agent.pk)) is not None:
                services.item_start(item_id=item.pk, actor=agent.user)
                services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
                mine.append(item.pk)
        except BaseException as error:  # surfaced below: a thread must not fail silently
            failures.append(error)
        finally:
            taken[agent.pk] = mine
            connection.close()

    threads = [threading.Thread(target=work, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert not failures, failures[:3]
    all_taken = [item_id for items in taken.values() for item_id in items]
    assert len(all_taken) == ITEMS
    assert len(set(all_taken)) == ITEMS, "an item was handed out twice"
    assert sum(1 for items in taken.values() if items) > AGENTS // 2, "work was not shared out"

    assert not WorkItem.objects.exclude(status=ItemStatus.COMPLETED).exists()
    assigned = Counter(WorkItemEvent.objects.filter(kind=EventKind.ASSIGNED).values_list("item_id", flat=True))
    assert set(assigned.values()) == {1} and len(assigned) == ITEMS
    completed = Counter(WorkItemEvent.objects.filter(kind=EventKind.COMPLETED).values_list("item_id", flat=True))
    assert set(completed.values()) == {1} and len(completed) == ITEMS

    # The events agree with the items: whoever was assigned an item completed it.
    owner_by_item = {item_id: agent_id for agent_id, items in taken.items() for item_id in items}
    assigned_to = dict(
        WorkItemEvent.objects.filter(kind=EventKind.ASSIGNED).values_list("item_id", "actor_id")
    )
    completed_by = dict(WorkItem.objects.values_list("id", "completed_by_id"))
    assert assigned_to == owner_by_item == completed_by


def _holding_locks_on(item_ids: list[int]):
    """Another connection holds these items' row locks (as concurrent get-nexts would, each
    mid-statement) until the returned `release()` is called."""
    from django.db import transaction

    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(WorkItem.objects.select_for_update().filter(pk__in=item_ids))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(timeout=30)

    def done():
        release.set()
        thread.join(timeout=30)

    return done


def test_nothing_waiting_means_nothing_free_not_the_first_heads_taken():
    """Get-next reads each queue's first heads; with those held by concurrent requests it
    once answered "nothing waiting" while the rest of the queue waited."""
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    for _ in range(20):
        factories.WorkItemFactory(queue=queue, priority=3)
    agent = factories.AgentFactory(team=team, capacity=5)
    heads = list(WorkItem.objects.filter(queue=queue).order_by("start_by", "-priority", "received_at", "id")
                 .values_list("pk", flat=True))
    for held in (2, 8, 9):  # the first window, the first two windows' heads
        release = _holding_locks_on(heads[:held])
        try:
            got = services.item_get_next(agent_id=agent.pk)
        finally:
            release()
        assert got is not None and got.pk == heads[held], held
        services.item_release(item_id=got.pk, actor=agent.user, reason="again")
        CoolOff.objects.all().delete()  # this test is about locks, not the release's cool-off


@pytest.mark.parametrize("queues", [1, 6])
def test_concurrent_agents_leave_nothing_eligible_queued(queues):
    """12 agents at once, each asking until it is told "nothing waiting" (or is full), on 30
    items in one busy queue or spread over six: no item may be left waiting then."""
    team = factories.TeamFactory()
    queue_list = [factories.QueueFactory(teams=[team]) for _ in range(queues)]
    agents = [factories.AgentFactory(team=team, capacity=3) for _ in range(12)]  # room for 36
    for round_number in range(5):
        WorkItem.objects.bulk_create(
            factories.WorkItemFactory.build(queue=queue_list[n % queues], external_id=f"R{round_number}-{n}")
            for n in range(30)
        )
        barrier = threading.Barrier(len(agents))
        failures: list[BaseException] = []

        def ask(agent, barrier=barrier, failures=failures):
            try:
                barrier.wait()
                while services.item_get_next(agent_id=agent.pk) is not None:
                    pass
            except AgentAtCapacity:
                pass
            except BaseException as error:
                failures.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=ask, args=(agent,)) for agent in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures[:3]
        left = WorkItem.objects.filter(status=ItemStatus.QUEUED).count()
        assert left == 0, f"round {round_number}: {left} items left waiting while agents had room"
        WorkItem.objects.filter(status=ItemStatus.ASSIGNED).update(status=ItemStatus.COMPLETED, assignee=None)


def _each_once(actions):
    """An action for at_the_same_time whose threads run one of `actions` each."""
    turn, lock = iter(actions), threading.Lock()

    def run():
        with lock:
            action = next(turn)
        return action()

    return run


def test_a_due_follow_up_goes_back_once_with_its_pause_counted_once():
    """Two tabs of the agent press get-next while the rebalancer passes, just as the
    follow-up time of its pended item comes: the item goes back to it once (one event),
    and its SLA pause ends once, in that move — never counted twice, never left open."""
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    agent = factories.AgentFactory(team=team, capacity=3)
    racers = [lambda: services.item_get_next(agent_id=agent.pk), lambda: services.item_get_next(agent_id=agent.pk),
              lambda: rebalancing.rebalance()]
    for _ in range(5):
        item = pended_item(agent, queue)
        paused_since = timezone.now() - timedelta(hours=1)
        SlaClock.objects.filter(item_id=item.pk).update(paused_since=paused_since)
        WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
        at_the_same_time(_each_once(racers), times=len(racers))

        item.refresh_from_db()
        clock = SlaClock.objects.get(item_id=item.pk)
        back = WorkItemEvent.objects.filter(item_id=item.pk, from_status=ItemStatus.PENDED)
        assert back.count() == 1 and back.get().kind in (EventKind.ASSIGNED, EventKind.FOLLOW_UP_DUE)
        assert (item.status, item.assignee_id) == (ItemStatus.ASSIGNED, agent.pk)
        assert clock.paused_since is None
        moved_at = back.get().at
        assert timedelta(hours=1) <= clock.paused_working <= moved_at - paused_since
        services.item_start(item_id=item.pk, actor=agent.user)
        services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
        assert not WorkItem.objects.filter(assignee_id=agent.pk).exists()  # nothing else was waiting to take
    assert [str(mismatch) for mismatch in items_audit()] == []


def test_a_change_committed_while_an_agent_is_judged_is_not_missed():
    """An admin takes a team off a queue; before that commits, the team's agent's eligibility
    is judged on another connection — the queue still in it, as it was. Once the change
    commits, get-next does not use that copy: the queue's item is no longer the agent's."""
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    factories.WorkItemFactory(queue=queue)
    agent = factories.AgentFactory(team=team)
    changed, commit = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def admin():
        try:
            with transaction.atomic():
                queue.teams.remove(team)
                changed.set()
                assert commit.wait(timeout=30)
        except BaseException as error:  # surfaced below
            failures.append(error)
        finally:
            changed.set()
            connection.close()

    thread = threading.Thread(target=admin)
    thread.start()
    try:
        assert changed.wait(timeout=30)
        agent_eligibility_judge(agent.pk)
        assert AgentEligibility.objects.get(agent=agent).queue_ids == [queue.pk]
    finally:
        commit.set()
        thread.join(timeout=30)
    assert not failures, failures
    assert services.item_get_next(agent_id=agent.pk) is None
    assert AgentEligibility.objects.get(agent=agent).queue_ids == []


def test_two_tabs_complete_as_the_item_is_cancelled_and_one_of_them_wins():
    """The holder presses Complete in two tabs just as an admin cancels the item: exactly
    one of the three is done — one closing event, the SLA clock stopped once, when the item
    closed — and the other two are told why (the item's state, or that it is no longer
    theirs), never an error. Complete's one statement and its checked path race here too."""
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team], outcomes=["done"])
    agent = factories.AgentFactory(team=team)
    admin = factories.UserFactory(is_superuser=True)

    def attempt(action):
        def run():
            try:
                action()
            except DomainError as refused:
                return type(refused).__name__
            return "done"
        return run

    for _ in range(5):
        item = started_item(agent, queue)
        complete = attempt(functools.partial(services.item_complete, item_id=item.pk, actor=agent.user,
                                             outcome="done"))
        cancel = attempt(functools.partial(services.item_cancel, item_id=item.pk, actor=admin, reason="Sent twice"))
        results = at_the_same_time(_each_once([complete, complete, cancel]), times=3)

        assert sorted(results).count("done") == 1, results
        assert set(results) - {"done"} <= {"IllegalTransition", "NotItemHolder"}, results
        closing = WorkItemEvent.objects.get(item_id=item.pk, kind__in=[EventKind.COMPLETED, EventKind.CANCELLED])
        item.refresh_from_db()
        assert item.status in (ItemStatus.COMPLETED, ItemStatus.CANCELLED) and item.assignee_id is None
        assert SlaClock.objects.get(item_id=item.pk).stopped_at == item.closed_at == closing.at
    assert [str(mismatch) for mismatch in items_audit()] == []
