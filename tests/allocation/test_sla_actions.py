"""SLA threshold actions (README, "SLA threshold actions"): each kind with the real
services, once per (item, action) under overlapping scans and a killed pass, the retarget
rule, actions outside working time, and what cannot be done recorded once."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from allocation import events, labels, services
from allocation.models import (
    BusinessCalendar,
    EventKind,
    ItemStatus,
    NotifyWhom,
    OutsideWorkingTime,
    Presence,
    Priority,
    SlaAction,
    SlaActionKind,
    SlaActionOutcome,
    SlaActionRun,
    SlaAlert,
    SlaClock,
    SlaPolicy,
    WebhookFormat,
    WebhookSubscription,
    WorkingWindow,
    WorkItem,
)
from allocation.services import sla_actions
from allocation.services.sla_alerts import sla_alerts_raise as alert_scan
from core import roles
from core.models import Notification
from core.services import notification_emails_send
from tests import factories
from tests.helpers import at_the_same_time, queued_item

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
MONDAY_NOON = datetime(2026, 11, 23, 12, tzinfo=UTC)
SATURDAY_MORNING = datetime(2026, 11, 21, 10, tzinfo=UTC)


def sla_alerts_raise(**kwargs) -> sla_actions.RunResult:
    """The two jobs, as beat runs them each minute: the alert scan (which records the runs
    of the thresholds it finds crossed), then the actions."""
    alert_scan(**kwargs)
    batch_size = kwargs.get("batch_size", sla_actions.RUN_BATCH)
    return sla_actions.sla_actions_run(now=kwargs.get("now"), batch_size=batch_size)


def _policy(queue, *, target=8 * HOUR, priority=None, calendar=None, warnings=(50, 75, 90)) -> SlaPolicy:
    return SlaPolicy.objects.create(queue=queue, priority=priority, target=target, calendar=calendar,
                                    warning_thresholds=list(warnings))


def _action(policy, kind, *, threshold=75, position=1, **fields) -> SlaAction:
    return SlaAction.objects.create(policy=policy, threshold=threshold, position=position, kind=kind, **fields)


def _item(queue, *, used: timedelta, **fields) -> WorkItem:
    return queued_item(queue, received_at=MONDAY_NOON - used, **fields)


def _taken(item) -> list[tuple[int, str, str]]:
    return [(e.data["threshold"], e.data["action_kind"], e.data["action_outcome"])
            for e in item.events.filter(kind=EventKind.SLA_ACTION).order_by("pk")]


def _reload(item) -> WorkItem:
    return WorkItem.objects.get(pk=item.pk)


@pytest.fixture
def lead(team):
    user = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan",
                                 email="dana@example.com")
    team.supervisors.add(user)
    return user


# Each kind --------------------------------------------------------------------------------

@time_machine.travel(MONDAY_NOON, tick=False)
def test_raising_priority_at_75_percent_retargets_and_the_item_overtakes_in_get_next(team, lead):
    """Around the clock. The raised item's urgent policy has half the target, so its due
    time comes forward past the other queue's item that was ahead of it."""
    raised_queue, other_queue = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team])
    default = _policy(raised_queue, target=8 * HOUR)
    _policy(raised_queue, priority=Priority.URGENT, target=4 * HOUR)
    _policy(other_queue, target=6 * HOUR)
    _action(default, SlaActionKind.RAISE_PRIORITY, priority=Priority.URGENT)
    ahead = _item(other_queue, used=4.4 * HOUR)  # 73 %: due in 1.6 h
    raised = _item(raised_queue, used=6.1 * HOUR)  # 76 %: due in 1.9 h
    agent = factories.AgentFactory(team=team)
    assert _reload(ahead).start_by < _reload(raised).start_by

    result = sla_alerts_raise()

    raised = _reload(raised)
    assert raised.priority == Priority.URGENT
    assert raised.due_at == MONDAY_NOON - 6.1 * HOUR + 4 * HOUR  # elapsed kept, the new target
    assert len(result.done) == 1 and _taken(raised) == [(75, "raise_priority", "done")]
    change = raised.events.get(kind=EventKind.PRIORITY_CHANGED)
    assert change.system_actor == "sla-actions" and change.reason == "SLA 75% warning: raise priority"
    assert SlaActionRun.objects.get(item=raised).detail == "Priority Normal → Urgent."
    assert Notification.objects.filter(user=lead, kind="sla_action", title__contains=f"#{raised.pk}").exists()
    assert services.item_get_next(agent_id=agent.pk).pk == raised.pk

    # The crossed thresholds (50, 75) do not fire again; the new target's 90 % and breach,
    # already passed, fire now — measured against the new target.
    again = sla_alerts_raise()
    assert sorted(SlaAlert.objects.filter(item=raised).values_list("threshold", flat=True)) == [50, 75, 90, 100]
    assert again.done == [] and SlaActionRun.objects.count() == 1


