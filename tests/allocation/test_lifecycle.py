"""Lifecycle transitions: each checks actor and state, writes exactly one event."""

import itertools
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from allocation import services
from allocation.exceptions import AgentAtCapacity, AgentNotEligible, IllegalTransition, ItemNotFound, NotItemHolder
from allocation.models import CoolOff, EventKind, ItemStatus, Presence, WorkItem
from core import roles
from core.actors import SystemActor
from core.exceptions import DomainError, InvalidInput, PermissionDenied
from tests import factories
from tests.helpers import ITEM_STATES, assigned_item, item_in_state, pended_item, queued_item, started_item

pytestmark = pytest.mark.django_db


def _last_event(item):
    return item.events.order_by("-id").first()


@pytest.fixture
def supervisor(team):
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    return lead


# start ---------------------------------------------------------------------------------


def test_start_moves_assigned_to_in_progress(agent, queue):
    item = assigned_item(agent, queue)
    started = services.item_start(item_id=item.pk, actor=agent.user)
    assert started.status == ItemStatus.IN_PROGRESS
    assert started.started_at is not None
    event = _last_event(started)
    assert (event.kind, event.from_status, event.to_status) == (EventKind.STARTED, "assigned", "in_progress")
    assert event.actor == agent.user


def test_start_twice_is_refused_with_a_clear_message(agent, queue):
    item = started_item(agent, queue)
    with pytest.raises(IllegalTransition, match="is in progress, so it cannot be started"):
        services.item_start(item_id=item.pk, actor=agent.user)
    assert item.events.count() == 3  # created, assigned, started: nothing more


def test_only_the_holder_may_start(agent, queue, team):
    other = factories.AgentFactory(team=team)
    item = assigned_item(agent, queue)
    with pytest.raises(NotItemHolder):
        services.item_start(item_id=item.pk, actor=other.user)
    item.refresh_from_db()
    assert item.status == ItemStatus.ASSIGNED


def test_unknown_item(agent):
    with pytest.raises(ItemNotFound):
        services.item_start(item_id=999999, actor=agent.user)


# pend ----------------------------------------------------------------------------------


def test_pend_keeps_the_holder_and_records_until_and_reason(agent, queue):
    item = started_item(agent, queue)
    until = timezone.now() + timedelta(hours=2)
    pended = services.item_pend(item_id=item.pk, actor=agent.user, until=until, reason="Awaiting documents")
    assert pended.status == ItemStatus.PENDED
    assert pended.assignee == agent.user
    assert pended.pended_until == until
    event = _last_event(pended)
    assert event.kind == EventKind.PENDED
    assert event.reason == "Awaiting documents"
    assert event.data["until"] == until.isoformat()


@pytest.mark.parametrize(
    ("delta", "reason", "field"),
    [
        (timedelta(minutes=-1), "Wait", "until"),
        (timedelta(days=400), "Wait", "until"),
        (timedelta(hours=1), "   ", "reason"),
    ],
)
def test_pend_rejects_bad_input_and_changes_nothing(agent, queue, delta, reason, field):
    item = started_item(agent, queue)
    with pytest.raises(InvalidInput) as error:
        services.item_pend(item_id=item.pk, actor=agent.user, until=timezone.now() + delta, reason=reason)
    assert field in error.value.fields
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_PROGRESS


def test_pend_needs_the_item_started(agent, queue):
    item = assigned_item(agent, queue)
    with pytest.raises(IllegalTransition):
        services.item_pend(item_id=item.pk, actor=agent.user, until=timezone.now() + timedelta(hours=1), reason="x")


# complete ------------------------------------------------------------------------------


def test_complete_closes_the_item_and_credits_the_agent(agent, queue):
    item = started_item(agent, queue)
    done = services.item_complete(item_id=item.pk, actor=agent.user, outcome="resolved", note="All good")
    assert done.status == ItemStatus.COMPLETED
    assert done.assignee is None
    assert done.completed_by == agent.user
    assert done.outcome == "resolved"
    assert done.closed_at is not None
    event = _last_event(done)
    assert (event.kind, event.reason, event.data) == (
        EventKind.COMPLETED, "All good", {"outcome": "resolved", "from_agent": agent.pk}
    )


def test_complete_checks_the_queues_outcomes(agent, queue):
    queue.outcomes = ["approved", "declined"]
    queue.save()
    item = started_item(agent, queue)
    with pytest.raises(InvalidInput) as error:
        services.item_complete(item_id=item.pk, actor=agent.user, outcome="maybe")
    assert error.value.fields == {"outcome": ["Choose one of: approved, declined."]}
    assert services.item_complete(item_id=item.pk, actor=agent.user, outcome="declined").outcome == "declined"


