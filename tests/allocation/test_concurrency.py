"""Exactly once under real concurrency: 50 agents, each on its own database connection,
get-next/start/complete until the backlog is gone."""

import threading
from collections import Counter

import pytest
from django.db import connection

from allocation import services
from allocation.models import EventKind, ItemStatus, WorkItem, WorkItemEvent
from tests import factories

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
