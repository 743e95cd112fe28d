"""Routing steps (allocation/routing.py): every condition and kind of step through the real
services — the job enters the step, the event says why and what widened, and get-next,
push, transfers and rebalancing then honour the step the item reached."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from allocation import events, routing, selectors, services
from allocation.audit import items_audit
from allocation.models import (
    AllocationMode,
    CoolOff,
    EventKind,
    ItemStatus,
    Presence,
    StepCondition,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import push, rebalancing
from allocation.services.routing import routing_advance
from core import roles
from tests import factories
from tests.helpers import at_the_same_time, queued_item, supervisor_for

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 12, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def org(clock):
    """Chargebacks, served by the Cards team; the Night team serves nothing of its own."""
    cards, night = factories.TeamFactory(name="Cards"), factories.TeamFactory(name="Night")
    queue = factories.QueueFactory(teams=[cards], name="Chargebacks", code="chargebacks")
    carol = factories.AgentFactory(team=cards, presence=Presence.AVAILABLE, capacity=10)
    nina = factories.AgentFactory(team=night, presence=Presence.AVAILABLE, capacity=10)
    return queue, cards, night, carol, nina


def _entered(item) -> list[WorkItemEvent]:
    return list(WorkItemEvent.objects.filter(item=item, kind=EventKind.STEP_ENTERED).order_by("at", "id"))


# Waited N minutes -------------------------------------------------------------------------------

def test_an_item_that_waited_widens_to_another_team_which_then_gets_it_with_the_step_named(org, clock):
    queue, _cards, night, carol, nina = org
    factories.RoutingStepFactory(queue=queue, minutes=30, added_teams=[night])
    item = queued_item(queue)
    services.agent_set_presence(agent_id=carol.pk, presence=Presence.AWAY, actor=carol.user)

    clock.shift(29 * MIN)
    assert routing_advance().moved == 0
    assert services.item_get_next(agent_id=nina.pk) is None  # not yet Night's to take

    clock.shift(1 * MIN)
    assert routing_advance().moved == 1
    assert routing_advance().moved == 0  # once per (item, step)
    item.refresh_from_db()
    assert (item.routing_step, item.step_entered_at, item.status) == (2, NOW + 30 * MIN, ItemStatus.QUEUED)
    [event] = _entered(item)
    said = events.read(event)
    assert (said.from_step, said.step, event.data["condition"], event.data["minutes"]) == (1, 2, "waited", 30)
    assert event.data["added_teams"] == ["Night"] and event.system_actor == "routing"
    assert event.reason == "Step 2 — waited 30 min at step 1: also offered to Night."

    clock.shift(MIN)
    got = services.item_get_next(agent_id=nina.pk)
    assert got.pk == item.pk
    assigned = events.read(WorkItemEvent.objects.get(item=item, kind=EventKind.ASSIGNED))
    assert (assigned.step, assigned.admitted_at_step) == (2, 2)
    assert list(items_audit()) == []


def test_the_wait_counts_from_entering_the_step_and_each_step_is_entered_in_turn(org, clock):
    queue, _cards, night, _carol, _nina = org
    weekend = factories.TeamFactory(name="Weekend")
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    factories.RoutingStepFactory(queue=queue, position=3, minutes=10, added_teams=[weekend])
    item = queued_item(queue, received_at=NOW - 60 * MIN)  # waited an hour at step 1 already

    assert routing_advance().moved == 1  # step 2 now; step 3 counts its ten minutes from here
    assert WorkItem.objects.get(pk=item.pk).routing_step == 2
    clock.shift(9 * MIN)
    assert routing_advance().moved == 0
    clock.shift(MIN)
    assert routing_advance().moved == 1
    assert [events.read(e).step for e in _entered(item)] == [2, 3]



def _an_item_at_step_three(org, clock, weekend):
    """Steps 2 (adds Night) and 3 (adds Weekend) after 10 minutes each; an item that waited
    through both; Cards' agent away. Returns the two steps and the item."""
    queue, _cards, night, carol, _nina = org
    second = factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    third = factories.RoutingStepFactory(queue=queue, position=3, minutes=10, added_teams=[weekend])
    item = queued_item(queue, received_at=NOW - 60 * MIN)
    routing_advance()
    clock.shift(10 * MIN)
    routing_advance()
    assert WorkItem.objects.get(pk=item.pk).routing_step == 3
    services.agent_set_presence(agent_id=carol.pk, presence=Presence.AWAY, actor=carol.user)
    return second, third, item


