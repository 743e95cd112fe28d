"""Reads for pages, the API and services. Each returns what its caller shows in a
bounded number of queries. Who may receive work, and why not, is allocation/eligibility.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from allocation import events, labels, transitions
from allocation.eligibility import cooling_off
from allocation.exceptions import ItemNotFound
from allocation.models import (
    ACTIVE_STATUSES,
    HELD_STATUSES,
    OPEN_STATUSES,
    AgentProfile,
    AgentSkill,
    CoolOff,
    EventKind,
    ItemActionReason,
    ItemStatus,
    Presence,
    PresenceChange,
    PresenceReason,
    Queue,
    SlaActionOutcome,
    SlaActionRun,
    WebhookDelivery,
    WebhookSubscription,
    WorkItem,
    WorkItemEvent,
    customer_key,
)
from allocation.services.rows import compact_sql
from allocation.sla import PolicyBook, clock_reading
from core import roles
from core.exceptions import InvalidInput, NotFound, PermissionDenied


def presence_reasons_offered(presence: str | None = None) -> QuerySet[PresenceReason]:
    """The reasons agents may give now (for one presence, or all), in the admins' order."""
    reasons = PresenceReason.objects.filter(active=True)
    return reasons.filter(presence=presence) if presence else reasons


@dataclass(frozen=True)
class PresenceState:
    """What an agent's presence poll answers beside its profile: the items it holds against
    its capacity, its own reason (id, presence, label), the reasons offered now, and who
    made it away or offline if another did (presence_set_by_another)."""

    holding: int
    reason: dict | None
    reasons_offered: list[dict]
    set_by: PresenceChange | None = None


def _reason_json(alias: str) -> str:
    return f"json_build_object('id', {alias}.id, 'presence', {alias}.presence, 'label', {alias}.label)"


# The poll comes twice a minute from every API agent: one plain statement, not four ORM
# queries (the count, the agent's reason, the offered list, its last change). The same
# rules as eligibility.active_item_count, presence_reasons_offered and
# presence_set_by_another: the statuses counting against capacity, active reasons in the
# model's order, the latest change (read only when the agent is not available).
_PRESENCE_CHANGE_LATEST = f"ORDER BY c.at DESC, c.{PresenceChange._meta.pk.column} DESC LIMIT 1"
_PRESENCE_STATE = compact_sql(f"""
SELECT (SELECT count(*) FROM {WorkItem._meta.db_table}
         WHERE assignee_id = %(agent)s AND status = ANY(%(active)s)),
       (SELECT {_reason_json("r")} FROM {PresenceReason._meta.db_table} r WHERE r.id = %(reason)s),
       coalesce((SELECT json_agg({_reason_json("o")} ORDER BY {", ".join(
           "o." + PresenceReason._meta.get_field(name).column for name in PresenceReason._meta.ordering)})
                   FROM {PresenceReason._meta.db_table} o WHERE o.active), '[]'),
       (SELECT json_build_object('presence', c.presence, 'actor_id', c.actor_id, 'username', u.username,
                                 'system_actor', c.system_actor)
          FROM {PresenceChange._meta.db_table} c LEFT JOIN "{get_user_model()._meta.db_table}" u ON u.id = c.actor_id
         WHERE c.agent_id = %(agent)s AND %(unavailable)s {_PRESENCE_CHANGE_LATEST})
""")


def agent_presence_state(agent: AgentProfile) -> PresenceState:
    with connection.cursor() as cursor:
        cursor.execute(_PRESENCE_STATE, {"agent": agent.pk, "active": [str(s) for s in ACTIVE_STATUSES],
                                         "reason": agent.presence_reason_id,
                                         "unavailable": agent.presence != Presence.AVAILABLE})
        holding, reason, offered, latest = cursor.fetchone()
    change = None
    if latest is not None:
        change = PresenceChange(agent=agent, presence=latest["presence"], actor_id=latest["actor_id"],
                                system_actor=latest["system_actor"])
        if change.actor_id is not None:
            change.actor = get_user_model()(pk=change.actor_id, username=latest["username"])
    set_by = change if _made_by_another(agent, change) else None
    return PresenceState(holding=holding, reason=reason, reasons_offered=offered, set_by=set_by)


