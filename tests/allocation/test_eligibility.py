"""Who may receive work (allocation/eligibility.py): its forms — querysets, reasons in
words, get-next's SQL — give the same answers."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Exists
from django.utils import timezone

from allocation import eligibility, events, routing, services
from allocation.exceptions import AgentAtCapacity, AgentNotAvailable
from allocation.models import (
    ACTIVE_STATUSES,
    FIRST_STEP,
    LAST_STEP,
    AgentProfile,
    AgentSkill,
    AllocationMode,
    CoolOff,
    CoolOffKind,
    EventKind,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStep,
    Skill,
    StepAction,
    StepSkill,
    Team,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import moves, rebalancing
from allocation.services.next_work import (
    _ASSIGN_NEXT_BY_LIMITS,
    _ELIGIBILITY_JUDGE,
    ELIGIBLE_CTES,
    JUDGED_CTES,
    MEMBER_CTE,
    READY_CTES,
    agent_eligibility_judge,
)
from allocation.services.rows import compact_sql
from core.exceptions import DomainError
from tests import factories
from tests.helpers import assigned_item

pytestmark = pytest.mark.django_db


def test_eligible_agents_for_a_queue_agree_with_the_reasons_per_agent(team):
    visa, spanish = factories.SkillFactory(), factories.SkillFactory()
    queue = factories.QueueFactory(teams=[team])
    factories.QueueSkillFactory(queue=queue, skill=visa, min_proficiency=3)
    factories.QueueSkillFactory(queue=queue, skill=spanish, min_proficiency=2)

    def agent(*, skills=((visa, 3), (spanish, 2)), **fields):
        made = factories.AgentFactory(**{"team": team, **fields})
        for skill, level in skills:
            factories.AgentSkillFactory(agent=made, skill=skill, proficiency=level)
        return made

    fits = agent()
    agent(skills=((visa, 2), (spanish, 5)))  # below the minimum
    agent(skills=((visa, 5),))  # missing a skill
    agent(team=factories.TeamFactory())  # team does not serve the queue
    agent(team=None)
    agent(presence=Presence.AWAY)
    full = agent(capacity=1)
    easy = factories.QueueFactory(teams=[team])
    assigned_item(full, easy)
    was_full = agent(capacity=1)
    services.item_release(item_id=assigned_item(was_full, easy).pk, actor=was_full.user, reason="r")

    listed = set(eligibility.agents_eligible_for_queue(queue).values_list("pk", flat=True))
    assert listed == {fits.pk, was_full.pk}
    everyone = list(factories.AgentFactory._meta.model.objects.all())
    for profile in everyone:
        assert (profile.pk in listed) == (
            not eligibility.agent_ineligibility_reasons(agent=profile, reach=eligibility.Reach(queue))
        )
    unfit = eligibility.agents_unfit_for(everyone, [eligibility.Reach(queue), eligibility.Reach(easy)])  # as a page
    assert {agent_id for (agent_id, queue_id, _), why in unfit.items() if queue_id == queue.pk and not why} == listed
    eligible, _ = eligibility.agents_by_eligibility(everyone, [eligibility.Reach(queue)])
    assert {agent.pk for agent in eligible} == listed
    assert fits.pk not in set(eligibility.agents_eligible_for_queue(queue, exclude_agent_id=fits.pk).values_list(
        "pk", flat=True))


# get-next's SQL and the module, on randomized organisations ------------------------------------

NOW = datetime(2031, 3, 12, 10, 30, tzinfo=UTC)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
ORGANISATIONS = range(30)  # seeds


def _reach(queue: Queue) -> int:
    """The last position an item of the queue may be at while building the organisation:
    its last step's (steps removed later leave their items where they are)."""
    return max((step.position for step in queue.routing_steps.all()), default=FIRST_STEP)