def test_an_item_keeps_the_position_of_a_deleted_step_and_the_steps_before_it_still_admit(org, clock):
    nina = org[4]
    _second, third, item = _an_item_at_step_three(org, clock, factories.TeamFactory(name="Weekend"))

    third.delete()  # the item stays at position 3, past the queue's last step

    got = services.item_get_next(agent_id=nina.pk)  # admitted from step 2, so from every later one
    assert got is not None and got.pk == item.pk
    assert (events.read(WorkItemEvent.objects.get(item=item, kind=EventKind.ASSIGNED)).admitted_at_step) == 2


def test_an_item_keeps_the_position_of_a_step_moved_down_and_the_step_still_admits_to_it(org, clock):
    """The queue's last step is now at 2, yet an item is at 3: get-next reads up to the highest
    position the queue's steps have had, not up to its last step now."""
    weekend = factories.TeamFactory(name="Weekend")
    wendy = factories.AgentFactory(team=weekend, presence=Presence.AVAILABLE, capacity=10)
    second, third, item = _an_item_at_step_three(org, clock, weekend)
    assert services.item_get_next(agent_id=wendy.pk).pk == item.pk  # judged while step 3 was at 3
    services.item_release(item_id=item.pk, actor=wendy.user, reason="Wrong team")
    CoolOff.objects.filter(item=item).delete()

    second.delete()
    third.position = 2  # Weekend now widens at step 2; the item stays at position 3
    third.save()

    got = services.item_get_next(agent_id=wendy.pk)
    assert got is not None and got.pk == item.pk and got.routing_step == 3


# Backlog over X ---------------------------------------------------------------------------------

def test_the_backlog_beyond_x_widens_and_the_head_stays(org, clock):
    queue, _cards, night, _carol, nina = org
    factories.RoutingStepFactory(queue=queue, condition=StepCondition.BACKLOG, backlog_over=3, added_teams=[night])
    items = [queued_item(queue, priority=priority) for priority in (1, 2, 3, 4, 5)]  # the urgent ones first

    assert routing_advance().moved == 2
    widened = WorkItem.objects.filter(routing_step=2)
    assert set(widened.values_list("pk", flat=True)) == {items[0].pk, items[1].pk}  # the least urgent two
    [event] = _entered(items[0])
    assert event.data["backlog_over"] == 3 and "more than 3 items waiting in Chargebacks" in event.reason
    assert routing_advance().moved == 0  # never twice, and the head stays with the queue's team
    assert services.item_get_next(agent_id=nina.pk).pk == items[1].pk  # the best of what Night may take


# No agent available for N minutes ---------------------------------------------------------------------

def test_no_agent_of_the_step_available_for_n_minutes_overflows_every_waiting_item(org, clock):
    queue, _cards, night, carol, nina = org
    overflow = factories.QueueFactory(teams=[night], name="Overflow", code="overflow")
    factories.RoutingStepFactory(queue=queue, condition=StepCondition.NO_AGENT, minutes=15, overflow_queue=overflow)
    first, second = queued_item(queue), queued_item(queue)

    assert routing_advance().moved == 0  # Carol is available
    services.agent_set_presence(agent_id=carol.pk, presence=Presence.OFFLINE, actor=carol.user)
    clock.shift(14 * MIN)
    assert routing_advance().moved == 0  # she was available 14 minutes ago
    clock.shift(MIN)
    assert routing_advance().moved == 2
    for item in (first, second):
        item.refresh_from_db()
        assert (item.queue_id, item.routing_step) == (overflow.pk, 1)
        assert item.start_by == item.due_at - overflow.standard_handle_time
        said = events.read(_entered(item)[0])
        assert (said.from_queue_code, said.to_queue_code, said.due_at) == ("chargebacks", "overflow", item.due_at)
    assert services.item_get_next(agent_id=nina.pk).pk == first.pk
    assert list(items_audit()) == []