def presence_set_by_another(agent: AgentProfile) -> PresenceChange | None:
    """The change that made the agent away or offline when someone else made it — its
    supervisor, an admin, the idle sweep — so its inbox says who, and why it gets no work;
    None when the agent chose it itself, or is available (only its own choice, or an
    admin's, makes it so: nothing to explain, and no statement on the busiest path)."""
    if agent.presence == Presence.AVAILABLE:
        return None
    change = (PresenceChange.objects.select_related("actor").filter(agent_id=agent.pk)
              .order_by("-at", "-pk").first())
    return change if _made_by_another(agent, change) else None


def _made_by_another(agent: AgentProfile, latest: PresenceChange | None) -> bool:
    """The agent's latest presence change made the presence it has now, and another made it."""
    return (latest is not None and agent.presence != Presence.AVAILABLE and latest.presence == agent.presence
            and latest.actor_id != agent.user_id)


def agent_configuration(agent_id: int) -> dict:
    """What an admin configures on an agent — its team, capacity and skills (name →
    proficiency) — as the change log records it; empty for an agent not saved yet."""
    agent = AgentProfile.objects.select_related("team").filter(pk=agent_id).first()
    if agent is None:
        return {}
    skills = AgentSkill.objects.filter(agent_id=agent_id).values_list("skill__name", "proficiency")
    return {"team": agent.team.name if agent.team_id else None, "capacity": agent.capacity,
            "skills": dict(sorted(skills))}


def agent_profile_for(user: AbstractBaseUser) -> AgentProfile | None:
    if not user.is_authenticated:
        return None
    try:
        return user.agent_profile
    except AgentProfile.DoesNotExist:
        return None


def items_visible_to(user: AbstractBaseUser) -> QuerySet[WorkItem]:
    """Admins see every item; a supervisor, the items of queues its teams serve; a source
    system, the items of its own sources (the reach of their actions,
    transitions.items_in_reach); an agent, the items it holds and the ones it completed.
    `user_may_open` is the same rule for one item."""
    items = WorkItem.objects.select_related("queue", "assignee", "completed_by", "assigned_by", "sla_clock")
    reach = transitions.items_in_reach(user)
    if reach is None:
        return items
    own = Q(assignee=user) | Q(completed_by=user)
    return items.filter(own if reach is transitions.NO_ITEMS else reach | own)


def user_may_open(user: AbstractBaseUser, item: WorkItem) -> bool:
    return user.pk in (item.assignee_id, item.completed_by_id) or transitions.reaches(user, item)


def _timeline_events() -> QuerySet[WorkItemEvent]:
    return WorkItemEvent.objects.select_related("actor").order_by("at", "id")


def _the_one(items: QuerySet[WorkItem]) -> WorkItem | None:
    """The item a filter on its primary key matches, or None. Read without an ORDER BY:
    `.first()` would order by the model's four ordering columns, which one row does not
    need and whose compiling, against every column the read selects, costs about a third of
    the statement's CPU."""
    return next(iter(items.order_by()[:1]), None)


def item_with_events(*, user: AbstractBaseUser, item_id: int) -> WorkItem | None:
    return _the_one(
        items_visible_to(user).prefetch_related(Prefetch("events", queryset=_timeline_events())).filter(pk=item_id)
    )


def item_timeline(item: WorkItem) -> list[WorkItemEvent]:
    """The item's events in order, with their actors: read along with it (item_with_events)
    or now."""
    if "events" in getattr(item, "_prefetched_objects_cache", {}):
        return list(item.events.all())
    return list(_timeline_events().filter(item=item))


def item_for_page(*, user: AbstractBaseUser, item_id: int, with_events: bool = True) -> WorkItem:
    """The item with its events for its page — without them for an action on it or one of
    its forms; a clear 404 or 403 when it cannot be shown."""
    if with_events:
        item = item_with_events(user=user, item_id=item_id)
    else:
        item = _the_one(items_visible_to(user).filter(pk=item_id))
    if item is not None:
        return item
    if WorkItem.objects.filter(pk=item_id).exists():
        raise PermissionDenied(f"Work item #{item_id} is not yours: only its holder, and supervisors of the teams "
                               "serving its queue, can open it.")
    raise ItemNotFound(f"Work item #{item_id} does not exist.")