@time_machine.travel(MONDAY_NOON, tick=False)
def test_moving_to_a_queue_keeps_the_due_time_as_a_transfer_does_and_tells_both_queues_supervisors(team, lead):
    queue = factories.QueueFactory(teams=[team])
    escalation_team = factories.TeamFactory()
    escalation_lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    escalation_team.supervisors.add(escalation_lead)
    escalation = factories.QueueFactory(teams=[escalation_team], name="Escalations")
    policy = _policy(queue)
    _action(policy, SlaActionKind.MOVE_QUEUE, threshold=100, queue=escalation)
    item = _item(queue, used=9 * HOUR)
    due = _reload(item).due_at

    sla_alerts_raise()

    item = _reload(item)
    assert (item.queue_id, item.status, item.due_at) == (escalation.pk, ItemStatus.QUEUED, due)
    assert item.events.get(kind=EventKind.TRANSFERRED).reason == "SLA breach: move to a queue"
    assert _taken(item) == [(100, "move_queue", "done")]
    assert SlaActionRun.objects.get(item=item).detail == "Moved to Escalations."
    told = Notification.objects.filter(kind="sla_action", title=f"SLA breach action done: #{item.pk} {item.title}")
    assert sorted(told.values_list("user_id", flat=True)) == sorted([lead.pk, escalation_lead.pk])


@time_machine.travel(MONDAY_NOON, tick=False)
def test_a_move_takes_no_work_from_an_agent_midway_nor_undoes_a_persons_decision(team, lead):
    """Waiting and merely offered items move; an item started, pended, or given to its
    holder by a person stays, and the run says why (the preview says the same)."""
    queue, escalation = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team], name="Escalations")
    move = _action(_policy(queue), SlaActionKind.MOVE_QUEUE, threshold=100, queue=escalation)
    offered_to, working, given_to = (factories.AgentFactory(team=team, user__first_name=name, user__last_name="Hart")
                                     for name in ("Amelia", "Ben", "Chloe"))
    offered = _item(queue, used=9 * HOUR)
    services.item_get_next(agent_id=offered_to.pk)
    started = _item(queue, used=9 * HOUR)
    services.item_get_next(agent_id=working.pk)
    services.item_start(item_id=started.pk, actor=working.user)
    given = _item(queue, used=9 * HOUR)
    services.item_transfer(item_id=given.pk, actor=lead, to_agent_id=given_to.pk)
    waiting = _item(queue, used=9 * HOUR)

    sla_alerts_raise()

    assert [_reload(item).queue_id for item in (waiting, offered, started, given)] == \
        [escalation.pk, escalation.pk, queue.pk, queue.pk]
    assert (_reload(started).status, _reload(started).assignee_id) == (ItemStatus.IN_PROGRESS, working.pk)
    assert SlaActionRun.objects.get(item=started).detail == \
        "Ben Hart is working on it; an SLA action does not take work from an agent mid-way."
    assert SlaActionRun.objects.get(item=given).detail == \
        "Dana Morgan gave it to Chloe Hart; an SLA action does not undo a person's decision."

    pended = _item(queue, used=2 * HOUR)
    services.item_transfer(item_id=pended.pk, actor=lead, to_agent_id=working.pk)
    services.item_start(item_id=pended.pk, actor=working.user)
    services.item_pend(item_id=pended.pk, actor=working.user, until=MONDAY_NOON + HOUR, reason="Waiting")
    with pytest.raises(sla_actions.CannotDo, match=r"Ben Hart pended it until .*; an SLA action does not take work"):
        sla_actions.action_check(move, _reload(pended))