def test_nobody_admitted_at_all_holds_at_once(clock):
    queue = factories.QueueFactory()  # served by no team
    night = factories.TeamFactory()
    factories.RoutingStepFactory(queue=queue, condition=StepCondition.NO_AGENT, minutes=5, added_teams=[night])
    queued_item(queue)
    assert routing_advance().moved == 1


# Skills: lowered, dropped, replaced ------------------------------------------------------------------

@pytest.mark.parametrize("change, agent_skills, admitted", [
    ("lowered", {"fraud": 2}, True),
    ("lowered", {"fraud": 1}, False),
    ("dropped", {}, True),
    ("replaced", {"disputes": 3}, True),
    ("replaced", {"fraud": 3}, False),  # fraud below step 1's minimum, and no disputes
])
def test_a_step_changes_the_skills_it_asks(org, clock, change, agent_skills, admitted):
    queue, cards, _night, _carol, _nina = org
    skills = {name: factories.SkillFactory(name=name) for name in ("fraud", "disputes")}
    factories.QueueSkillFactory(queue=queue, skill=skills["fraud"], min_proficiency=4)
    step = factories.RoutingStepFactory(queue=queue, minutes=10)
    if change == "lowered":
        factories.StepSkillFactory(step=step, skill=skills["fraud"], min_proficiency=2)
    else:
        factories.StepSkillFactory(step=step, skill=skills["fraud"], min_proficiency=None)
    if change == "replaced":
        factories.StepSkillFactory(step=step, skill=skills["disputes"], min_proficiency=3)
    junior = factories.AgentFactory(team=cards, presence=Presence.AVAILABLE)
    for name, level in agent_skills.items():
        factories.AgentSkillFactory(agent=junior, skill=skills[name], proficiency=level)
    item = queued_item(queue)
    assert services.item_get_next(agent_id=junior.pk) is None

    clock.shift(10 * MIN)
    routing_advance()
    got = services.item_get_next(agent_id=junior.pk)
    assert (got is not None and got.pk == item.pk) is admitted


# An overflow chain across three queues -------------------------------------------------------------------

def test_an_item_overflows_through_three_queues_each_routing_it_by_its_own_steps(clock):
    teams = [factories.TeamFactory(name=name) for name in ("A", "B", "C")]
    first, second, third = (
        factories.QueueFactory(teams=[team], name=f"Queue {team.name}", code=f"q-{team.name.lower()}",
                               standard_handle_time=minutes * MIN)
        for team, minutes in zip(teams, (15, 30, 45), strict=True)
    )
    factories.RoutingStepFactory(queue=first, minutes=10, overflow_queue=second)
    factories.RoutingStepFactory(queue=second, minutes=20, overflow_queue=third)
    agent_c = factories.AgentFactory(team=teams[2], presence=Presence.AVAILABLE)
    item = queued_item(first)

    clock.shift(10 * MIN)
    routing_advance()
    assert WorkItem.objects.get(pk=item.pk).queue_id == second.pk
    clock.shift(19 * MIN)
    assert routing_advance().moved == 0  # B's wait counts from its arrival there
    clock.shift(MIN)
    routing_advance()
    item.refresh_from_db()
    assert (item.queue_id, item.routing_step, item.start_by) == (third.pk, 1, item.due_at - 45 * MIN)
    assert [(e.data["from_queue"], e.data["to_queue"]) for e in _entered(item)] == [("q-a", "q-b"), ("q-b", "q-c")]
    assert services.item_get_next(agent_id=agent_c.pk).pk == item.pk
    assert list(items_audit()) == []


# What routing does not do ------------------------------------------------------------------------------