def test_complete_needs_in_progress(agent, queue):
    item = assigned_item(agent, queue)
    with pytest.raises(IllegalTransition):
        services.item_complete(item_id=item.pk, actor=agent.user)


# release -------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [False, True])
def test_release_returns_the_item_to_its_queue(agent, queue, start):
    item = started_item(agent, queue) if start else assigned_item(agent, queue)
    released = services.item_release(item_id=item.pk, actor=agent.user, reason="Needs a specialist")
    assert released.status == ItemStatus.QUEUED
    assert released.assignee is None
    event = _last_event(released)
    assert event.kind == EventKind.RELEASED
    assert event.reason == "Needs a specialist"
    cool_off = CoolOff.objects.get(item=item)
    assert (cool_off.agent_id, cool_off.kind, cool_off.reason) == (agent.pk, "released", "Needs a specialist")
    assert cool_off.until == cool_off.since + settings.WFO_RELEASE_COOLDOWN == event.at + settings.WFO_RELEASE_COOLDOWN
    assert event.data == {"from_agent": agent.pk, "not_offered_again_until": cool_off.until.isoformat()}


def test_released_work_does_not_come_straight_back(agent, queue, team, settings):
    """The agent released it ("needs an authority I don't have") and pressed `n`: it gets
    the next item, not the same one; a colleague gets the released one; after the cool-off
    it may come back to the agent."""
    item = assigned_item(agent, queue)
    services.item_release(item_id=item.pk, actor=agent.user, reason="Needs a senior's authority")
    later = queued_item(queue)

    assert services.item_get_next(agent_id=agent.pk).pk == later.pk
    colleague = factories.AgentFactory(team=team)
    assert services.item_get_next(agent_id=colleague.pk).pk == item.pk
    services.item_release(item_id=item.pk, actor=colleague.user, reason="Conflict of interest")
    services.item_release(item_id=later.pk, actor=agent.user, reason="Lunch")
    assert services.item_get_next(agent_id=agent.pk) is None  # both cool off for it

    with time_machine.travel(timezone.now() + settings.WFO_RELEASE_COOLDOWN + timedelta(seconds=1)):
        assert services.item_get_next(agent_id=agent.pk).pk == item.pk


@pytest.mark.parametrize("again", ["complete", "start", "release"])
def test_its_completer_repeating_an_action_on_a_completed_item_gets_a_conflict(agent, queue, again):
    """A client that lost the answer to its complete and sends it again (or any holder's
    action) hears the item is completed (409), not that it is somebody else's (403)."""
    from allocation.exceptions import IllegalTransition, NotItemHolder

    item = started_item(agent, queue)
    services.item_complete(item_id=item.pk, actor=agent.user)
    calls = {
        "complete": lambda: services.item_complete(item_id=item.pk, actor=agent.user),
        "start": lambda: services.item_start(item_id=item.pk, actor=agent.user),
        "release": lambda: services.item_release(item_id=item.pk, actor=agent.user, reason="r"),
    }
    with pytest.raises(IllegalTransition) as refused:
        calls[again]()
    assert not isinstance(refused.value, NotItemHolder) and refused.value.code != "not_item_holder"


def test_release_needs_a_reason(agent, queue):
    item = assigned_item(agent, queue)
    with pytest.raises(InvalidInput):
        services.item_release(item_id=item.pk, actor=agent.user, reason="")


def test_pended_item_cannot_be_released(agent, queue):
    item = pended_item(agent, queue)
    with pytest.raises(IllegalTransition):
        services.item_release(item_id=item.pk, actor=agent.user, reason="x")


# cancel --------------------------------------------------------------------------------


def test_cancel_by_supervisor_from_any_open_state(agent, queue, supervisor):
    item = pended_item(agent, queue)
    cancelled = services.item_cancel(item_id=item.pk, actor=supervisor, reason="Customer withdrew")
    assert cancelled.status == ItemStatus.CANCELLED
    assert cancelled.assignee is None
    assert cancelled.pended_until is None
    event = _last_event(cancelled)
    assert (event.kind, event.from_status, event.actor) == (EventKind.CANCELLED, ItemStatus.PENDED, supervisor)
    assert event.data == {"from_agent": agent.pk}


def test_cancel_needs_the_permission(agent, queue):
    item = factories.WorkItemFactory(queue=queue)
    with pytest.raises(PermissionDenied):
        services.item_cancel(item_id=item.pk, actor=agent.user)