def _random_organisation(rng: random.Random) -> list[AgentProfile]:
    """Teams; queues (active or not, pull or push) served by some of them and requiring
    some skills at some minimum, with routing steps (on or off) that add teams and change
    skill requirements; agents of a team (or none) holding some skills at some
    level, of any presence and capacity, holding some items (assigned, in progress,
    pended); a few items waiting in every queue at some routing step, some held back from some agents by a
    cool-off that ends before, at or after NOW. The held and cooled-off rows are written
    as the services leave them: building them through the services would need the very
    rule under test to pick who gets what."""
    teams = [factories.TeamFactory() for _ in range(rng.randint(1, 3))]
    skills = [factories.SkillFactory() for _ in range(rng.randint(0, 3))]
    queues = []
    for _ in range(rng.randint(2, 5)):
        queue = factories.QueueFactory(
            teams=rng.sample(teams, rng.randint(0, len(teams))), is_active=rng.random() < 0.85,
            allocation_mode=rng.choice([AllocationMode.PULL] * 3 + [AllocationMode.PUSH]),
        )
        for skill in rng.sample(skills, rng.randint(0, min(2, len(skills)))):
            factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=rng.randint(1, 4))
        queues.append(queue)
    for queue in queues:
        _random_steps(rng, queue, teams=teams, skills=skills, queues=queues)
    agents = []
    for _ in range(rng.randint(2, 5)):
        agent = factories.AgentFactory(
            team=rng.choice(teams) if rng.random() < 0.9 else None, capacity=rng.randint(0, 4),
            presence=rng.choice([Presence.AVAILABLE] * 4 + [Presence.AWAY, Presence.OFFLINE]),
        )
        for skill in skills:
            if rng.random() < 0.8:
                factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=rng.randint(1, 5))
        for _ in range(rng.randint(0, 2)):
            status = rng.choice([ItemStatus.ASSIGNED, ItemStatus.IN_PROGRESS, ItemStatus.PENDED])
            queue = rng.choice(queues)
            factories.WorkItemFactory(
                queue=queue, status=status, assignee=agent.user, assigned_at=NOW - MINUTE,
                routing_step=rng.randint(FIRST_STEP, _reach(queue)),
                pended_until=NOW + timedelta(hours=1) if status == ItemStatus.PENDED else None,
            )
        agents.append(agent)
    for queue in queues:
        for _ in range(rng.randint(1, 5)):
            item = factories.WorkItemFactory(
                queue=queue, priority=rng.randint(1, 5), received_at=NOW - rng.randint(0, 600) * MINUTE,
                # Any position up to the queue's reach, even one it has no step at (removed
                # since) or with routing off.
                routing_step=rng.choice([FIRST_STEP, rng.randint(FIRST_STEP, _reach(queue))]),
            )
            for agent in agents:
                if rng.random() < 0.3:
                    CoolOff.objects.create(
                        item=item, agent=agent, kind=rng.choice(CoolOffKind.values), since=NOW - timedelta(hours=1),
                        until=NOW + rng.choice([-1, 0, 1]) * MINUTE, reason="Not for me",
                    )
    return agents


def _random_steps(rng: random.Random, queue: Queue, *, teams, skills, queues) -> None:
    """Up to three widening steps (each adding teams, lowering, dropping or replacing
    skills), sometimes an overflow step after them; routing on or off."""
    position = FIRST_STEP
    for position in range(FIRST_STEP + 1, FIRST_STEP + 1 + rng.randint(0, 3)):
        step = factories.RoutingStepFactory(queue=queue, position=position, minutes=rng.randint(1, 60),
                                            added_teams=rng.sample(teams, rng.randint(0, len(teams))),
                                            routing_on=rng.random() < 0.8)
        for skill in rng.sample(skills, rng.randint(0, len(skills))):
            factories.StepSkillFactory(step=step, skill=skill, min_proficiency=rng.choice([None, 1, 2, 3]))
    others = [other for other in queues if other != queue]
    if position < LAST_STEP and others and rng.random() < 0.3:
        factories.RoutingStepFactory(queue=queue, position=position + 1, minutes=5, overflow_queue=rng.choice(others),
                                     routing_on=queue.routing_enabled)


