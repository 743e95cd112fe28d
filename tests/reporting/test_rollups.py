"""Rollups against hand-computed figures; history metrics read from them; late events,
late commits and overlapping runs."""

import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings

from allocation import events as item_events
from allocation.models import EventKind, ItemStatus, WorkItemEvent
from quality.models import EvaluationStatus
from quality.services import REWORK_SOURCE
from reporting import rollups
from reporting.handle_time import BIN_COUNT
from reporting.history import Scope, history
from reporting.models import AgentDay, PresenceDay, QueueDay, QueueHour, RollupState
from tests import factories
from tests.reporting.builder import (
    AVAILABLE,
    AWAY,
    OFFLINE,
    Life,
    evaluation_write,
    item_write,
    presence_write,
    snapshot,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("utc_reports")]
D = date(2026, 3, 10)  # a Tuesday
MIN = timedelta(minutes=1)


@pytest.fixture
def utc_reports():
    with override_settings(TIME_ZONE="UTC"):
        yield


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC)


def day_after(days: int) -> date:
    return D + timedelta(days=days)


@pytest.fixture
def office(team):
    """Day D in two queues, written straight into the tables:

    queue A (standard 15 min):
      1. X: received 09:00, worked 09:10–09:30 (20 min), completed 09:30, due 12:00 → met
      2. X: received 09:00, worked 10:00–10:20, pended, worked 14:00–14:25 (45 min), due 13:00 → missed
      3. Y: received the day before 16:00, worked 08:00–08:10 (10 min), due 17:00 → met
      4. received 10:00, cancelled 11:00
      5. received 12:00, transferred to B at 13:00, still waiting there
      6. received 15:00, still waiting
    the next day: item 1 failed its evaluation; its rework item arrived 09:00 and Y completed it
    09:05–09:10 (5 min). QA: item 1 scored 60; item 3 scored 90 after a re-score of 50; a
    calibration score of 10 does not count.
    Presence: X available 08:00–12:00 and 13:00–17:00, away 12:00–13:00; Y available from
    22:00 the day before to 02:00.
    """
    a = factories.QueueFactory(teams=[team], standard_handle_time=15 * MIN, name="A")
    b = factories.QueueFactory(standard_handle_time=30 * MIN, name="B")
    x, y = factories.AgentFactory(team=team), factories.AgentFactory(team=team)
    one, _ = item_write(Life(a, at(D, 9), at(D, 12), x, [(at(D, 9, 10), at(D, 9, 30))], completed=at(D, 9, 30)))
    item_write(Life(a, at(D, 9), at(D, 13), x, [(at(D, 10), at(D, 10, 20)), (at(D, 14), at(D, 14, 25))],
                    completed=at(D, 14, 25)))
    three, _ = item_write(Life(a, at(day_after(-1), 16), at(D, 17), y, [(at(D, 8), at(D, 8, 10))],
                               completed=at(D, 8, 10)))
    item_write(Life(a, at(D, 10), at(D, 18), cancelled=at(D, 11)))
    item_write(Life(a, at(D, 12), at(D, 20), transfer_to=b, transferred=at(D, 13)))
    item_write(Life(a, at(D, 15), at(D, 23)))
    _, version, _ = factories.form_with_questions()
    failed = evaluation_write(one, version=version, score="60", at=at(day_after(1), 8))
    rework, _ = item_write(Life(a, at(day_after(1), 9), at(day_after(1), 12), y,
                                [(at(day_after(1), 9, 5), at(day_after(1), 9, 10))], completed=at(day_after(1), 9, 10),
                                source=REWORK_SOURCE))
    failed.rework_item = rework
    failed.save()
    old = evaluation_write(three, version=version, score="50", at=at(D, 18), status=EvaluationStatus.RESCORED)
    evaluation_write(three, version=version, score="90", at=at(D, 19), replaces=old)
    session = factories.CalibrationSessionFactory(item=three, version=version, created_by=factories.UserFactory())
    evaluation_write(three, version=version, score="10", at=at(D, 19), calibration=session)
    presence_write(x, (at(D, 8), AVAILABLE), (at(D, 12), AWAY), (at(D, 13), AVAILABLE), (at(D, 17), OFFLINE))
    presence_write(y, (at(day_after(-1), 22), AVAILABLE), (at(D, 2), OFFLINE))
    return {"a": a, "b": b, "x": x, "y": y, "team": team}


def queue_day(queue, day):
    return QueueDay.objects.get(queue=queue, day=day)


@contextmanager
def held_open_elsewhere(work):
    """`work(cursor)` in a transaction of another connection, kept open for the block."""
    opened, finish = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic(), connection.cursor() as cursor:
            work(cursor)
            opened.set()
            finish.wait(30)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    opened.wait(10)
    try:
        yield
    finally:
        finish.set()
        holder.join()


