"""Report rollups: the only writer of reporting's tables.

Every figure is recomputed a whole local day at a time from the events (and the items'
fixed facts once closed, evaluations, the presence history), never incremented. So the
incremental run and the rebuild share one function per table and give the same rows,
and an event that arrives late, or a change that alters an old day, only has to mark
its day as touched:

- an event's day is touched when the event appears (any `at`, however old);
- a completed item's day is touched when an evaluation of it is submitted (QA average of
  its standing evaluations: quality's one definition, `Evaluation.objects.standing()`,
  whose SQL the rollup statement embeds)
  and when a failed evaluation sends it back as rework (first-pass yield);
- presence sums are recomputed from an agent's new change to today, and for everyone
  from the last run's day to today (an agent still available keeps adding time).

Ids are not commit order: a transaction can take an event id, and commit after a run has
read a higher one. So runs read past `settled_event_id`, which trails the highest id read
by at least LATE_WINDOW; transactions here last milliseconds.

Two runs at once: the second finds the state row locked and skips (beat may overlap
itself, or run beside a rebuild); a day's delete and insert are one transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from allocation import events
from allocation.models import (
    AgentProfile,
    EventKind,
    ItemStatus,
    Presence,
    PresenceChange,
    WorkItem,
    WorkItemEvent,
)
from quality.models import Evaluation
from reporting.handle_time import BIN_COUNT, BIN_EDGES
from reporting.models import AgentDay, PresenceDay, QueueDay, QueueHour, RollupState

log = logging.getLogger(__name__)

LATE_WINDOW = timedelta(minutes=5)
STATE_NAME = "reports"
MAX_DAYS_PER_STATEMENT = 31  # a rebuild recomputes a month per transaction

EVENTS = WorkItemEvent._meta.db_table
ITEMS = WorkItem._meta.db_table
EVALUATIONS = Evaluation._meta.db_table
PRESENCE = PresenceChange._meta.db_table
AGENTS = AgentProfile._meta.db_table


def reporting_zone() -> ZoneInfo:
    """Reports bucket time by the portal's zone (settings.TIME_ZONE)."""
    return ZoneInfo(settings.TIME_ZONE)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=reporting_zone())


def local_day(at: datetime) -> date:
    return at.astimezone(reporting_zone()).date()


def reports_today() -> date:
    """Today as the reports count days: in the portal's zone, never the browser's. A page
    that ended its range on the viewer's date would drop the portal's today (with today's
    work in it) for a viewer west of the portal after the portal's midnight."""
    return local_day(timezone.now())


def unread_today(now: datetime) -> tuple[int, datetime]:
    """Where today's live figures read past the rollup: events after the last one it read
    (their id) and of today (their time) — the minute or so it has not read yet. Today's
    figures are the rollup's day plus these (the wallboard's, the live agents view's)."""
    read_up_to = RollupState.objects.filter(name=STATE_NAME).values_list("event_id", flat=True).first() or 0
    return read_up_to, day_start(local_day(now))


def _rework_source() -> str:
    from quality.services import REWORK_SOURCE

    return REWORK_SOURCE


