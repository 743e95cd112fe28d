"""SLA threshold actions: what a policy's threshold does besides alerting — raise the
priority, enter a routing step, move to a queue, assign to a named agent, notify — each
once per (item, action), in the order the policy lists them (README, "SLA threshold actions").

Exactly once is the database's doing, as with alerts. The alert scan records a *run* per
(item, action) when the item's clock crosses the action's threshold, in the scan's own
transaction (`slaactionrun_once_per_item` is unique and the insert does nothing on a
conflict: overlapping scans record it once; a scan killed before its commit recorded
nothing, and the next one crosses the threshold again). A run is due at once, or — crossed
outside the calendar's working time, for an action that waits (a warning's by default) —
at the next working window. Due runs are then done in batches: each batch one transaction
that locks its runs (SKIP LOCKED, so overlapping passes share them), each run in a
savepoint that does the action through the services a person's action goes through,
writes its event and stamps the run. A pass killed midway rolls its batch back whole and
the next pass does it; an action that cannot be done (the agent away, the item already
closed) is stamped with why, and never tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from allocation import eligibility, events, labels, selectors
from allocation.lock_objects import item_lock
from allocation.models import (
    BREACH,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    ItemStatus,
    NotifyWhom,
    Presence,
    Priority,
    SlaAction,
    SlaActionKind,
    SlaActionOutcome,
    SlaActionRun,
    SlaAlert,
    SlaClock,
    WebhookFormat,
    WebhookSubscription,
    WorkItem,
)
from allocation.services import lifecycle, routing
from allocation.sla.working_time import WorkingCalendar, is_working, next_working_instant
from core.actors import SystemActor
from core.exceptions import DomainError
from core.services import NotificationDraft, notifications_create

logger = logging.getLogger(__name__)

SLA_ACTIONS = SystemActor("sla-actions")
NOTIFICATION_KIND = "sla_action"
RUN_BATCH = 50


class CannotDo(DomainError):
    """The action cannot be done to this item now; the message says why, in words."""


# Recording runs (called by the alert scan) ---------------------------------------------------

class ActionBook:
    """The enabled actions of the policies one scan meets, read once per policy."""

    def __init__(self) -> None:
        self._by_policy: dict[int, dict[int, list[SlaAction]]] = {}

    def load(self, policy_ids: Iterable[int | None]) -> None:
        wanted = {pk for pk in policy_ids if pk is not None and pk not in self._by_policy}
        if not wanted:
            return
        for policy_id in wanted:
            self._by_policy[policy_id] = {}
        for action in SlaAction.objects.filter(policy_id__in=wanted, is_enabled=True).order_by("position", "pk"):
            self._by_policy[action.policy_id].setdefault(action.threshold, []).append(action)

    def at(self, policy_id: int | None, threshold: int) -> list[SlaAction]:
        if policy_id is None:
            return []
        self.load([policy_id])
        return self._by_policy[policy_id].get(threshold, [])


@dataclass(frozen=True)
class Crossing:
    """A clock reached `threshold` at `crossed_at` (its alert raised, or deferred)."""

    clock: SlaClock
    threshold: int
    crossed_at: datetime
    calendar: WorkingCalendar | None


def runs_record(crossings: Iterable[Crossing], *, now: datetime, book: ActionBook) -> int:
    """Record the runs of the actions at each crossed threshold (once per item and action:
    a repeat does nothing). Returns how many rows were offered."""
    crossings = list(crossings)
    book.load(crossing.clock.policy_id for crossing in crossings)
    rows = []
    for crossing in crossings:
        working = None
        for action in book.at(crossing.clock.policy_id, crossing.threshold):
            if working is None:
                working = is_working(crossing.calendar, now)
            due = now if working or not action.waits_for_working_time else next_working_instant(crossing.calendar, now)
            rows.append(SlaActionRun(item_id=crossing.clock.item_id, action=action, threshold=crossing.threshold,
                                     crossed_at=crossing.crossed_at, due_at=due))
    if rows:
        SlaActionRun.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# Doing them ------------------------------------------------------------------------------------

@dataclass
class RunResult:
    done: list[int] = field(default_factory=list)
    not_done: list[int] = field(default_factory=list)


def sla_actions_run(*, now: datetime | None = None, batch_size: int = RUN_BATCH) -> RunResult:
    """Do every run due by `now`, a batch (one transaction) at a time, each item's in the
    order its policy lists them — also when two passes overlap: a pass leaves an item's run
    while another pass holds an earlier one of the same item (that pass takes it after)."""
    now = now or timezone.now()
    result = RunResult()
    left: set[int] = set()
    supervisors = selectors.QueueSupervisors()
    while True:
        with transaction.atomic():
            runs = list(
                SlaActionRun.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("action__policy__queue", "action__step", "action__queue", "action__agent__user",
                                "action__team")
                .filter(done_at__isnull=True, due_at__lte=now).exclude(pk__in=left)
                .order_by("due_at", "item_id", "threshold", "action__position", "action_id")[:batch_size]
            )
            held_elsewhere = _first_held_elsewhere(runs, now=now)
            reports: dict[tuple[int, int], Report] = {}
            for run in runs:
                if run.item_id in held_elsewhere and _order(run) > held_elsewhere[run.item_id]:
                    left.add(run.pk)
                    continue
                _run_one(run, result=result, supervisors=supervisors, reports=reports)
            notifications_create(drafts=[draft for report in reports.values() for draft in report.drafts(supervisors)])
        if len(runs) < batch_size:
            return result


def _order(run: SlaActionRun) -> tuple:
    return run.due_at, run.threshold, run.action.position, run.action_id


def _first_held_elsewhere(runs: list[SlaActionRun], *, now: datetime) -> dict[int, tuple]:
    """Per item of `runs`, the order of its first due run this pass did not lock (another
    pass holds it)."""
    others = (
        SlaActionRun.objects.select_related("action")
        .filter(item_id__in={run.item_id for run in runs}, done_at__isnull=True, due_at__lte=now)
        .exclude(pk__in=[run.pk for run in runs])
    )
    first: dict[int, tuple] = {}
    for other in others:
        key = _order(other)
        if other.item_id not in first or key < first[other.item_id]:
            first[other.item_id] = key
    return first


@dataclass(frozen=True)
class Done:
    """What an action did: its words for the run and the event, the team whose chat channel
    hears of it, and the queue a moved item left (whose supervisors hear of it too)."""

    detail: str
    notify_team_id: int | None = None
    left_queue_id: int | None = None


def _run_one(run: SlaActionRun, *, result: RunResult, supervisors: selectors.QueueSupervisors,
             reports: dict[tuple[int, int], Report]) -> None:
    action = run.action
    try:
        with transaction.atomic():
            done = _do(action, run, supervisors)
            outcome = SlaActionOutcome.DONE
    except DomainError as refusal:  # CannotDo, or a service's own refusal
        done, outcome = Done(refusal.message), SlaActionOutcome.NOT_DONE
    except DatabaseError:
        raise  # the batch rolls back and is done again by the next pass
    except Exception:  # a fault of ours: recorded, not retried on every pass
        logger.exception("SLA action %s on item #%s failed", action.pk, run.item_id)
        done, outcome = Done("It failed unexpectedly (the portal's log has the error)."), SlaActionOutcome.NOT_DONE
    item = WorkItem.objects.select_related("queue").get(pk=run.item_id)
    at = timezone.now()
    run.done_at, run.outcome, run.detail = at, outcome, done.detail
    run.save(update_fields=["done_at", "outcome", "detail"])
    events.sla_action_taken(item, at=at, actor=SLA_ACTIONS, threshold=run.threshold, action_id=action.pk,
                            kind=action.kind, outcome=outcome, detail=done.detail,
                            notify_team_id=done.notify_team_id).save()
    _report(reports, item, run, left_queue_id=done.left_queue_id)
    (result.done if outcome == SlaActionOutcome.DONE else result.not_done).append(run.pk)


def _reason(run: SlaActionRun) -> str:
    threshold = "breach" if run.threshold >= BREACH else f"{run.threshold}% warning"
    return f"SLA {threshold}: {run.action.get_kind_display().lower()}"


def action_check(action: SlaAction, item: WorkItem, *, given_before: int = 0) -> str:
    """What the action would do to the item now, in words ("raised Normal → Urgent"), or
    CannotDo saying why not: the rule the preview shows and a run checks before it acts.
    `given_before`: items a preview has already given the action's agent (a run has given
    them, and counts them as held)."""
    if item.status in CLOSED_STATUSES:
        raise CannotDo(f"It is {item.get_status_display().lower()} already.")
    match action.kind:
        case SlaActionKind.RAISE_PRIORITY:
            target = _raised_priority(action, item)
            return f"raised {item.get_priority_display()} → {Priority(target).label}"
        case SlaActionKind.MOVE_QUEUE:
            if action.queue is None:
                raise CannotDo("Its queue was removed from the action.")
            if item.queue_id == action.queue_id:
                raise CannotDo(f"It is in {action.queue.name} already.")
            _check_not_taken_from_its_holder(item)
            return f"moved to {action.queue.name}"
        case SlaActionKind.ENTER_STEP:
            step = action.step
            if step is None:
                raise CannotDo("Its routing step was deleted.")
            if item.queue_id != step.queue_id:
                raise CannotDo(f"It is in {item.queue.name} now, not {step.queue.name}.")
            if not item.queue.routing_enabled:
                raise CannotDo(f"Routing steps are off in {item.queue.name}.")
            if item.status != ItemStatus.QUEUED:
                raise CannotDo(f"It is {item.get_status_display().lower()}: routing steps move waiting items only.")
            if item.routing_step >= step.position:
                raise CannotDo(f"It is at routing step {item.routing_step} already.")
            return f"entered into routing step {step.position}"
        case SlaActionKind.ASSIGN_AGENT:
            agent = action.agent
            if agent is None:
                raise CannotDo("Its agent was removed from the action.")
            name = labels.display_name(agent.user)
            if item.assignee_id == agent.pk:
                raise CannotDo(f"{name} holds it already.")
            _check_not_taken_from_its_holder(item)
            if agent.presence != Presence.AVAILABLE:
                raise CannotDo(f"{name} is {agent.get_presence_display().lower()}.")
            held = eligibility.active_item_count(agent.pk) + given_before
            if not eligibility.has_room(held=held, capacity=agent.capacity):
                raise CannotDo(f"{name} holds {held} of {agent.capacity} items already.")
            reasons = eligibility.agent_ineligibility_reasons(agent=agent, reach=eligibility.reach_of(item))
            if reasons:
                raise CannotDo(" ".join(reasons))
            return f"given to {name}"
        case SlaActionKind.NOTIFY:
            if action.notify == NotifyWhom.TEAM_CHANNEL:
                if action.team is None:
                    raise CannotDo("Its team was removed from the action.")
                channels = WebhookSubscription.objects.filter(team=action.team, is_active=True) \
                    .exclude(format=WebhookFormat.JSON)
                if not channels.exists():
                    raise CannotDo(f"{action.team.name} has no active chat channel.")
                return f"told to {action.team.name}'s chat channel"
            user_ids, whom = _recipients(action, item)
            if not user_ids:
                raise CannotDo(f"Nobody to tell: {item.queue.name} has no supervisor.")
            return f"told to {whom}"
    raise CannotDo(f"Unknown action {action.kind!r}.")


def _check_not_taken_from_its_holder(item: WorkItem) -> None:
    """A move or an assignment takes an item only from nobody or from an offer not yet
    started: it does not take work from an agent mid-way (started, or pended with a
    follow-up to come), nor undo a person's decision to give it to someone (a directed
    assignment). Whoever holds it still hears of the threshold; the supervisors hear
    why the action was not done."""
    if item.assignee_id is None:
        return
    holder = labels.display_name(item.assignee)
    if item.status == ItemStatus.IN_PROGRESS:
        raise CannotDo(f"{holder} is working on it; an SLA action does not take work from an agent mid-way.")
    if item.status == ItemStatus.PENDED:
        raise CannotDo(f"{holder} pended it until {labels.moment_words(item.pended_until)}; an SLA action does not "
                       "take work from an agent mid-way.")
    if item.assigned_by_id is not None:
        raise CannotDo(f"{labels.display_name(item.assigned_by)} gave it to {holder}; an SLA action does not undo "
                       "a person's decision.")


def _raised_priority(action: SlaAction, item: WorkItem) -> int:
    target = action.priority or min(item.priority + 1, max(Priority.values))
    if target <= item.priority:
        raise CannotDo(f"Its priority is {item.get_priority_display()} already.")
    return target


def _recipients(action: SlaAction, item: WorkItem,
                supervisors: selectors.QueueSupervisors | None = None) -> tuple[list[int], str]:
    """Whom a notify action tells, and its words for them: the holder (as alerts do) or the
    queue's supervisors."""
    supervisors = supervisors if supervisors is not None else selectors.QueueSupervisors()
    if action.notify == NotifyWhom.HOLDER:
        whom = "the holder" if item.assignee_id is not None else "the queue's supervisors"
        return selectors.holder_or_supervisors(item, supervisors), whom
    return supervisors[item.queue_id], "the queue's supervisors"