def _admitted_from(agent: AgentProfile, queue: Queue, *, reached: int = LAST_STEP) -> int | None:
    """By the routing module in Python: the first step of `queue` up to `reached` admitting the agent."""
    steps = routing.admissions([queue])[queue.pk]
    first = routing.first_admitting(steps, reached=reached, team_id=agent.team_id,
                                    levels=routing.skill_levels([agent.pk]).get(agent.pk, {}))
    return first.position if first else None


def _sql(agent: AgentProfile, *ctes: str, select: str) -> set:
    """What get-next's own CTEs (as the statement uses them) say about the agent."""
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} {select}", {"agent": agent.pk})
        return {row[0] if len(row) == 1 else tuple(row) for row in cursor.fetchall()}


def _next_by_the_module(agent: AgentProfile) -> WorkItem | type[DomainError] | None:
    """What get-next should do for the agent now, by the module: refuse (the error it
    raises), or hand it the next best of the waiting items it may receive, or nothing."""
    not_ready = eligibility.agent_not_ready(agent, held=eligibility.active_item_count(agent.pk))
    if not_ready:
        return AgentNotAvailable if not_ready[0].kind == eligibility.UNFIT_PRESENCE else AgentAtCapacity
    waiting = [
        item for item in WorkItem.objects.filter(
            status=ItemStatus.QUEUED, queue__is_active=True, queue__allocation_mode=AllocationMode.PULL
        ).select_related("queue").order_by("start_by", "-priority", "received_at", "id")
        if _admitted_from(agent, item.queue, reached=item.routing_step) is not None
    ]
    cooling = eligibility.cool_offs_in_force([item.pk for item in waiting], now=timezone.now())
    return next((item for item in waiting if agent.pk not in cooling.get(item.pk, {})), None)


def test_the_ctes_probed_are_get_nexts_own():
    """The tests below run get-next's `agent`, `ready` and `eligible` (read from the agent's
    copy) and the rule's `deficit` and `judged` (what the copy keeps) on their own: the
    very text the statements send."""
    for sql in _ASSIGN_NEXT_BY_LIMITS.values():
        assert sql.startswith(compact_sql(f"WITH {READY_CTES}, "))
        assert compact_sql(f", {ELIGIBLE_CTES}, cooling AS (") in sql
    assert _ELIGIBILITY_JUDGE.startswith(compact_sql(f"WITH {MEMBER_CTE}, {JUDGED_CTES} INSERT "))


def _qualified(agent: AgentProfile) -> set[tuple[int, int]]:
    """By the module: the active pull queues the agent qualifies for by team and skills,
    each with the first step admitting it."""
    return {
        (queue.pk, first) for queue in Queue.objects.filter(is_active=True, allocation_mode=AllocationMode.PULL)
        if (first := _admitted_from(agent, queue)) is not None
    }


def _judged(agent: AgentProfile) -> set[tuple[int, int]]:
    return _sql(agent, MEMBER_CTE, JUDGED_CTES, select="SELECT queue_id, first_step FROM judged")


def _kept(agent: AgentProfile) -> set[tuple[int, int]] | None:
    """The agent's copy of its eligibility as get-next reads it (whatever its presence), or
    None when get-next would not use it: there is none, or of another version."""
    rows = _sql(agent, READY_CTES, ELIGIBLE_CTES, select="""
        SELECT x.queue_id, x.first_step FROM kept, unnest(kept.queue_ids, kept.first_steps) x(queue_id, first_step)
         UNION ALL SELECT NULL, NULL FROM kept""")
    return {row for row in rows if row != (None, None)} if rows else None