def held_by(name: str) -> Q:
    """The items held by any agent `name` names: part of a username, a first, last or full
    name, in any case ("walk" finds Ines Walker), so a supervisor need not know usernames.
    Several agents may match; the items of all of them are meant (see `holders_of`)."""
    wanted = " ".join(name.split())
    agents = (
        get_user_model().objects.filter(agent_profile__isnull=False)
        .annotate(full_name=Concat("first_name", Value(" "), "last_name"))
        .filter(Q(username__icontains=wanted) | Q(full_name__icontains=wanted))
    )
    return Q(assignee__in=agents.values("pk"))


def holders_of(items: QuerySet[WorkItem]) -> list:
    """Who holds `items` (already filtered, e.g. by `held_by`), by name, in one query."""
    users = get_user_model().objects.filter(pk__in=items.order_by().values("assignee_id"))
    return sorted(users, key=lambda user: (user.get_full_name() or user.get_username()).casefold())


def customer_is(customer_ref: str) -> Q:
    """The items of one customer, however its reference is typed (case, surrounding
    spaces): an exact match on the indexed key, never a scan of the references as sent.
    A reference PostgreSQL could not even compare (a NUL character) is refused."""
    if "\x00" in customer_ref:
        raise InvalidInput("A customer reference cannot contain a NUL character.",
                           fields={"customer_ref": ["Contains a NUL character."]})
    return Q(customer_key=customer_key(Value(customer_ref)))


def customer_items(*, user: AbstractBaseUser, customer_ref: str) -> QuerySet[WorkItem]:
    return items_visible_to(user).filter(customer_is(customer_ref)).order_by("received_at", "id")


def customer_journey(*, user: AbstractBaseUser, customer_ref: str) -> list[WorkItem]:
    """Every item of one customer across queues, oldest first — "where is my case?".

    Supervisors see any customer's. An agent sees the journey of a customer it works for
    (it holds or completed one of the customer's items): the other items' queue, status
    and due time, but it can open only its own (`user_may_open`)."""
    journey = (
        WorkItem.objects.filter(customer_is(customer_ref))
        .select_related("queue", "sla_clock")
        .order_by("received_at", "id")
    )
    sees_all = roles.oversees_work(user)
    if not sees_all and not customer_items(user=user, customer_ref=customer_ref).exists():
        raise PermissionDenied("You can see a customer's items only while you work on one of them.")
    items = list(journey)
    if not items:
        raise NotFound(f"No work items for customer {customer_ref}.")
    return items


def user_names_in_events(item_events: list[WorkItemEvent]) -> dict[int | str, str]:
    """Display names of the people an item's events refer to — by id (who it was
    transferred to or from, who released it) and by username (the candidates considered) —
    in one query, keyed by what the events hold."""
    said = events.read_all(item_events)
    ids = set().union(*(data.agent_ids for data in said))
    usernames = set().union(*(data.usernames for data in said))
    if not ids and not usernames:
        return {}
    users = get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=usernames))
    names = {}
    for user in users.only("username", "first_name", "last_name"):
        names[user.pk] = names[user.get_username()] = labels.display_name(user)
    return names


def queue_names_in_events(item_events: list[WorkItemEvent]) -> dict[str, str]:
    """Names of the queues an item's events refer to by code (transfers), in one query."""
    codes = set().union(*(events.read(event).queue_codes for event in item_events))
    return dict(Queue.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}


# Open items by time left to their due time, in the order the wallboard shows them: each
# band is (key, label, its upper bound of time left — None: no bound). "breached" is the
# first band: open and past due.
AGING_BANDS = [
    ("breached", "Breached", timedelta(0)),
    ("lt_1h", "< 1 h", timedelta(hours=1)),
    ("1_4h", "1–4 h", timedelta(hours=4)),
    ("4_24h", "4–24 h", timedelta(hours=24)),
    ("1_3d", "1–3 days", timedelta(days=3)),
    ("gt_3d", "> 3 days", None),
]
AT_RISK = "at_risk"
# What the wallboard counts and the item list filters by, in words for the list's filter.
SLA_STANDINGS = [
    (AT_RISK, "At risk (past a warning, not yet due)"),
    ("breached", "Breached (open and past due)"),
    *((key, f"Due in {label}") for key, label, _ in AGING_BANDS[1:]),
]


