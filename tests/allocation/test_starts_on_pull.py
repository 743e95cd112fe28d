"""A queue whose pulled work starts at once: get-next hands the item over in progress, with
both events a separate start would have left (assigned, then started by its holder), on
every path an agent pulls by — the statement, a follow-up coming back, the page, the API —
and exactly once under concurrent agents."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from allocation import services
from allocation.audit import items_audit
from allocation.models import EventKind, ItemStatus, Queue, WorkItem, WorkItemEvent
from allocation.services import reservations
from tests import factories
from tests.allocation.test_configuration_forms import errors_of, queue_form
from tests.helpers import at_the_same_time, queued_item


@pytest.fixture
def starting_queue(team):
    return factories.QueueFactory(teams=[team], starts_on_pull=True, outcomes=["done"])


def _kinds(item) -> list[tuple[str, str, str]]:
    return list(item.events.order_by("id").values_list("kind", "from_status", "to_status"))


@pytest.mark.django_db
def test_get_next_hands_the_item_over_in_progress_with_both_events(agent, starting_queue):
    item = queued_item(starting_queue)

    got = services.item_get_next(agent_id=agent.pk)

    assert (got.pk, got.status, got.assignee_id) == (item.pk, ItemStatus.IN_PROGRESS, agent.pk)
    assert got.started_at == got.assigned_at == got.updated_at
    item.refresh_from_db()
    assert (item.status, item.started_at) == (ItemStatus.IN_PROGRESS, got.started_at)
    assigned, started = item.events.filter(kind__in=[EventKind.ASSIGNED, EventKind.STARTED]).order_by("id")
    assert (assigned.kind, assigned.from_status, assigned.to_status) == (
        EventKind.ASSIGNED, ItemStatus.QUEUED, ItemStatus.ASSIGNED)
    assert (started.kind, started.from_status, started.to_status) == (
        EventKind.STARTED, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS)
    assert started.at == assigned.at == got.assigned_at
    assert started.actor_id == agent.pk and started.data == {}
    assert [str(mismatch) for mismatch in items_audit()] == []
    # Nothing for the reservation job: the item was never left assigned and unstarted.
    later = timezone.now() + starting_queue.reservation_timeout + timedelta(minutes=1)
    assert reservations.reservations_expire(now=later).moved == 0
    # And it completes straight away: no start between.
    done = services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
    assert done.status == ItemStatus.COMPLETED
    assert [str(mismatch) for mismatch in items_audit()] == []


@pytest.mark.django_db
def test_a_queue_without_the_setting_still_waits_for_the_start(agent, queue):
    item = queued_item(queue)
    got = services.item_get_next(agent_id=agent.pk)
    assert (got.pk, got.status, got.started_at) == (item.pk, ItemStatus.ASSIGNED, None)
    assert not item.events.filter(kind=EventKind.STARTED).exists()


@pytest.mark.django_db
def test_an_item_started_before_keeps_its_first_start(agent, starting_queue, team):
    """Released after a start by another agent and pulled again: started_at stays the first
    start, as the holder's own start keeps it."""
    other = factories.AgentFactory(team=team)
    item = queued_item(starting_queue)
    services.item_get_next(agent_id=other.pk)
    first_start = WorkItem.objects.get(pk=item.pk).started_at
    services.item_release(item_id=item.pk, actor=other.user, reason="Needs a French speaker")

    got = services.item_get_next(agent_id=agent.pk)

    assert (got.pk, got.status, got.started_at) == (item.pk, ItemStatus.IN_PROGRESS, first_start)
    assert [str(mismatch) for mismatch in items_audit()] == []


@pytest.mark.django_db
def test_a_follow_up_comes_back_in_progress(agent, starting_queue):
    item = queued_item(starting_queue)
    services.item_get_next(agent_id=agent.pk)
    services.item_pend(item_id=item.pk, actor=agent.user, until=timezone.now() + timedelta(minutes=30),
                       reason="Waiting for the customer")
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(minutes=1))

    back = services.item_get_next(agent_id=agent.pk)

    assert (back.pk, back.status, back.pended_until) == (item.pk, ItemStatus.IN_PROGRESS, None)
    assert _kinds(item)[-2:] == [(EventKind.ASSIGNED, ItemStatus.PENDED, ItemStatus.ASSIGNED),
                                 (EventKind.STARTED, ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS)]
    assert [str(mismatch) for mismatch in items_audit()] == []