def test_with_routing_off_no_item_moves_and_later_steps_admit_nobody(org, clock):
    queue, _cards, night, carol, nina = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night], routing_on=False)
    item = queued_item(queue)
    clock.shift(10 * MIN)
    assert routing_advance().moved == 0
    WorkItem.objects.filter(pk=item.pk).update(routing_step=2)  # reached while routing was on, say
    assert services.item_get_next(agent_id=nina.pk) is None
    assert services.item_get_next(agent_id=carol.pk).pk == item.pk  # the queue's own rule still holds


def test_held_items_do_not_move_and_a_handed_back_one_moves_at_the_next_pass(org, clock):
    queue, _cards, night, carol, _nina = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    item = queued_item(queue)
    services.item_get_next(agent_id=carol.pk)
    clock.shift(20 * MIN)
    assert routing_advance().moved == 0
    services.item_release(item_id=item.pk, actor=carol.user, reason="Not mine")
    assert routing_advance().moved == 1  # its customer has waited all along


def test_a_transfer_to_another_queue_starts_its_routing_at_step_1(org, clock):
    queue, _cards, night, _carol, _nina = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    other = factories.QueueFactory(teams=[night])
    item = queued_item(queue)
    clock.shift(10 * MIN)
    routing_advance()
    clock.shift(MIN)
    services.item_transfer(item_id=item.pk, actor=supervisor_for(queue, other), to_queue_id=other.pk, reason="r")
    item.refresh_from_db()
    assert (item.routing_step, item.step_entered_at) == (1, NOW + 11 * MIN)
    assert list(items_audit()) == []


def test_a_holder_a_later_step_admitted_keeps_its_item_through_rebalancing(org, clock):
    queue, _cards, night, _carol, nina = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    item = queued_item(queue)
    clock.shift(10 * MIN)
    routing_advance()
    services.item_get_next(agent_id=nina.pk)
    clock.shift(MIN)
    rebalancing.rebalance()
    assert WorkItem.objects.get(pk=item.pk).assignee_id == nina.pk  # still eligible: step 2 admits her


def test_push_gives_an_item_to_an_agent_its_step_admits(org, clock):
    queue, _cards, night, carol, nina = org
    queue.allocation_mode = AllocationMode.PUSH
    queue.save()
    services.agent_set_presence(agent_id=carol.pk, presence=Presence.OFFLINE, actor=carol.user)
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    item = queued_item(queue)
    assert push.push_assign().to_agent == 0
    clock.shift(10 * MIN)
    routing_advance()
    assert push.push_assign().to_agent == 1
    assert WorkItem.objects.get(pk=item.pk).assignee_id == nina.pk


def test_an_overflow_to_an_inactive_queue_waits_and_says_why(org, clock):
    queue, *_ = org
    closed = factories.QueueFactory(is_active=False, name="Closed")
    factories.RoutingStepFactory(queue=queue, minutes=10, overflow_queue=closed)
    item = queued_item(queue)
    clock.shift(10 * MIN)
    result = routing_advance()
    assert result.moved == 0 and result.blocked == [f"{queue} · step 2: the queue Closed is inactive"]
    assert WorkItem.objects.get(pk=item.pk).queue_id == queue.pk


# Preview equals apply --------------------------------------------------------------------------------------

def test_the_preview_is_what_the_job_then_does(org, clock):
    queue, _cards, night, _carol, nina = org
    overflow = factories.QueueFactory(teams=[factories.TeamFactory(name="Overflow team")], name="Spill")
    spill_agent = factories.AgentFactory(team=overflow.teams.get())
    factories.RoutingStepFactory(queue=queue, minutes=30, added_teams=[night], routing_on=False)
    factories.RoutingStepFactory(queue=queue, position=3, condition=StepCondition.BACKLOG, backlog_over=2,
                                 overflow_queue=overflow, routing_on=False)
    old = [queued_item(queue, received_at=NOW - (40 + n) * MIN) for n in range(3)]
    new = [queued_item(queue) for _ in range(3)]
    WorkItem.objects.filter(pk=new[0].pk).update(routing_step=2)  # one already at step 2, as if routed before

    shown = routing.preview(queue, now=NOW)
    assert [p.due.step.position for p in shown] == [2, 3]
    assert [p.new_agents for p in shown] == [[nina], [spill_agent]]
    planned = {p.due.step.position: p.due.item_ids for p in shown}
    assert set(planned[2]) == {item.pk for item in old}
    assert planned[3] == [new[0].pk] and shown[0].due.total == 3

    queue.routing_enabled = True
    queue.save()
    routing_advance(now=NOW)
    entered = {}
    for event in WorkItemEvent.objects.filter(kind=EventKind.STEP_ENTERED):
        entered.setdefault(events.read(event).from_step + 1, []).append(event.item_id)
    assert {step: sorted(ids) for step, ids in entered.items()} == {
        step: sorted(ids) for step, ids in planned.items()
    }