def sla_standing_q(standing: str, *, now: datetime) -> Q:
    """Open items in one SLA standing at `now`: at risk (past a warning threshold of their
    clock, not yet due), or in one band of time left (AGING_BANDS; "breached" is past due).
    The one definition the wallboard counts and the item list filters by, so a number on
    the board and the list it links to agree."""
    is_open = Q(status__in=OPEN_STATUSES)
    if standing == AT_RISK:
        return is_open & Q(due_at__gt=now, sla_clock__next_threshold__gt=F("sla_clock__thresholds__0"))
    keys = [key for key, _, _ in AGING_BANDS]
    index = keys.index(standing)
    upper = AGING_BANDS[index][2]
    band = is_open if upper is None else is_open & Q(due_at__lte=now + upper)
    return band if index == 0 else band & Q(due_at__gt=now + AGING_BANDS[index - 1][2])


# Part of every inbox version: raise it when the inbox's templates change what they show,
# so that an agent's open inbox takes the new layout at its next refresh.
INBOX_LAYOUT = 1


def agent_inbox_version(agent: AgentProfile, *, now: datetime) -> str:
    """A tag that changes whenever the agent's inbox would read differently — an item it
    holds came, went or changed (every write stamps the item's updated_at), a follow-up
    fell due, its presence, reason or capacity changed, it chose another time zone — so a
    refresh of an unchanged inbox is answered "not modified" (views.inbox_list). What only
    time changes (countdowns, the SLA state at its warning and due times) the page's script
    keeps moving by itself. One aggregate over the agent's held items (its own index), as
    plain SQL: asked every 30 s by every agent, its ORM compiling cost more than running it."""
    with connection.cursor() as cursor:
        cursor.execute(_INBOX_VERSION, {"agent": agent.pk, "held": list(HELD_STATUSES), "pended": ItemStatus.PENDED,
                                        "now": now})
        n, ids, last, due = cursor.fetchone()
    said = (f"{agent.presence}:{agent.presence_reason_id}:{agent.capacity}:{n}:{ids}:{last and last.timestamp()}:"
            f"{due}:{timezone.get_current_timezone_name()}:{INBOX_LAYOUT}")
    return '"' + hashlib.blake2b(said.encode(), digest_size=8).hexdigest() + '"'


_INBOX_VERSION = f"""
SELECT count(*), sum(id), max(updated_at), count(*) FILTER (WHERE status = %(pended)s AND pended_until <= %(now)s)
  FROM {WorkItem._meta.db_table} WHERE assignee_id = %(agent)s AND status = ANY(%(held)s)
"""


def agent_inbox(agent_id: int) -> QuerySet[WorkItem]:
    """What an agent holds, most urgent first."""
    return (
        WorkItem.objects.filter(assignee_id=agent_id, status__in=HELD_STATUSES)
        .select_related("queue", "sla_clock", "assigned_by")
        .order_by("due_at", "id")
    )


def transfer_queues() -> QuerySet[Queue]:
    return Queue.objects.filter(is_active=True).order_by("name")


def with_clock_readings(items: list[WorkItem], *, now: datetime) -> list[WorkItem]:
    """Set `item.sla` to what each item's SLA clock reads at `now` (None for an item without
    a clock). The items must come with `sla_clock` selected; calendars are read once."""
    book = PolicyBook()
    clocks = [getattr(item, "sla_clock", None) for item in items]
    book.load_calendars(clock.calendar_id for clock in clocks if clock is not None)
    for item, clock in zip(items, clocks, strict=True):
        item.sla = None if clock is None else clock_reading(
            item=item, clock=clock, calendar=book.calendar(clock.calendar_id), now=now
        )
    return items