def test_closed_items_cannot_be_cancelled(agent, queue, supervisor):
    item = started_item(agent, queue)
    services.item_complete(item_id=item.pk, actor=agent.user)
    with pytest.raises(IllegalTransition):
        services.item_cancel(item_id=item.pk, actor=supervisor)


def test_system_jobs_may_cancel(queue):
    item = factories.WorkItemFactory(queue=queue)
    cancelled = services.item_cancel(item_id=item.pk, actor=SystemActor("retention"), reason="Expired")
    event = _last_event(cancelled)
    assert (event.actor, event.system_actor, event.actor_label) == (None, "retention", "system: retention")


# transfer ------------------------------------------------------------------------------


def test_holder_transfers_to_another_queue_keeping_the_due_time(agent, queue, team):
    target = factories.QueueFactory(teams=[team], standard_handle_time=timedelta(hours=2))
    item = started_item(agent, queue)
    moved = services.item_transfer(item_id=item.pk, actor=agent.user, to_queue_id=target.pk, reason="Wrong queue")
    assert (moved.queue, moved.status, moved.assignee) == (target, ItemStatus.QUEUED, None)
    assert moved.due_at == item.due_at
    assert moved.start_by == item.due_at - timedelta(hours=2)
    event = _last_event(moved)
    assert event.kind == EventKind.TRANSFERRED
    assert event.data == {"from_queue": queue.code, "from_queue_id": queue.pk, "from_agent": agent.pk,
                          "to_queue": target.code, "to_queue_id": target.pk,
                          "due_at": moved.due_at.isoformat(), "start_by": moved.start_by.isoformat()}


def test_holder_transfers_to_an_eligible_agent(agent, queue, team):
    colleague = factories.AgentFactory(team=team)
    item = pended_item(agent, queue)
    moved = services.item_transfer(item_id=item.pk, actor=agent.user, to_agent_id=colleague.pk)
    assert (moved.status, moved.assignee, moved.pended_until) == (ItemStatus.ASSIGNED, colleague.user, None)
    colleague.refresh_from_db()
    assert colleague.last_assigned_at == moved.assigned_at


def test_transfer_to_an_ineligible_agent_says_why(agent, queue, team):
    skill = factories.SkillFactory(name="Spanish")
    factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=2)
    factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=5)
    stranger = factories.AgentFactory(team=factories.TeamFactory(), presence=Presence.AWAY, capacity=1)
    item = assigned_item(agent, queue)
    with pytest.raises(AgentNotEligible) as error:
        services.item_transfer(item_id=item.pk, actor=agent.user, to_agent_id=stranger.pk)
    reasons = error.value.fields["agent"]
    assert any("not in a team serving" in r for r in reasons)
    assert any("lacks Spanish at level 2" in r for r in reasons)
    assert any("is away" in r for r in reasons)
    item.refresh_from_db()
    assert item.assignee == agent.user


def test_transfer_to_an_agent_at_capacity_is_refused(agent, queue, team):
    busy = factories.AgentFactory(team=team, capacity=1)
    assigned_item(busy, queue)
    item = assigned_item(agent, queue)
    with pytest.raises(AgentNotEligible, match="already holds 1 of 1"):
        services.item_transfer(item_id=item.pk, actor=agent.user, to_agent_id=busy.pk)


def test_agents_cannot_transfer_others_items(agent, queue, team):
    other = factories.AgentFactory(team=team)
    item = assigned_item(agent, queue)
    with pytest.raises(NotItemHolder):
        services.item_transfer(item_id=item.pk, actor=other.user, to_agent_id=other.pk)


def test_supervisor_assigns_a_queued_item_to_an_agent(agent, queue, supervisor):
    item = factories.WorkItemFactory(queue=queue)
    moved = services.item_transfer(item_id=item.pk, actor=supervisor, to_agent_id=agent.pk, reason="VIP")
    assert (moved.status, moved.assignee) == (ItemStatus.ASSIGNED, agent.user)
    assert _last_event(moved).actor == supervisor


def test_transfer_needs_exactly_one_target(agent, queue, team):
    item = assigned_item(agent, queue)
    with pytest.raises(InvalidInput):
        services.item_transfer(item_id=item.pk, actor=agent.user)
    with pytest.raises(InvalidInput):
        services.item_transfer(item_id=item.pk, actor=agent.user, to_queue_id=queue.pk, to_agent_id=agent.pk)


def test_transfer_to_the_current_holder_is_refused(agent, queue):
    item = assigned_item(agent, queue)
    with pytest.raises(IllegalTransition, match="already holds"):
        services.item_transfer(item_id=item.pk, actor=agent.user, to_agent_id=agent.pk)


# audit trail ---------------------------------------------------------------------------