# Exactly once -------------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_enter_each_item_once(org):
    queue, _cards, night, *_ = org
    step = factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    items = [queued_item(queue, received_at=NOW - 20 * MIN) for _ in range(450)]
    results = at_the_same_time(lambda: routing_advance(now=NOW, batch_size=50))
    assert sum(result.entered.get(step.pk, 0) for result in results) == len(items)
    assert WorkItemEvent.objects.filter(kind=EventKind.STEP_ENTERED).count() == len(items)
    assert WorkItem.objects.filter(routing_step=2).count() == len(items)
    assert routing_advance(now=NOW).moved == 0


def test_a_pass_stopped_between_batches_loses_nothing_and_the_next_completes_it(org, monkeypatch):
    queue, _cards, night, *_ = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    items = [queued_item(queue, received_at=NOW - 20 * MIN) for _ in range(5)]
    real = services.routing._enter
    calls = []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(services.routing, "_enter", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        routing_advance(now=NOW, batch_size=2)
    assert WorkItem.objects.filter(routing_step=2).count() == 2
    monkeypatch.setattr(services.routing, "_enter", real)
    assert routing_advance(now=NOW, batch_size=2).moved == 3
    assert WorkItemEvent.objects.filter(kind=EventKind.STEP_ENTERED).count() == len(items)



def test_the_supervisor_of_a_team_a_step_added_reaches_the_work_its_agents_took(org, clock):
    queue, _cards, night, _carol, nina = org
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    night_lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    night.supervisors.add(night_lead)
    item = queued_item(queue)
    assert not selectors.items_visible_to(night_lead).filter(pk=item.pk).exists()  # waiting: Cards' work
    clock.shift(10 * MIN)
    routing_advance()
    services.item_get_next(agent_id=nina.pk)
    assert selectors.items_visible_to(night_lead).filter(pk=item.pk).exists()
    # Nina goes home: her supervisor hands the item back to its queue.
    services.item_transfer(item_id=item.pk, actor=night_lead, to_queue_id=queue.pk, reason="Nina left early")
    item.refresh_from_db()
    assert (item.status, item.routing_step) == (ItemStatus.QUEUED, 2)  # back where it was in its routing


def test_a_no_agent_step_after_a_widening_one_is_previewed_as_the_job_judges_it(org, clock):
    """Previewed with routing off, step 3's "nobody available" counts the team step 2
    would add (Night: Nina is available), as the job does once routing is on."""
    queue, _cards, night, carol, _nina = org
    services.agent_set_presence(agent_id=carol.pk, presence=Presence.OFFLINE, actor=carol.user)
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night], routing_on=False)
    factories.RoutingStepFactory(queue=queue, position=3, condition=StepCondition.NO_AGENT, minutes=5,
                                 added_teams=[factories.TeamFactory()], routing_on=False)
    item = queued_item(queue, received_at=NOW - 60 * MIN)
    WorkItem.objects.filter(pk=item.pk).update(routing_step=2)
    clock.shift(30 * MIN)
    shown = routing.preview(queue, now=NOW + 30 * MIN)
    assert [p.due.item_ids for p in shown] == [[], []]
    queue.routing_enabled = True
    queue.save()
    assert routing_advance(now=NOW + 30 * MIN).moved == 0