@pytest.mark.django_db
def test_the_page_says_the_item_is_in_progress_and_offers_complete_not_start(client, agent, starting_queue):
    item = queued_item(starting_queue)
    client.force_login(agent.user)

    page = client.post(reverse("work:next"), follow=True)

    assert page.redirect_chain[-1][0] == reverse("work:item", args=[item.pk])
    html = page.content.decode()
    assert (f"You got #{item.pk} from {starting_queue.name}, in progress: the queue starts the work you pull "
            "at once.") in html
    assert "Start working on it" not in html
    assert "Complete item" in html


@pytest.mark.django_db
def test_the_api_returns_the_item_in_progress_and_a_start_is_refused(agent, starting_queue):
    item = queued_item(starting_queue)
    api = APIClient()
    api.force_authenticate(agent.user)

    got = api.post("/api/v1/agent/next/")

    assert got.status_code == 200
    assert (got.json()["id"], got.json()["status"]) == (item.pk, ItemStatus.IN_PROGRESS)
    again = api.post(f"/api/v1/items/{item.pk}/start/")
    assert again.status_code == 409
    assert item.events.filter(kind=EventKind.STARTED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_agents_pull_and_complete_each_item_exactly_once():
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team], starts_on_pull=True, outcomes=["done"])
    WorkItem.objects.bulk_create(factories.WorkItemFactory.build(queue=queue) for _ in range(300))
    agents = [factories.AgentFactory(team=team, capacity=1) for _ in range(8)]
    seats = list(agents)

    def drain() -> list[int]:
        agent = seats.pop()  # each thread plays its own agent
        mine = []
        while (item := services.item_get_next(agent_id=agent.pk)) is not None:
            assert item.status == ItemStatus.IN_PROGRESS
            services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
            mine.append(item.pk)
        return mine

    taken = at_the_same_time(drain, times=len(agents))

    all_taken = [item_id for items in taken for item_id in items]
    assert len(all_taken) == len(set(all_taken)) == 300
    assert sum(1 for mine in taken if mine) > 1, "the agents did not work side by side"
    for kind in (EventKind.ASSIGNED, EventKind.STARTED, EventKind.COMPLETED):
        per_item = Counter(WorkItemEvent.objects.filter(kind=kind).values_list("item_id", flat=True))
        assert len(per_item) == 300 and set(per_item.values()) == {1}, kind
    # Each item's events in the lifecycle's order (bulk-made items have no creation event
    # for the audit to start from).
    orders = Counter(tuple(WorkItemEvent.objects.filter(item_id=item_id).order_by("id").values_list("kind", flat=True))
                     for item_id in all_taken[:50])
    assert orders == {(EventKind.ASSIGNED, EventKind.STARTED, EventKind.COMPLETED): 50}


@pytest.mark.django_db
def test_an_admin_sets_it_on_the_queues_page_and_it_is_off_by_default(admin_client, agent, team):
    page = admin_client.get(reverse("admin:allocation_queue_add")).content.decode()
    assert "Pulled work starts at once" in page and 'name="starts_on_pull"' in page
    checkbox = re.search(r'<input[^>]*name="starts_on_pull"[^>]*>', page)
    assert checkbox and "checked" not in checkbox.group(0)  # off by default
    response = admin_client.post(reverse("admin:allocation_queue_add"),
                                 queue_form(starts_on_pull="on", teams=[team.pk]))
    assert response.status_code == 302, errors_of(response)
    queue = Queue.objects.get(code="refunds")
    assert queue.starts_on_pull
    queued_item(queue)
    assert services.item_get_next(agent_id=agent.pk).status == ItemStatus.IN_PROGRESS
    # The queue list filters by it (it has no column: the list is wide already).
    listed = admin_client.get(reverse("admin:allocation_queue_changelist"), {"starts_on_pull__exact": "1"})
    assert "refunds" in listed.content.decode() and "By pulled work starts at once" in listed.content.decode()
