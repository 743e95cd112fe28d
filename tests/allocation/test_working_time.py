"""Working-time arithmetic: hand-computed cases (DST, holidays, night shifts) and its algebraic laws.

Expected values are local wall-clock times worked out by hand, not by the code under test.
No database: the module is pure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.sla.working_time import (
    EARLIEST,
    LATEST,
    NoWorkingTime,
    OutOfRange,
    Window,
    WorkingCalendar,
    add_working,
    is_working,
    next_working_instant,
    working_between,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = range(5)
EVERY_DAY = range(7)


def calendar(zone: ZoneInfo, *hours: tuple[str, str], days=WEEKDAYS, holidays=(), extra=()) -> WorkingCalendar:
    """The same windows on each of `days`, plus `extra` windows given as (weekday, start, end)."""
    windows = [Window(day, time.fromisoformat(a), time.fromisoformat(b)) for day in days for a, b in hours]
    windows += [Window(day, time.fromisoformat(a), time.fromisoformat(b)) for day, a, b in extra]
    return WorkingCalendar(zone, tuple(windows), frozenset(date.fromisoformat(d) for d in holidays))


def at(zone: ZoneInfo, text: str) -> datetime:
    """A local wall-clock time, as written in the tables (none of them is ambiguous or missing)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


OFFICE = calendar(LONDON, ("09:00", "17:00"))
SPLIT = calendar(LONDON, ("09:00", "12:30"), ("13:30", "17:30"))
NIGHTS = calendar(LONDON, ("22:00", "06:00"))  # Mon–Fri nights, each ending the next morning
EARLY_LONDON = calendar(LONDON, ("00:00", "04:00"), days=EVERY_DAY)  # spans both London changes (01:00 UTC)
SUNDAY_NIGHT = calendar(LONDON, ("22:00", "06:00"), days=[6])
GAP_LONDON = calendar(LONDON, ("01:30", "03:00"), days=[6])  # Sundays, starting in the hour the clocks change
SUNDAY_24H_NY = calendar(NEW_YORK, ("09:00", "17:00"), days=[0], extra=[(6, "00:00", "00:00")])

