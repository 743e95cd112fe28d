"""Presentation helpers for the inbox and item pages: readable payloads, timelines and
SLA clocks. The clock's rules are the SLA engine's (allocation/sla/); these only word them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.template.defaultfilters import pluralize
from django.utils import timezone

from allocation import events, labels
from allocation.models import BREACH, EventKind, Priority, SlaActionKind, SlaActionOutcome, WorkItemEvent
from allocation.sla.clock import EXTERNAL_DEADLINE, GOVERNING_LABELS, POLICY
from core.durations import hours_minutes_words

register = template.Library()

ACRONYMS = {"id", "arn", "mcc", "iban", "bic", "url", "vat", "sku", "crm", "kyc", "aml"}
ORDER_WORDS = {
    events.ORDER_DESCRIPTION: "by start-by time (earliest first), then priority (highest first), then oldest first",
}
# The rules of the vocabulary (allocation/events.py), in words.
RULES = {
    events.RULE_NEXT_BEST: "next best item",
    events.RULE_PUSH: "push allocation (least recently assigned eligible agent)",
    events.RULE_RESERVATION: "the reservation expired",
    events.RULE_ABSENT: "its holder was absent",
    events.RULE_OVER_CAPACITY: "its holder was over capacity",
    events.RULE_FOLLOW_UP: "its follow-up time came",
    events.RULE_NOT_ELIGIBLE: "its holder was no longer eligible",
}


@register.filter
def humanize_key(key: str) -> str:
    """'reason_code' -> 'Reason code', 'arn' -> 'ARN', 'customerName' stays readable."""
    words = str(key).replace("-", "_").split("_")
    words = [word.upper() if word.lower() in ACRONYMS else word for word in words if word]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _scalar(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return labels.iso_words(value)


@register.filter
def payload_rows(payload) -> list[tuple[str, str]]:
    """A JSON payload as (label, value) rows: nested objects become 'Parent › child'
    labels, lists of plain values one comma-separated value, lists of objects numbered."""
    rows: list[tuple[str, str]] = []

    def walk(value, label: str) -> None:
        if isinstance(value, dict):
            if not value and label:
                rows.append((label, "—"))
            for key, inner in value.items():
                walk(inner, f"{label} › {humanize_key(key)}" if label else humanize_key(key))
        elif isinstance(value, list):
            if all(not isinstance(inner, (dict, list)) for inner in value):
                rows.append((label or "Value", ", ".join(_scalar(inner) for inner in value) or "—"))
            else:
                for number, inner in enumerate(value, 1):
                    walk(inner, f"{label} {number}")
        else:
            rows.append((label or "Value", _scalar(value)))

    walk(payload if payload is not None else {}, "")
    return rows


def _when(value) -> str:
    if isinstance(value, datetime):
        return labels.moment_words(value)
    return labels.iso_words(value) if value else "—"


@register.filter
def since_words(moment) -> str:
    return labels.since_words(moment)


@register.filter
def display_name(user) -> str:
    return labels.display_name(user)


@register.filter
def actor_name(record) -> str:
    return labels.actor_name(record)


@register.filter
def outcome_label(outcome: str) -> str:
    return labels.outcome_label(outcome)


@register.filter
def order_words(order: str) -> str:
    """The order get-next picked in, as its assigned events record it, in words."""
    return ORDER_WORDS.get(order, order)


@register.filter
def person(username: str, user_names: dict) -> str:
    """A person an event names by username (the candidates considered), by display name."""
    return user_names.get(username, username)


@register.simple_tag
def event_summary(event: WorkItemEvent, user_names: dict, queue_names: dict | None = None) -> str:
    """What the event's data says, in words (the reason is shown beside it), read through
    the vocabulary's reader (allocation/events.py). Agents are named from `user_names`
    (selectors.user_names_in_events: one query for all events), queues from `queue_names`
    (selectors.queue_names_in_events)."""
    said = events.read(event)
    queue_names = queue_names or {}

    def agent(agent_id: int) -> str:
        return user_names.get(agent_id, f"agent #{agent_id}")

    holder_before, holder_after, rule = said.holder_before, said.holder_after, said.rule
    parts = []
    if event.kind == EventKind.ASSIGNED and rule:
        if rule == events.RULE_PUSH:
            parts.append(f"Assigned to {agent(holder_after)} by {RULES[rule]}")
        else:
            how = " by get next work" if rule in events.GET_NEXT_RULES else ""
            parts.append(f"Assigned to {agent(holder_after)}{how}.")
            parts.append(f"Picked as {RULES.get(rule, rule)}")
            if said.eligible_queues:
                count = said.eligible_queues
                parts.append(f"from {count} eligible queue{pluralize(count)}.")
            if said.step and said.step > 1 and said.admitted_at_step:
                whose = ("the queue's own rule (step 1)" if said.admitted_at_step == 1
                         else f"routing step {said.admitted_at_step}")
                parts.append(f"(it had reached routing step {said.step}; {whose} admitted this agent)")
    if event.kind in events.JOB_MOVE_KINDS and rule:
        parts.append(f"Because {RULES.get(rule, rule)}:")
        parts.append(f"to {agent(holder_after)}." if holder_after else "back to the queue.")
    if event.kind == EventKind.RELEASED and holder_before:
        parts.append(f"Released by {agent(holder_before)}")
        if said.not_offered_again_until:
            parts.append(f"(not offered to them again until {_when(said.not_offered_again_until)})")
    if event.kind == EventKind.REJECTED:
        whom = agent(holder_before) if holder_before else "this agent"
        until = said.not_offered_again_until
        parts.append(f"Back to the queue; not offered to {whom} again "
                     + (f"until {_when(until)}." if until else "for a while."))
    if event.kind == EventKind.RESUMED and said.follow_up_was:
        parts.append(f"Taken up before its follow-up time ({_when(said.follow_up_was)})")
    if event.kind == EventKind.CANCELLED and holder_before:
        parts.append(f"Cancelled while held by {agent(holder_before)}")
    if event.kind == EventKind.PENDED and said.until:
        parts.append(f"Until {_when(said.until)}")
        if said.governed_by == EXTERNAL_DEADLINE:
            parts.append(f"(the SLA clock pauses; the source's deadline, {_when(said.due_at)}, governs)")
    if event.kind == EventKind.COMPLETED and said.outcome:
        parts.append(f"Outcome: {labels.outcome_label(said.outcome)}")
    if event.kind == EventKind.TRANSFERRED:
        if said.to_queue_code:
            names = [queue_names.get(code, code) for code in (said.from_queue_code, said.to_queue_code)]
            parts.append(f"From {names[0]} to {names[1]}")
        if holder_after:
            parts.append(f"To {agent(holder_after)}")
    if event.kind == EventKind.STEP_ENTERED and said.step:
        if said.to_queue_code:
            names = [queue_names.get(code, code) for code in (said.from_queue_code, said.to_queue_code)]
            parts.append(f"Overflowed from {names[0]} (step {said.from_step}) to {names[1]}")
        else:
            parts.append(f"From routing step {said.from_step} to step {said.step}")
    if event.kind == EventKind.SLA_WARNING and said.threshold:
        parts.append(f"{said.threshold}% of the SLA target used; due {_when(said.due_at)}")
    if event.kind == EventKind.SLA_BREACH:
        parts.append(f"Was due {_when(said.due_at)}; not done")
    if event.kind == EventKind.SLA_ACTION and said.action_kind:
        threshold = said.threshold
        when = "the breach" if not threshold or threshold >= BREACH else f"{threshold}% of the SLA target"
        kind = dict(SlaActionKind.choices).get(said.action_kind, "an action")
        if said.action_outcome == SlaActionOutcome.DONE:
            parts.append(f"At {when}: {kind.lower()} — {said.action_detail}")
        else:
            parts.append(f"At {when}: {kind.lower()} could not be done — {said.action_detail}")
    if event.kind == EventKind.PRIORITY_CHANGED and said.priority:
        names = dict(Priority.choices)
        parts.append(f"From {names.get(said.priority_before, '?')} to {names.get(said.priority, '?')};")
        parts.append(f"due {_when(said.due_at_before)} → {_when(said.due_at)}")
        if said.governed_by:
            parts.append(f"(set by {GOVERNING_LABELS[said.governed_by]})")
    if event.kind == EventKind.CREATED and said.source:
        parts.append(f"From {said.source} ({said.external_id or ''})")
        if said.external_deadline:
            parts.append(f"with its own deadline {_when(said.external_deadline)};")
            governing = GOVERNING_LABELS[said.governed_by or POLICY]
            parts.append(f"due {_when(said.due_at)}, set by {governing}")
    return " ".join(parts)


@register.filter
def duration_words(value: float | timedelta) -> str:
    """'3 d 2 h', '2 h 5 min', '25 min', and to the second under ten minutes ('4 min 05 s'),
    as static/js/portal.js words the live countdown."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if abs(seconds) < 600:
        whole = int(abs(seconds))
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = int(abs(seconds) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.filter
def hours_minutes(value: timedelta) -> str:
    """A configured duration as it is typed: '12 min', '1 h 30 min', '40 h' (a queue's
    standard handle time beside the live time it is compared with)."""
    return hours_minutes_words(value)


@register.filter
def seconds_from_now(moment: datetime) -> int:
    """Seconds from the server's now to `moment` (negative once past): the page's script
    counts from these, not from the browser's own clock, which may be wrong."""
    return int((moment - timezone.now()).total_seconds())


@register.filter
def remaining_words(remaining: timedelta) -> str:
    """'3 h 5 min left' or 'overdue by 12 min': working time left on an SLA clock."""
    seconds = remaining.total_seconds()
    return f"{duration_words(seconds)} left" if seconds >= 0 else f"overdue by {duration_words(seconds)}"