@pytest.mark.parametrize("seed", ORGANISATIONS)
def test_get_next_and_the_module_agree(seed):
    """For every agent: get-next's `ready` CTE and the rule's `judged` give what the module
    says (available with room; the active pull queues it qualifies for). Then, call after
    call until the agents fill up, get-next refuses whom the module says may take no work,
    and hands the others the next best item the module says they may receive — never one
    they are cooling off from, and nothing only when there is no such item —, having read
    a copy of the agent's eligibility that is the module's answer."""
    rng = random.Random(seed)
    with time_machine.travel(NOW, tick=False):
        agents = _random_organisation(rng)
        for agent in rng.choices(agents, k=3 * len(agents)):
            ready = not eligibility.agent_not_ready(agent, held=eligibility.active_item_count(agent.pk))
            assert _sql(agent, READY_CTES, select="SELECT user_id FROM ready") == ({agent.pk} if ready else set())
            qualified = _qualified(agent)
            assert _judged(agent) == qualified, agent

            expected = _next_by_the_module(agent)
            if isinstance(expected, type):
                with pytest.raises(expected):
                    services.item_get_next(agent_id=agent.pk)
                continue
            got = services.item_get_next(agent_id=agent.pk)
            assert (got and got.pk) == (expected and expected.pk), agent
            assert _kept(agent) == qualified, agent


def _toggle_queue_team(rng: random.Random) -> None:
    queue, team = rng.choice(Queue.objects.all()), rng.choice(Team.objects.all())
    (queue.teams.remove if queue.teams.filter(pk=team.pk).exists() else queue.teams.add)(team)


def _add_drop_or_change(rng: random.Random, model, level: str, levels: list, **key) -> None:
    """A skill requirement or level (`model` found by `key`): added if absent, else dropped
    or set to another of `levels`."""
    row = model.objects.filter(**key).first()
    if row is None:
        model.objects.create(**key, **{level: rng.choice(levels)})
    elif rng.random() < 0.5:
        row.delete()
    else:
        setattr(row, level, rng.choice(levels))
        row.save()


def _change_queue_skill(rng: random.Random) -> None:
    queue, skill = rng.choice(Queue.objects.all()), Skill.objects.order_by("?").first()
    if skill is not None:
        _add_drop_or_change(rng, QueueSkill, "min_proficiency", [1, 2, 3, 4, 5], queue=queue, skill=skill)


def _switch_queue(rng: random.Random) -> None:
    queue = rng.choice(Queue.objects.all())
    switch = rng.choice(["is_active", "allocation_mode", "routing_enabled"])
    if switch == "allocation_mode":
        pull = queue.allocation_mode == AllocationMode.PULL
        queue.allocation_mode = AllocationMode.PUSH if pull else AllocationMode.PULL
    else:
        setattr(queue, switch, not getattr(queue, switch))
    queue.save()


def _add_or_remove_step(rng: random.Random) -> None:
    queue = rng.choice(Queue.objects.all())
    last = queue.routing_steps.order_by("position").last()
    if last is not None and (rng.random() < 0.5 or last.position == LAST_STEP):
        last.delete()
        return
    factories.RoutingStepFactory(queue=queue, position=(last.position if last else FIRST_STEP) + 1, minutes=5,
                                 added_teams=rng.sample(list(Team.objects.all()), 1))


def _switch_step_action(rng: random.Random) -> None:
    """A widening step made an overflow one (its added teams and skill changes kept, unused), or back."""
    step = RoutingStep.objects.order_by("?").first()
    if step is None:
        return
    if step.action == StepAction.WIDEN:
        step.action, step.overflow_queue = StepAction.OVERFLOW, Queue.objects.exclude(pk=step.queue_id).first()
    else:
        step.action, step.overflow_queue = StepAction.WIDEN, None
    step.save()


def _toggle_step_team(rng: random.Random) -> None:
    step = RoutingStep.objects.filter(action=StepAction.WIDEN).order_by("?").first()
    if step is None:
        return
    team = rng.choice(Team.objects.all())
    (step.added_teams.remove if step.added_teams.filter(pk=team.pk).exists() else step.added_teams.add)(team)