@time_machine.travel(MONDAY_NOON, tick=False)
def test_a_thresholds_actions_reach_the_supervisors_in_one_notification_per_item(team, lead):
    queue, escalation = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team], name="Escalations")
    away = factories.AgentFactory(team=team, presence=Presence.AWAY, user__first_name="Amelia",
                                  user__last_name="Hart")
    policy = _policy(queue)
    _action(policy, SlaActionKind.MOVE_QUEUE, threshold=100, queue=escalation, position=1)
    _action(policy, SlaActionKind.ASSIGN_AGENT, threshold=100, agent=away, position=2)
    _action(policy, SlaActionKind.NOTIFY, threshold=100, notify=NotifyWhom.SUPERVISORS, position=3)
    items = [_item(queue, used=9 * HOUR) for _ in range(2)]

    sla_alerts_raise()

    for item in items:
        told = Notification.objects.filter(user=lead, kind="sla_action", url=f"/work/items/{item.pk}/")
        due = labels.moment_words(_reload(item).due_at)
        assert sorted(told.values_list("title", "body")) == sorted([
            (f"SLA breach: #{item.pk} {item.title}",  # the notify action's own words
             f"Work item #{item.pk} in Escalations is breached; it is due {due}."),
            (f"SLA breach actions 1 done, 1 not done: #{item.pk} {item.title}",
             "Move to a queue: Moved to Escalations. Assign to a named agent: Amelia Hart is away. (not done)"),
        ])


@time_machine.travel(MONDAY_NOON, tick=False)
def test_entering_a_routing_step_widens_to_its_teams(team, lead):
    queue = factories.QueueFactory(teams=[team])
    helpers = factories.TeamFactory(name="Helpers")
    step = factories.RoutingStepFactory(queue=queue, minutes=24 * 60, added_teams=[helpers])  # not by waiting
    _action(_policy(queue), SlaActionKind.ENTER_STEP, step=step)
    item = _item(queue, used=7 * HOUR)
    helper = factories.AgentFactory(team=helpers)
    assert services.item_get_next(agent_id=helper.pk) is None

    sla_alerts_raise()

    assert _reload(item).routing_step == 2
    entered = _reload(item).events.get(kind=EventKind.STEP_ENTERED)
    assert entered.reason == "SLA 75% warning: enter a routing step" and entered.system_actor == "sla-actions"
    assert services.item_get_next(agent_id=helper.pk).pk == item.pk


@time_machine.travel(MONDAY_NOON, tick=False)
def test_assigning_to_a_named_agent_when_available_and_recording_why_not_when_away(team, lead):
    queue = factories.QueueFactory(teams=[team])
    policy = _policy(queue)
    named = factories.AgentFactory(team=team, user__first_name="Amelia", user__last_name="Hart")
    _action(policy, SlaActionKind.ASSIGN_AGENT, agent=named)
    given = _item(queue, used=7 * HOUR)

    sla_alerts_raise()

    given = _reload(given)
    assert (given.status, given.assignee_id) == (ItemStatus.ASSIGNED, named.pk)
    assert SlaActionRun.objects.get(item=given).detail == "Assigned to Amelia Hart."

    services.agent_set_presence(agent_id=named.pk, presence=Presence.AWAY, actor=named.user)
    kept = _item(queue, used=7 * HOUR)
    first = sla_alerts_raise()
    assert first.not_done and _reload(kept).status == ItemStatus.QUEUED
    run = SlaActionRun.objects.get(item=kept)
    assert (run.outcome, run.detail) == (SlaActionOutcome.NOT_DONE, "Amelia Hart is away.")
    assert _taken(kept) == [(75, "assign_agent", "not_done")]
    assert Notification.objects.filter(user=lead, title__startswith="SLA 75% action not done").exists()

    # Recorded once, not tried again on every pass.
    services.agent_set_presence(agent_id=named.pk, presence=Presence.AVAILABLE, actor=named.user)
    assert sla_alerts_raise().not_done == [] and _taken(kept) == [(75, "assign_agent", "not_done")]


