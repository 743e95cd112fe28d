"""Celery beat's schedule as django_celery_beat keeps it (admins change it in Django admin),
with the jobs that share an interval spread evenly over it.

An interval job runs when its interval has passed since its last run, so jobs created
together — the one-minute jobs the migrations install — run together, in the same
second of every minute, for as long as beat runs: for a second or two the jobs' worker
takes its share of the cores all at once, and the requests of that second wait behind it.
Here each interval job runs at its own offset into the interval (counted from the epoch):
the jobs of one interval, by name, at equal steps apart. Each still runs once an interval;
one that is late (beat was down) runs at once, and then at its offset again. A job added to
or removed from an interval moves the others' offsets once: one of their intervals is then
shorter, never longer (the next run comes at the first offset after the last run)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from celery import schedules
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

# Shorter intervals (the webhook pump's second) are left as they are: nothing to spread.
SPREAD_FROM = timedelta(seconds=10)


class OffsetInterval(schedules.schedule):
    """Every `run_every`, at `offset` into each interval counted from the epoch."""

    def __init__(self, run_every: timedelta, offset: timedelta, nowfun=None, app=None):
        super().__init__(run_every=run_every, nowfun=nowfun, app=app)
        self.offset = offset

    def current_slot(self, now: datetime) -> datetime:
        """When this interval's run at its offset began (at or before `now`)."""
        into = (now - datetime.fromtimestamp(0, now.tzinfo) - self.offset) % self.run_every
        return now - into

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        now = self.now()
        slot = self.current_slot(now)
        return timedelta(0) if last_run_at < slot else slot + self.run_every - now

    def is_due(self, last_run_at: datetime) -> schedules.schedstate:
        """Due when it has not run since this interval's slot began; checked again when the
        next slot begins."""
        now = self.now()
        slot = self.current_slot(now)
        return schedules.schedstate(last_run_at < slot, (slot + self.run_every - now).total_seconds())

    def __repr__(self) -> str:
        return f"<every {self.run_every} at {self.offset} into it>"

    def __eq__(self, other) -> bool:
        if isinstance(other, OffsetInterval):
            return (self.run_every, self.offset) == (other.run_every, other.offset)
        return NotImplemented

    def __reduce__(self):
        return self.__class__, (self.run_every, self.offset, self.nowfun)


def interval_offsets(jobs: list[tuple[str, timedelta]]) -> dict[str, timedelta]:
    """Each job's offset into its interval: the jobs sharing an interval, in name order, at
    equal steps apart over it. `jobs` are (name, interval) pairs."""
    by_interval: dict[timedelta, list[str]] = defaultdict(list)
    for name, interval in jobs:
        if interval >= SPREAD_FROM:
            by_interval[interval].append(name)
    return {
        name: interval * n / len(names)
        for interval, names in by_interval.items()
        for n, name in enumerate(sorted(names))
    }


class SpreadEntry(ModelEntry):
    def __init__(self, model: PeriodicTask, app=None):
        super().__init__(model, app=app)
        offset = getattr(model, "offset_into_interval", None)
        if offset is not None and type(self.schedule) is schedules.schedule:
            self.schedule = OffsetInterval(self.schedule.run_every, offset, nowfun=self.schedule.nowfun,
                                           app=self.app)


class SpreadScheduler(DatabaseScheduler):
    """django_celery_beat's scheduler, whose interval jobs run at their offsets
    (interval_offsets). The offset rides on the job's row, which the scheduler hands from
    one run's entry to the next."""

    Entry = SpreadEntry

    def enabled_models(self) -> list[PeriodicTask]:
        models = super().enabled_models()
        intervals = {model.name: model.interval.schedule.run_every for model in models if model.interval_id}
        offsets = interval_offsets(list(intervals.items()))
        for model in models:
            model.offset_into_interval = offsets.get(model.name)
        return models
