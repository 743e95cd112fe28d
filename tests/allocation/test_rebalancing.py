"""Reservation expiry, rebalancing, push allocation and idle agents, through the real
services; overlapping runs and an interrupted run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from allocation import events, services
from allocation.models import (
    AgentProfile,
    AllocationMode,
    CoolOff,
    EventKind,
    ItemStatus,
    Presence,
    SlaClock,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import push, rebalancing, reservations
from tests import factories
from tests.helpers import assigned_item, at_the_same_time, pended_item, queued_item, started_item, supervisor_for

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def reload(item) -> WorkItem:
    return WorkItem.objects.get(pk=item.pk)


def go(agent, presence, *, ago=timedelta(0)):
    services.agent_set_presence(agent_id=agent.pk, presence=presence, actor=agent.user)
    AgentProfile.objects.filter(pk=agent.pk).update(presence_since=timezone.now() - ago)


# Reservation expiry -----------------------------------------------------------------------------

def test_unstarted_reservations_expire_back_to_the_queue(agent, queue):
    agent.capacity = 5
    agent.save()
    stale = assigned_item(agent, queue)
    fresh = assigned_item(agent, queue)
    working = started_item(agent, queue)
    WorkItem.objects.filter(pk__in=[stale.pk, working.pk]).update(
        assigned_at=timezone.now() - queue.reservation_timeout - MINUTE
    )
    moved = reservations.reservations_expire()
    assert moved.to_queue == 1
    assert reload(stale).status == ItemStatus.QUEUED and reload(stale).assignee_id is None
    assert reload(fresh).status == ItemStatus.ASSIGNED and reload(working).status == ItemStatus.IN_PROGRESS
    event = reload(stale).events.get(kind=EventKind.RESERVATION_EXPIRED)
    assert event.system_actor == "reservation-expiry" and event.data["from_agent"] == agent.pk
    assert reservations.reservations_expire().moved == 0  # idempotent


# Rebalancing ---------------------------------------------------------------------------------

def test_items_of_an_absent_agent_go_to_an_eligible_agent_with_the_reasons(agent, queue, team, settings):
    settings.WFO_REBALANCE_GRACE = timedelta(minutes=15)
    item = started_item(agent, queue)
    held_pended = pended_item(agent, queue)
    helper = factories.AgentFactory(team=team, user__username="helper")
    busy = factories.AgentFactory(team=team, capacity=1, user__username="busy")
    assigned_item(busy, queue)
    factories.AgentFactory(team=team, presence=Presence.AWAY, user__username="away")
    go(agent, Presence.OFFLINE, ago=20 * MINUTE)

    result = rebalancing.rebalance()
    assert result.by_rule[events.RULE_ABSENT].to_agent == 1
    moved = reload(item)
    assert moved.assignee_id == helper.pk and moved.status == ItemStatus.ASSIGNED
    event = moved.events.get(kind=EventKind.REBALANCED)
    assert event.data["rule"] == "holder_absent" and event.data["to_agent"] == helper.pk
    assert "away or offline for more than 15 minutes" in event.reason
    why = {c["agent"]: c for c in event.data["candidates"]}
    assert why["helper"]["chosen"] and why["helper"]["why"] == "eligible, least recently assigned"
    assert not why["busy"]["chosen"] and "already holds 1 of 1" in why["busy"]["why"]
    assert "is away" in why["away"]["why"]
    assert reload(held_pended).status == ItemStatus.PENDED  # parked work stays with its agent
    assert rebalancing.rebalance().moved == 0


def test_absent_within_the_grace_period_keeps_its_items(agent, queue, team, settings):
    settings.WFO_REBALANCE_GRACE = timedelta(minutes=15)
    item = started_item(agent, queue)
    factories.AgentFactory(team=team)
    go(agent, Presence.AWAY, ago=5 * MINUTE)
    assert rebalancing.rebalance().moved == 0
    assert reload(item).assignee_id == agent.pk


def test_with_nobody_eligible_the_queue_takes_the_item(agent, queue):
    item = assigned_item(agent, queue)
    go(agent, Presence.OFFLINE, ago=timedelta(hours=1))
    rebalancing.rebalance()
    assert reload(item).status == ItemStatus.QUEUED
    assert reload(item).events.get(kind=EventKind.REBALANCED).data["to_queue"] == queue.code


def test_lowered_capacity_gives_up_the_newest_items(agent, queue):
    agent.capacity = 3
    agent.save()
    oldest, middle, newest = (assigned_item(agent, queue) for _ in range(3))
    for n, item in enumerate((oldest, middle, newest)):
        WorkItem.objects.filter(pk=item.pk).update(assigned_at=timezone.now() - timedelta(minutes=10 - n))
    AgentProfile.objects.filter(pk=agent.pk).update(capacity=1)
    result = rebalancing.rebalance()
    assert result.by_rule[events.RULE_OVER_CAPACITY].moved == 2
    assert reload(oldest).assignee_id == agent.pk
    assert reload(middle).status == reload(newest).status == ItemStatus.QUEUED


def test_due_follow_ups_return_to_their_agent_or_the_queue(agent, queue, team):
    mine = pended_item(agent, queue)
    other = factories.AgentFactory(team=team)
    theirs = pended_item(other, queue)
    WorkItem.objects.filter(pk__in=[mine.pk, theirs.pk]).update(pended_until=timezone.now() - MINUTE)
    SlaClock.objects.filter(item_id__in=[mine.pk, theirs.pk]).update(paused_since=timezone.now() - timedelta(hours=1))
    go(other, Presence.OFFLINE)
    rebalancing.rebalance()
    assert reload(mine).status == ItemStatus.ASSIGNED and reload(mine).assignee_id == agent.pk
    assert reload(theirs).status == ItemStatus.QUEUED
    assert reload(theirs).events.get(kind=EventKind.FOLLOW_UP_DUE).reason.endswith("not available.")
    for item in (mine, theirs):  # the SLA pause ended with the follow-up
        clock = SlaClock.objects.get(item_id=item.pk)
        assert clock.paused_since is None and clock.paused_working >= timedelta(minutes=59)


def test_an_agent_who_lost_its_teams_access_or_a_skill_loses_the_items(agent, queue, team):
    skill = factories.SkillFactory()
    skilled_queue = factories.QueueFactory(teams=[team])
    factories.QueueSkillFactory(queue=skilled_queue, skill=skill, min_proficiency=3)
    level = factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=4)
    agent.capacity = 5
    agent.save()
    by_skill = started_item(agent, skilled_queue)
    by_team = started_item(agent, queue)
    also_skilled = started_item(agent, skilled_queue)
    level.proficiency = 2
    level.save()
    queue.teams.remove(team)
    rebalancing.rebalance()
    assert reload(by_skill).status == reload(by_team).status == ItemStatus.QUEUED
    assert reload(also_skilled).status == ItemStatus.QUEUED  # the same lost skill
    assert {e.data["rule"] for e in WorkItemEvent.objects.filter(kind=EventKind.REBALANCED)} == {
        "holder_no_longer_eligible"
    }


def test_rebalancing_never_hands_an_item_to_an_ineligible_agent(agent, queue, team):
    skill = factories.SkillFactory()
    factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=3)
    factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=3)
    item = started_item(agent, queue)
    unskilled = factories.AgentFactory(team=team)  # no skill
    low = factories.AgentFactory(team=team)
    factories.AgentSkillFactory(agent=low, skill=skill, proficiency=2)
    elsewhere = factories.AgentFactory()
    factories.AgentSkillFactory(agent=elsewhere, skill=skill, proficiency=5)
    go(agent, Presence.OFFLINE, ago=timedelta(hours=1))
    rebalancing.rebalance()
    assert reload(item).status == ItemStatus.QUEUED
    assert reload(item).assignee_id not in {unskilled.pk, low.pk, elsewhere.pk}


def test_an_interrupted_run_loses_nothing(agent, queue, team, monkeypatch):
    agent.capacity = 10
    agent.save()
    items = [started_item(agent, queue) for _ in range(6)]
    go(agent, Presence.OFFLINE, ago=timedelta(hours=1))
    real_bulk_create = WorkItemEvent.objects.bulk_create
    calls = {"n": 0}

    def dies_in_the_second_batch(objs, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(WorkItemEvent.objects, "bulk_create", dies_in_the_second_batch)
    with pytest.raises(SystemExit):
        rebalancing.rebalance(batch_size=2)
    states = [reload(item) for item in items]
    # The first batch moved; the second rolled back whole; the rest was never touched.
    assert [item.status for item in states].count(ItemStatus.QUEUED) == 2
    assert all(item.assignee_id == agent.pk for item in states if item.status == ItemStatus.IN_PROGRESS)
    assert WorkItemEvent.objects.filter(kind=EventKind.REBALANCED).count() == 2
    monkeypatch.undo()
    rebalancing.rebalance(batch_size=2)
    assert all(reload(item).status == ItemStatus.QUEUED for item in items)
    assert WorkItemEvent.objects.filter(kind=EventKind.REBALANCED).count() == 6


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_move_each_item_once(role_groups, team):
    queue = factories.QueueFactory(teams=[team])
    absent = factories.AgentFactory(team=team, capacity=100)
    for _ in range(3):
        factories.AgentFactory(team=team, capacity=10)
    items = [started_item(absent, queue) for _ in range(40)]
    go(absent, Presence.OFFLINE, ago=timedelta(hours=1))
    at_the_same_time(lambda: rebalancing.rebalance(batch_size=100))
    events = WorkItemEvent.objects.filter(kind=EventKind.REBALANCED)
    assert events.count() == 40 and len(set(events.values_list("item_id", flat=True))) == 40
    holders = [reload(item).assignee_id for item in items]
    assert absent.pk not in holders
    for agent in AgentProfile.objects.exclude(pk=absent.pk):
        assert sum(holder == agent.pk for holder in holders) <= agent.capacity


# Push allocation -----------------------------------------------------------------------------

def test_push_assigns_least_recently_assigned_first_and_a_rejection_sticks(team):
    queue = factories.QueueFactory(teams=[team], allocation_mode=AllocationMode.PUSH)
    first = factories.AgentFactory(team=team, capacity=1, user__username="first")
    second = factories.AgentFactory(team=team, capacity=1, user__username="second")
    AgentProfile.objects.filter(pk=second.pk).update(last_assigned_at=timezone.now() - timedelta(hours=1))
    AgentProfile.objects.filter(pk=first.pk).update(last_assigned_at=timezone.now() - MINUTE)
    items = [queued_item(queue) for _ in range(3)]
    pushed = push.push_assign()
    assert pushed.to_agent == 2
    got = {reload(item).assignee_id for item in items[:2]}
    assert got == {first.pk, second.pk} and reload(items[0]).assignee_id == second.pk
    assert reload(items[2]).status == ItemStatus.QUEUED  # nobody has capacity left
    event = reload(items[0]).events.get(kind=EventKind.ASSIGNED)
    assert event.data["rule"] == "push" and event.data["candidates"][0]["agent"] == "second"

    with pytest.raises(services.lifecycle.NotItemHolder):
        services.item_reject(item_id=items[0].pk, actor=first.user, reason="not mine")
    rejected = services.item_reject(item_id=items[0].pk, actor=second.user, reason="Conflict of interest")
    assert rejected.status == ItemStatus.QUEUED
    assert CoolOff.objects.get(item=items[0], agent=second).reason == "Conflict of interest"
    push.push_assign()
    # second has room again but rejected items[0]: it gets items[2]; items[0] waits for someone else.
    assert reload(items[0]).status == ItemStatus.QUEUED
    assert reload(items[2]).assignee_id == second.pk


def test_pull_queue_items_cannot_be_rejected(agent, queue):
    item = assigned_item(agent, queue)
    with pytest.raises(services.lifecycle.IllegalTransition, match="release it instead"):
        services.item_reject(item_id=item.pk, actor=agent.user, reason="no")


# Idle agents ---------------------------------------------------------------------------------

def test_idle_agents_go_offline(agent, team, settings, client):
    settings.WFO_PRESENCE_IDLE = timedelta(minutes=30)
    active = factories.AgentFactory(team=team)
    client.force_login(active.user)
    client.get("/work/")
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    result = rebalancing.rebalance()
    assert result.set_offline == 1
    agent.refresh_from_db()
    active.refresh_from_db()
    assert agent.presence == Presence.OFFLINE and active.presence == Presence.AVAILABLE
    assert agent.presence_history.get(presence=Presence.OFFLINE).system_actor == "idle-timeout"


def test_supervisors_see_why_the_item_went_to_its_agent(client, agent, queue, team):
    item = started_item(agent, queue)
    helper = factories.AgentFactory(team=team, user__username="helper")
    go(agent, Presence.OFFLINE, ago=timedelta(hours=1))
    rebalancing.rebalance()
    client.force_login(supervisor_for(queue))
    html = client.get(f"/work/items/{item.pk}/").content.decode()
    assert f"Why {helper.user.username} has this item" in html
    assert "Because its holder was absent: to helper." in html
    assert "eligible, least recently assigned" in html
    client.force_login(helper.user)  # the agent itself sees the timeline, not the explanation box
    assert "has this item</h2>" not in client.get(f"/work/items/{item.pk}/").content.decode()


def test_a_due_follow_up_waits_for_its_full_agent_then_goes_to_the_queue(agent, queue, settings):
    """Capacity 1: the agent works something else when its follow-up comes. The job does not
    hand it back over capacity; it waits for room (get-next serves it first then) up to
    WFO_FOLLOW_UP_WAIT, then goes to the queue."""
    agent.capacity = 1
    agent.save()
    waiting = pended_item(agent, queue, minutes=5)
    busy = started_item(agent, queue)
    at_follow_up = timezone.now() + timedelta(minutes=6)

    rebalancing.rebalance(now=at_follow_up)
    assert reload(waiting).status == ItemStatus.PENDED
    assert WorkItem.objects.filter(assignee=agent.user, status__in=["assigned", "in_progress"]).count() == 1

    rebalancing.rebalance(now=at_follow_up + settings.WFO_FOLLOW_UP_WAIT + timedelta(minutes=1))
    moved = reload(waiting)
    assert (moved.status, moved.assignee_id) == (ItemStatus.QUEUED, None)
    event = moved.events.order_by("-id").first()
    assert event.kind == EventKind.FOLLOW_UP_DUE and "stayed at capacity for 30 min" in event.reason
    assert reload(busy).assignee_id == agent.pk


def test_a_due_follow_up_comes_back_as_soon_as_its_agent_has_room(agent, queue):
    agent.capacity = 1
    agent.save()
    waiting = pended_item(agent, queue, minutes=5)
    busy = started_item(agent, queue)
    later = timezone.now() + timedelta(minutes=6)
    rebalancing.rebalance(now=later)
    services.item_complete(item_id=busy.pk, actor=agent.user)

    rebalancing.rebalance(now=later + timedelta(minutes=1))

    back = reload(waiting)
    assert (back.status, back.assignee_id) == (ItemStatus.ASSIGNED, agent.pk)