def _ranges(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days as [first, after) ranges of at most MAX_DAYS_PER_STATEMENT."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] == day and (day - ranges[-1][0]).days < MAX_DAYS_PER_STATEMENT:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


# Items, queues and agents: a day range recomputed -----------------------------------------------

_FACTS = f"""
CREATE TEMP TABLE rollup_facts ON COMMIT DROP AS
WITH done AS (
    SELECT e.item_id, (e.at AT TIME ZONE %(tz)s)::date AS day,
           extract(hour FROM e.at AT TIME ZONE %(tz)s)::int AS hour,
           i.queue_id, e.actor_id AS agent_id, e.at <= i.due_at AS met,
           round(extract(epoch FROM i.due_at - i.start_by))::bigint AS standard_s,
           i.source = %(rework_source)s AS is_rework
      FROM {EVENTS} e JOIN {ITEMS} i ON i.id = e.item_id
     WHERE e.kind = '{EventKind.COMPLETED}' AND e.at >= %(start)s AND e.at < %(end)s
), handle AS (  -- time in progress: each start until the item's next event
    SELECT item_id, round(sum(extract(epoch FROM next_at - at)))::bigint AS handle_s
      FROM (SELECT item_id, at, to_status, lead(at) OVER (PARTITION BY item_id ORDER BY at, id) AS next_at
              FROM {EVENTS} WHERE item_id IN (SELECT item_id FROM done)) spans
     WHERE to_status = '{ItemStatus.IN_PROGRESS}' AND next_at IS NOT NULL
     GROUP BY item_id
), qa AS (
    SELECT item_id, count(*) AS n, sum(score) AS total
      FROM ({{standing_scores}}) standing
     WHERE item_id IN (SELECT item_id FROM done)
     GROUP BY item_id
)
SELECT done.*, handle.handle_s, coalesce(qa.n, 0) AS qa_n, coalesce(qa.total, 0) AS qa_total,
       EXISTS (SELECT 1 FROM {EVALUATIONS} r WHERE r.item_id = done.item_id AND r.rework_item_id IS NOT NULL)
           AS reworked
  FROM done LEFT JOIN handle USING (item_id) LEFT JOIN qa USING (item_id)
"""

# Arrivals, transfers and cancellations, by the queue the item was in when it happened.
_FLOWS = f"""
CREATE TEMP TABLE rollup_flows ON COMMIT DROP AS
WITH ev AS (
    SELECT e.at, e.kind, e.data, i.queue_id AS item_queue, i.source
      FROM {EVENTS} e JOIN {ITEMS} i ON i.id = e.item_id
     WHERE e.at >= %(start)s AND e.at < %(end)s
       AND e.kind IN ('{EventKind.CREATED}', '{EventKind.TRANSFERRED}', '{EventKind.CANCELLED}')
), moves AS (
    SELECT at, item_queue AS queue_id, 0 AS arrivals, 0 AS rework_arrivals, 0 AS transfers_in,
           0 AS transfers_out, 1 AS cancelled
      FROM ev WHERE kind = '{EventKind.CANCELLED}'
    UNION ALL
    -- A created event names the queue it arrived in; a transfer, both queues by id
    -- (allocation/events.py).
    SELECT at, (data->>'{events.QUEUE_ID}')::bigint, 1, (source = %(rework_source)s)::int, 0, 0, 0
      FROM ev WHERE kind = '{EventKind.CREATED}'
    UNION ALL
    SELECT at, side.queue_id, 0, 0, side.incoming, 1 - side.incoming, 0
      FROM (SELECT at, (data->>'{events.FROM_QUEUE_ID}')::bigint AS from_id,
                   (data->>'{events.TO_QUEUE_ID}')::bigint AS to_id
              FROM ev WHERE kind = '{EventKind.TRANSFERRED}') t
      CROSS JOIN LATERAL (VALUES (t.from_id, 0), (t.to_id, 1)) AS side(queue_id, incoming)
     WHERE t.to_id IS NOT NULL AND t.to_id IS DISTINCT FROM t.from_id
)
SELECT (at AT TIME ZONE %(tz)s)::date AS day, extract(hour FROM at AT TIME ZONE %(tz)s)::int AS hour, queue_id,
       sum(arrivals) AS arrivals, sum(rework_arrivals) AS rework_arrivals, sum(transfers_in) AS transfers_in,
       sum(transfers_out) AS transfers_out, sum(cancelled) AS cancelled
  FROM moves GROUP BY 1, 2, 3
"""

# What completions add up to, grouped by {keys}; the histogram is built per group from
# the bins of its handled items.
_COMPLETIONS = """
SELECT {keys}, g.completed, g.met, g.handled, g.handle_seconds, g.handle_max_seconds, hist.h AS handle_histogram,
       g.standard_seconds, g.originals, g.reworked, g.rework_completed, g.qa_count, g.qa_sum
  FROM (SELECT {keys}, count(*) AS completed, count(*) FILTER (WHERE met) AS met,
               count(handle_s) AS handled, coalesce(sum(handle_s), 0) AS handle_seconds,
               coalesce(max(handle_s), 0) AS handle_max_seconds, sum(standard_s) AS standard_seconds,
               count(*) FILTER (WHERE NOT is_rework) AS originals,
               count(*) FILTER (WHERE NOT is_rework AND reworked) AS reworked,
               count(*) FILTER (WHERE is_rework) AS rework_completed,
               sum(qa_n) AS qa_count, sum(qa_total) AS qa_sum,
               array_agg(width_bucket(handle_s, %(edges)s::bigint[])) FILTER (WHERE handle_s IS NOT NULL) AS bins
          FROM rollup_facts {where} GROUP BY {keys}) g
 CROSS JOIN LATERAL (
       SELECT array_agg(coalesce(c.n, 0) ORDER BY b.bin) AS h
         FROM generate_series(0, %(bin_count)s - 1) AS b(bin)
         LEFT JOIN (SELECT x, count(*) AS n FROM unnest(g.bins) AS x GROUP BY x) c ON c.x = b.bin) hist
"""

_FIGURES = ("completed, met, handled, handle_seconds, handle_max_seconds, handle_histogram, standard_seconds, "
            "originals, reworked, rework_completed, qa_count, qa_sum")


def _standing_scores() -> tuple[str, dict]:
    """The scores of the standing evaluations as SQL with named parameters: the query of
    quality's one definition (`Evaluation.objects.standing()`), so the QA figures of
    history and scorecards count exactly what the quality pages count."""
    scores = Evaluation.objects.standing().filter(score__isnull=False).values("item_id", "score").order_by()
    sql, values = scores.query.get_compiler(connection=connection).as_sql()
    params: dict = {}

    def named(placeholder: re.Match) -> str:
        if placeholder.group() == "%%":
            return "%%"
        name = f"standing_{len(params)}"
        params[name] = values[len(params)]
        return f"%({name})s"

    return re.sub(r"%%|%s", named, sql), params


def _days_recompute(first: date, after: date) -> None:
    """Recompute every queue, agent and hour row of the days [first, after)."""
    standing_sql, standing_params = _standing_scores()
    params = {
        "tz": settings.TIME_ZONE, "start": day_start(first), "end": day_start(after),
        "rework_source": _rework_source(), "edges": BIN_EDGES, "bin_count": BIN_COUNT, **standing_params,
    }
    queue_day, agent_day, queue_hour = QueueDay._meta.db_table, AgentDay._meta.db_table, QueueHour._meta.db_table
    completions_by_queue = _COMPLETIONS.format(keys="day, queue_id", where="")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS rollup_facts, rollup_flows")
        cursor.execute(_FACTS.replace("{standing_scores}", standing_sql), params)
        cursor.execute(_FLOWS, params)
        for table in (queue_day, agent_day, queue_hour):
            cursor.execute(f"DELETE FROM {table} WHERE day >= %s AND day < %s", [first, after])
        cursor.execute(
            f"INSERT INTO {agent_day} (day, queue_id, agent_id, {_FIGURES}) "
            + _COMPLETIONS.format(keys="day, queue_id, agent_id", where="WHERE agent_id IS NOT NULL"),
            params,
        )
        cursor.execute(
            f"""
            INSERT INTO {queue_day} (day, queue_id, arrivals, rework_arrivals, transfers_in, transfers_out,
                                     cancelled, {_FIGURES})
            SELECT coalesce(f.day, c.day), coalesce(f.queue_id, c.queue_id), coalesce(f.arrivals, 0),
                   coalesce(f.rework_arrivals, 0), coalesce(f.transfers_in, 0), coalesce(f.transfers_out, 0),
                   coalesce(f.cancelled, 0), coalesce(c.completed, 0), coalesce(c.met, 0), coalesce(c.handled, 0),
                   coalesce(c.handle_seconds, 0), coalesce(c.handle_max_seconds, 0),
                   coalesce(c.handle_histogram, array_fill(0, ARRAY[%(bin_count)s])),
                   coalesce(c.standard_seconds, 0), coalesce(c.originals, 0), coalesce(c.reworked, 0),
                   coalesce(c.rework_completed, 0), coalesce(c.qa_count, 0), coalesce(c.qa_sum, 0)
              FROM (SELECT day, queue_id, sum(arrivals) AS arrivals, sum(rework_arrivals) AS rework_arrivals,
                           sum(transfers_in) AS transfers_in, sum(transfers_out) AS transfers_out,
                           sum(cancelled) AS cancelled
                      FROM rollup_flows GROUP BY day, queue_id) f
              FULL JOIN ({completions_by_queue}) c ON c.day = f.day AND c.queue_id = f.queue_id
            """,
            params,
        )
        cursor.execute(
            f"""
            INSERT INTO {queue_hour} (day, hour, queue_id, arrivals, completed)
            SELECT day, hour, queue_id, sum(arrivals), sum(completed)
              FROM (SELECT day, hour, queue_id, arrivals, 0 AS completed FROM rollup_flows WHERE arrivals > 0
                    UNION ALL
                    SELECT day, hour, queue_id, 0, 1 FROM rollup_facts) x
             GROUP BY day, hour, queue_id
            """
        )
        cursor.execute("DROP TABLE rollup_facts, rollup_flows")


# Presence ----------------------------------------------------------------------------------------

_PRESENCE = f"""
WITH agents AS (
    SELECT user_id AS id FROM {AGENTS} WHERE %(everyone)s OR user_id = ANY(%(agents)s)
), changes AS (
    SELECT c.agent_id, c.presence, c.at, c.id FROM {PRESENCE} c
     WHERE c.agent_id IN (SELECT id FROM agents) AND c.at >= %(start)s AND c.at < %(until)s
    UNION ALL  -- where each agent stood when the range began
    SELECT p.agent_id, p.presence, %(start)s, p.id
      FROM agents a CROSS JOIN LATERAL (
           SELECT agent_id, presence, id FROM {PRESENCE} c
            WHERE c.agent_id = a.id AND c.at < %(start)s ORDER BY c.at DESC, c.id DESC LIMIT 1) p
), spans AS (
    SELECT agent_id, presence, at AS since,
           coalesce(lead(at) OVER (PARTITION BY agent_id ORDER BY at, id), %(until)s) AS until
      FROM changes
)
-- Each span meets only the local days it covers (not every day of the range).
SELECT day, spans.agent_id,
       round(coalesce(sum(seconds) FILTER (WHERE presence = '{Presence.AVAILABLE}'), 0))::int,
       round(coalesce(sum(seconds) FILTER (WHERE presence <> '{Presence.OFFLINE}'), 0))::int
  FROM spans
 CROSS JOIN LATERAL generate_series((since AT TIME ZONE %(tz)s)::date::timestamp,
                                    ((until - interval '1 microsecond') AT TIME ZONE %(tz)s)::date::timestamp,
                                    interval '1 day') AS covered(d)
 CROSS JOIN LATERAL (SELECT covered.d::date AS day, covered.d AT TIME ZONE %(tz)s AS starts,
                            (covered.d + interval '1 day') AT TIME ZONE %(tz)s AS ends) bounds
 CROSS JOIN LATERAL (SELECT extract(epoch FROM least(bounds.ends, spans.until) - greatest(bounds.starts, spans.since))
                     AS seconds) s
 WHERE presence <> '{Presence.OFFLINE}' AND spans.until > spans.since
 GROUP BY day, spans.agent_id
"""


def _presence_recompute(*, first: date, last: date, now: datetime, agent_ids: list[int] | None = None) -> None:
    """Recompute the presence rows of the days [first, last] (up to `now`), for the given
    agents or everyone."""
    if last < first:
        return
    params = {"tz": settings.TIME_ZONE, "everyone": agent_ids is None,
              "agents": agent_ids or [], "start": day_start(first),
              "until": min(day_start(last + timedelta(days=1)), now)}
    table = PresenceDay._meta.db_table
    with connection.cursor() as cursor:
        scope = "" if agent_ids is None else " AND agent_id = ANY(%s)"
        cursor.execute(f"DELETE FROM {table} WHERE day >= %s AND day <= %s{scope}",
                       [first, last] + ([agent_ids] if agent_ids is not None else []))
        cursor.execute(
            f"INSERT INTO {table} (day, agent_id, available_seconds, logged_in_seconds) " + _PRESENCE, params
        )


# Runs --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RollupRun:
    skipped: bool = False
    days: tuple[date, ...] = ()
    events_read: int = 0
    presence_agents: int = 0


def _touched_days(state: RollupState, now: datetime) -> tuple[set[date], int, int]:
    """The days to recompute, the events read and the highest event id read."""
    evaluations_since = (state.ran_at - LATE_WINDOW) if state.ran_at else None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH new AS (SELECT id, at, kind, item_id FROM {EVENTS} WHERE id > %(after)s)
            SELECT (SELECT count(*) FROM new), (SELECT max(id) FROM new),
                   ARRAY(SELECT DISTINCT (at AT TIME ZONE %(tz)s)::date FROM new
                         UNION  -- originals sent back: their first-pass yield changed
                         SELECT (done.at AT TIME ZONE %(tz)s)::date
                           FROM new JOIN {EVALUATIONS} ev ON ev.rework_item_id = new.item_id
                           JOIN {EVENTS} done ON done.item_id = ev.item_id AND done.kind = %(completed)s
                          WHERE new.kind = %(created)s
                         UNION  -- items evaluated since the last run: their QA average changed
                         SELECT (done.at AT TIME ZONE %(tz)s)::date
                           FROM {EVALUATIONS} ev
                           JOIN {EVENTS} done ON done.item_id = ev.item_id AND done.kind = %(completed)s
                          WHERE %(evaluations_since)s::timestamptz IS NULL OR ev.submitted_at > %(evaluations_since)s)
            """,
            {"after": state.settled_event_id, "tz": settings.TIME_ZONE, "completed": EventKind.COMPLETED,
             "created": EventKind.CREATED, "evaluations_since": evaluations_since},
        )
        read, highest, days = cursor.fetchone()
    return set(days), read, highest or 0


def _presence_touched(state: RollupState) -> tuple[dict[int, date], int]:
    """Agents with presence changes past the settled id: the day of their earliest one."""
    rows = (PresenceChange.objects.filter(pk__gt=state.settled_presence_id).values_list("agent_id", "at", "pk"))
    earliest: dict[int, date] = {}
    highest = 0
    for agent_id, at, pk in rows:
        day = local_day(at)
        earliest[agent_id] = min(day, earliest.get(agent_id, day))
        highest = max(highest, pk)
    return earliest, highest


def _state_locked() -> RollupState | None:
    RollupState.objects.get_or_create(name=STATE_NAME)
    return RollupState.objects.select_for_update(skip_locked=True).filter(name=STATE_NAME).first()


def rollups_update(*, now: datetime | None = None) -> RollupRun:
    """The incremental run (beat, every minute): recompute the days touched since the
    last run. Skips when another run holds the state."""
    now = now or timezone.now()
    today = local_day(now)
    with transaction.atomic():
        state = _state_locked()
        if state is None:
            return RollupRun(skipped=True)
        days, read, highest = _touched_days(state, now)
        for first, after in _ranges(days):
            _days_recompute(first, after)
        touched_agents, highest_presence = _presence_touched(state)
        since = state.presence_day or today
        by_day: dict[date, list[int]] = {}
        for agent_id, day in touched_agents.items():
            if day < since:
                by_day.setdefault(day, []).append(agent_id)
        for day, agent_ids in by_day.items():
            _presence_recompute(first=day, last=since - timedelta(days=1), now=now, agent_ids=agent_ids)
        _presence_recompute(first=since, last=today, now=now)

        state.event_id = max(state.event_id, highest)
        state.presence_id = max(state.presence_id, highest_presence)
        if state.marked_at is None or now - state.marked_at >= LATE_WINDOW:
            state.settled_event_id, state.settled_presence_id = state.marked_event_id, state.marked_presence_id
            state.marked_event_id, state.marked_presence_id, state.marked_at = state.event_id, state.presence_id, now
        state.presence_day, state.ran_at = today, now
        state.save()
    return RollupRun(days=tuple(sorted(days)), events_read=read, presence_agents=len(touched_agents))


def rollups_rebuild(*, now: datetime | None = None, progress=None) -> RollupRun:
    """Recompute every rollup from the events and the presence history, a month per
    transaction (reports keep reading the old rows of the months not yet redone), then
    drop rows outside the history and move the state past everything read."""
    now = now or timezone.now()
    today = local_day(now)
    highest_event = WorkItemEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    highest_presence = PresenceChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    first_event = WorkItemEvent.objects.order_by("at").values_list("at", flat=True).first()
    last_event = WorkItemEvent.objects.order_by("-at").values_list("at", flat=True).first()
    first_change = PresenceChange.objects.order_by("at").values_list("at", flat=True).first()
    first = local_day(first_event) if first_event else today
    last = max(today, local_day(last_event)) if last_event else today  # a clock ahead leaves events "tomorrow"
    days = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    for number, (start, after) in enumerate(_ranges(days), start=1):
        with transaction.atomic():
            _days_recompute(start, after)
        if progress:
            progress(f"{start} – {after - timedelta(days=1)} ({number} of {len(_ranges(days))})")
    presence_first = local_day(first_change) if first_change else today
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get_or_create(name=STATE_NAME)[0]
        _presence_recompute(first=presence_first, last=today, now=now)
        for model in (QueueDay, AgentDay, QueueHour):
            model.objects.exclude(day__gte=first, day__lte=last).delete()
        PresenceDay.objects.exclude(day__gte=presence_first, day__lte=today).delete()
        state.event_id = state.marked_event_id = max(state.event_id, highest_event)
        state.settled_event_id = highest_event
        state.presence_id = state.marked_presence_id = max(state.presence_id, highest_presence)
        state.settled_presence_id = highest_presence
        state.marked_at = state.ran_at = now
        state.presence_day = today
        state.save()
    return RollupRun(days=tuple(sorted(days)), events_read=highest_event)