ADD_CASES = [
    # (calendar, start, duration, expected due) — all local wall-clock times in the calendar's zone
    pytest.param(OFFICE, "2026-06-01 16:00", timedelta(hours=4), "2026-06-02 12:00", id="overnight"),
    pytest.param(OFFICE, "2026-06-05 15:00", timedelta(hours=4), "2026-06-08 11:00", id="weekend"),
    # Thu 15:00–17:00 = 2h, Fri 25 Dec holiday, weekend, Mon 09:00 + 2h
    pytest.param(
        calendar(LONDON, ("09:00", "17:00"), holidays=["2026-12-25"]),
        "2026-12-24 15:00",
        timedelta(hours=4),
        "2026-12-28 11:00",
        id="holiday",
    ),
    # Fri 16:00–17:00 GMT = 1h, clocks go forward on Sunday, Mon 09:00 BST + 1h
    pytest.param(OFFICE, "2026-03-27 16:00", timedelta(hours=2), "2026-03-30 10:00", id="office-over-spring-forward"),
    # Sun 29 Mar 00:00 GMT–04:00 BST is 3 real hours: all of them
    pytest.param(EARLY_LONDON, "2026-03-29 00:00", timedelta(hours=3), "2026-03-29 04:00", id="london-spring-day"),
    # 3h on the short Sunday, then Mon 00:00 + 30min
    pytest.param(
        EARLY_LONDON, "2026-03-29 00:00", timedelta(hours=3, minutes=30), "2026-03-30 00:30", id="london-spring-short"
    ),
    # Sun 25 Oct 00:00 BST–04:00 GMT is 5 real hours: 4h30 ends at 03:30 GMT
    pytest.param(
        EARLY_LONDON, "2026-10-25 00:00", timedelta(hours=4, minutes=30), "2026-10-25 03:30", id="london-fall"
    ),
    # 5h on the long Sunday, then Mon 00:00 + 30min
    pytest.param(
        EARLY_LONDON, "2026-10-25 00:00", timedelta(hours=5, minutes=30), "2026-10-26 00:30", id="london-fall-long"
    ),
    # Sun 8 Mar 00:00 EST–Mon 00:00 EDT is 23h, then Mon 09:00 + 1h
    pytest.param(SUNDAY_24H_NY, "2026-03-08 00:00", timedelta(hours=24), "2026-03-09 10:00", id="new-york-spring"),
    # Sun 1 Nov 00:00 EDT–Mon 00:00 EST is 25h: 24h ends at 23:00 EST on the Sunday
    pytest.param(SUNDAY_24H_NY, "2026-11-01 00:00", timedelta(hours=24), "2026-11-01 23:00", id="new-york-fall"),
    # 25h on the long Sunday, then Mon 09:00 + 1h
    pytest.param(SUNDAY_24H_NY, "2026-11-01 00:00", timedelta(hours=26), "2026-11-02 10:00", id="new-york-fall-long"),
    # 11:00–12:30 = 1h30, then 13:30 + 1h30
    pytest.param(SPLIT, "2026-06-01 11:00", timedelta(hours=3), "2026-06-01 15:00", id="split"),
    # a full split day is 3h30 + 4h and ends exactly at the afternoon close
    pytest.param(SPLIT, "2026-06-01 09:00", timedelta(hours=7, minutes=30), "2026-06-01 17:30", id="split-full-day"),
    # received at lunch: the clock starts at 13:30
    pytest.param(SPLIT, "2026-06-01 12:45", timedelta(hours=1), "2026-06-01 14:30", id="split-lunch"),
    # Mon 23:00–Tue 06:00 = 7h, then Tue 22:00 + 1h
    pytest.param(NIGHTS, "2026-06-01 23:00", timedelta(hours=8), "2026-06-02 23:00", id="night"),
    # Friday's night runs to Sat 06:00: Sat 05:00–06:00 = 1h, then Mon 22:00 + 1h
    pytest.param(NIGHTS, "2026-06-06 05:00", timedelta(hours=2), "2026-06-08 23:00", id="night-into-saturday"),
    # Sun 23:00–Mon 06:00 = 7h in all, across the week boundary: Sun 23:00 + 5h
    pytest.param(SUNDAY_NIGHT, "2026-06-07 23:00", timedelta(hours=5), "2026-06-08 04:00", id="sunday-night"),
    # Sat 28 Mar 22:00 GMT–Sun 06:00 BST is 7h (every-day nights), then Sun 22:00 + 30min
    pytest.param(
        calendar(LONDON, ("22:00", "06:00"), days=EVERY_DAY),
        "2026-03-28 22:00",
        timedelta(hours=7, minutes=30),
        "2026-03-29 22:30",
        id="night-over-spring-forward",
    ),
    # Holiday Fri 25 Dec: Thursday's night still runs into it (Thu 22:00 + 4h)
    pytest.param(
        calendar(LONDON, ("22:00", "06:00"), holidays=["2026-12-25"]),
        "2026-12-24 20:00",
        timedelta(hours=4),
        "2026-12-25 02:00",
        id="night-holiday-next-day",
    ),
    # Holiday Thu 24 Dec: Thursday's night is gone, Friday's runs (Fri 22:00 + 4h)
    pytest.param(
        calendar(LONDON, ("22:00", "06:00"), holidays=["2026-12-24"]),
        "2026-12-24 20:00",
        timedelta(hours=4),
        "2026-12-26 02:00",
        id="night-holiday-start-day",
    ),
    # Mon 22:00–Tue 06:00 and Tue 05:00–13:00 overlap: 22:00–13:00 is 15h, not 16h
    pytest.param(
        calendar(LONDON, days=[], extra=[(0, "22:00", "06:00"), (1, "05:00", "13:00")]),
        "2026-06-01 22:00",
        timedelta(hours=15),
        "2026-06-02 13:00",
        id="overlap-merged",
    ),
    pytest.param(OFFICE, "2026-06-06 10:00", timedelta(hours=1), "2026-06-08 10:00", id="received-saturday"),
    pytest.param(OFFICE, "2026-06-01 07:00", timedelta(hours=1), "2026-06-01 10:00", id="received-early"),
    # Mon 1–Fri 5 June = 40h, Mon 8 June = 8h, Tue 9 June 09:00 + 2h
    pytest.param(OFFICE, "2026-06-01 09:00", timedelta(hours=50), "2026-06-09 11:00", id="fifty-hours"),
    # 24×7: Sun 29 Mar 00:00 GMT + 3h is 04:00 BST
    pytest.param(None, "2026-03-29 00:00", timedelta(hours=3), "2026-03-29 04:00", id="24x7-spring"),
    pytest.param(OFFICE, "2026-06-06 10:00", timedelta(0), "2026-06-06 10:00", id="zero-outside-working-time"),
]