@time_machine.travel(MONDAY_NOON, tick=False)
def test_notifying_the_holder_the_supervisors_by_e_mail_and_a_teams_channel(team, lead, mailoutbox):
    queue = factories.QueueFactory(teams=[team])
    policy = _policy(queue)
    agent = factories.AgentFactory(team=team)
    channel_team = factories.TeamFactory(name="Night desk")
    _action(policy, SlaActionKind.NOTIFY, notify=NotifyWhom.HOLDER, position=1)
    _action(policy, SlaActionKind.NOTIFY, notify=NotifyWhom.SUPERVISORS, by_email=True, position=2)
    _action(policy, SlaActionKind.NOTIFY, notify=NotifyWhom.TEAM_CHANNEL, team=channel_team, position=3)
    held = _item(queue, used=7 * HOUR)
    services.item_get_next(agent_id=agent.pk)

    sla_alerts_raise()

    assert _taken(held) == [(75, "notify", "done"), (75, "notify", "done"), (75, "notify", "not_done")]
    told = Notification.objects.filter(kind="sla_action")
    assert told.filter(user=agent.user).count() == 1
    assert told.get(user=lead, email=True).title == f"SLA 75%: #{held.pk} {held.title}"
    assert told.filter(user=agent.user, email=True).count() == 0
    assert notification_emails_send() == 1 and notification_emails_send() == 0  # each e-mail once
    (mail,) = [mail for mail in mailoutbox if mail.subject.startswith("SLA 75%")]  # the holder's alerts aside
    assert (mail.to, mail.subject) == (["dana@example.com"], f"SLA 75%: #{held.pk} {held.title}")
    assert f"Work item #{held.pk} in {queue.name} is at 75% of its target" in mail.body
    assert f"/work/items/{held.pk}/" in mail.body
    run = SlaActionRun.objects.get(item=held, action__notify=NotifyWhom.TEAM_CHANNEL)
    assert run.detail == "Night desk has no active chat channel."

    WebhookSubscription.objects.create(name="Night desk", url="https://hooks.example.com/x", kinds=["sla_action"],
                                       format=WebhookFormat.SLACK, team=channel_team)
    later = _item(queue, used=7 * HOUR)
    sla_alerts_raise()
    sent = later.events.filter(kind=EventKind.SLA_ACTION, data__action_outcome="done")
    assert [e.data.get("notify_team_id") for e in sent] == [None, None, channel_team.pk]


# When -------------------------------------------------------------------------------------

def _weekday_calendar() -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="Europe/London")
    for weekday in range(5):
        WorkingWindow.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    return calendar


@time_machine.travel(SATURDAY_MORNING, tick=False)
def test_outside_working_time_a_warnings_actions_wait_unless_told_to_act_at_once(team, lead):
    queue = factories.QueueFactory(teams=[team])
    policy = _policy(queue, calendar=_weekday_calendar(), warnings=(50,))
    waits = _action(policy, SlaActionKind.NOTIFY, threshold=50, notify=NotifyWhom.SUPERVISORS)
    at_once = _action(policy, SlaActionKind.RAISE_PRIORITY, threshold=50, position=2,
                      outside_working_time=OutsideWorkingTime.AT_ONCE)
    item = queued_item(queue, received_at=datetime(2026, 11, 20, 13, tzinfo=UTC))  # 50 % Fri 17:00

    sla_alerts_raise()

    assert _reload(item).priority == Priority.HIGH  # at once, on Saturday
    pending = SlaActionRun.objects.get(action=waits)
    assert pending.done_at is None and pending.due_at == datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday 09:00
    assert SlaActionRun.objects.get(action=at_once).outcome == SlaActionOutcome.DONE
    assert not SlaAlert.objects.exists()  # the warning alert waits too

    monday = sla_alerts_raise(now=datetime(2026, 11, 23, 9, 1, tzinfo=UTC))
    assert monday.done == [pending.pk] and SlaActionRun.objects.filter(done_at__isnull=True).count() == 0


# Exactly once -----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_two_overlapping_scans_do_each_action_once(role_groups, team):
    queue = factories.QueueFactory(teams=[team])
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    with time_machine.travel(MONDAY_NOON, tick=False):
        policy = _policy(queue)
        _action(policy, SlaActionKind.RAISE_PRIORITY, position=1)
        _action(policy, SlaActionKind.NOTIFY, notify=NotifyWhom.SUPERVISORS, position=2)
        items = [_item(queue, used=7 * HOUR) for _ in range(60)]

        results = at_the_same_time(lambda: sla_alerts_raise(batch_size=10))
        # A pass leaves an item's run while the other holds an earlier one of that item, so
        # a few may be left to the next minute's pass: none twice, none out of order.
        results.append(sla_alerts_raise())

    done = [pk for result in results for pk in result.done]
    assert len(done) == len(set(done)) == 120
    assert WorkItem.objects.filter(priority=Priority.HIGH).count() == 60  # raised by one, once
    for item in items:
        assert _taken(item) == [(75, "raise_priority", "done"), (75, "notify", "done")]
    assert connection.vendor == "postgresql"


class Killed(BaseException):
    """What a worker killed mid-pass looks like to the code: nothing after it runs."""


