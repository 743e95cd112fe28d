"""The SLA engine through the services: policies at intake, pause and resume, retarget,
stopped clocks, and the alert scan (routing, exactly once, deferral, crash, e-mail)."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from allocation import events, services
from allocation.models import (
    BusinessCalendar,
    EventKind,
    ItemStatus,
    SlaAlert,
    SlaClock,
    SlaPolicy,
    WorkingWindow,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import sla_alerts
from allocation.services.sla_alerts import sla_alerts_raise
from allocation.sla import PolicyBook
from allocation.sla.clock import SlaState, clock_reading
from core import roles
from core.models import Notification
from tests import factories
from tests.helpers import assigned_item, at_the_same_time, pended_item, queued_item, started_item, supervisor_for

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
# Tests that take items in at fixed receipt times run just after them: intake refuses
# receipts older than WFO_MAX_RECEIPT_AGE, so on the wall clock they would stop passing.
FRIDAY_EVENING = datetime(2026, 11, 20, 18, tzinfo=UTC)
SATURDAY_MORNING = datetime(2026, 11, 21, 10, tzinfo=UTC)
MONDAY_NOON = datetime(2026, 11, 23, 12, tzinfo=UTC)


def weekday_calendar(zone="Europe/London", start=time(9), end=time(17)) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name=f"Office {BusinessCalendar.objects.count()}", time_zone=zone)
    for weekday in range(5):
        WorkingWindow.objects.create(calendar=calendar, weekday=weekday, start=start, end=end)
    return calendar


def clock_of(item) -> SlaClock:
    return SlaClock.objects.get(item_id=item.pk)


def reload(item) -> WorkItem:
    return WorkItem.objects.get(pk=item.pk)


# Policies at intake --------------------------------------------------------------------

@time_machine.travel(FRIDAY_EVENING, tick=True)
def test_intake_counts_the_target_in_working_time(queue):
    calendar = weekday_calendar()
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=calendar)
    friday_4pm = datetime(2026, 11, 20, 16, tzinfo=UTC)  # London is on GMT in November
    item = queued_item(queue, received_at=friday_4pm)
    # 1 h on Friday, 7 h on Monday: due Monday 16:00; start by 15 minutes before.
    assert item.due_at == datetime(2026, 11, 23, 16, tzinfo=UTC)
    assert item.start_by == item.due_at - queue.standard_handle_time
    clock = clock_of(item)
    assert clock.calendar_id == calendar.pk and clock.target == 8 * HOUR
    assert clock.thresholds == [50, 75, 90, 100]
    assert (clock.next_threshold, clock.next_alert_at) == (50, datetime(2026, 11, 23, 12, tzinfo=UTC))


def test_a_priority_policy_overrides_the_queue_default(queue):
    SlaPolicy.objects.create(queue=queue, target=48 * HOUR)
    SlaPolicy.objects.create(queue=queue, priority=5, target=4 * HOUR, warning_thresholds=[80])
    received = timezone.now() - HOUR
    urgent = queued_item(queue, priority=5, received_at=received)
    normal = queued_item(queue, priority=3, received_at=received)
    assert urgent.due_at == received + 4 * HOUR and clock_of(urgent).thresholds == [80, 100]
    assert normal.due_at == received + 48 * HOUR


def test_a_queue_without_policy_runs_around_the_clock_on_its_plain_target(queue):
    received = timezone.now() - HOUR
    item = queued_item(queue, received_at=received)
    assert item.due_at == received + queue.sla_target
    assert clock_of(item).calendar_id is None


# Pause, resume, retarget, stop -------------------------------------------------------------

def _pause_started(item, ago: timedelta) -> None:
    SlaClock.objects.filter(item_id=item.pk).update(paused_since=timezone.now() - ago)


def test_pending_pauses_the_clock_and_resuming_moves_due_by_the_paused_time(agent, queue, team):
    item = pended_item(agent, queue)
    clock = clock_of(item)
    assert clock.paused_since is not None and clock.next_alert_at is None
    due_before = reload(item).due_at
    _pause_started(item, 2 * HOUR)
    supervisor = supervisor_for(queue)
    moved = services.item_transfer(item_id=item.pk, actor=supervisor, to_queue_id=queue.pk, reason="r")
    clock = clock_of(item)
    assert clock.paused_since is None and abs(clock.paused_working - 2 * HOUR) < timedelta(seconds=5)
    assert abs(reload(item).due_at - (due_before + 2 * HOUR)) < timedelta(seconds=5)
    assert moved.due_at == reload(item).due_at and clock.next_alert_at is not None


def test_a_policy_that_does_not_pause_keeps_the_clock_running(agent, queue):
    SlaPolicy.objects.create(queue=queue, target=24 * HOUR, pause_when_pended=False)
    item = pended_item(agent, queue)
    assert clock_of(item).paused_since is None and clock_of(item).next_alert_at is not None


def test_a_follow_up_back_through_get_next_ends_the_pause_in_the_same_transaction(agent, queue):
    item = pended_item(agent, queue)
    due_before = reload(item).due_at
    _pause_started(item, 3 * HOUR)
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
    got = services.item_get_next(agent_id=agent.pk)
    assert got.pk == item.pk and got.status == ItemStatus.ASSIGNED
    clock = clock_of(item)
    assert clock.paused_since is None and clock.next_alert_at is not None
    assert abs(clock.paused_working - 3 * HOUR) < timedelta(seconds=5)
    assert abs(got.due_at - (due_before + 3 * HOUR)) < timedelta(seconds=5)
    assert (got.due_at, got.start_by) == (reload(item).due_at, reload(item).start_by)
    # The event that gave it back states the deadlines the pause's end left.
    event = WorkItemEvent.objects.filter(item_id=item.pk, kind=EventKind.ASSIGNED).latest("id")
    assert events.read(event).due_at == got.due_at and events.read(event).start_by == got.start_by


def test_a_follow_up_move_that_fails_half_way_leaves_the_item_and_its_pause_as_they_were(agent, queue, monkeypatch):
    """The pause ends in the move's transaction: if writing the move fails, neither the item
    nor its clock changed, and nothing is left for a later job to repair."""
    item = pended_item(agent, queue)
    _pause_started(item, 2 * HOUR)
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
    before_item, before_clock = reload(item), clock_of(item)

    def broken(*args, **kwargs):
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(events, "assigned", broken)
    with pytest.raises(RuntimeError):
        services.item_get_next(agent_id=agent.pk)
    after_item, after_clock = reload(item), clock_of(item)
    assert (after_item.status, after_item.pended_until, after_item.due_at) == (
        ItemStatus.PENDED, before_item.pended_until, before_item.due_at)
    assert (after_clock.paused_since, after_clock.paused_working) == (before_clock.paused_since, timedelta(0))

    monkeypatch.undo()
    assert services.item_get_next(agent_id=agent.pk).pk == item.pk
    assert clock_of(item).paused_since is None and clock_of(item).paused_working >= 2 * HOUR


def test_priority_change_retargets_keeping_elapsed_and_paused_time(queue):
    SlaPolicy.objects.create(queue=queue, target=48 * HOUR)
    SlaPolicy.objects.create(queue=queue, priority=5, target=8 * HOUR)
    received = timezone.now() - 2 * HOUR
    item = queued_item(queue, priority=3, received_at=received)
    SlaClock.objects.filter(item_id=item.pk).update(paused_working=HOUR)
    supervisor = supervisor_for(queue)
    changed = services.item_change_priority(item_id=item.pk, actor=supervisor, priority=5, reason="VIP customer")
    assert changed.due_at == received + 8 * HOUR + HOUR
    event = changed.events.get(kind=EventKind.PRIORITY_CHANGED)
    assert event.data["from_priority"] == 3 and event.data["to_priority"] == 5
    assert datetime.fromisoformat(event.data["from_due_at"]) == received + 48 * HOUR
    assert datetime.fromisoformat(event.data["to_due_at"]) == changed.due_at
    assert clock_of(item).target == 8 * HOUR and clock_of(item).paused_working == HOUR
    from django.test import Client

    page = Client()
    page.force_login(supervisor)
    html = page.get(reverse("work:item", args=[item.pk])).content.decode()
    assert "Priority changed" in html and "From Normal to Urgent;" in html and "VIP customer" in html


def test_priority_change_is_for_supervisors(agent, queue):
    item = started_item(agent, queue)
    with pytest.raises(services.lifecycle.PermissionDenied):
        services.item_change_priority(item_id=item.pk, actor=agent.user, priority=5)


def test_closing_stops_the_clock_and_tells_whether_it_met(agent, queue):
    item = started_item(agent, queue)
    done = services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
    clock = clock_of(item)
    assert clock.stopped_at == done.closed_at and clock.next_alert_at is None
    reading = clock_reading(item=done, clock=clock, calendar=None, now=timezone.now() + 100 * HOUR)
    assert reading.state == SlaState.MET and reading.elapsed < timedelta(minutes=1)


@pytest.mark.parametrize("cancelled_after_due", [False, True])
def test_a_cancelled_item_has_no_sla_outcome(client, queue, cancelled_after_due):
    """Cancelling is not meeting (nor missing): the reading, the page and the API say the
    item closed without an SLA outcome, whether it was cancelled before or after due."""
    received = timezone.now() - (25 if cancelled_after_due else 1) * HOUR
    supervisor = supervisor_for(queue)
    item = services.item_cancel(item_id=queued_item(queue, received_at=received).pk, actor=supervisor, reason="dup")
    reading = clock_reading(item=item, clock=clock_of(item), calendar=None, now=timezone.now())
    assert reading.state == SlaState.CANCELLED and reading.label == "No SLA outcome (cancelled)"

    client.force_login(supervisor)
    page = client.get(reverse("work:item", args=[item.pk])).content.decode()
    assert "No SLA outcome (cancelled)" in page and "sla-cancelled" in page
    assert "No outcome: cancelled after" in page and not re.search(r"\(\d+%\)", page)
    assert client.get(f"/api/v1/items/{item.pk}/").json()["sla"]["state"] == "cancelled"


@time_machine.travel(FRIDAY_EVENING, tick=True)
def test_reading_of_a_running_clock(queue):
    calendar = weekday_calendar()
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=calendar)
    item = queued_item(queue, received_at=datetime(2026, 11, 20, 16, tzinfo=UTC))
    clock = clock_of(item)
    book = PolicyBook()
    saturday = datetime(2026, 11, 21, 12, tzinfo=UTC)
    reading = clock_reading(item=item, clock=clock, calendar=book.calendar(calendar.pk), now=saturday)
    assert (reading.elapsed, reading.remaining, reading.percent_used) == (HOUR, 7 * HOUR, 12)
    assert reading.state == SlaState.ON_TRACK and not reading.ticking
    monday_1pm = datetime(2026, 11, 23, 13, tzinfo=UTC)
    reading = clock_reading(item=item, clock=clock, calendar=book.calendar(calendar.pk), now=monday_1pm)
    assert reading.state == SlaState.WARNING and reading.percent_used == 62 and reading.ticking
    assert reading.ticking_until == datetime(2026, 11, 23, 17, tzinfo=UTC)


# The alert scan ------------------------------------------------------------------------------

def test_an_alert_goes_to_the_assignee_once(agent, queue):
    received = timezone.now() - 13 * HOUR  # 24 h target: past 50 %
    item = assigned_item(agent, queue, received_at=received)
    agent.user.email = "agent@example.com"
    agent.user.save()

    first = sla_alerts_raise()
    assert len(first.alerts_raised) == 1 and first.emails_sent == 1
    alert = SlaAlert.objects.get(item=item)
    assert (alert.threshold, alert.recipient_ids) == (50, [agent.pk]) and alert.emailed_at is not None
    note = Notification.objects.get(user=agent.user)
    assert note.title.startswith("SLA warning (50%)") and note.url == reverse("work:item", args=[item.pk])
    assert mail.outbox[0].to == ["agent@example.com"] and f"/work/items/{item.pk}/" in mail.outbox[0].body
    clock = clock_of(item)
    assert clock.next_threshold == 75 and clock.next_alert_at == received + 18 * HOUR

    again = sla_alerts_raise()
    assert again.alerts_raised == [] and SlaAlert.objects.count() == 1 and len(mail.outbox) == 1


def test_unassigned_items_alert_the_supervisors_of_the_queues_teams(queue, team):
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR], email="sup@example.com")
    team.supervisors.add(supervisor)
    bystander = factories.UserFactory(roles=[roles.SUPERVISOR])
    factories.TeamFactory().supervisors.add(bystander)
    received = timezone.now() - 25 * HOUR
    item = queued_item(queue, received_at=received)
    result = sla_alerts_raise()
    # Everything up to the breach crossed at once: each threshold alerts, once.
    assert sorted(SlaAlert.objects.filter(item=item).values_list("threshold", flat=True)) == [50, 75, 90, 100]
    assert len(result.alerts_raised) == 4
    assert set(Notification.objects.values_list("user_id", flat=True)) == {supervisor.pk}
    assert Notification.objects.filter(title__startswith="SLA breached").count() == 1
    assert clock_of(item).next_alert_at is None


def test_closed_items_raise_nothing(agent, queue):
    received = timezone.now() - 25 * HOUR
    done = started_item(agent, queue, received_at=received)
    services.item_complete(item_id=done.pk, actor=agent.user)
    cancelled = queued_item(queue, received_at=received)
    services.item_cancel(item_id=cancelled.pk, actor=supervisor_for(queue), reason="r")
    assert sla_alerts_raise().alerts_raised == []
    assert not SlaAlert.objects.exists()


@time_machine.travel(SATURDAY_MORNING, tick=True)
def test_warnings_wait_for_working_time_but_breaches_do_not(queue, team):
    calendar = weekday_calendar()
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=calendar)
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    warned = queued_item(queue, received_at=datetime(2026, 11, 20, 13, tzinfo=UTC))  # 50 % Fri 17:00, due Mon 13:00
    saturday = datetime(2026, 11, 21, 10, tzinfo=UTC)
    result = sla_alerts_raise(now=saturday)
    assert result.alerts_raised == [] and result.warnings_deferred >= 1
    assert clock_of(warned).next_alert_at == datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday's first window

    breached = queued_item(queue, received_at=datetime(2026, 11, 19, 9, tzinfo=UTC))  # due Thu 17:00
    SlaClock.objects.filter(item_id=breached.pk).update(next_threshold=100, next_alert_at=breached.due_at)
    result = sla_alerts_raise(now=saturday)
    assert SlaAlert.objects.get(item=breached).threshold == 100


def test_a_breach_never_waits_behind_a_warning_put_off_to_working_time(queue, team):
    """Outside working time the scan puts a warning off to the next window; an item whose
    breach has come too gets its breach alert at once (the warnings are moot by then)."""
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=weekday_calendar())
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    overdue = queued_item(queue, received_at=datetime(2026, 11, 20, 9, tzinfo=UTC))  # warnings Fri, due Fri 17:00

    sla_alerts_raise(now=datetime(2026, 11, 21, 10, tzinfo=UTC))  # Saturday

    assert list(SlaAlert.objects.filter(item=overdue).values_list("threshold", flat=True)) == [100]
    assert clock_of(overdue).next_alert_at is None


def test_a_crash_between_the_alert_and_its_email_sends_it_once_later(agent, queue, monkeypatch):
    agent.user.email = "agent@example.com"
    agent.user.save()
    item = assigned_item(agent, queue)
    SlaClock.objects.filter(item_id=item.pk).update(next_alert_at=timezone.now() - HOUR)

    def crash(alerts):
        raise RuntimeError("worker killed while sending")

    monkeypatch.setattr(sla_alerts, "_send", crash)
    with pytest.raises(RuntimeError):
        sla_alerts_raise()
    alert = SlaAlert.objects.get(item=item)
    assert alert.emailed_at is None and Notification.objects.count() == 1 and mail.outbox == []

    monkeypatch.undo()
    retry = sla_alerts_raise()
    assert retry.alerts_raised == [] and retry.emails_sent == 1
    assert SlaAlert.objects.count() == 1 and Notification.objects.count() == 1 and len(mail.outbox) == 1


def test_a_batch_mailed_again_after_a_crash_carries_the_same_message_id(agent, queue, monkeypatch):
    """Sending and stamping `emailed_at` are two steps; a run killed between them mails the
    batch again, and the repeat must be recognisable as the same message."""
    agent.user.email = "agent@example.com"
    agent.user.save()
    item = assigned_item(agent, queue)
    SlaClock.objects.filter(item_id=item.pk).update(next_alert_at=timezone.now() - HOUR)
    real_send = sla_alerts._send

    def send_then_die(alerts):
        real_send(alerts)
        raise RuntimeError("worker killed after sending, before stamping")

    monkeypatch.setattr(sla_alerts, "_send", send_then_die)
    with pytest.raises(RuntimeError):
        sla_alerts_raise()
    monkeypatch.undo()
    assert sla_alerts_raise().emails_sent == 1
    first, again = mail.outbox
    alert = SlaAlert.objects.get(item=item)
    assert first.extra_headers["Message-ID"] == again.extra_headers["Message-ID"] == f"<sla-alert-{alert.pk}@127.0.0.1>"
    assert "Message-ID: <sla-alert-" in first.message().as_string()


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_scans_raise_each_alert_once(role_groups, team):
    queue = factories.QueueFactory(teams=[team])
    agents = [factories.AgentFactory(team=team, capacity=100, user__email=f"a{n}@example.com") for n in range(4)]
    received = timezone.now() - 13 * HOUR
    items = [queued_item(queue, received_at=received) for _ in range(120)]
    for n, item in enumerate(items[:60]):  # half held by agents, half waiting (supervisors hear)
        services.item_transfer(item_id=item.pk, actor=factories.UserFactory(is_superuser=True),
                               to_agent_id=agents[n % 4].pk, reason="r")
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR], email="sup@example.com"))
    raised = [pk for result in at_the_same_time(lambda: sla_alerts_raise(batch_size=25)) for pk in result.alerts_raised]
    assert len(raised) == len(set(raised)) == 120
    assert SlaAlert.objects.count() == 120 and Notification.objects.filter(kind="sla_alert").count() == 120
    assert len(mail.outbox) == 120 and len({(*m.to, m.subject) for m in mail.outbox}) == 120
    assert connection.vendor == "postgresql"


def test_the_database_refuses_a_second_alert_even_when_the_clock_says_otherwise(agent, queue):
    """Locks keep overlapping scans apart; should a clock still come round to a threshold
    again (a restored backup, a bug), the unique constraint keeps the alert single."""
    item = assigned_item(agent, queue, received_at=timezone.now() - 13 * HOUR)
    assert len(sla_alerts_raise().alerts_raised) == 1
    SlaClock.objects.filter(item_id=item.pk).update(next_threshold=50, next_alert_at=timezone.now() - HOUR)
    again = sla_alerts_raise()
    assert again.alerts_raised == [] and again.clocks_read == 1
    assert SlaAlert.objects.count() == 1 and Notification.objects.count() == 1
    assert clock_of(item).next_threshold == 75


def test_notifications_page_lists_counts_and_marks_read(client, agent, queue):
    item = assigned_item(agent, queue, received_at=timezone.now() - 13 * HOUR)
    sla_alerts_raise()
    other = factories.UserFactory()
    theirs = Notification.objects.create(user=other, kind="x", title="Not yours")
    client.force_login(agent.user)
    html = client.get(reverse("work:inbox")).content.decode()
    assert 'aria-label="1 unread"' in html
    page = client.get(reverse("notifications")).content.decode()
    assert "SLA warning (50%)" in page and "Not yours" not in page
    note = Notification.objects.get(user=agent.user)
    response = client.post(reverse("notifications-read"), {"id": note.pk, "next": note.url})
    assert response.status_code == 302 and response.url == reverse("work:item", args=[item.pk])
    note.refresh_from_db()
    assert note.read_at is not None
    assert 'aria-label="1 unread"' not in client.get(reverse("work:inbox")).content.decode()
    client.post(reverse("notifications-read"), {"id": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.read_at is None  # another user's notification is never touched
    response = client.post(reverse("notifications-read"), {"id": "abc"})
    assert response.status_code == 302
    assert client.post(reverse("notifications-read"), {"next": "https://evil.example/"}).url == reverse(
        "notifications"
    )


def test_api_shows_the_clock_and_changes_priority(client, queue):
    from rest_framework.test import APIClient

    SlaPolicy.objects.create(queue=queue, target=24 * HOUR)
    SlaPolicy.objects.create(queue=queue, priority=5, target=4 * HOUR)
    item = queued_item(queue, received_at=timezone.now() - 2 * HOUR)
    api = APIClient()
    api.force_authenticate(supervisor_for(queue))
    sla = api.get(reverse("item-detail", args=[item.pk])).json()["sla"]
    assert sla["state"] == "on_track" and sla["target_seconds"] == 24 * 3600 and sla["around_the_clock"]
    assert abs(sla["elapsed_seconds"] - 7200) < 60 and sla["percent_used"] == 8
    response = api.post(reverse("item-priority", args=[item.pk]), {"priority": 5, "reason": "VIP"}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == 5
    sla = api.get(reverse("item-detail", args=[item.pk])).json()["sla"]
    assert sla["target_seconds"] == 4 * 3600 and sla["percent_used"] == 50 and sla["state"] == "warning"
    bad = api.post(reverse("item-priority", args=[item.pk]), {"priority": 9}, format="json")
    assert bad.status_code == 400 and "priority" in bad.json()["errors"]
    same = api.post(reverse("item-priority", args=[item.pk]), {"priority": 5}, format="json")
    assert same.status_code == 409
    agent_api = APIClient()
    agent_api.force_authenticate(factories.AgentFactory().user)
    assert agent_api.post(reverse("item-priority", args=[item.pk]), {"priority": 1}, format="json").status_code in (
        403, 404
    )


@time_machine.travel(MONDAY_NOON, tick=True)
def test_pause_and_resume_across_a_weekend_then_retarget_after_the_pause(queue):
    """Mon–Fri 09:00–17:00 in London (GMT in November), 8 working hours.

    Received Fri 20 Nov 09:00 → due Fri 17:00. Pended Fri 13:00 (4 h used) and back Mon
    11:00: the pause covers Fri 13:00–17:00 and Mon 09:00–11:00, 6 working hours, so due
    moves to 9:00 + 14 working hours = Mon 15:00. Then priority 5 (4 working hours):
    4 h + the 6 h paused from Fri 09:00 = Mon 11:00."""
    calendar = weekday_calendar()
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=calendar)
    SlaPolicy.objects.create(queue=queue, priority=5, target=4 * HOUR, calendar=calendar)
    item = queued_item(queue, received_at=datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert item.due_at == datetime(2026, 11, 20, 17, tzinfo=UTC)

    from allocation.lock_objects import item_lock
    from allocation.services import sla_clock

    sla_clock.clock_pause(item=item_lock(item.pk), at=datetime(2026, 11, 20, 13, tzinfo=UTC))
    locked = item_lock(item.pk)
    assert sla_clock.clock_resume(item=locked, at=datetime(2026, 11, 23, 11, tzinfo=UTC))
    locked.save()
    assert clock_of(item).paused_working == 6 * HOUR
    assert reload(item).due_at == datetime(2026, 11, 23, 15, tzinfo=UTC)
    reading = clock_reading(item=reload(item), clock=clock_of(item), calendar=PolicyBook().calendar(calendar.pk),
                            now=datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert (reading.elapsed, reading.remaining) == (5 * HOUR, 3 * HOUR)  # Fri 4 h + Mon 11–12

    supervisor = supervisor_for(queue)
    changed = services.item_change_priority(item_id=item.pk, actor=supervisor, priority=5)
    assert changed.due_at == datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert clock_of(item).paused_working == 6 * HOUR


def test_a_clock_that_can_no_longer_be_counted_does_not_stop_the_scan(queue, team, caplog):
    """Its calendar lost every window after intake: that clock leaves the scan with a line in
    the log, and every other clock's alerts still go out."""
    calendar = weekday_calendar()
    SlaPolicy.objects.create(queue=queue, target=8 * HOUR, calendar=calendar)
    other_queue = factories.QueueFactory(teams=[team])
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    with time_machine.travel(MONDAY_NOON, tick=False):
        broken = queued_item(queue)
        healthy = queued_item(other_queue)
    calendar.windows.all().delete()
    SlaClock.objects.filter(item_id__in=[broken.pk, healthy.pk]).update(next_alert_at=MONDAY_NOON)

    with time_machine.travel(MONDAY_NOON + HOUR, tick=False):
        sla_alerts_raise()

    assert SlaAlert.objects.filter(item=healthy).exists()
    assert clock_of(broken).next_alert_at is None
    assert f"SLA clock of item #{broken.pk} can no longer be counted" in caplog.text