def _do(action: SlaAction, run: SlaActionRun, supervisors: selectors.QueueSupervisors) -> Done:
    """Do the action to the run's item; returns what was done, or raises CannotDo (or the
    service's own refusal) saying why not. The item is locked first, except before a
    transfer to an agent, which locks the agent before the item (the stated lock order)
    and judges the item again under its own lock."""
    if action.kind == SlaActionKind.ASSIGN_AGENT:
        action_check(action, WorkItem.objects.select_related("queue").get(pk=run.item_id))
        lifecycle.item_transfer(item_id=run.item_id, actor=SLA_ACTIONS, to_agent_id=action.agent_id,
                                reason=_reason(run))
        return Done(f"Assigned to {labels.display_name(action.agent.user)}.")
    item = item_lock(run.item_id)
    action_check(action, item)
    match action.kind:
        case SlaActionKind.RAISE_PRIORITY:
            before = item.get_priority_display()
            item = lifecycle.item_change_priority(item_id=item.pk, actor=SLA_ACTIONS,
                                                  priority=_raised_priority(action, item), reason=_reason(run))
            return Done(f"Priority {before} → {item.get_priority_display()}.")
        case SlaActionKind.MOVE_QUEUE:
            left_queue_id = item.queue_id
            item = lifecycle.item_transfer(item_id=item.pk, actor=SLA_ACTIONS, to_queue_id=action.queue_id,
                                           reason=_reason(run))
            return Done(f"Moved to {item.queue.name}.", left_queue_id=left_queue_id)
        case SlaActionKind.ENTER_STEP:
            routing.step_enter([item.pk], step=action.step, from_step=item.routing_step, reason=_reason(run),
                               now=timezone.now(), actor=SLA_ACTIONS)
            return Done(f"Entered routing step {action.step.position} of {action.step.queue.name}.")
    # Notify.
    if action.notify == NotifyWhom.TEAM_CHANNEL:
        return Done(f"Sent to {action.team.name}'s chat channel.", notify_team_id=action.team_id)
    user_ids, whom = _recipients(action, item, supervisors)
    title, body = _words(item, run)
    url = reverse("work:item", args=[item.pk])
    notifications_create(drafts=[NotificationDraft(user_id, NOTIFICATION_KIND, title, body, url, email=action.by_email)
                                 for user_id in user_ids])
    names = ", ".join(labels.display_name(user) for user in get_user_model().objects.filter(pk__in=user_ids)
                      .order_by("first_name", "last_name", "username"))
    return Done(f"Told {whom} ({names}){' by e-mail as well' if action.by_email else ''}.")