def _change_step_skill(rng: random.Random) -> None:
    step = RoutingStep.objects.filter(action=StepAction.WIDEN).order_by("?").first()
    skill = Skill.objects.order_by("?").first()
    if step is not None and skill is not None:
        _add_drop_or_change(rng, StepSkill, "min_proficiency", [None, 1, 3, 5], step=step, skill=skill)


def _change_agent_skill(rng: random.Random) -> None:
    agent, skill = rng.choice(AgentProfile.objects.all()), Skill.objects.order_by("?").first()
    if skill is not None:
        _add_drop_or_change(rng, AgentSkill, "proficiency", [1, 2, 3, 4, 5], agent=agent, skill=skill)


def _move_agent(rng: random.Random) -> None:
    agent = rng.choice(AgentProfile.objects.all())
    agent.team = rng.choice([*Team.objects.all(), None])
    agent.save()


ORGANISATION_CHANGES = [_toggle_queue_team, _change_queue_skill, _switch_queue, _add_or_remove_step,
                        _switch_step_action, _toggle_step_team, _change_step_skill, _change_agent_skill, _move_agent]


@pytest.mark.parametrize("seed", ORGANISATIONS[:15])
def test_a_change_to_the_organisation_reaches_get_next_at_once(seed):
    """Every kind of change to what eligibility is judged from, as the admin makes it, in
    random order: after each, every agent's copy is either no longer used (of another
    version) or still the rule's answer — judged again for some agents between changes,
    so a change that failed to move the version on leaves a copy that disagrees —, and
    get-next hands an agent what the module says."""
    rng = random.Random(seed)
    with time_machine.travel(NOW, tick=False):
        agents = _random_organisation(rng)
        for agent in agents:
            agent_eligibility_judge(agent.pk)
        for change in rng.sample(ORGANISATION_CHANGES * 3, 3 * len(ORGANISATION_CHANGES)):
            change(rng)
            for agent in agents:
                agent.refresh_from_db()
                kept = _kept(agent)
                assert kept is None or kept == _qualified(agent), (change.__name__, agent)
                if rng.random() < 0.5:
                    agent_eligibility_judge(agent.pk)
            agent = rng.choice(agents)
            expected = _next_by_the_module(agent)
            if isinstance(expected, type):
                with pytest.raises(expected):
                    services.item_get_next(agent_id=agent.pk)
            else:
                got = services.item_get_next(agent_id=agent.pk)
                assert (got and got.pk) == (expected and expected.pk), (change.__name__, agent)


def test_what_eligibility_is_not_judged_from_leaves_the_copies_in_use(team, agent, queue):
    """Presence, the stamps get-next and requests leave on the agent, a queue's name and
    targets, items moving: none of them is read by the rule, so none makes get-next judge
    it again."""
    factories.WorkItemFactory(queue=queue)
    services.item_get_next(agent_id=agent.pk)
    assert _kept(agent) == {(queue.pk, FIRST_STEP)}
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY, actor=agent.user)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AVAILABLE, actor=agent.user)
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=NOW, capacity=9)
    queue.name, queue.sla_target = "Renamed", timedelta(hours=9)
    queue.save()
    factories.WorkItemFactory(queue=queue)
    assert _kept(agent) == {(queue.pk, FIRST_STEP)}