@pytest.mark.parametrize(("cal", "start", "duration", "expected"), ADD_CASES)
def test_add(cal, start, duration, expected):
    due = add_working(cal, at(LONDON if cal is None else cal.zone, start), duration)

    assert due == at(LONDON if cal is None else cal.zone, expected)
    assert due.tzinfo is UTC


BETWEEN_CASES = [
    # (calendar, start, end, expected working time)
    pytest.param(EARLY_LONDON, "2026-03-28 00:00", "2026-03-30 00:00", timedelta(hours=4 + 3), id="london-spring"),
    pytest.param(EARLY_LONDON, "2026-10-24 00:00", "2026-10-26 00:00", timedelta(hours=4 + 5), id="london-fall"),
    # Sunday 23h (00:00 EST–00:00 EDT), then Mon 09:00–12:00
    pytest.param(SUNDAY_24H_NY, "2026-03-08 00:00", "2026-03-09 12:00", timedelta(hours=23 + 3), id="new-york-spring"),
    pytest.param(SUNDAY_24H_NY, "2026-11-01 00:00", "2026-11-02 12:00", timedelta(hours=25 + 3), id="new-york-fall"),
    # Missing and repeated wall-clock times are read with fold=0. Spring: 01:30 does not exist and reads as
    # 01:30 GMT (= 02:30 BST), so 01:30–03:00 is 02:30–03:00 BST. Fall: 01:30 comes twice and reads as the
    # first, 01:30 BST, so 01:30–03:00 is 2h30.
    pytest.param(GAP_LONDON, "2026-03-29 00:00", "2026-03-29 04:00", timedelta(minutes=30), id="window-in-spring-gap"),
    pytest.param(GAP_LONDON, "2026-10-25 00:00", "2026-10-25 04:00", timedelta(hours=2.5), id="window-in-fall"),
    # Mon 22:00–Tue 06:00 = 8h, Tue 22:00–23:00 = 1h
    pytest.param(NIGHTS, "2026-06-01 20:00", "2026-06-02 23:00", timedelta(hours=9), id="night"),
    pytest.param(OFFICE, "2026-06-05 16:00", "2026-06-08 10:00", timedelta(hours=2), id="weekend"),
    pytest.param(SPLIT, "2026-06-01 00:00", "2026-06-02 00:00", timedelta(hours=7, minutes=30), id="split-day"),
    pytest.param(OFFICE, "2026-06-01 12:00", "2026-06-01 11:00", timedelta(0), id="end-before-start"),
    pytest.param(OFFICE, "2026-06-06 10:00", "2026-06-06 12:00", timedelta(0), id="weekend-only"),
    # 24×7 over spring forward: 00:00 GMT to 04:00 BST is 3 real hours
    pytest.param(None, "2026-03-29 00:00", "2026-03-29 04:00", timedelta(hours=3), id="24x7-spring"),
    pytest.param(None, "2026-06-01 12:00", "2026-06-01 11:00", timedelta(0), id="24x7-end-before-start"),
]


@pytest.mark.parametrize(("cal", "start", "end", "expected"), BETWEEN_CASES)
def test_working_between(cal, start, end, expected):
    zone = LONDON if cal is None else cal.zone

    assert working_between(cal, at(zone, start), at(zone, end)) == expected


