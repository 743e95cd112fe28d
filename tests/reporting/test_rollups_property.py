"""The incremental rollup equals a rebuild from the events, on randomized histories:
items received, worked (with pauses), transferred, completed or cancelled, written in
random order (late events), evaluations and rework arriving later, presence changes; with
incremental runs at random points in between."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from allocation.models import WorkItemEvent
from quality.services import REWORK_SOURCE
from reporting import rollups
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

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)  # a Saturday: four days around a weekend
SPAN_MINUTES = 4 * 24 * 60

lives = st.lists(
    st.fixed_dictionaries({
        "queue": st.integers(0, 2),
        "agent": st.integers(0, 2),
        "received": st.integers(0, 24 * 60 - 1),  # minute of its batch's day
        "wait": st.integers(1, 300),
        "spans": st.lists(st.tuples(st.integers(1, 90), st.integers(1, 600)), min_size=1, max_size=3),
        "fate": st.sampled_from(["completed", "completed", "cancelled", "open", "transferred"]),
        "due_after": st.integers(30, 1200),
        "evaluated": st.sampled_from([None, None, "95", "60"]),
        "evaluated_batch": st.integers(0, 3),  # not before the item's own batch
        "rework_batch": st.integers(0, 3),  # a failed one is sent back then (not before it was evaluated)
        "batch": st.integers(0, 3),
        "late": st.booleans(),  # events written only in the last batch
    }),
    min_size=1, max_size=14,
)
presence = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, SPAN_MINUTES), st.sampled_from([AVAILABLE, AWAY, OFFLINE]),
              st.integers(0, 3)),
    max_size=10,
)


def minutes(n: int) -> datetime:
    return START + timedelta(minutes=n)


@pytest.fixture
def world(team):
    queues = [factories.QueueFactory(teams=[team], standard_handle_time=timedelta(minutes=m)) for m in (10, 20, 45)]
    agents = [factories.AgentFactory(team=team) for _ in range(3)]
    _, version, _ = factories.form_with_questions()
    return queues, agents, version


@override_settings(TIME_ZONE="Europe/London")
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lives=lives, presence=presence, settle=st.sets(st.integers(0, 3)))
def test_incremental_equals_rebuild(world, lives, presence, settle):
    queues, agents, version = world
    with transaction.atomic():
        # Batches happen in time: batch b "now" is the end of day b.
        now_of = {b: minutes((b + 1) * 24 * 60 - 1) for b in range(4)}
        late_events, evaluations, reworks = [], {}, {}
        for batch in range(4):
            now = now_of[batch]
            for life in lives:
                if life["batch"] != batch:
                    continue
                received = minutes(batch * 24 * 60 + life["received"])
                spans, at = [], received + timedelta(minutes=life["wait"])
                for gap, length in life["spans"]:
                    start = at + timedelta(minutes=gap)
                    spans.append((start, start + timedelta(minutes=length)))
                    at = spans[-1][1]
                end = min(spans[-1][1], now)
                if end <= spans[-1][0]:
                    spans, end = [], received + timedelta(minutes=1)
                queue, agent = queues[life["queue"]], agents[life["agent"]]
                fate = life["fate"] if spans or life["fate"] in ("cancelled", "open", "transferred") else "open"
                shape = Life(queue, received, received + timedelta(minutes=life["due_after"]), agent=agent)
                if fate == "completed":
                    shape.spans, shape.completed = spans, end
                elif fate == "cancelled":
                    shape.cancelled = end
                elif fate == "transferred":
                    shape.transfer_to, shape.transferred = queues[(life["queue"] + 1) % 3], end
                item, events = item_write(shape, events=not life["late"])
                if life["late"]:
                    late_events.extend(events)
                if fate == "completed" and life["evaluated"]:
                    evaluated = max(batch, life["evaluated_batch"])
                    evaluations.setdefault(evaluated, []).append(
                        (item, life["evaluated"], max(evaluated, life["rework_batch"])))
            for item, score, rework_batch in evaluations.get(batch, []):
                evaluation = evaluation_write(item, version=version, score=score, at=now - 3 * rollups.LATE_WINDOW)
                if score == "60":
                    reworks.setdefault(rework_batch, []).append(evaluation)
            for evaluation in reworks.get(batch, []):
                rework, _ = item_write(Life(evaluation.item.queue, now - timedelta(minutes=5),
                                            now + timedelta(hours=4), source=REWORK_SOURCE))
                evaluation.rework_item = rework
                evaluation.save()
            for agent_index, minute, state, change_batch in presence:
                if change_batch == batch:
                    presence_write(agents[agent_index], (min(minutes(minute), now), state))
            if batch == 3 and late_events:
                WorkItemEvent.objects.bulk_create(late_events)
            # The day's run; then perhaps runs that let the late window pass over all of it.
            rollups.rollups_update(now=now - 2 * rollups.LATE_WINDOW)
            if batch in settle:
                rollups.rollups_update(now=now - rollups.LATE_WINDOW)
                rollups.rollups_update(now=now)
        final = now_of[3] + timedelta(minutes=2)
        rollups.rollups_update(now=final)
        incremental = snapshot()
        rollups.rollups_rebuild(now=final)
        assert snapshot() == incremental
        transaction.set_rollback(True)
