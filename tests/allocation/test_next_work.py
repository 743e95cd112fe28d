"""Get next work: eligibility, order, explanation (DESIGN.md, "Allocation semantics")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from allocation import events, services
from allocation.audit import items_audit
from allocation.events import RULE_FOLLOW_UP, RULE_NEXT_BEST
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable, NotAnAgent
from allocation.models import AllocationMode, EventKind, ItemStatus, Presence, SlaClock, WorkItem
from allocation.services import next_work
from tests import factories
from tests.helpers import queued_item

pytestmark = pytest.mark.django_db


def _item(queue, *, minutes_ago=0, **kwargs):
    received = timezone.now() - timedelta(minutes=minutes_ago)
    return factories.WorkItemFactory(queue=queue, received_at=received, **kwargs)


def test_assigns_the_item_and_records_why(agent, queue):
    item = _item(queue)

    got = services.item_get_next(agent_id=agent.pk)

    assert got.pk == item.pk
    assert got.status == ItemStatus.ASSIGNED
    assert got.assignee_id == agent.pk
    assert got.assigned_at is not None
    event = got.events.get()
    assert event.kind == EventKind.ASSIGNED
    assert (event.from_status, event.to_status) == (ItemStatus.QUEUED, ItemStatus.ASSIGNED)
    assert event.actor_id == agent.pk
    assert event.data["rule"] == RULE_NEXT_BEST
    assert event.data["eligible_queues"] == 1
    assert event.data["queue_id"] == queue.pk
    assert (event.data["from_agent"], event.data["to_agent"]) == (None, agent.pk)
    agent.refresh_from_db()
    assert agent.last_assigned_at == got.assigned_at


def test_the_statement_writes_what_the_vocabularys_constructor_writes(agent, queue):
    """get-next's SQL builds its event's data itself (one statement); it must say exactly
    what events.assigned says for the same move, key for key and value for value."""
    item = queued_item(queue, priority=4)

    got = services.item_get_next(agent_id=agent.pk)

    assert got.pk == item.pk
    written = got.events.get(kind=EventKind.ASSIGNED)
    built = events.assigned(got, at=written.at, actor=agent.user, from_status=ItemStatus.QUEUED,
                            rule=RULE_NEXT_BEST, from_agent=None, to_agent=agent.pk, eligible_queues=1)
    assert set(written.data) == set(built.data)
    said, meant = events.read(written), events.read(built)
    for reading in ("rule", "queue_id", "priority", "holder_before", "holder_after", "due_at", "start_by", "order",
                    "eligible_queues"):
        assert getattr(said, reading) == getattr(meant, reading), reading
    assert (written.kind, written.from_status, written.to_status) == (built.kind, built.from_status, built.to_status)


def test_returns_none_when_nothing_waits(agent, queue):
    assert services.item_get_next(agent_id=agent.pk) is None


def test_order_is_start_by_then_priority_then_received_then_id(agent, queue):
    now = timezone.now()

    def item(start_in_hours, priority=3, received_hours_ago=0, twin_of=None):
        received = twin_of.received_at if twin_of else now - timedelta(hours=received_hours_ago)
        start_by = now + timedelta(hours=start_in_hours)
        return factories.WorkItemFactory(
            queue=queue, start_by=start_by, due_at=start_by + timedelta(hours=1), priority=priority,
            received_at=received,
        )

    later_start = item(4)
    low = item(1, priority=2, received_hours_ago=3)
    high_newer = item(1, priority=4, received_hours_ago=1)
    high_older = item(1, priority=4, received_hours_ago=2)
    high_older_twin = item(1, priority=4, twin_of=high_older)  # same start, priority, receipt: id decides
    earliest = item(0, priority=1)
    agent.capacity = 10
    agent.save()

    order = [services.item_get_next(agent_id=agent.pk).pk for _ in range(6)]

    assert order == [earliest.pk, high_older.pk, high_older_twin.pk, high_newer.pk, low.pk, later_start.pk]


def test_merges_heads_across_eligible_queues(agent, team):
    now = timezone.now()
    queues = [factories.QueueFactory(teams=[team]) for _ in range(3)]
    items = [
        factories.WorkItemFactory(queue=q, due_at=now + timedelta(hours=h), start_by=now + timedelta(hours=h - 1))
        for q, h in zip(queues, (5, 2, 9), strict=True)
    ]
    got = services.item_get_next(agent_id=agent.pk)
    assert got.pk == items[1].pk
    assert got.events.get().data["eligible_queues"] == 3


def test_only_queues_served_by_the_agents_team(agent):
    other_queue = factories.QueueFactory(teams=[factories.TeamFactory()])
    _item(other_queue)
    assert services.item_get_next(agent_id=agent.pk) is None


def test_required_skills_at_minimum_proficiency(agent, queue):
    skill = factories.SkillFactory()
    factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=4)
    _item(queue)
    assert services.item_get_next(agent_id=agent.pk) is None  # lacks the skill

    held = factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=3)
    assert services.item_get_next(agent_id=agent.pk) is None  # below the minimum

    held.proficiency = 4
    held.save()
    assert services.item_get_next(agent_id=agent.pk) is not None


def test_every_required_skill_is_needed(agent, queue):
    skills = [factories.SkillFactory() for _ in range(2)]
    for skill in skills:
        factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=2)
    factories.AgentSkillFactory(agent=agent, skill=skills[0], proficiency=5)
    _item(queue)
    assert services.item_get_next(agent_id=agent.pk) is None


def test_inactive_and_push_queues_are_not_pulled(agent, team):
    inactive = factories.QueueFactory(teams=[team], is_active=False)
    push = factories.QueueFactory(teams=[team], allocation_mode=AllocationMode.PUSH)
    _item(inactive)
    _item(push)
    assert services.item_get_next(agent_id=agent.pk) is None


@pytest.mark.parametrize("presence", [Presence.AWAY, Presence.OFFLINE])
def test_agent_must_be_available(agent, queue, presence):
    agent.presence = presence
    agent.save()
    item = _item(queue)
    with pytest.raises(AgentNotAvailable):
        services.item_get_next(agent_id=agent.pk)
    item.refresh_from_db()
    assert item.status == ItemStatus.QUEUED


def test_capacity_counts_assigned_and_in_progress_items(agent, queue):
    agent.capacity = 2
    agent.save()
    for _ in range(4):
        _item(queue)
    first = services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=first.pk, actor=agent.user)
    services.item_get_next(agent_id=agent.pk)
    with pytest.raises(AgentAtCapacity, match="2 of 2"):
        services.item_get_next(agent_id=agent.pk)

    services.item_pend(item_id=first.pk, actor=agent.user, until=timezone.now() + timedelta(hours=1), reason="Wait")
    assert services.item_get_next(agent_id=agent.pk) is not None  # pended items do not count


def test_user_without_profile_is_not_an_agent(db):
    user = factories.UserFactory()
    with pytest.raises(NotAnAgent):
        services.item_get_next(agent_id=user.pk)


def test_own_pended_item_comes_back_first_when_follow_up_is_due(agent, queue, settings):
    settings.WFO_RELEASE_COOLDOWN = timedelta(0)  # the released item may come straight back here
    _item(queue)
    urgent = _item(queue, minutes_ago=60 * 24 * 5)  # already far past its start-by
    got = services.item_get_next(agent_id=agent.pk)
    assert got.pk == urgent.pk
    services.item_release(item_id=urgent.pk, actor=agent.user, reason="Later")

    got = services.item_get_next(agent_id=agent.pk)
    services.item_start(item_id=got.pk, actor=agent.user)
    services.item_pend(
        item_id=got.pk, actor=agent.user, until=timezone.now() + timedelta(minutes=5), reason="Await docs"
    )
    first_pended = got.pk

    # Before the follow-up time the queue serves as usual.
    assert services.item_get_next(agent_id=agent.pk).pk != first_pended

    WorkItem.objects.filter(pk=first_pended).update(pended_until=timezone.now() - timedelta(seconds=1))
    back = services.item_get_next(agent_id=agent.pk)
    assert back.pk == first_pended
    assert back.status == ItemStatus.ASSIGNED
    assert back.pended_until is None
    event = back.events.order_by("-id").first()
    assert event.data["rule"] == RULE_FOLLOW_UP
    assert event.from_status == ItemStatus.PENDED
    assert event.data["from_agent"] == event.data["to_agent"] == agent.pk  # back to its holder


def test_another_agents_due_pended_item_is_not_served(team, queue):
    first, second = factories.AgentFactory(team=team), factories.AgentFactory(team=team)
    item = _item(queue)
    services.item_get_next(agent_id=first.pk)
    services.item_start(item_id=item.pk, actor=first.user)
    services.item_pend(item_id=item.pk, actor=first.user, until=timezone.now() + timedelta(minutes=1), reason="Wait")
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(seconds=1))
    assert services.item_get_next(agent_id=second.pk) is None


def test_items_the_agent_is_cooling_off_from_do_not_hide_the_next_best_behind_them(agent, team):
    """The agent released the two best items of one queue: the third of that queue still
    comes before another queue's head it outranks — however few heads get-next reads of a
    queue, the ones it may not take are not among them."""
    first, second = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team])
    released = [_item(first, minutes_ago=30 - n) for n in range(2)]
    third_of_first = _item(first, minutes_ago=20)
    _item(second, minutes_ago=10)
    for item in released:
        services.item_get_next(agent_id=agent.pk)
        services.item_release(item_id=item.pk, actor=agent.user, reason="Needs a specialist")

    assert services.item_get_next(agent_id=agent.pk).pk == third_of_first.pk


def test_hot_statements_fit_psycopgs_statement_cache():
    """psycopg re-scans a statement's text on every call above this length."""
    from allocation.services.lifecycle import _COMPLETE_HELD_ITEM, _START_HELD_ITEM
    from allocation.services.next_work import _ASSIGN_NEXT_BY_LIMITS
    from allocation.services.rows import PSYCOPG_CACHED_STATEMENT_LENGTH

    for sql in (*_ASSIGN_NEXT_BY_LIMITS.values(), _START_HELD_ITEM, _COMPLETE_HELD_ITEM):
        assert len(sql.encode()) <= PSYCOPG_CACHED_STATEMENT_LENGTH


