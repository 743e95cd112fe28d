"""Report rollups: the only writer of reporting's tables.

What each item adds to the reports is kept as its own rows (ItemContribution: its arrival,
transfers and cancellation, and its completion with handle time, SLA, QA and rework), each
recomputed whole from the item's events, its evaluations and its fixed facts. The rollup
rows are those rows summed by day, queue, agent and hour. A run recomputes the rows of
the items something touched since the last run, and moves the rollups by the difference
(a row removed counts minus, a row added plus; an unchanged item moves nothing). So a run
costs what happened since the last one, however large the day, and the incremental run
and the rebuild give the same rows: they share the statement that computes an item's rows
and the one that sums them.

What touches an item:
- an event of it (any `at`, however old: a late event moves its own day);
- a submitted evaluation of it (QA average of its standing evaluations: quality's one
  definition, `Evaluation.objects.standing()`, whose SQL the statement embeds);
- a rework item made from it (first-pass yield).

Events are read by transaction, not by id (ids are not commit order): a run reads the
events of the transactions the last run's snapshot did not see as ended, and keeps its own
snapshot for the next. A transaction that commits after a run has read later ones is read
by the next run; a long transaction anywhere on the server does not make runs read again
what they have read (and an event read twice would touch an item whose rows are already
right, which moves nothing).
Evaluations are read from a little before the last run (LATE_WINDOW), for the same reason.
Presence sums are recomputed per agent-day, from an agent's new change to today, and for
everyone from the last run's day to today (an agent still available keeps adding time).

Two runs at once: the second finds the state row locked and skips (beat may overlap
itself, or run beside a rebuild, which takes the lock in each of its transactions).
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
from reporting.models import AgentDay, ItemContribution, PresenceDay, QueueDay, QueueHour, RollupState

log = logging.getLogger(__name__)

LATE_WINDOW = timedelta(minutes=5)
STATE_NAME = "reports"
MAX_DAYS_PER_STATEMENT = 31  # a rebuild sums a month per transaction

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


# Items: what each adds, and the rollups as its sum -----------------------------------------------

CONTRIBUTIONS = ItemContribution._meta.db_table
_COLUMNS = ("item_id, day, hour, queue_id, agent_id, arrivals, rework_arrivals, transfers_in, transfers_out, "
            "cancelled, completed, met, handle_seconds, standard_seconds, originals, reworked, rework_completed, "
            "qa_count, qa_sum")

# The rows of the items in `rollup_items`, as their events, evaluations and facts say now.
# Arrivals, transfers and cancellations count in the queue the item was in when they
# happened: a created event names the queue it arrived in, a transfer both queues by id
# (allocation/events.py); a cancellation the item's queue (it stays there).
_ITEM_ROWS = f"""
WITH ev AS (
    SELECT e.id, e.item_id, e.at, e.kind, e.data, e.actor_id, i.queue_id AS item_queue, i.source,
           i.due_at, i.start_by
      FROM {EVENTS} e JOIN {ITEMS} i ON i.id = e.item_id
     WHERE e.item_id IN (SELECT item_id FROM rollup_items)
       AND e.kind IN ('{EventKind.CREATED}', '{EventKind.TRANSFERRED}', '{EventKind.CANCELLED}',
                      '{EventKind.COMPLETED}')
), flows AS (
    SELECT item_id, at, item_queue AS queue_id, 0 AS arrivals, 0 AS rework_arrivals, 0 AS transfers_in,
           0 AS transfers_out, 1 AS cancelled
      FROM ev WHERE kind = '{EventKind.CANCELLED}'
    UNION ALL
    SELECT item_id, at, (data->>'{events.QUEUE_ID}')::bigint, 1, (source = %(rework_source)s)::int, 0, 0, 0
      FROM ev WHERE kind = '{EventKind.CREATED}'
    UNION ALL
    SELECT item_id, at, side.queue_id, 0, 0, side.incoming, 1 - side.incoming, 0
      FROM (SELECT item_id, at, (data->>'{events.FROM_QUEUE_ID}')::bigint AS from_id,
                   (data->>'{events.TO_QUEUE_ID}')::bigint AS to_id
              FROM ev WHERE kind = '{EventKind.TRANSFERRED}') t
      CROSS JOIN LATERAL (VALUES (t.from_id, 0), (t.to_id, 1)) AS side(queue_id, incoming)
     WHERE t.to_id IS NOT NULL AND t.to_id IS DISTINCT FROM t.from_id
), done AS (
    SELECT item_id, at, item_queue AS queue_id, actor_id AS agent_id, (at <= due_at)::int AS met,
           round(extract(epoch FROM due_at - start_by))::bigint AS standard_s,
           (source = %(rework_source)s) AS is_rework
      FROM ev WHERE kind = '{EventKind.COMPLETED}'
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
SELECT item_id, (at AT TIME ZONE %(tz)s)::date AS day, extract(hour FROM at AT TIME ZONE %(tz)s)::int AS hour,
       queue_id, NULL::bigint AS agent_id, arrivals, rework_arrivals, transfers_in, transfers_out, cancelled,
       0 AS completed, 0 AS met, NULL::bigint AS handle_seconds, 0::bigint AS standard_seconds, 0 AS originals,
       0 AS reworked, 0 AS rework_completed, 0::bigint AS qa_count, 0::numeric AS qa_sum
  FROM flows
UNION ALL
SELECT done.item_id, (at AT TIME ZONE %(tz)s)::date, extract(hour FROM at AT TIME ZONE %(tz)s)::int,
       queue_id, agent_id, 0, 0, 0, 0, 0, 1, met, handle.handle_s, standard_s, (NOT is_rework)::int,
       (NOT is_rework AND EXISTS (SELECT 1 FROM {EVALUATIONS} r
                                   WHERE r.item_id = done.item_id AND r.rework_item_id IS NOT NULL))::int,
       is_rework::int, coalesce(qa.n, 0), coalesce(qa.total, 0)
  FROM done LEFT JOIN handle USING (item_id) LEFT JOIN qa USING (item_id)
"""

# What rows of `rollup_delta` (sign: +1 a row added, -1 a row removed) add up to, grouped by
# {keys}: every figure a sum of signed rows; the longest handle time among the rows added
# (where a removed row may have held the longest, _Rollup.apply recomputes it from the
# item rows); the histogram per group from the bins of the rows added and removed.
_GROUPED = """
SELECT {keys}, g.arrivals, g.rework_arrivals, g.transfers_in, g.transfers_out, g.cancelled, g.completed, g.met,
       g.handled, g.handle_seconds, g.handle_max_seconds, hist.h AS handle_histogram, g.standard_seconds,
       g.originals, g.reworked, g.rework_completed, g.qa_count, g.qa_sum
  FROM (SELECT {keys}, sum(sign * arrivals) AS arrivals, sum(sign * rework_arrivals) AS rework_arrivals,
               sum(sign * transfers_in) AS transfers_in, sum(sign * transfers_out) AS transfers_out,
               sum(sign * cancelled) AS cancelled, sum(sign * completed) AS completed, sum(sign * met) AS met,
               coalesce(sum(sign) FILTER (WHERE handle_seconds IS NOT NULL), 0) AS handled,
               coalesce(sum(sign * handle_seconds), 0) AS handle_seconds,
               coalesce(max(handle_seconds) FILTER (WHERE sign > 0), 0) AS handle_max_seconds,
               sum(sign * standard_seconds) AS standard_seconds, sum(sign * originals) AS originals,
               sum(sign * reworked) AS reworked, sum(sign * rework_completed) AS rework_completed,
               sum(sign * qa_count) AS qa_count, sum(sign * qa_sum) AS qa_sum,
               array_agg(width_bucket(handle_seconds, %(edges)s::bigint[]))
                   FILTER (WHERE handle_seconds IS NOT NULL AND sign > 0) AS added,
               array_agg(width_bucket(handle_seconds, %(edges)s::bigint[]))
                   FILTER (WHERE handle_seconds IS NOT NULL AND sign < 0) AS removed
          FROM rollup_delta WHERE {where} GROUP BY {keys}) g
 CROSS JOIN LATERAL (
       SELECT array_agg(coalesce(a.n, 0) - coalesce(r.n, 0) ORDER BY b.bin) AS h
         FROM generate_series(0, %(bin_count)s - 1) AS b(bin)
         LEFT JOIN (SELECT x, count(*) AS n FROM unnest(g.added) AS x GROUP BY x) a ON a.x = b.bin
         LEFT JOIN (SELECT x, count(*) AS n FROM unnest(g.removed) AS x GROUP BY x) r ON r.x = b.bin) hist
"""

_COMPLETION_FIGURES = ("completed", "met", "handled", "handle_seconds", "standard_seconds", "originals",
                       "reworked", "rework_completed", "qa_count", "qa_sum")
_FLOW_FIGURES = ("arrivals", "rework_arrivals", "transfers_in", "transfers_out", "cancelled")


@dataclass(frozen=True)
class _Rollup:
    """One rollup table as a sum of the contribution rows: its keys, its figures, the rows
    that count in it."""

    table: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    where: str
    histogram: bool = True

    def apply(self, cursor) -> None:
        """Move the table's rows by `rollup_delta`: add to the rows there are, make the
        rest, recompute the longest handle time where a row that may have held it left,
        drop the rows left with nothing counted."""
        keys = ", ".join(self.keys)
        match = " AND ".join(f"t.{key} = d.{key}" for key in self.keys)
        delta = _GROUPED.format(keys=keys, where=self.where)
        moved = [f"{name} = t.{name} + d.{name}" for name in self.sums]
        if self.histogram:
            moved += ["handle_max_seconds = greatest(t.handle_max_seconds, d.handle_max_seconds)",
                      "handle_histogram = (SELECT array_agg(x + y ORDER BY n) FROM unnest("
                      "t.handle_histogram, d.handle_histogram) WITH ORDINALITY AS u(x, y, n))"]
        made = list(self.sums) + (["handle_max_seconds", "handle_histogram"] if self.histogram else [])
        cursor.execute(
            f"""
            WITH d AS ({delta}), moved AS (
                UPDATE {self.table} t SET {", ".join(moved)} FROM d WHERE {match} RETURNING {", ".join(
                    f"t.{key}" for key in self.keys)}
            )
            INSERT INTO {self.table} ({keys}, {", ".join(made)})
            SELECT {keys}, {", ".join(made)} FROM d
             WHERE NOT EXISTS (SELECT 1 FROM moved t WHERE {match})
            """,
            _SUM_PARAMS,
        )
        touched = f"(SELECT DISTINCT {keys} FROM rollup_delta WHERE {self.where})"
        if self.histogram:
            cursor.execute(
                f"""
                UPDATE {self.table} t SET handle_max_seconds = coalesce((
                       SELECT max(c.handle_seconds) FROM {CONTRIBUTIONS} c
                        WHERE {" AND ".join(f"c.{key} = t.{key}" for key in self.keys)} AND {self.where}), 0)
                  FROM (SELECT DISTINCT {keys} FROM rollup_delta
                         WHERE {self.where} AND sign < 0 AND handle_seconds IS NOT NULL) d
                 WHERE {match}
                """
            )
        nothing = " AND ".join(f"t.{name} = 0" for name in self.sums if name != "rework_arrivals")
        cursor.execute(f"DELETE FROM {self.table} t USING {touched} d WHERE {match} AND {nothing}")


_SUM_PARAMS = {"edges": BIN_EDGES, "bin_count": BIN_COUNT}
_ROLLUPS = (
    _Rollup(QueueDay._meta.db_table, ("day", "queue_id"), _FLOW_FIGURES + _COMPLETION_FIGURES, "true"),
    _Rollup(AgentDay._meta.db_table, ("day", "queue_id", "agent_id"), _COMPLETION_FIGURES,
            "completed <> 0 AND agent_id IS NOT NULL"),
    _Rollup(QueueHour._meta.db_table, ("day", "hour", "queue_id"), ("arrivals", "completed"),
            "(arrivals <> 0 OR completed <> 0)", histogram=False),
)


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


def _item_rows(cursor, into: str) -> None:
    """The rows of the items in `rollup_items`, as they are now, written `into` ("CREATE TEMP
    TABLE ... AS" or "INSERT INTO ...")."""
    standing_sql, standing_params = _standing_scores()
    cursor.execute("ANALYZE rollup_items")
    cursor.execute(into + _ITEM_ROWS.replace("{standing_scores}", standing_sql),
                   {"tz": settings.TIME_ZONE, "rework_source": _rework_source(), **standing_params})


def _items_recompute(cursor) -> set[date]:
    """Recompute the rows of the items in `rollup_items`, replace those that changed and move
    the rollups by the difference. Returns the days that moved."""
    _item_rows(cursor, "CREATE TEMP TABLE rollup_new ON COMMIT DROP AS ")
    cursor.execute(
        f"""
        CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
        WITH old AS (SELECT {_COLUMNS} FROM {CONTRIBUTIONS} WHERE item_id IN (SELECT item_id FROM rollup_items))
        SELECT 1 AS sign, * FROM (SELECT {_COLUMNS} FROM rollup_new EXCEPT ALL SELECT {_COLUMNS} FROM old) added
        UNION ALL
        SELECT -1, * FROM (SELECT {_COLUMNS} FROM old EXCEPT ALL SELECT {_COLUMNS} FROM rollup_new) removed
        """
    )
    cursor.execute("ANALYZE rollup_delta")  # a few rows against millions: found by the item's index
    cursor.execute(f"DELETE FROM {CONTRIBUTIONS} WHERE item_id IN (SELECT item_id FROM rollup_delta)")
    cursor.execute(f"INSERT INTO {CONTRIBUTIONS} ({_COLUMNS}) SELECT {_COLUMNS} FROM rollup_new "
                   "WHERE item_id IN (SELECT item_id FROM rollup_delta)")
    for rollup in _ROLLUPS:
        rollup.apply(cursor)
    cursor.execute("SELECT DISTINCT day FROM rollup_delta")
    days = {row[0] for row in cursor.fetchall()}
    cursor.execute("DROP TABLE rollup_items, rollup_new, rollup_delta")
    return days


def _days_sum(cursor, first: date, after: date) -> None:
    """The rollup rows of the days [first, after) summed again from the contribution rows."""
    for rollup in _ROLLUPS:
        cursor.execute(f"DELETE FROM {rollup.table} WHERE day >= %s AND day < %s", [first, after])
    cursor.execute(f"CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS SELECT 1 AS sign, {_COLUMNS} "
                   f"FROM {CONTRIBUTIONS} WHERE day >= %s AND day < %s", [first, after])
    for rollup in _ROLLUPS:
        rollup.apply(cursor)
    cursor.execute("DROP TABLE rollup_delta")


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

# Batches of items whose rows a rebuild recomputes in one transaction.
REBUILD_ITEMS_PER_TRANSACTION = 100_000


@dataclass(frozen=True)
class RollupRun:
    skipped: bool = False
    days: tuple[date, ...] = ()
    events_read: int = 0
    presence_agents: int = 0
    items_touched: int = 0


def _snapshot(cursor) -> tuple[int, str]:
    """Which transactions have ended, as PostgreSQL sees them now: the oldest still running,
    and the snapshot as text. This transaction counts as running: PostgreSQL leaves it out
    of its own snapshot, and a run inside a transaction that wrote events (a test's, a
    management command's) must read them again next time, not take them as ended."""
    cursor.execute("SELECT s::text, pg_current_xact_id_if_assigned()::text FROM pg_current_snapshot() s")
    text, own = cursor.fetchone()
    low, high, running = text.split(":")
    ids = {int(x) for x in running.split(",") if x}
    low, high = int(low), int(high)
    if own is not None:
        ids.add(int(own))
        low, high = min(low, int(own)), max(high, int(own) + 1)
    return low, f"{low}:{high}:{','.join(str(x) for x in sorted(ids))}"


def _touched_items(cursor, state: RollupState) -> tuple[int, int, int]:
    """Fill `rollup_items` with what the events, evaluations and rework since the last run
    touched; returns the events read, the highest event id read and the items touched."""
    evaluations_since = (state.ran_at - LATE_WINDOW) if state.ran_at else None
    cursor.execute(f"CREATE TEMP TABLE rollup_read ON COMMIT DROP AS SELECT id, kind, item_id FROM {EVENTS} "
                   "WHERE txid >= %(position)s "
                   "AND NOT pg_visible_in_snapshot(txid::text::xid8, %(snapshot)s::pg_snapshot)",
                   {"position": state.position, "snapshot": state.snapshot})
    cursor.execute(
        f"""
        CREATE TEMP TABLE rollup_items ON COMMIT DROP AS
        SELECT item_id FROM rollup_read
        UNION  -- originals sent back: their first-pass yield changed
        SELECT ev.item_id FROM rollup_read new JOIN {EVALUATIONS} ev ON ev.rework_item_id = new.item_id
         WHERE new.kind = %(created)s
        UNION  -- items evaluated since the last run: their QA average changed
        SELECT ev.item_id FROM {EVALUATIONS} ev
         WHERE %(evaluations_since)s::timestamptz IS NULL OR ev.submitted_at > %(evaluations_since)s
        """,
        {"created": EventKind.CREATED, "evaluations_since": evaluations_since},
    )
    cursor.execute("SELECT count(*), coalesce(max(id), 0), (SELECT count(*) FROM rollup_items) FROM rollup_read")
    read = cursor.fetchone()
    cursor.execute("DROP TABLE rollup_read")
    return read


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


def _state_locked(*, wait: bool = False) -> RollupState | None:
    RollupState.objects.get_or_create(name=STATE_NAME)
    return RollupState.objects.select_for_update(skip_locked=not wait).filter(name=STATE_NAME).first()


def rollups_update(*, now: datetime | None = None) -> RollupRun:
    """The incremental run (beat, every minute): recompute the rows of the items touched
    since the last run and move the rollups by the difference. Skips when another run holds
    the state; rebuilds when no run has read anything yet (a new database, an upgrade)."""
    now = now or timezone.now()
    today = local_day(now)
    with transaction.atomic():
        state = _state_locked()
        if state is None:
            return RollupRun(skipped=True)
        if state.position is None:
            transaction.set_rollback(True)
        else:
            with connection.cursor() as cursor:
                oldest_running, snapshot = _snapshot(cursor)
                read, highest, touched = _touched_items(cursor, state)
                if touched:
                    days = _items_recompute(cursor)
                else:
                    cursor.execute("DROP TABLE rollup_items")
                    days = set()
            touched_agents, highest_presence = _presence_touched(state)
            since = state.presence_day or today
            by_day: dict[date, list[int]] = {}
            for agent_id, day in touched_agents.items():
                if day < since:
                    by_day.setdefault(day, []).append(agent_id)
            for day, agent_ids in by_day.items():
                _presence_recompute(first=day, last=since - timedelta(days=1), now=now, agent_ids=agent_ids)
            _presence_recompute(first=since, last=today, now=now)

            state.position, state.snapshot = oldest_running, snapshot
            state.event_id = max(state.event_id, highest)
            state.presence_id = max(state.presence_id, highest_presence)
            if state.marked_at is None or now - state.marked_at >= LATE_WINDOW:
                state.settled_presence_id = state.marked_presence_id
                state.marked_presence_id, state.marked_at = state.presence_id, now
            state.presence_day, state.ran_at = today, now
            state.save()
            return RollupRun(days=tuple(sorted(days)), events_read=read, presence_agents=len(touched_agents),
                             items_touched=touched)
    log.info("Report rollups: nothing read yet, rebuilding from the events")
    return rollups_rebuild(now=now)


def rollups_rebuild(*, now: datetime | None = None, progress=None) -> RollupRun:
    """Recompute every item's rows (a batch of items per transaction), then every rollup
    row from them (a month per transaction: reports keep reading the old rows of the months
    not yet redone), drop rows outside the history, and set the state to read from the
    transactions running when it began. Each transaction holds the state, so an incremental
    run waits or skips; one that runs in between moves rows the rebuild sums again after."""
    now = now or timezone.now()
    today = local_day(now)
    with transaction.atomic(), connection.cursor() as cursor:
        _state_locked(wait=True)
        oldest_running, snapshot = _snapshot(cursor)
    highest_event = WorkItemEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    highest_presence = PresenceChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    highest_item = WorkItem.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for first in range(0, highest_item + 1, REBUILD_ITEMS_PER_TRANSACTION):
        with transaction.atomic(), connection.cursor() as cursor:
            _state_locked(wait=True)
            after = first + REBUILD_ITEMS_PER_TRANSACTION
            cursor.execute(f"CREATE TEMP TABLE rollup_items ON COMMIT DROP AS SELECT id AS item_id FROM {ITEMS} "
                           "WHERE id >= %s AND id < %s", [first, after])
            cursor.execute(f"DELETE FROM {CONTRIBUTIONS} WHERE item_id >= %s AND item_id < %s", [first, after])
            _item_rows(cursor, f"INSERT INTO {CONTRIBUTIONS} ({_COLUMNS}) ")  # summed below
            cursor.execute("DROP TABLE rollup_items")
        if progress:
            progress(f"items {first:,} – {min(after, highest_item + 1) - 1:,}")
    with transaction.atomic(), connection.cursor() as cursor:
        _state_locked(wait=True)
        cursor.execute(f"DELETE FROM {CONTRIBUTIONS} WHERE item_id > %s", [highest_item])
        cursor.execute(f"SELECT min(day), max(day) FROM {CONTRIBUTIONS}")
        first_day, last_day = cursor.fetchone()
    first_day, last_day = first_day or today, max(today, last_day or today)  # a clock ahead: "tomorrow"
    days = {first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)}
    ranges = _ranges(days)
    for number, (start, after) in enumerate(ranges, start=1):
        with transaction.atomic(), connection.cursor() as cursor:
            _state_locked(wait=True)
            _days_sum(cursor, start, after)
        if progress:
            progress(f"{start} – {after - timedelta(days=1)} ({number} of {len(ranges)})")
    with connection.cursor() as cursor:  # the rows just written: plan the next runs' reads by their index
        cursor.execute(f"ANALYZE {CONTRIBUTIONS}")
    first_change = PresenceChange.objects.order_by("at").values_list("at", flat=True).first()
    presence_first = local_day(first_change) if first_change else today
    with transaction.atomic():
        state = _state_locked(wait=True)
        _presence_recompute(first=presence_first, last=today, now=now)
        for model in (QueueDay, AgentDay, QueueHour):
            model.objects.exclude(day__gte=first_day, day__lte=last_day).delete()
        PresenceDay.objects.exclude(day__gte=presence_first, day__lte=today).delete()
        # Read next what this rebuild's first snapshot did not see (a run in between may have
        # read on: it moved rows the sums above include, and reading it again moves nothing).
        state.position, state.snapshot = oldest_running, snapshot
        state.event_id = max(state.event_id, highest_event)
        state.presence_id = state.marked_presence_id = max(state.presence_id, highest_presence)
        state.settled_presence_id = highest_presence
        state.marked_at = state.ran_at = now
        state.presence_day = today
        state.save()
    return RollupRun(days=tuple(sorted(days)), events_read=highest_event)