def test_events_replay_to_the_current_state(agent, queue, supervisor):
    item = pended_item(agent, queue)
    services.item_transfer(item_id=item.pk, actor=supervisor, to_queue_id=queue.pk)
    again = services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=again.pk, actor=agent.user)
    services.item_complete(item_id=again.pk, actor=agent.user)

    events = list(WorkItem.objects.get(pk=item.pk).events.order_by("at", "id"))
    assert [e.kind for e in events] == [
        "created",
        "assigned",
        "started",
        "pended",
        "transferred",
        "assigned",
        "started",
        "completed",
    ]
    for before, after in itertools.pairwise(events):
        assert after.from_status == before.to_status
    assert events[-1].to_status == WorkItem.objects.get(pk=item.pk).status


def test_start_returns_the_item_as_stored(agent, queue):
    item = assigned_item(agent, queue, payload={"amount": "9.99", "lines": [1, 2]})
    started = services.item_start(item_id=item.pk, actor=agent.user)
    stored = WorkItem.objects.select_related("queue").get(pk=item.pk)
    assert started.payload == stored.payload == {"amount": "9.99", "lines": [1, 2]}
    assert started.queue.code == stored.queue.code
    assert (started.status, started.started_at, started.updated_at) == (
        stored.status, stored.started_at, stored.updated_at,
    )
    assert started.events.count() == 3


def test_supervisors_see_who_an_item_is_held_back_from_and_why(agent, queue, supervisor, client):
    agent.user.first_name, agent.user.last_name = "Amelia", "Hart"
    agent.user.save()
    item = assigned_item(agent, queue)
    services.item_release(item_id=item.pk, actor=agent.user, reason="Needs a senior's authority")

    client.force_login(supervisor)
    page = client.get(f"/work/items/{item.pk}/").content.decode()

    assert "Held back from" in page and "Amelia Hart until" in page
    assert "released: “Needs a senior&#x27;s authority”" in page


# resume --------------------------------------------------------------------------------------

def test_the_holder_resumes_a_pended_item_early(agent, queue):
    pended = pended_item(agent, queue, minutes=240)
    clock_before = pended.due_at

    resumed = services.item_resume(item_id=pended.pk, actor=agent.user)

    assert (resumed.status, resumed.assignee_id, resumed.pended_until) == (ItemStatus.IN_PROGRESS, agent.pk, None)
    event = _last_event(resumed)
    assert (event.kind, event.from_status, event.to_status) == (EventKind.RESUMED, "pended", "in_progress")
    assert resumed.due_at >= clock_before  # the pause's working time moved it, never earlier
    with pytest.raises(IllegalTransition, match="cannot be resumed"):
        services.item_resume(item_id=pended.pk, actor=agent.user)


def test_resume_keeps_to_capacity_and_to_the_holder(agent, queue, team):
    agent.capacity = 1
    agent.save()
    pended = pended_item(agent, queue)
    started_item(agent, queue)
    with pytest.raises(AgentAtCapacity, match="1 of 1"):
        services.item_resume(item_id=pended.pk, actor=agent.user)
    colleague = factories.AgentFactory(team=team)
    with pytest.raises(NotItemHolder):
        services.item_resume(item_id=pended.pk, actor=colleague.user)
    assert WorkItem.objects.get(pk=pended.pk).status == ItemStatus.PENDED


def test_resume_now_on_the_item_page(agent, queue, client):
    pended = pended_item(agent, queue)
    client.force_login(agent.user)
    page = client.get(f"/work/items/{pended.pk}/").content.decode()
    assert "Resume now" in page

    response = client.post(f"/work/items/{pended.pk}/resume/")

    assert response.status_code == 302 and response.url == f"/work/items/{pended.pk}/"
    assert WorkItem.objects.get(pk=pended.pk).status == ItemStatus.IN_PROGRESS


class _Undo(Exception):
    pass


def _start_outcome(start, item_id: int, actor) -> tuple:
    """What a start path does to an item, undone afterwards: the status and the event it
    writes, or the error it raises."""
    from django.db import transaction

    try:
        with transaction.atomic():
            item = start(item_id=item_id, actor=actor)
            event = item.events.order_by("-id").first()
            outcome = ("started", item.status, event.kind, event.from_status, event.to_status,
                       item.started_at == event.at)
            raise _Undo
    except _Undo:
        return outcome
    except DomainError as refused:  # the kind of refusal is the outcome compared
        return ("refused", type(refused).__name__)