def test_queue_and_agent_days_by_hand(office):
    rollups.rollups_update(now=at(day_after(2), 12))
    a, b, x, y = office["a"], office["b"], office["x"], office["y"]
    row = queue_day(a, D)
    assert (row.arrivals, row.transfers_in, row.transfers_out, row.cancelled) == (5, 0, 1, 1)
    assert (row.completed, row.met, row.handled) == (3, 2, 3)
    assert (row.handle_seconds, row.handle_max_seconds, row.standard_seconds) == (4500, 2700, 3 * 900)
    assert (row.originals, row.reworked, row.rework_completed) == (3, 1, 0)
    assert (row.qa_count, float(row.qa_sum)) == (2, 150.0)  # 60 + 90; the re-scored 50 and calibration 10 left out
    assert sum(row.handle_histogram) == 3
    assert queue_day(b, D).transfers_in == 1
    assert queue_day(a, day_after(-1)).arrivals == 1
    next_day = queue_day(a, day_after(1))
    assert (next_day.arrivals, next_day.rework_arrivals, next_day.completed, next_day.rework_completed,
            next_day.originals) == (1, 1, 1, 1, 0)
    mine = AgentDay.objects.get(agent=x.user, queue=a, day=D)
    assert (mine.completed, mine.met, mine.handle_seconds, mine.standard_seconds) == (2, 1, 3900, 1800)
    assert AgentDay.objects.get(agent=y.user, queue=a, day=D).handle_seconds == 600
    assert {(h.hour, h.arrivals, h.completed) for h in QueueHour.objects.filter(queue=a, day=D)} == {
        (8, 0, 1), (9, 2, 1), (10, 1, 0), (12, 1, 0), (14, 0, 1), (15, 1, 0)}
    presence = {(p.agent_id, p.day): (p.available_seconds, p.logged_in_seconds) for p in PresenceDay.objects.all()}
    assert presence[(x.pk, D)] == (8 * 3600, 9 * 3600)
    assert presence[(y.pk, day_after(-1))] == (2 * 3600, 2 * 3600)
    assert presence[(y.pk, D)] == (2 * 3600, 2 * 3600)


def test_history_metrics_by_hand(office):
    rollups.rollups_update(now=at(day_after(2), 12))
    report = history(Scope(since=day_after(-1), until=day_after(1)))
    before, day, after = report.periods
    assert (before.arrivals, before.backlog_end, before.completed) == (1, 1, 0)
    assert (day.arrivals, day.completed, day.backlog_end) == (5, 3, 2)  # items 5 (in B) and 6
    assert day.sla_attainment == pytest.approx(2 / 3)
    assert day.handle_minutes_avg == pytest.approx(25)  # (20 + 45 + 10) / 3
    assert day.handle_minutes_p90 == pytest.approx(45)  # nearest rank 3 of 3, capped at the longest
    assert day.productivity == pytest.approx(2700 / (8 * 3600 + 2 * 3600))
    assert day.utilization == pytest.approx(4500 / (9 * 3600 + 2 * 3600))
    assert day.throughput_per_hour == pytest.approx(3 / 11)
    assert day.first_pass_yield == pytest.approx(2 / 3)  # item 1 went back
    assert (day.rework_rate, day.qa_average) == (0.0, 75.0)
    assert (after.arrivals, after.rework_arrivals, after.completed, after.backlog_end) == (1, 1, 1, 2)
    assert after.rework_rate == 1.0 and after.first_pass_yield is None
    assert report.total.completed == 4 and report.total.backlog_end == 2
    assert report.hours[9] == (9, pytest.approx(3 / 3), pytest.approx(2 / 3))  # a day, over the 3 days

    only_x = history(Scope(since=D, until=D, agent_id=office["x"].pk)).periods[0]
    assert (only_x.completed, only_x.met, only_x.arrivals, only_x.backlog_end) == (2, 1, None, None)
    assert only_x.productivity == pytest.approx(1800 / (8 * 3600))
    assert only_x.handle_minutes_avg == pytest.approx(32.5)
    team = history(Scope(since=D, until=D, team=office["team"])).periods[0]
    assert (team.completed, team.arrivals, team.backlog_end) == (3, 5, 1)  # B is not the team's queue
    queue_b = history(Scope(since=D, until=D, queue_ids=(office["b"].pk,))).periods[0]
    assert (queue_b.arrivals, queue_b.completed, queue_b.backlog_end) == (0, 0, 1)


def test_weeks_cut_to_the_range(office):
    rollups.rollups_update(now=at(day_after(2), 12))
    report = history(Scope(since=date(2026, 3, 4), until=date(2026, 3, 17), grain="week"))
    assert [(p.start, p.end) for p in report.periods] == [
        (date(2026, 3, 4), date(2026, 3, 8)), (date(2026, 3, 9), date(2026, 3, 15)),
        (date(2026, 3, 16), date(2026, 3, 17))]
    assert report.periods[1].completed == 4 and report.periods[1].arrivals == 7