@time_machine.travel(MONDAY_NOON, tick=False)
def test_a_pass_killed_midway_undoes_its_batch_and_the_next_pass_does_it_once(team, lead, monkeypatch):
    queue = factories.QueueFactory(teams=[team])
    _action(_policy(queue), SlaActionKind.RAISE_PRIORITY)
    items = [_item(queue, used=7 * HOUR) for _ in range(3)]
    sla_actions_done = sla_actions._report
    calls = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return sla_actions_done(*args, **kwargs)

    monkeypatch.setattr(sla_actions, "_report", dies_on_the_third)
    with pytest.raises(Killed):
        sla_alerts_raise()
    # The scan's batch committed (alerts, runs recorded); the actions' batch did not.
    assert SlaActionRun.objects.filter(done_at__isnull=True).count() == 3
    assert WorkItem.objects.filter(priority=Priority.HIGH).count() == 0
    assert not events.OBSERVATION_KINDS.isdisjoint({EventKind.SLA_ACTION})

    monkeypatch.setattr(sla_actions, "_report", sla_actions_done)
    sla_alerts_raise()
    assert WorkItem.objects.filter(priority=Priority.HIGH).count() == 3
    for item in items:
        assert _taken(item) == [(75, "raise_priority", "done")]
        assert item.events.filter(kind=EventKind.PRIORITY_CHANGED).count() == 1


@time_machine.travel(MONDAY_NOON, tick=False)
def test_a_disabled_action_does_nothing_and_a_clock_without_policy_has_no_actions(team, lead):
    queue, plain = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team])
    _action(_policy(queue), SlaActionKind.RAISE_PRIORITY, is_enabled=False)
    _item(queue, used=7 * HOUR)
    plain_item = queued_item(plain, received_at=MONDAY_NOON - 20 * HOUR)
    assert SlaClock.objects.get(item=plain_item).policy_id is None

    sla_alerts_raise()

    assert not SlaActionRun.objects.exists() and not WorkItem.objects.filter(priority=Priority.HIGH).exists()


def test_a_priority_raised_over_a_weekend_keeps_the_working_time_used_and_counts_on_the_new_target(team, lead):
    """By hand, on Mon–Fri 09:00–17:00 (London, on UTC in November). Received Thu 19 Nov
    13:00 on a 24-hour target: 50 % (12 h) is Thu 13–17 (4 h) + Fri 09–17 (8 h) = Fri 17:00.
    The scan on Saturday finds it crossed outside working time: the alert waits for Monday,
    the action was told to act at once. Urgent's target is 16 h: 12 h are used, 4 h remain,
    so due Mon 13:00. Measured on the new target, 50 % (8 h, Fri 13:00) and 75 % (12 h, Fri
    17:00) alert at Monday's first minute, 90 % (14.4 h) at 11:24, the breach at 13:00."""
    calendar = _weekday_calendar()
    queue = factories.QueueFactory(teams=[team])
    default = _policy(queue, target=24 * HOUR, calendar=calendar)
    _policy(queue, priority=Priority.URGENT, target=16 * HOUR, calendar=calendar)
    _action(default, SlaActionKind.RAISE_PRIORITY, threshold=50, priority=Priority.URGENT,
            outside_working_time=OutsideWorkingTime.AT_ONCE)
    thursday = datetime(2026, 11, 19, 13, tzinfo=UTC)
    with time_machine.travel(thursday, tick=False):
        item = queued_item(queue, received_at=thursday)
    # 24 h: Thu 4 h + Fri 8 h + Mon 8 h + Tue 4 h — due Tue 13:00.
    assert _reload(item).due_at == datetime(2026, 11, 24, 13, tzinfo=UTC)

    saturday = datetime(2026, 11, 21, 10, tzinfo=UTC)
    with time_machine.travel(saturday, tick=False):
        sla_alerts_raise()
    item = _reload(item)
    assert item.priority == Priority.URGENT and item.due_at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert not SlaAlert.objects.exists()

    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        sla_alerts_raise()
    assert sorted(SlaAlert.objects.values_list("threshold", flat=True)) == [50, 75]
    clock = SlaClock.objects.get(item=item)
    assert (clock.next_threshold, clock.next_alert_at) == (90, datetime(2026, 11, 23, 11, 24, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 11, 23, 13, tzinfo=UTC), tick=False):
        sla_alerts_raise()
    assert sorted(SlaAlert.objects.values_list("threshold", flat=True)) == [50, 75, 90, 100]
    assert SlaActionRun.objects.count() == 1  # the urgent policy has no actions; the default's acted once


# Preview --------------------------------------------------------------------------------

