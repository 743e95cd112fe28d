"""Working-time arithmetic for SLA targets: pure functions of a business calendar, no database.

SLA clocks only run inside a calendar's working windows, so "due in 8 working hours" has to be
turned into an instant by walking those windows. Windows are wall-clock times in the calendar's
zone (a 09:00 start stays 09:00 across DST), but elapsed time is always measured between UTC
instants, so a window that spans a DST change really is an hour shorter or longer.

A calendar of `None` means 24×7: plain elapsed time.

Instants are bounded (EARLIEST, LATEST): an instant or a result outside them raises OutOfRange
before any datetime arithmetic could overflow, so a caller gets a clear refusal, never an
OverflowError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
# A calendar with windows but no working time for this long is misconfigured (say, every date a
# holiday); without a limit a search for the next window would never end.
_SEARCH_WEEKS = 522  # about ten years
# The instants a calendar is walked between. Deadlines of real work lie within years of today;
# these bounds are centuries away from it and from datetime's own limits (years 1 and 9999), so
# walking a week or two back or ten years on from any instant inside them never overflows, and an
# instant outside them (a receipt time of 0001-01-01, a follow-up in 9999) is a mistake upstream.
# 24×7 arithmetic is plain datetime arithmetic over durations that are never negative, so it can
# only overflow upwards: it refuses a result after LATEST and nothing else.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2500, 1, 1, tzinfo=UTC)

Interval = tuple[datetime, datetime]


class NoWorkingTime(ValueError):
    """A calendar never opens, so no SLA target can be met by it: raised rather than looping forever."""


class OutOfRange(ValueError):
    """An instant, or the result asked for, lies outside EARLIEST..LATEST: raised rather than overflowing."""


@dataclass(frozen=True)
class Window:
    """Working hours that start on one weekday; `end <= start` ends the next day, `end == start` is 24 hours.

    A window belongs to the day it starts on, so a holiday removes a night shift that starts on it
    but not one that started the evening before and runs into it.
    """

    weekday: int  # 0 = Monday … 6 = Sunday, the day the window starts
    start: time
    end: time

    def __post_init__(self) -> None:
        # ISO weekdays (1 = Monday … 7 = Sunday) are an easy mistake, and a weekday 7 would never match.
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        # A window is wall-clock time in its calendar's zone; a zone on the time itself would compete.
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times in the calendar's zone: give them no tzinfo")


@dataclass(frozen=True)
class WorkingCalendar:
    """A business calendar: the zone its windows are read in, its weekly windows and its holidays."""

    zone: ZoneInfo
    windows: tuple[Window, ...]
    holidays: frozenset[date] = frozenset()

    def intervals(self, start: datetime) -> Iterator[Interval]:
        """Working intervals as UTC (open, close) pairs, from the one containing or following `start` on.

        Lazy and unbounded, so callers take as many as they need. Overlapping and touching windows are
        merged, except at each Monday 00:00 in the calendar's zone: cutting there keeps a calendar that
        is open around the clock from being one endless interval, and makes the sequence the same
        whatever `start` is. An interval closing exactly at `start` counts as containing it.
        """
        start = _in_range(start)
        if not self.windows:
            raise NoWorkingTime("the calendar has no working windows")
        return self._intervals_from(start)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of working time after `start`: an SLA due time.

        Time before the first window does not count, so an item received outside working time starts
        its clock at the next window. A zero duration returns `start` itself, even outside working
        time, which keeps `add(add(s, a), b) == add(s, a + b)` true for every a, b >= 0.
        """
        _check_duration(duration)
        intervals = self.intervals(start)
        start = _utc(start)
        # Working time never runs faster than the clock, so the due time is at least this late.
        _check_reach(start, duration)
        if not duration:
            return start
        remaining = duration
        while True:
            opens, closes = next(intervals)
            begin = max(opens, start)
            # `remaining` stays above zero here, so a due time is never an interval's open instant:
            # open < due <= close, and it always counts as working time.
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end`: the time an SLA clock ran (zero if `end <= start`)."""
        intervals = self.intervals(start)
        start, end = _utc(start), _in_range(end)
        total = timedelta(0)
        if end <= start:
            return total
        for opens, closes in intervals:
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def is_working(self, at: datetime) -> bool:
        """Whether an SLA clock runs at `at`. Both ends of an interval count, so a due time is working."""
        at = _utc(at)
        opens, _ = next(self.intervals(at))
        return opens <= at

    def next_working_instant(self, at: datetime) -> datetime:
        """When an SLA clock started at `at` actually starts running: `at` itself if working, else the next open."""
        at = _utc(at)
        opens, _ = next(self.intervals(at))
        return max(opens, at)

    def upcoming_windows(self, start: datetime, count: int) -> list[Interval]:
        """The next `count` intervals from `start`, so an admin can check a calendar before using it."""
        return list(islice(self.intervals(start), count))

    def _intervals_from(self, start: datetime) -> Iterator[Interval]:
        monday = start.astimezone(self.zone).date()
        monday -= timedelta(days=monday.weekday())
        # Begin a week earlier when the week boundary is not strictly before `start`, so an interval
        # of the previous week closing exactly at `start` is still found.
        if self._instant(monday, time(0)) >= start:
            monday -= _WEEK
        empty_weeks = 0
        while True:
            if self._instant(monday, time(0)) > LATEST:
                raise OutOfRange(f"working time after {start} runs past {LATEST}")
            week = self._week(monday)
            yield from (interval for interval in week if interval[1] >= start)
            empty_weeks = 0 if week else empty_weeks + 1
            if empty_weeks > _SEARCH_WEEKS:
                raise NoWorkingTime(f"the calendar has no working time for {_SEARCH_WEEKS} weeks after {start}")
            monday += _WEEK

    def _week(self, monday: date) -> list[Interval]:
        """Merged intervals from this Monday 00:00 to the next, in the calendar's zone.

        Each window becomes real instants day by day, so DST and holidays come out right without
        special cases. Windows of the two days before count too: one may run past midnight into the
        week, and a time in a DST gap can be resolved a little later than its wall-clock time.
        """
        week_opens, week_closes = self._instant(monday, time(0)), self._instant(monday + _WEEK, time(0))
        pieces: list[Interval] = []
        for offset in range(-2, 7):
            day = monday + timedelta(days=offset)
            if day in self.holidays:
                continue
            for window in self.windows:
                if window.weekday != day.weekday():
                    continue
                opens = self._instant(day, window.start)
                closes = self._instant(day if window.end > window.start else day + _DAY, window.end)
                # A window ending in a DST gap can resolve to before its start: it has no working time.
                opens, closes = max(opens, week_opens), min(closes, week_closes)
                if opens < closes:
                    pieces.append((opens, closes))
        pieces.sort()
        merged: list[Interval] = []
        for opens, closes in pieces:
            if merged and opens <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
            else:
                merged.append((opens, closes))
        return merged

    def _instant(self, day: date, clock: time) -> datetime:
        """The UTC instant of a wall-clock time; one in a DST gap or overlap is read with fold=0."""
        return datetime.combine(day, clock.replace(fold=0), tzinfo=self.zone).astimezone(UTC)


def add_working(calendar: WorkingCalendar | None, start: datetime, duration: timedelta) -> datetime:
    """`calendar.add`, where no calendar means 24×7: plain elapsed time."""
    if calendar is not None:
        return calendar.add(start, duration)
    _check_duration(duration)
    start = _utc(start)
    _check_reach(start, duration)
    return start + duration


def working_between(calendar: WorkingCalendar | None, start: datetime, end: datetime) -> timedelta:
    """`calendar.working_between`, where no calendar means 24×7: plain elapsed time."""
    if calendar is not None:
        return calendar.working_between(start, end)
    return max(_utc(end) - _utc(start), timedelta(0))


def is_working(calendar: WorkingCalendar | None, at: datetime) -> bool:
    """`calendar.is_working`, where no calendar means 24×7: always working."""
    if calendar is not None:
        return calendar.is_working(at)
    _utc(at)
    return True


def next_working_instant(calendar: WorkingCalendar | None, at: datetime) -> datetime:
    """`calendar.next_working_instant`, where no calendar means 24×7: `at` itself."""
    if calendar is not None:
        return calendar.next_working_instant(at)
    return _utc(at)


def _utc(value: datetime) -> datetime:
    # A naive datetime has no instant: guessing a zone would shift SLA deadlines by hours.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, not naive {value!r}")
    # In UTC, subtraction is real elapsed time; between two datetimes sharing a zone it is wall-clock time.
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it: no UTC instant exists
        raise OutOfRange(f"{value!r} is out of range") from None


def _in_range(value: datetime) -> datetime:
    """`value` in UTC, if a calendar can be walked from it."""
    value = _utc(value)
    if not EARLIEST <= value <= LATEST:
        raise OutOfRange(f"{value} is out of range: working time is counted from {EARLIEST} to {LATEST}")
    return value


def _check_reach(start: datetime, duration: timedelta) -> None:
    """Refuse a due time that would lie after LATEST, before computing it could overflow."""
    if duration > LATEST - start:
        raise OutOfRange(f"{duration} after {start} is out of range: due times are counted up to {LATEST}")


def _check_duration(duration: timedelta) -> None:
    if duration < timedelta(0):
        raise ValueError(f"a working-time duration cannot be negative, not {duration}")