def test_every_table_the_rule_reads_moves_the_version_on():
    """The rule's statement reads these tables; each has the trigger that moves the
    eligibility version on when it changes (migration allocation 0019). A table the rule
    comes to read without it would leave copies in use that the change made wrong."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + _ELIGIBILITY_JUDGE, {"agent": 0})
        plan = cursor.fetchone()[0]
        cursor.execute("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'eligibility_changed'")
        with_trigger = {row[0] for row in cursor.fetchall()}

    def relations(node):
        yield node.get("Relation Name")
        for child in node.get("Plans", []):
            yield from relations(child)

    read = set(relations(plan[0]["Plan"])) - {None, "allocation_agenteligibility", "allocation_eligibility_version"}
    assert "allocation_routingstep_added_teams" in read and "allocation_agentskill" in read
    assert read <= with_trigger, read - with_trigger


@pytest.mark.parametrize("seed", ORGANISATIONS[:10])
def test_the_modules_querysets_and_reasons_agree(seed):
    """The rule's other forms, on the same organisations: the agents a queue offers
    (agents_eligible_for_queue) are those with no reason not to (agents_unfit_for); those
    qualified by team and skills (agents_skilled_for_queue, alone and as a subquery) are
    those with no team or skill reason, and have the queue among queues_eligible_for's;
    the rebalancer's filter finds exactly the active items of holders with such a reason;
    the active-item counts agree."""
    with time_machine.travel(NOW, tick=False):
        agents = _random_organisation(random.Random(seed))
    queues = list(Queue.objects.all())
    reaches = [eligibility.Reach(queue, step) for queue in queues for step in range(FIRST_STEP, LAST_STEP + 1)]
    unfit = eligibility.agents_unfit_for(agents, reaches)
    qualification = {eligibility.UNFIT_TEAM, eligibility.UNFIT_SKILL}

    def qualified(agent_id: int, queue_id: int, step: int = FIRST_STEP) -> bool:
        return not {reason.kind for reason in unfit[(agent_id, queue_id, step)]} & qualification

    for queue, step in reaches:
        offered = set(eligibility.agents_eligible_for_queue(queue, reached=step).values_list("pk", flat=True))
        assert offered == {agent.pk for agent in agents if not unfit[(agent.pk, queue.pk, step)]}
        skilled = set(eligibility.agents_skilled_for_queue(queue, reached=step).values_list("pk", flat=True))
        assert skilled == {agent.pk for agent in agents if qualified(agent.pk, queue.pk, step)}
        assert skilled == {agent.pk for agent in agents if _admitted_from(agent, queue, reached=step)}
    for agent in agents:
        skilled_for = Queue.objects.filter(Exists(eligibility.agents_skilled_for_queue().filter(pk=agent.pk)))
        assert set(skilled_for.values_list("pk", flat=True)) == {q.pk for q in queues if qualified(agent.pk, q.pk)}
        for step in range(FIRST_STEP, LAST_STEP + 1):
            eligible = eligibility.queues_eligible_for(agent_id=agent.pk, team_id=agent.team_id, pull_only=False,
                                                       reached=step)
            assert set(eligible.values_list("pk", flat=True)) == {
                q.pk for q in queues if q.is_active and qualified(agent.pk, q.pk, step)
            }
    active = WorkItem.objects.filter(status__in=ACTIVE_STATUSES)
    assert set(active.filter(eligibility.holder_unqualified()).values_list("pk", flat=True)) == {
        item.pk for item in active if not qualified(item.assignee_id, item.queue_id, item.routing_step)
    }
    counts = eligibility.active_item_counts(agent.pk for agent in agents)
    assert counts == {agent.pk: n for agent in agents if (n := eligibility.active_item_count(agent.pk))}
    assert any(counts.values()) or not active.exists()


# Explaining a move to an agent -----------------------------------------------------------------

def test_a_move_of_one_item_and_a_batch_choose_and_explain_alike(team, settings):
    """The push job and the capacity rule move one item at a time (moves.candidates), the
    absent-holder and lost-eligibility rules in batches (moves.Receivers): for the same
    item they choose the same agent and record the same candidates — the winner, those it
    beat, then the serving team's others with every reason, one who handed the item back
    among them — and the batch writes them into its event."""
    settings.WFO_REBALANCE_GRACE = 15 * MINUTE
    with time_machine.travel(NOW, tick=False):
        spanish = factories.SkillFactory(name="Spanish")
        queue = factories.QueueFactory(teams=[team])
        factories.QueueSkillFactory(queue=queue, skill=spanish, min_proficiency=2)

        def agent(username, *, level=3, **fields):
            made = factories.AgentFactory(team=team, user__username=username, **fields)
            if level:
                factories.AgentSkillFactory(agent=made, skill=spanish, proficiency=level)
            return made

        quitter, holder = agent("quitter"), agent("holder")
        item = assigned_item(quitter, queue)
        services.item_release(item_id=item.pk, actor=quitter.user, reason="Needs a fraud specialist")
        assert services.item_get_next(agent_id=holder.pk).pk == item.pk
        first, second = agent("first"), agent("second")
        away, full, unskilled = agent("away", presence=Presence.AWAY), agent("full", capacity=0), agent("low", level=1)
        for n, who in enumerate((quitter, first, second)):  # the one who handed it back would be first in line
            AgentProfile.objects.filter(pk=who.pk).update(last_assigned_at=NOW - (3 - n) * timedelta(hours=1))
        item = WorkItem.objects.select_related("queue", "assignee").get(pk=item.pk)

        one = moves.candidates(item, now=NOW, exclude={holder.pk})
        batch = moves.Receivers().pick(item, eligibility.cool_offs_in_force([item.pk], now=NOW)[item.pk])
        assert one[0].pk == batch[0].pk == first.pk
        assert one[1] == batch[1] == [
            {"agent": "first", "chosen": True, "why": "eligible, least recently assigned"},
            {"agent": "second", "chosen": False, "why": f"eligible, but assigned more recently than {first}"},
            {"agent": "quitter", "chosen": False, "why": f"{quitter} released this item (Needs a fraud specialist)."},
            {"agent": "away", "chosen": False, "why": f"{away} is away."},
            {"agent": "full", "chosen": False, "why": f"{full} already holds 0 of 0 items."},
            {"agent": "low", "chosen": False, "why": f"{unskilled} lacks Spanish at level 2."},
        ]

        services.agent_set_presence(agent_id=holder.pk, presence=Presence.OFFLINE, actor=holder.user)
        AgentProfile.objects.filter(pk=holder.pk).update(presence_since=NOW - timedelta(hours=1))
        rebalancing.rebalance()
        event = item.events.get(kind=EventKind.REBALANCED)
        assert event.data["to_agent"] == first.pk and event.data["candidates"] == one[1]


@pytest.mark.parametrize("rule", [events.RULE_OVER_CAPACITY, events.RULE_ABSENT])
def test_a_receiver_lost_before_the_move_is_explained(rule, team, settings, monkeypatch):
    """The receiver is chosen before the locks are taken; if it went away meanwhile, the
    item goes to its queue and the event says so: nobody chosen, and why the chosen one
    could not take it — one item at a time (over capacity) and in a batch (absent holder)."""
    settings.WFO_REBALANCE_GRACE = 15 * MINUTE
    with time_machine.travel(NOW, tick=False):
        queue = factories.QueueFactory(teams=[team])
        holder = factories.AgentFactory(team=team, capacity=2, user__username="holder")
        items = [assigned_item(holder, queue), assigned_item(holder, queue)]
        helper = factories.AgentFactory(team=team, user__username="helper")
        if rule == events.RULE_OVER_CAPACITY:
            AgentProfile.objects.filter(pk=holder.pk).update(capacity=1)
        else:
            AgentProfile.objects.filter(pk=holder.pk).update(presence=Presence.OFFLINE, presence_since=NOW - HOUR)
        lock = moves.agents_lock

        def helper_leaves_first(agent_ids):
            AgentProfile.objects.filter(pk=helper.pk).update(presence=Presence.AWAY)
            return lock(agent_ids)

        monkeypatch.setattr(moves, "agents_lock", helper_leaves_first)
        rebalancing.rebalance()
    moved = WorkItemEvent.objects.filter(item__in=items, kind=EventKind.REBALANCED)
    assert moved and all(event.data["rule"] == rule and event.data["to_queue"] == queue.code for event in moved)
    for event in moved:
        assert event.data["candidates"] == [
            {"agent": "helper", "chosen": False, "why": "eligible, least recently assigned"},
            {"agent": "helper", "chosen": False, "why": f"{helper} is away."},
        ]