def _words(item: WorkItem, run: SlaActionRun) -> tuple[str, str]:
    threshold = "breached" if run.threshold >= BREACH else f"at {run.threshold}% of its target"
    return (f"SLA {run.action.threshold_label}: #{item.pk} {item.title}"[:200],
            f"Work item #{item.pk} in {item.queue.name} is {threshold}; it is due {labels.moment_words(item.due_at)}.")


@dataclass
class Report:
    """What one pass did to one item at one threshold, told to the supervisors in one
    notification (not one per action): of the queue the item is in, and of a queue a move
    took it from."""

    item: WorkItem
    threshold: int
    lines: list[str] = field(default_factory=list)
    done: int = 0
    not_done: int = 0
    queue_ids: dict[int, None] = field(default_factory=dict)  # ordered, once each

    def drafts(self, supervisors: selectors.QueueSupervisors) -> list[NotificationDraft]:
        if not self.lines:
            return []
        verb = ("done" if not self.not_done else "not done" if not self.done
                else f"{self.done} done, {self.not_done} not done")
        label = "breach" if self.threshold >= BREACH else f"{self.threshold}%"
        title = f"SLA {label} action{'s' if len(self.lines) > 1 else ''} {verb}: #{self.item.pk} {self.item.title}"
        body, url = " ".join(self.lines), reverse("work:item", args=[self.item.pk])
        user_ids = dict.fromkeys(user_id for queue_id in self.queue_ids for user_id in supervisors[queue_id])
        return [NotificationDraft(user_id, NOTIFICATION_KIND, title[:200], body, url) for user_id in user_ids]