def test_get_next_binds_no_limit():
    """A bound LIMIT makes PostgreSQL's generic plan guess 10% of the rows, so with
    server-side binding it re-planned get-next on every call (about 1 ms of server CPU at a
    200,000-item backlog). The limits are written into the statement instead."""
    import re

    from allocation.services.next_work import _ASSIGN_NEXT_BY_LIMITS

    assert len(_ASSIGN_NEXT_BY_LIMITS) == 4
    for sql in _ASSIGN_NEXT_BY_LIMITS.values():
        assert not re.search(r"LIMIT\s+%\(", sql), sql


def test_get_next_is_dated_once_it_holds_the_item_not_by_a_clock_read_before(agent, queue, monkeypatch):
    """The service reads the time before sending its one statement (to pick due follow-ups);
    an event written on the item in between must stay dated before the assignment, so the
    statement dates the assignment itself, once the item is locked."""
    item = queued_item(queue)
    created = item.events.get().at
    monkeypatch.setattr(next_work.timezone, "now", lambda: created - timedelta(minutes=5))  # read "before"
    got = services.item_get_next(agent_id=agent.pk)
    monkeypatch.undo()
    assert got.pk == item.pk
    assigned = got.events.get(kind=EventKind.ASSIGNED)
    assert assigned.at == got.assigned_at == got.updated_at > created
    assert list(items_audit()) == []


@pytest.mark.parametrize("model, listed", [(WorkItem, "ITEM_COLUMNS"), (SlaClock, "CLOCK_COLUMNS")])
def test_the_listed_columns_are_the_tables_in_its_order(model, listed):
    """get-next returns `w.*` and `c.*`; rows.ITEM_COLUMNS and rows.CLOCK_COLUMNS must name
    the tables' columns in the order PostgreSQL keeps them (a migration adding one appends
    it, and so must the list)."""
    from django.db import connection

    from allocation.services import rows

    columns = getattr(rows, listed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                       "ORDER BY ordinal_position", [model._meta.db_table])
        assert [name for (name,) in cursor.fetchall()] == columns
    assert sorted(columns) == sorted(field.column for field in model._meta.concrete_fields)
