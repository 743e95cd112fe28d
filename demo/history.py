"""The past three weeks of closed work, written in bulk: items completed or cancelled, each
with its created → assigned → started → … events, worked by agents during their shifts.

The services cannot write this: they stamp `timezone.now()`. So `ItemHistory` builds the
events the services would have written at the time, through the same constructors
(allocation/events.py), and bulk-inserts them, so the item rows agree with their replay
(allocation/audit.py).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F

from allocation import events, sla
from allocation.models import FIRST_STEP, ItemStatus, Queue, WorkItem, WorkItemEvent
from demo.catalog import HISTORY_DAYS, QUEUES, SOURCE, QueueSpec
from demo.content import PRIORITIES, item_content
from demo.shifts import DAY, AgentPlan

RELEASE_REASONS = ["Needs a second opinion from a senior", "Shift ending", "Known customer: conflict of interest"]
CANCEL_REASONS = ["Cardholder withdrew the dispute", "Duplicate of another case", "Merchant refunded before review",
                  "Sent in error by the card platform"]
ARRIVALS_BY_HOUR = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 13, 12, 10, 8, 6, 5, 4, 3, 2, 1]
DAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.2]  # Monday … Sunday
MINUTE = timedelta(minutes=1)


class ItemHistory:
    """Items that arrived and were closed in the past three weeks, with the events the
    services would have written along the way."""

    def __init__(self, *, rng: random.Random, now: datetime, queues: dict[str, Queue],
                 specs: dict[str, QueueSpec], plans: list[AgentPlan], integration_id: int,
                 customers: tuple[list[str], list[int]]):
        self.rng, self.now, self.queues, self.specs, self.plans = rng, now, queues, specs, plans
        self.integration_id = integration_id
        self.customers = customers
        self.eligible_count = {plan.user_id: len(plan.eligible_queue_ids) for plan in plans}
        self.items: list[WorkItem] = []
        self.timelines: list[list[WorkItemEvent]] = []
        self.next_number = 1
        self.policies = sla.PolicyBook()

    def generate(self, count: int) -> None:
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        days = [today - days_back * DAY for days_back in range(HISTORY_DAYS, 0, -1)]
        day_weights = [DAY_WEIGHTS[day.weekday()] for day in days]
        codes = [spec.code for spec in QUEUES]
        volumes = [spec.volume for spec in QUEUES]
        drafted = []
        while len(drafted) < count:
            day = self.rng.choices(days, day_weights)[0]
            hour = self.rng.choices(range(24), ARRIVALS_BY_HOUR)[0]
            received_at = day + timedelta(hours=hour, seconds=self.rng.randrange(3600))
            code = self.rng.choices(codes, volumes)[0]
            timeline = self._timeline(self.queues[code], received_at)
            if timeline is not None:
                drafted.append((received_at, code, timeline))
        drafted.sort(key=lambda draft: draft[0])
        for received_at, code, (item, timeline) in drafted:
            spec = self.specs[code]
            item.external_id = f"{spec.id_prefix}-{self.next_number:07d}"
            self.next_number += 1
            item.customer_ref = self.rng.choices(*self.customers)[0]
            item.title, item.payload = item_content(code, self.rng, item.customer_ref, received_at)
            self.items.append(item)
            self.timelines.append([events.created(item, at=received_at, actor=self._actor(None)), *timeline])

    def _agent_for(self, queue: Queue, at: datetime, exclude: int | None = None):
        """The agent who would have pulled the item: one on shift at `at` if any, else
        whoever comes on shift first. None when nobody could before now."""
        best_at, candidates = None, []
        for plan in self.plans:
            if queue.pk not in plan.eligible_queue_ids or plan.user_id == exclude:
                continue
            on_shift = plan.next_on_shift(at)
            if on_shift is None:
                continue
            if best_at is None or on_shift < best_at:
                best_at, candidates = on_shift, [plan]
            elif on_shift == best_at:
                candidates.append(plan)
        if best_at is None:
            return None, None
        return self.rng.choice(candidates), best_at

    def _timeline(self, queue: Queue, received_at: datetime):
        rng, spec = self.rng, self.specs[queue.code]
        priority = rng.choices(*PRIORITIES)[0]
        if queue.code == "fraud-screening":
            priority = max(priority, 4 if rng.random() < 0.6 else 3)
        policy = self.policies.policy_for(queue, priority)
        deadlines = sla.deadlines(
            policy=policy, calendar=self.policies.calendar(policy.calendar_id), received_at=received_at,
            handle_time=queue.standard_handle_time,
        )
        item = WorkItem(queue=queue, source=SOURCE, priority=priority, received_at=received_at,
                        step_entered_at=received_at, due_at=deadlines.due_at, start_by=deadlines.start_by)
        timeline = []  # after its created event, written once the item has its external id

        if rng.random() < 0.025:
            cancelled_at = received_at + timedelta(minutes=rng.randint(5, 600))
            if cancelled_at >= self.now:
                return None
            item.status, item.closed_at = ItemStatus.CANCELLED, cancelled_at
            timeline.append(events.cancelled(item, at=cancelled_at, actor=self._actor(None),
                                             from_status=ItemStatus.QUEUED, from_agent=None,
                                             reason=rng.choice(CANCEL_REASONS)))
            return item, timeline

        wait = timedelta(hours=rng.expovariate(1 / max(0.3, spec.sla_hours * 0.18)))
        plan, assigned_at = self._agent_for(queue, received_at + wait)
        if plan is None:
            return None
        if rng.random() < 0.03:
            released_at = assigned_at + timedelta(minutes=rng.randint(1, 8))
            timeline.append(self._assigned(item, plan, assigned_at, ItemStatus.QUEUED))
            timeline.append(events.released(
                item, at=released_at, actor=self._actor(plan.user_id), from_status=ItemStatus.ASSIGNED,
                from_agent=plan.user_id, not_offered_again_until=released_at + settings.WFO_RELEASE_COOLDOWN,
                reason=rng.choice(RELEASE_REASONS),
            ))
            plan, assigned_at = self._agent_for(queue, released_at + timedelta(minutes=rng.randint(2, 90)),
                                                exclude=plan.user_id)
            if plan is None:
                return None
        timeline.append(self._assigned(item, plan, assigned_at, ItemStatus.QUEUED))
        started_at = assigned_at + timedelta(seconds=rng.randint(20, 360))
        timeline.append(events.started(item, at=started_at, actor=self._actor(plan.user_id),
                                       from_status=ItemStatus.ASSIGNED))
        handle = spec.handle_minutes * MINUTE * plan.pace * rng.lognormvariate(0, 0.3)
        completed_at = started_at + handle
        if rng.random() < 0.08:
            pended_at = started_at + handle * 0.4
            until = pended_at + timedelta(hours=rng.uniform(3, 40))
            follow_up_at = plan.next_on_shift(until)
            if follow_up_at is not None:
                timeline.append(events.pended(item, at=pended_at, actor=self._actor(plan.user_id), until=until,
                                              reason=rng.choice(spec.pend_reasons)))
                timeline.append(self._assigned(item, plan, follow_up_at, ItemStatus.PENDED, pended_until=until))
                restarted_at = follow_up_at + timedelta(seconds=rng.randint(20, 240))
                timeline.append(events.started(item, at=restarted_at, actor=self._actor(plan.user_id),
                                               from_status=ItemStatus.ASSIGNED))
                assigned_at, completed_at = follow_up_at, restarted_at + handle * 0.7
        if completed_at >= self.now:
            return None
        outcome = rng.choice(spec.outcomes)
        timeline.append(events.completed(item, at=completed_at, actor=self._actor(plan.user_id), outcome=outcome,
                                         from_agent=plan.user_id))
        item.status, item.outcome, item.completed_by_id = ItemStatus.COMPLETED, outcome, plan.user_id
        item.assigned_at, item.started_at, item.closed_at = assigned_at, started_at, completed_at
        plan.last_assigned_at = max(plan.last_assigned_at or assigned_at, assigned_at)
        return item, timeline

    def _assigned(self, item: WorkItem, plan: AgentPlan, at: datetime, from_status: str,
                  pended_until: datetime | None = None) -> WorkItemEvent:
        """The event `item_get_next` writes when `plan`'s agent asks for work: the next best
        queued item (nobody held it), or its own pended item back on its follow-up (it held
        it all along)."""
        from_agent = plan.user_id if from_status == ItemStatus.PENDED else None
        rule = events.RULE_FOLLOW_UP if from_status == ItemStatus.PENDED else events.RULE_NEXT_BEST
        return events.assigned(item, at=at, actor=self._actor(plan.user_id), from_status=from_status, rule=rule,
                               from_agent=from_agent, to_agent=plan.user_id, pended_until=pended_until,
                               eligible_queues=self.eligible_count[plan.user_id],
                               admitted_at_step=FIRST_STEP)  # the history's queues route by their own rule

    def _actor(self, user_id: int | None):
        """Who wrote an event: the agent, or the card platform's integration (intake, cancels)."""
        return get_user_model()(pk=user_id or self.integration_id)

    def write(self) -> None:
        WorkItem.objects.bulk_create(self.items, batch_size=1000)
        for item, timeline in zip(self.items, self.timelines, strict=True):
            for event in timeline:
                event.item_id = item.pk
        WorkItemEvent.objects.bulk_create([event for timeline in self.timelines for event in timeline],
                                          batch_size=2000)
        # bulk_create stamps created_at/updated_at with now; history was created on receipt.
        WorkItem.objects.filter(pk__in=[item.pk for item in self.items]).update(
            created_at=F("received_at"), updated_at=F("closed_at")
        )