def _report(reports: dict[tuple[int, int], Report], item: WorkItem, run: SlaActionRun, *,
            left_queue_id: int | None = None) -> None:
    """Add the run to its item's report — unless the action was to tell the supervisors,
    which told them already."""
    action = run.action
    if action.kind == SlaActionKind.NOTIFY and action.notify != NotifyWhom.TEAM_CHANNEL \
            and run.outcome == SlaActionOutcome.DONE:
        return
    report = reports.setdefault((item.pk, run.threshold), Report(item, run.threshold))
    report.item = item  # as the last action left it
    report.lines.append(f"{action.get_kind_display()}: {run.detail}"
                        + ("" if run.outcome == SlaActionOutcome.DONE else " (not done)"))
    if run.outcome == SlaActionOutcome.DONE:
        report.done += 1
    else:
        report.not_done += 1
    report.queue_ids.update(dict.fromkeys([queue_id for queue_id in (left_queue_id, item.queue_id) if queue_id]))


# An action enabled now ----------------------------------------------------------------------

def items_past_threshold(action: SlaAction):
    """The open items on the action's policy whose clock has crossed its threshold (alerted)
    and that have no run of it: what enabling it now acts on."""
    return (
        WorkItem.objects.select_related("queue")
        .filter(status__in=OPEN_STATUSES, sla_clock__policy_id=action.policy_id, sla_clock__stopped_at__isnull=True,
                sla_alerts__threshold=action.threshold)
        .exclude(sla_action_runs__action=action)
        .order_by("pk")
    )