@pytest.mark.parametrize("state", ITEM_STATES)
@pytest.mark.parametrize("who", ["holder", "colleague"])
def test_the_fast_start_and_the_checked_start_follow_one_rule(agent, queue, team, state, who):
    """item_start's one-statement path and its checked path read who may start what, from
    which state, and what it leads to, from the lifecycle's table: from every state, for the
    holder and anyone else, they do the same (and only the assigned item starts)."""
    from allocation.services import lifecycle

    item = item_in_state(state, agent=agent, queue=queue, canceller=factories.UserFactory(is_superuser=True))
    actor = agent.user if who == "holder" else factories.AgentFactory(team=team).user
    fast = _start_outcome(lifecycle.item_start, item.pk, actor)
    checked = _start_outcome(lifecycle._item_start_checked, item.pk, actor)
    assert fast == checked
    if state == "assigned" and who == "holder":
        assert fast == ("started", ItemStatus.IN_PROGRESS, EventKind.STARTED, ItemStatus.ASSIGNED,
                        ItemStatus.IN_PROGRESS, True)
    else:
        assert fast[0] == "refused"


def _complete_outcome(complete, item_id: int, actor, outcome: str, note: str = "checked twice") -> tuple:
    """What a complete path does — the item's row, its SLA clock's, the event it writes —
    undone afterwards, or the error it raises."""
    from django.db import transaction

    from allocation.models import SlaClock

    try:
        with transaction.atomic():
            answered = complete(item_id=item_id, actor=actor, outcome=outcome, note=note)
            item = WorkItem.objects.get(pk=item_id)
            event = item.events.order_by("-id").first()
            clock = SlaClock.objects.filter(item_id=item_id).first()
            said = ("completed", item.status, item.outcome, item.completed_by_id, item.assignee_id,
                    event.kind, event.from_status, event.to_status, event.reason, event.data, event.actor_id,
                    event.at == item.closed_at,
                    clock and (clock.stopped_at == item.closed_at, clock.next_alert_at, clock.paused_since,
                               clock.paused_working > timedelta(0)),
                    (answered.status, answered.outcome, answered.closed_at) == (item.status, item.outcome,
                                                                              item.closed_at))
            raise _Undo
    except _Undo:
        return said
    except DomainError as refused:
        return ("refused", type(refused).__name__, str(refused))


@pytest.mark.parametrize("state", ITEM_STATES)
@pytest.mark.parametrize("who", ["holder", "colleague"])
@pytest.mark.parametrize("offered, outcome", [(["resolved"], "resolved"), (["resolved"], " resolved "),
                                              (["resolved"], "bogus"), (["resolved"], ""), ([], "typed"), ([], "")])
def test_the_fast_complete_and_the_checked_complete_follow_one_rule(agent, queue, team, state, who, offered,
                                                                    outcome):
    """item_complete's one-statement path and its checked path read who may complete what,
    from which state, with which outcome, from the same rules: from every state, for the
    holder and anyone else, with an offered outcome, another or none, they do the same."""
    from allocation.services import lifecycle

    item = item_in_state(state, agent=agent, queue=queue, canceller=factories.UserFactory(is_superuser=True))
    queue.outcomes = offered
    queue.save(update_fields=["outcomes"])
    actor = agent.user if who == "holder" else factories.AgentFactory(team=team).user
    # The checked path takes what item_complete has trimmed.
    fast = _complete_outcome(lifecycle.item_complete, item.pk, actor, outcome, note="  checked twice ")
    checked = _complete_outcome(lifecycle._item_complete_checked, item.pk, actor, outcome.strip())
    assert fast == checked
    if state == "in_progress" and who == "holder" and (not offered or outcome.strip() in offered):
        assert fast[:11] == ("completed", ItemStatus.COMPLETED, outcome.strip() or "completed", agent.pk, None,
                             EventKind.COMPLETED, ItemStatus.IN_PROGRESS, ItemStatus.COMPLETED, "checked twice",
                             {"outcome": outcome.strip() or "completed", "from_agent": agent.pk}, agent.pk)
        assert fast[11:] == (True, (True, None, None, False), True)  # the clock stopped when the item closed
    else:
        assert fast[0] == "refused"


def test_an_item_whose_clock_is_paused_is_completed_by_the_checked_path(agent, queue):
    """The pause's working time is added up on its calendar, which the one statement cannot."""
    from allocation.models import SlaClock
    from allocation.services import lifecycle

    item = started_item(agent, queue)
    SlaClock.objects.filter(item=item).update(paused_since=timezone.now() - timedelta(hours=1))
    fast = _complete_outcome(lifecycle.item_complete, item.pk, agent.user, "")
    checked = _complete_outcome(lifecycle._item_complete_checked, item.pk, agent.user, "")
    assert fast == checked
    assert fast[12] == (True, None, None, True)  # the pause ended and counted