@override_settings(TIME_ZONE="America/New_York")
def test_days_are_the_reporting_zones(queue, agent):
    """02:30 UTC on 10 March is still 9 March in New York."""
    item_write(Life(queue, at(D, 2, 30), at(D, 20)))
    rollups.rollups_update(now=at(D, 12))
    assert QueueDay.objects.get(queue=queue).day == date(2026, 3, 9)
    assert QueueHour.objects.get(queue=queue).hour == 22


def test_a_late_event_redoes_its_day(office):
    """An event written today about a day long past: the next run redoes that day."""
    rollups.rollups_update(now=at(day_after(2), 12))
    a = office["a"]
    item_write(Life(a, at(day_after(-1), 10), at(D, 10), cancelled=at(D, 16)))
    run = rollups.rollups_update(now=at(day_after(2), 12, 1))
    assert day_after(-1) in run.days and D in run.days
    assert queue_day(a, D).cancelled == 2 and queue_day(a, day_after(-1)).arrivals == 2
    incremental = snapshot()
    rollups.rollups_rebuild(now=at(day_after(2), 12, 1))
    assert snapshot() == incremental


def test_a_late_event_that_shortens_the_longest_handle_time_lowers_the_longest(office):
    """Item 2 held the longest handle time of queue A on D (45 min) and of agent X. Pauses
    written late into both of its spans leave it 2 minutes: the longest is item 1's 20
    minutes again, as a rebuild says."""
    rollups.rollups_update(now=at(day_after(2), 12))
    assert queue_day(office["a"], D).handle_max_seconds == 2700
    two = WorkItemEvent.objects.get(kind=EventKind.COMPLETED, at=at(D, 14, 25)).item
    actor = office["x"].user
    WorkItemEvent.objects.bulk_create([
        item_events.pended(two, at=at(D, 10, 1), actor=actor, until=at(D, 10, 19), reason="Late"),
        item_events.pended(two, at=at(D, 14, 1), actor=actor, until=at(D, 14, 24), reason="Late"),
    ])
    run = rollups.rollups_update(now=at(day_after(2), 12, 1))
    assert run.days == (D,)
    assert queue_day(office["a"], D).handle_max_seconds == 1200
    assert queue_day(office["a"], D).handle_seconds == 1200 + 120 + 600
    assert AgentDay.objects.get(agent=office["x"].user, queue=office["a"], day=D).handle_max_seconds == 1200
    incremental = snapshot()
    rollups.rollups_rebuild(now=at(day_after(2), 12, 1))
    assert snapshot() == incremental


def test_rollups_never_read_by_transaction_are_rebuilt(office):
    """A database from before the rollups read events by transaction (or a new one): the
    first run rebuilds, dropping what the old rows said, and the runs after it move them."""
    stale = QueueDay.objects.create(queue=office["a"], day=day_after(-9), arrivals=99,
                                    handle_histogram=[0] * BIN_COUNT)
    RollupState.objects.create(name=rollups.STATE_NAME, event_id=10**9)
    rollups.rollups_update(now=at(day_after(2), 12))
    assert not QueueDay.objects.filter(pk=stale.pk).exists()
    assert RollupState.objects.get().position is not None
    assert queue_day(office["a"], D).arrivals == 5
    rebuilt = snapshot()
    assert rollups.rollups_update(now=at(day_after(2), 12, 1)).days == ()
    assert snapshot() == rebuilt


@pytest.mark.django_db(transaction=True)
def test_a_run_reads_only_what_happened_since_the_last(queue, agent):
    """Each item below commits on its own, while another transaction stays open throughout
    (a long report, a session left in a transaction): a run touches the items of the
    transactions that ended since the last run, not the day's nor everything since the
    long one began; a run with nothing new moves nothing."""
    with held_open_elsewhere(lambda cursor: cursor.execute("SELECT pg_current_xact_id()")):
        for hour in (9, 10, 11):
            item_write(Life(queue, at(D, hour), at(D, 17), agent, [(at(D, hour, 5), at(D, hour, 20))],
                            completed=at(D, hour, 20)))
        assert rollups.rollups_update(now=at(D, 12)).days == (D,)
        _, rows = item_write(Life(queue, at(D, 12), at(D, 17), agent, [(at(D, 12, 5), at(D, 12, 30))],
                                  completed=at(D, 12, 30)))
        run = rollups.rollups_update(now=at(D, 12, 31))
        assert (run.items_touched, run.events_read, run.days) == (1, len(rows), (D,))
        assert QueueDay.objects.get(queue=queue, day=D).completed == 4
        idle = rollups.rollups_update(now=at(D, 12, 32))
        assert (idle.items_touched, idle.events_read, idle.days) == (0, 0, ())
    incremental = snapshot()
    rollups.rollups_rebuild(now=at(D, 12, 32))
    assert snapshot() == incremental


