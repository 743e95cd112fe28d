"""Sampling: which completed work gets evaluated, per rule and period (risk-based, by
workload, never the agent's own), at most once per rule and period."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from allocation.models import ItemStatus, WorkItem
from core.actors import SystemActor
from core.exceptions import DomainError
from quality.models import (
    OPEN_EVALUATION_STATUSES,
    Evaluation,
    EvaluationSource,
    FormVersion,
    SamplingPeriod,
    SamplingRule,
)
from quality.services.forms import form_current_version

SAMPLER = SystemActor("quality-sampling")


@dataclass
class SampleResult:
    created: int = 0
    already_drawn: int = 0
    unassigned: int = 0  # no evaluator other than the agent itself
    by_rule: dict[int, int] = field(default_factory=dict)


def period_bounds(period: str, day: date) -> tuple[date, datetime, datetime]:
    """The sampling period containing `day`: its first day, and its start and end instants
    (in the portal's time zone)."""
    first = day - timedelta(days=day.weekday()) if period == SamplingPeriod.WEEK else day
    length = timedelta(days=7 if period == SamplingPeriod.WEEK else 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    return first, start, start + length


def _sample_size(rule: SamplingRule, *, completed: int, is_new: bool, failed_last: bool) -> tuple[float, int]:
    """(expected sample size, extra items for risk)."""
    if rule.count is not None:
        size = rule.count
    else:
        share = rule.new_agent_share_percent if is_new and rule.new_agent_share_percent is not None \
            else rule.share_percent
        # A share of a few items rounds by chance (e.g. 10 % of 4 is 0 or 1 with odds 0.6 : 0.4)
        # so that the rate holds on average however small each agent's volume.
        size = completed * share / 100
    return size, rule.extra_after_fail if failed_last else 0


def samples_draw(*, day: date, seed: int | None = None) -> SampleResult:
    """Draw each active rule's sample for the period containing `day`, creating the
    evaluations (assigned to evaluators by workload, never to the agent itself). Safe to
    run again or concurrently: the draw is reproducible per (rule, period, agent) and an
    item is drawn at most once per rule and period."""
    result = SampleResult()
    for rule in SamplingRule.objects.filter(is_active=True, form__is_active=True).select_related("form", "queue"):
        try:
            version = form_current_version(rule.form)
        except DomainError:
            continue
        result.by_rule[rule.pk] = _draw_rule(rule, version, day=day, seed=seed, result=result)
    return result


def _draw_rule(rule: SamplingRule, version: FormVersion, *, day: date, seed: int | None, result: SampleResult) -> int:
    first, start, end = period_bounds(rule.period, day)
    completed = (
        WorkItem.objects.filter(queue=rule.queue, status=ItemStatus.COMPLETED, closed_at__gte=start, closed_at__lt=end)
        .values_list("pk", "completed_by_id").order_by("pk")
    )
    by_agent: dict[int, list[int]] = {}
    for item_id, agent_id in completed:
        by_agent.setdefault(agent_id, []).append(item_id)
    if not by_agent:
        return 0
    joined = dict(get_user_model().objects.filter(pk__in=by_agent).values_list("pk", "date_joined"))
    failed_last = _agents_whose_last_evaluation_failed(by_agent, before=start)
    evaluators = list(rule.evaluators.filter(is_active=True).values_list("pk", flat=True))
    workload = Counter(dict(
        Evaluation.objects.filter(evaluator_id__in=evaluators, status__in=OPEN_EVALUATION_STATUSES)
        .values("evaluator_id").annotate(n=Count("*")).values_list("evaluator_id", "n")
    ))
    drafts = []
    for agent_id, items in sorted(by_agent.items()):
        rng = random.Random(f"{seed}:{rule.pk}:{first.isoformat()}:{agent_id}")
        is_new = rule.new_agent_days is not None and joined[agent_id] > start - timedelta(days=rule.new_agent_days)
        size, extra = _sample_size(rule, completed=len(items), is_new=is_new, failed_last=agent_id in failed_last)
        whole = int(size)
        count = min(len(items), whole + (1 if rng.random() < size - whole else 0) + extra)
        for item_id in rng.sample(items, count):
            candidates = [e for e in evaluators if e != agent_id]
            evaluator = min(candidates, key=lambda e: (workload[e], e)) if candidates else None
            if evaluator is None:
                result.unassigned += 1
            else:
                workload[evaluator] += 1
            drafts.append(Evaluation(
                item_id=item_id, agent_id=agent_id, evaluator_id=evaluator, version=version,
                source=EvaluationSource.SAMPLING, sampling_rule=rule, period_start=first,
            ))
    drawn = Evaluation.objects.filter(sampling_rule=rule, period_start=first)
    before = drawn.count()
    Evaluation.objects.bulk_create(drafts, ignore_conflicts=True)  # evaluation_sampled_once decides
    created = drawn.count() - before
    result.created += created
    result.already_drawn += len(drafts) - created
    return created


def _agents_whose_last_evaluation_failed(agent_ids, *, before: datetime) -> set[int]:
    """One query: each agent's latest standing evaluation with a score before the period
    (DISTINCT ON): a calibration or a failure re-scored to a pass is no reason to sample more."""
    latest = (
        Evaluation.objects.standing().filter(agent_id__in=agent_ids, submitted_at__lt=before, score__isnull=False)
        .order_by("agent_id", "-submitted_at", "-id").distinct("agent_id").values_list("agent_id", "passed")
    )
    return {agent_id for agent_id, passed in latest if passed is False}