@dataclass(frozen=True)
class PreviewLine:
    item: WorkItem
    words: str  # "would be raised Normal → Urgent" / "not done: Amelia Hart is away."
    doable: bool


def action_preview(action: SlaAction, *, limit: int = 20) -> tuple[int, list[PreviewLine]]:
    """Enabled now, what the action would do: how many items it would act on, and the first
    `limit` with what would happen to each (action_check, the rule the run applies)."""
    items = items_past_threshold(action)
    lines = []
    for item in items[:limit]:
        given_before = sum(line.doable for line in lines) if action.kind == SlaActionKind.ASSIGN_AGENT else 0
        try:
            lines.append(PreviewLine(item, f"would be {action_check(action, item, given_before=given_before)}", True))
        except DomainError as refusal:
            lines.append(PreviewLine(item, f"not done: {refusal.message}", False))
    return items.count(), lines


def action_catch_up(action: SlaAction, *, now: datetime | None = None) -> int:
    """An action just enabled (or added) acts on the items already past its threshold, as
    the preview showed: their runs are recorded, due now, and the next pass does them.
    Returns how many were recorded."""
    if not action.is_enabled:
        return 0
    now = now or timezone.now()
    crossed = dict(
        SlaAlert.objects.filter(item__in=items_past_threshold(action), threshold=action.threshold)
        .values_list("item_id", "crossed_at")
    )
    SlaActionRun.objects.bulk_create(
        [SlaActionRun(item_id=item_id, action=action, threshold=action.threshold, crossed_at=at, due_at=now)
         for item_id, at in crossed.items()],
        ignore_conflicts=True,
    )
    return len(crossed)
