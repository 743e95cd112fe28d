"""The periodic jobs that share an interval run spread over it (core/beat.py): each once an
interval, at its own offset, so the one-minute jobs the migrations install never all run in
the same second; a job beat missed runs at once, then at its offset again."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import time_machine
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from core.beat import OffsetInterval, SpreadScheduler, interval_offsets
from wfo.celery import app as celery_app

MINUTE = timedelta(minutes=1)
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runs_over(schedule: OffsetInterval, clock: Clock, *, last_run_at: datetime, until: datetime,
              step=timedelta(milliseconds=250)) -> list[datetime]:
    """When a beat checking every `step` runs the job, from `clock.at` to `until`."""
    runs = []
    while clock.at < until:
        if schedule.is_due(last_run_at).is_due:
            runs.append(clock.at)
            last_run_at = clock.at
        clock.at += step
    return runs


def test_jobs_sharing_an_interval_get_equal_steps_over_it_in_name_order():
    jobs = [(f"job {n}", MINUTE) for n in (3, 0, 2, 1)] + [("pump", timedelta(seconds=1)),
                                                          ("hourly", timedelta(hours=1))]

    offsets = interval_offsets(jobs)

    assert offsets == {"job 0": timedelta(0), "job 1": timedelta(seconds=15), "job 2": timedelta(seconds=30),
                       "job 3": timedelta(seconds=45), "hourly": timedelta(0)}  # the pump's second: as it is


def test_a_job_runs_once_an_interval_at_its_offset():
    clock = Clock(START)
    schedule = OffsetInterval(MINUTE, timedelta(seconds=24), nowfun=clock)

    runs = runs_over(schedule, clock, last_run_at=START, until=START + 3 * MINUTE)

    assert runs == [START + timedelta(seconds=24) + n * MINUTE for n in range(3)]


def test_a_job_beat_missed_runs_at_once_then_at_its_offset_again():
    clock = Clock(START)
    schedule = OffsetInterval(MINUTE, timedelta(seconds=24), nowfun=clock)

    runs = runs_over(schedule, clock, last_run_at=START - 10 * MINUTE, until=START + 2 * MINUTE)

    assert runs == [START, START + timedelta(seconds=24), START + MINUTE + timedelta(seconds=24)]


def test_when_not_due_beat_is_told_to_look_again_when_the_next_slot_begins():
    clock = Clock(START + timedelta(seconds=30))
    schedule = OffsetInterval(MINUTE, timedelta(seconds=24), nowfun=clock)

    state = schedule.is_due(START + timedelta(seconds=24, milliseconds=100))

    assert not state.is_due
    assert state.next == pytest.approx(54.0)
    assert schedule.remaining_estimate(START + timedelta(seconds=25)) == timedelta(seconds=54)


@pytest.mark.django_db
def test_the_installed_one_minute_jobs_run_in_different_seconds_each_once_a_minute():
    one_minute = set(PeriodicTask.objects.filter(enabled=True, interval__every=60, interval__period="seconds")
                     .values_list("name", flat=True))
    assert len(one_minute) >= 5  # the migrations' jobs: SLA alerts, rebalancing, routing, rollups, …
    with time_machine.travel(START, tick=False) as traveller:
        scheduler = SpreadScheduler(app=celery_app, lazy=True)
        entries = {name: entry for name, entry in scheduler.all_as_schedule().items() if name in one_minute}
        for name in entries:  # each ran a moment ago
            entries[name].last_run_at = START
        seconds_run: dict[str, list[int]] = {name: [] for name in entries}
        for second in range(1, 121):
            traveller.move_to(START + timedelta(seconds=second))
            for name, entry in entries.items():
                if entry.is_due().is_due:
                    seconds_run[name].append(second)
                    entries[name] = next(entry)

    assert set(entries) == one_minute
    assert all(len(runs) == 2 and runs[1] - runs[0] == 60 for runs in seconds_run.values()), seconds_run
    firsts = sorted(runs[0] for runs in seconds_run.values())
    assert len(set(firsts)) == len(firsts), seconds_run  # never two in the same second
    assert min(b - a for a, b in pairwise(firsts)) >= 60 // len(firsts) - 1


def test_beat_runs_the_spreading_scheduler():
    assert settings.CELERY_BEAT_SCHEDULER == "core.beat:SpreadScheduler"