INSTANT_CASES = [
    # (calendar, instant, is working, next working instant)
    pytest.param(OFFICE, "2026-06-01 09:00", True, "2026-06-01 09:00", id="at-open"),
    pytest.param(OFFICE, "2026-06-01 17:00", True, "2026-06-01 17:00", id="at-close"),
    pytest.param(OFFICE, "2026-06-01 17:00:01", False, "2026-06-02 09:00", id="just-after-close"),
    pytest.param(OFFICE, "2026-06-06 12:00", False, "2026-06-08 09:00", id="saturday"),
    pytest.param(SPLIT, "2026-06-01 12:45", False, "2026-06-01 13:30", id="lunch"),
    pytest.param(NIGHTS, "2026-06-06 03:00", True, "2026-06-06 03:00", id="friday-night-on-saturday"),
    # Sun 20:00–Mon 00:00 closes exactly when a week begins
    pytest.param(
        calendar(LONDON, days=[], extra=[(6, "20:00", "00:00")]),
        "2026-06-08 00:00",
        True,
        "2026-06-08 00:00",
        id="at-close-on-monday-midnight",
    ),
    pytest.param(
        calendar(LONDON, ("09:00", "17:00"), holidays=["2026-12-25"]),
        "2026-12-25 10:00",
        False,
        "2026-12-28 09:00",
        id="holiday",
    ),
    # 03:30 BST on the short day is inside 00:00 GMT–04:00 BST; 04:30 BST waits for Monday
    pytest.param(EARLY_LONDON, "2026-03-29 03:30", True, "2026-03-29 03:30", id="spring-day-inside"),
    pytest.param(EARLY_LONDON, "2026-03-29 04:30", False, "2026-03-30 00:00", id="spring-day-after"),
    pytest.param(None, "2026-06-06 12:00", True, "2026-06-06 12:00", id="24x7"),
]


@pytest.mark.parametrize(("cal", "instant", "working", "expected_next"), INSTANT_CASES)
def test_is_working_and_next_working_instant(cal, instant, working, expected_next):
    zone = LONDON if cal is None else cal.zone

    assert is_working(cal, at(zone, instant)) is working
    assert next_working_instant(cal, at(zone, instant)) == at(zone, expected_next)


def test_intervals_merge_overlaps_and_cut_at_week_starts():
    night_into_morning = calendar(LONDON, days=[], extra=[(0, "22:00", "06:00"), (1, "05:00", "13:00")])
    around_the_clock = calendar(LONDON, ("00:00", "00:00"), days=EVERY_DAY)

    assert night_into_morning.upcoming_windows(at(LONDON, "2026-06-01 00:00"), 2) == [
        (at(LONDON, "2026-06-01 22:00"), at(LONDON, "2026-06-02 13:00")),
        (at(LONDON, "2026-06-08 22:00"), at(LONDON, "2026-06-09 13:00")),
    ]
    # Intervals are cut at Monday 00:00 local time, so a calendar open around the clock yields one a week.
    assert SUNDAY_NIGHT.upcoming_windows(at(LONDON, "2026-06-07 23:00"), 2) == [
        (at(LONDON, "2026-06-07 22:00"), at(LONDON, "2026-06-08 00:00")),
        (at(LONDON, "2026-06-08 00:00"), at(LONDON, "2026-06-08 06:00")),
    ]
    assert around_the_clock.upcoming_windows(at(LONDON, "2026-03-25 12:00"), 2) == [
        (at(LONDON, "2026-03-23 00:00"), at(LONDON, "2026-03-30 00:00")),
        (at(LONDON, "2026-03-30 00:00"), at(LONDON, "2026-04-06 00:00")),
    ]