def settled_runs(now: datetime) -> datetime:
    """Runs far enough apart that the late window has passed over every evaluation so far:
    the next run reads only what comes after. Returns the last run's time."""
    for step in range(3):
        rollups.rollups_update(now=now + step * rollups.LATE_WINDOW)
    state = RollupState.objects.get()
    assert state.event_id == WorkItemEvent.objects.order_by("-pk").first().pk
    return now + 2 * rollups.LATE_WINDOW


def test_an_evaluation_submitted_later_redoes_the_completion_day(office):
    settled_runs(at(day_after(2), 12))
    two = WorkItemEvent.objects.get(kind=EventKind.COMPLETED, at=at(D, 14, 25)).item
    _, version, _ = factories.form_with_questions("Later form")
    evaluation_write(two, version=version, score="100", at=at(day_after(2), 12, 11))
    assert rollups.rollups_update(now=at(day_after(2), 12, 12)).days == (D,)
    assert (queue_day(office["a"], D).qa_count, float(queue_day(office["a"], D).qa_sum)) == (3, 250.0)


def test_rework_made_later_redoes_the_original_completion_day(office):
    """A supervisor sends a failed item back days after its evaluation was submitted."""
    a = office["a"]
    three = WorkItemEvent.objects.get(kind=EventKind.COMPLETED, at=at(D, 8, 10)).item
    _, version, _ = factories.form_with_questions("Later form")
    failed = evaluation_write(three, version=version, score="40", at=at(day_after(2), 9))
    last = settled_runs(at(day_after(2), 12))
    assert queue_day(a, D).reworked == 1  # item 1 only
    rework, _ = item_write(Life(a, last, last + timedelta(hours=4), source=REWORK_SOURCE))
    failed.rework_item = rework
    failed.save()
    rollups.rollups_update(now=last + MIN)
    assert queue_day(a, D).reworked == 2


def test_presence_still_open_keeps_counting(agent):
    presence_write(agent, (at(D, 8), AVAILABLE))
    rollups.rollups_update(now=at(D, 10))
    assert PresenceDay.objects.get(agent=agent.user, day=D).available_seconds == 2 * 3600
    rollups.rollups_update(now=at(day_after(1), 1))  # the next run finishes D and starts the next day
    assert PresenceDay.objects.get(agent=agent.user, day=D).available_seconds == 16 * 3600
    assert PresenceDay.objects.get(agent=agent.user, day=day_after(1)).available_seconds == 3600


@pytest.mark.django_db(transaction=True)
def test_a_second_run_at_the_same_moment_skips(office):
    RollupState.objects.create(name=rollups.STATE_NAME)
    with held_open_elsewhere(
            lambda cursor: RollupState.objects.select_for_update().get(name=rollups.STATE_NAME)):
        assert rollups.rollups_update(now=at(day_after(2), 12)).skipped
    assert not rollups.rollups_update(now=at(day_after(2), 12)).skipped
    assert QueueDay.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_higher_id_was_read_is_not_lost(queue, agent):
    """Transaction 1 takes an event id, transaction 2 takes the next and commits, a run
    reads it; transaction 1 commits afterwards. A later run (within the late window) reads
    the lower id too."""
    first, _ = item_write(Life(queue, at(D, 9), at(D, 17)))
    taken, release = threading.Event(), threading.Event()

    def slow_cancel():
        with transaction.atomic():
            WorkItemEvent.objects.create(item=first, at=at(D, 10), kind=EventKind.CANCELLED, system_actor="tests",
                                         from_status=ItemStatus.QUEUED, to_status=ItemStatus.CANCELLED)
            taken.set()
            release.wait(10)
        connection.close()

    slow = threading.Thread(target=slow_cancel)
    slow.start()
    taken.wait(10)
    item_write(Life(queue, at(D, 11), at(D, 17)))  # a higher id, committed
    rollups.rollups_update(now=at(D, 12))
    assert QueueDay.objects.get(queue=queue, day=D).cancelled == 0
    release.set()
    slow.join()
    rollups.rollups_update(now=at(D, 12, 2))
    assert QueueDay.objects.get(queue=queue, day=D).cancelled == 1


def test_the_rollup_job_is_scheduled_every_minute():
    from django_celery_beat.models import PeriodicTask

    from wfo.celery import app

    job = PeriodicTask.objects.get(name="Report rollups")
    assert (job.task, job.interval.every, job.interval.period, job.enabled) == (
        "reporting.rollups_update", 60, "seconds", True)
    app.loader.import_default_modules()
    assert job.task in app.tasks