def item_cool_offs(item: WorkItem, *, now: datetime) -> list[CoolOff]:
    """The agents the item is held back from now (they released or rejected it), and why."""
    return list(
        CoolOff.objects.filter(cooling_off(now), item=item).select_related("agent__user").order_by("until")
    )


def assignment_explanation(item: WorkItem, item_events: list[WorkItemEvent]) -> WorkItemEvent | None:
    """The event that gave the item to its current holder: why this agent (its rule, and
    for push and rebalancing the candidates considered). None when nobody holds it."""
    if item.assignee_id is None:
        return None
    for event in reversed(item_events):
        if (event.kind in events.ASSIGNING_KINDS and event.to_status == ItemStatus.ASSIGNED
                and events.read(event).holder_after == item.assignee_id):
            return event
    return None


def routing_explanation(item_events: list[WorkItemEvent], *, before: WorkItemEvent) -> list[WorkItemEvent]:
    """The routing steps the item entered before `before` (its assignment) since it last
    arrived in its queue — how it came within reach of its holder — oldest first."""
    entered = []
    for event in item_events:
        if event is before:
            break
        said = events.read(event)
        if event.kind == EventKind.CREATED or (event.kind == EventKind.TRANSFERRED and said.to_queue_id):
            entered = []  # a new queue: its routing starts over
        elif event.kind == EventKind.STEP_ENTERED:
            entered.append(event)
    return entered


def webhook_subscriptions_of(user: AbstractBaseUser) -> QuerySet[WebhookSubscription]:
    """The subscriptions a source system made (through the API), by name."""
    return WebhookSubscription.objects.filter(integration=user).prefetch_related("queues").order_by("name", "pk")


def webhook_delivery_log(subscription: WebhookSubscription, *, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """A subscription's deliveries, newest event first (the unique (subscription, event)
    index, read backwards); `status` narrows it."""
    deliveries = subscription.deliveries.select_related("event").order_by("-event_id")
    return deliveries.filter(status=status) if status else deliveries


def queue_supervisor_ids(queue_id: int) -> list[int]:
    """The active supervisors of the teams serving the queue: who hears of its unheld work."""
    users = get_user_model().objects.filter(supervised_teams__queues=queue_id, is_active=True)
    return sorted(set(users.values_list("pk", flat=True)))


class QueueSupervisors(dict):
    """queue id → `queue_supervisor_ids`, each read once (for one pass of a job)."""

    def __missing__(self, queue_id: int) -> list[int]:
        self[queue_id] = queue_supervisor_ids(queue_id)
        return self[queue_id]


def holder_or_supervisors(item: WorkItem, supervisors: QueueSupervisors | None = None) -> list[int]:
    """Who hears of an item's SLA: its holder if held, else the supervisors of its queue's teams."""
    if item.assignee_id is not None:
        return [item.assignee_id]
    return (supervisors if supervisors is not None else QueueSupervisors())[item.queue_id]


def sla_action_run_tally(action_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per action: its runs waiting for the actions job, done, and not done (one query)."""
    rows = (
        SlaActionRun.objects.filter(action_id__in=action_ids).values("action_id")
        .annotate(waiting=Count("pk", filter=Q(done_at__isnull=True)),
                  done=Count("pk", filter=Q(outcome=SlaActionOutcome.DONE)),
                  not_done=Count("pk", filter=Q(outcome=SlaActionOutcome.NOT_DONE)))
    )
    tally = {pk: {"waiting": 0, "done": 0, "not_done": 0} for pk in action_ids}
    for row in rows:
        tally[row.pop("action_id")] = row
    return tally


def item_action_reasons(action: str) -> list[str]:
    """The labels an agent picks from to give a reason for `action` (pend, release), in the
    admins' order (the forms add "Other" last)."""
    return list(ItemActionReason.objects.filter(action=action, active=True).order_by("position", "label")
                .values_list("label", flat=True))


def item_action_reasons_by_action() -> dict[str, list[str]]:
    """`item_action_reasons` for every action at once: action → labels, in one query."""
    lists: dict[str, list[str]] = {}
    for action, label in (ItemActionReason.objects.filter(active=True).order_by("position", "label")
                          .values_list("action", "label")):
        lists.setdefault(action, []).append(label)
    return lists