def test_additive_when_the_first_part_ends_exactly_at_a_close():
    start = at(LONDON, "2026-06-01 11:00")
    to_lunch = SPLIT.add(start, timedelta(hours=1, minutes=30))

    assert to_lunch == at(LONDON, "2026-06-01 12:30")
    assert SPLIT.add(to_lunch, timedelta(hours=1)) == SPLIT.add(start, timedelta(hours=2, minutes=30))


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 6, 1, 9)
    aware = at(LONDON, "2026-06-01 09:00")

    with pytest.raises(ValueError, match="aware"):
        OFFICE.add(naive, timedelta(hours=1))
    with pytest.raises(ValueError, match="aware"):
        OFFICE.working_between(aware, naive)
    with pytest.raises(ValueError, match="aware"):
        is_working(None, naive)
    with pytest.raises(ValueError, match="aware"):
        add_working(None, naive, timedelta(hours=1))


def test_negative_durations_are_refused():
    start = at(LONDON, "2026-06-01 09:00")

    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(start, timedelta(minutes=-1))
    with pytest.raises(ValueError, match="negative"):
        add_working(None, start, timedelta(minutes=-1))


def test_a_calendar_without_working_time_raises():
    start = at(LONDON, "2026-06-01 09:00")
    empty = WorkingCalendar(LONDON, ())
    # Windows exist, but the only Monday for years is a holiday: the search gives up after about ten years.
    only_holidays = WorkingCalendar(
        LONDON,
        (Window(0, time(9), time(17)),),
        frozenset(date(2026, 6, 1) + timedelta(weeks=n) for n in range(600)),
    )

    with pytest.raises(NoWorkingTime):
        empty.add(start, timedelta(hours=1))
    with pytest.raises(NoWorkingTime):
        empty.is_working(start)
    with pytest.raises(NoWorkingTime):
        only_holidays.add(start, timedelta(hours=1))


def test_iso_weekdays_are_refused():
    with pytest.raises(ValueError, match="weekday"):
        Window(7, time(9), time(17))


YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ONE_HOUR_ON_MONDAYS = calendar(LONDON, ("09:00", "10:00"), days=[0])


@pytest.mark.parametrize("call", [
    pytest.param(lambda: OFFICE.add(YEAR_1, timedelta(hours=1)), id="add-from-year-1"),
    pytest.param(lambda: OFFICE.add(YEAR_9999, timedelta(hours=1)), id="add-from-year-9999"),
    pytest.param(lambda: OFFICE.add(JUNE, timedelta.max), id="add-the-largest-duration"),
    pytest.param(lambda: OFFICE.add(JUNE, timedelta(days=3_000_000)), id="add-eight-thousand-years"),
    # Working time runs far slower than the clock here: the walk itself reaches the limit.
    pytest.param(lambda: ONE_HOUR_ON_MONDAYS.add(LATEST - timedelta(days=365), timedelta(days=100)),
                 id="walk-past-the-limit"),
    pytest.param(lambda: OFFICE.working_between(YEAR_1, JUNE), id="between-from-year-1"),
    pytest.param(lambda: OFFICE.working_between(JUNE, YEAR_9999), id="between-to-year-9999"),
    pytest.param(lambda: OFFICE.is_working(YEAR_1), id="is-working-in-year-1"),
    pytest.param(lambda: OFFICE.next_working_instant(YEAR_9999), id="next-instant-in-year-9999"),
    pytest.param(lambda: OFFICE.upcoming_windows(YEAR_9999, 5), id="preview-in-year-9999"),
    pytest.param(lambda: add_working(None, YEAR_9999, timedelta(days=2)), id="24x7-add-from-year-9999"),
    pytest.param(lambda: add_working(None, JUNE, timedelta.max), id="24x7-add-the-largest-duration"),
    # Instants with no UTC equivalent a datetime can hold.
    pytest.param(lambda: add_working(None, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), timedelta(0)),
                 id="24x7-year-1-east-of-utc"),
    pytest.param(lambda: working_between(None, JUNE, datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),
                 id="24x7-year-9999-west-of-utc"),
])
def test_out_of_range_is_refused_before_anything_overflows(call):
    with pytest.raises(OutOfRange):
        call()