@time_machine.travel(MONDAY_NOON, tick=False)
def test_the_preview_of_an_action_enabled_now_is_what_the_next_pass_does(team, lead, client):
    queue = factories.QueueFactory(teams=[team])
    policy = _policy(queue)
    raised = [_item(queue, used=7 * HOUR) for _ in range(3)]
    urgent = _item(queue, used=7 * HOUR, priority=Priority.URGENT)
    _item(queue, used=2 * HOUR)  # not at 75 % yet
    sla_alerts_raise()  # alerts at 50 % and 75 %, no action yet
    action = _action(policy, SlaActionKind.RAISE_PRIORITY, priority=Priority.URGENT, is_enabled=False)

    count, lines = sla_actions.action_preview(action)
    assert count == 4
    assert [(line.item.pk, line.words) for line in lines] == [
        *((item.pk, "would be raised Normal → Urgent") for item in raised),
        (urgent.pk, "not done: Its priority is Urgent already."),
    ]
    sla_alerts_raise()
    assert not SlaActionRun.objects.exists()  # disabled: nothing

    admin = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    client.force_login(admin)
    url = reverse("admin:allocation_slapolicy_change", args=[policy.pk])
    assert "would be raised Normal → Urgent" in client.get(url).content.decode()
    form = {"queue": queue.pk, "priority": "", "target": "08:00:00", "warning_thresholds": "50,75,90",
            "pause_when_pended": "on", "actions-TOTAL_FORMS": 1, "actions-INITIAL_FORMS": 1,
            "actions-0-id": action.pk, "actions-0-policy": policy.pk, "actions-0-threshold": 75,
            "actions-0-position": 1, "actions-0-kind": "raise_priority", "actions-0-priority": Priority.URGENT,
            "actions-0-is_enabled": "on"}
    response = client.post(url, form, follow=True)
    assert "4 items already past its threshold will be acted on by the next run of the SLA threshold actions job" \
        in response.content.decode()
    page = client.get(url).content.decode()
    assert "no open item is past its threshold without it. <a" in page  # as the preview said, and recorded:
    assert "Runs so far</a>: 4 waiting for the next run of the SLA threshold actions job (within a minute)." in page

    result = sla_alerts_raise()
    assert len(result.done) == 3 and len(result.not_done) == 1
    assert [(_reload(item).priority) for item in raised] == [Priority.URGENT] * 3
    assert SlaActionRun.objects.get(item=urgent).detail == "Its priority is Urgent already."
    assert sla_actions.action_preview(action) == (0, [])
    assert "Runs so far</a>: 3 done, 1 not done." in client.get(url).content.decode()
    runs = client.get(reverse("admin:allocation_slaactionrun_changelist"), {"action": action.pk})
    assert runs.status_code == 200 and "4 SLA action runs" in runs.content.decode()
    assert f"{policy} — 75%: Raise priority" in runs.content.decode()
    for hostile in ("abc", "9" * 40, "-1"):
        runs = client.get(reverse("admin:allocation_slaactionrun_changelist"), {"action": hostile})
        assert runs.status_code == 200 and "0 SLA action runs" in runs.content.decode()


@time_machine.travel(MONDAY_NOON, tick=False)
def test_the_preview_of_an_assignment_fills_the_agent_as_the_run_does(team, lead):
    """Three items past the threshold, an agent with room for one more: the preview gives
    it one, and says the other two would find the agent full — as the run then does."""
    queue = factories.QueueFactory(teams=[team])
    policy = _policy(queue)
    named = factories.AgentFactory(team=team, capacity=2, user__first_name="Aiko", user__last_name="Tanaka")
    held = _item(queue, used=HOUR)
    services.item_get_next(agent_id=named.pk)  # holds one of two
    items = [_item(queue, used=7 * HOUR) for _ in range(3)]
    sla_alerts_raise()
    action = _action(policy, SlaActionKind.ASSIGN_AGENT, agent=named, is_enabled=False)

    count, lines = sla_actions.action_preview(action)
    expected = [(items[0].pk, "would be given to Aiko Tanaka"),
                *((item.pk, "not done: Aiko Tanaka holds 2 of 2 items already.") for item in items[1:])]
    assert count == 3 and [(line.item.pk, line.words) for line in lines] == expected

    action.is_enabled = True
    action.save()
    sla_actions.action_catch_up(action)
    sla_alerts_raise()
    assert [(run.item_id, run.outcome) for run in SlaActionRun.objects.order_by("item_id")] == [
        (items[0].pk, SlaActionOutcome.DONE), *((item.pk, SlaActionOutcome.NOT_DONE) for item in items[1:])]
    assert _reload(held).assignee_id == _reload(items[0]).assignee_id == named.pk