def test_the_range_itself_is_served():
    # 1 January 1900 was a Monday: five office days in its first week.
    assert OFFICE.working_between(EARLIEST, EARLIEST + timedelta(days=7)) == timedelta(hours=40)
    assert OFFICE.add(LATEST - timedelta(days=14), timedelta(hours=8)) <= LATEST
    assert add_working(None, LATEST - timedelta(hours=1), timedelta(hours=1)) == LATEST
    # 24×7 is plain arithmetic and cannot overflow downwards, so a clock already running from
    # an odd receipt time keeps reading.
    assert working_between(None, YEAR_1, JUNE) > timedelta(0)


# --- Laws, for random calendars ---------------------------------------------------------------

ZONES = [ZoneInfo(name) for name in ("Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC")]
# Quarter hours, so windows often start or end in a DST gap or overlap (01:00–03:00 locally).
clocks = st.integers(0, 95).map(lambda quarter: time(quarter // 4, quarter % 4 * 15))
windows = st.builds(Window, st.integers(0, 6), clocks, clocks)  # end <= start (overnight, 24h) about half the time
durations = st.timedeltas(timedelta(0), timedelta(days=21))
LAWS = settings(max_examples=150, deadline=None)


@st.composite
def calendars_and_starts(draw) -> tuple[WorkingCalendar, datetime]:
    """A random calendar and a start instant across 2025–2028, given in the calendar's zone or in UTC.

    The start is drawn first so that holidays can fall in the weeks after it, where a test walks.
    """
    zone = draw(st.sampled_from(ZONES))
    start = draw(st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.sampled_from([zone, UTC])))
    first = start.date() - timedelta(days=1)
    holidays = frozenset(first + timedelta(days=n) for n in draw(st.lists(st.integers(0, 30), max_size=4)))
    return WorkingCalendar(zone, tuple(draw(st.lists(windows, min_size=1, max_size=3))), holidays), start


@LAWS
@given(calendars_and_starts(), durations)
def test_a_due_time_is_working_time(calendar_and_start, duration):
    cal, start = calendar_and_start
    due = cal.add(start, duration)

    assert due >= start
    assert cal.is_working(due) or duration == timedelta(0)


@LAWS
@given(calendars_and_starts(), durations, durations)
def test_add_is_additive(calendar_and_start, first, second):
    cal, start = calendar_and_start

    assert cal.add(cal.add(start, first), second) == cal.add(start, first + second)


@LAWS
@given(calendars_and_starts(), st.integers(0, 5), durations)
def test_add_is_additive_from_a_close(calendar_and_start, index, second):
    """The random law rarely lands on a close exactly; this one always does."""
    cal, start = calendar_and_start
    _, closes = next(islice(cal.intervals(start), index, None))
    first = cal.working_between(start, closes)

    assert cal.add(start, first) == closes
    assert cal.add(closes, second) == cal.add(start, first + second)


@LAWS
@given(calendars_and_starts(), durations)
def test_working_between_inverts_add(calendar_and_start, duration):
    cal, start = calendar_and_start

    assert cal.working_between(start, cal.add(start, duration)) == duration


@LAWS
@given(calendars_and_starts(), durations, durations, durations)
def test_a_pause_never_brings_the_due_time_forward(calendar_and_start, target, to_pause, pause_length):
    cal, start = calendar_and_start
    paused = start + to_pause
    resumed = paused + pause_length

    assert cal.add(start, target + cal.working_between(paused, resumed)) >= cal.add(start, target)


@LAWS
@given(calendars_and_starts(), durations, durations)
def test_add_is_monotonic(calendar_and_start, one, other):
    cal, start = calendar_and_start
    shorter, longer = sorted([one, other])

    assert cal.add(start, shorter) <= cal.add(start, longer)


@LAWS
@given(calendars_and_starts())
def test_intervals_are_chronological_and_disjoint(calendar_and_start):
    cal, start = calendar_and_start
    found = list(islice(cal.intervals(start), 12))

    assert found[0][1] >= start
    for (opens, closes), (next_opens, _) in pairwise(found):
        assert opens < closes <= next_opens
    assert all(opens.tzinfo is UTC for opens, _ in found)
