"""Presentation helpers for the inbox and item pages: readable payloads, timelines and
SLA clocks. The clock's rules are the SLA engine's (allocation/sla/); these only word them."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.template.defaultfilters import pluralize

from allocation import labels
from allocation.models import Priority, WorkItemEvent
from allocation.sla.clock import EXTERNAL_DEADLINE, GOVERNING_LABELS

register = template.Library()

ACRONYMS = {"id", "arn", "mcc", "iban", "bic", "url", "vat", "sku", "crm", "kyc", "aml"}
RULES = {
    "next_best_item": "next best item",
    "pended_follow_up_due": "its follow-up time came",
    "push": "push allocation (least recently assigned eligible agent)",
    "reservation_expired": "the reservation expired",
    "holder_absent": "its holder was absent",
    "holder_over_capacity": "its holder was over capacity",
    "follow_up_due": "its follow-up time came",
    "holder_no_longer_eligible": "its holder was no longer eligible",
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
    return labels.iso_words(value) if value else "—"


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
    return labels.order_words(order)


@register.filter
def person(username: str, user_names: dict) -> str:
    """A person an event names by username (the candidates considered), by display name."""
    return user_names.get(username, username)


# The rules of get-next's assigned events (the agent asked for work), and push's.
GET_NEXT_RULES = {"next_best_item", "pended_follow_up_due"}
PUSH_RULE = "push"
# Where events name the holder they took the item from: `from_agent`, and the keys of events
# written before every kind used it (allocation/services/events.py).
HOLDER_BEFORE_KEYS = ("from_agent", "released_by_agent", "rejected_by_agent", "held_by")


@register.simple_tag
def event_summary(event: WorkItemEvent, user_names: dict, queue_names: dict | None = None) -> str:
    """What the event's data says, in words (the reason is shown beside it). Agents are
    named from `user_names` (selectors.user_names_in_events: one query for all events), queues
    from `queue_names` (selectors.queue_names_in_events)."""
    data = event.data or {}
    queue_names = queue_names or {}

    def agent(key: str) -> str:
        return user_names.get(data.get(key), f"agent #{data.get(key)}")

    # The key naming the holder before, if the event names one (null: nobody held it).
    holder_key = next((key for key in HOLDER_BEFORE_KEYS if data.get(key) is not None), None)

    parts = []
    if event.kind == "assigned" and data.get("rule"):
        rule = data["rule"]
        if rule == PUSH_RULE and data.get("to_agent"):
            parts.append(f"Assigned to {agent('to_agent')} by {RULES[PUSH_RULE]}")
        else:
            if data.get("to_agent"):  # events written before get-next named the agent do not
                how = " by get next work" if rule in GET_NEXT_RULES else ""
                parts.append(f"Assigned to {agent('to_agent')}{how}.")
            parts.append(f"Picked as {RULES.get(rule, rule)}")
            if data.get("eligible_queues") is not None:
                count = data["eligible_queues"]
                parts.append(f"from {count} eligible queue{pluralize(count)}")
    if event.kind in ("rebalanced", "reservation_expired", "follow_up_due") and data.get("rule"):
        parts.append(f"Because {RULES.get(data['rule'], data['rule'])}:")
        parts.append(f"to {agent('to_agent')}." if data.get("to_agent") else "back to the queue.")
    if event.kind == "released" and holder_key:
        parts.append(f"Released by {agent(holder_key)}")
        if data.get("not_offered_again_until"):
            parts.append(f"(not offered to them again until {_when(data['not_offered_again_until'])})")
    if event.kind == "rejected":
        whom = agent(holder_key) if holder_key else "this agent"
        until = data.get("not_offered_again_until")
        parts.append(f"Back to the queue; not offered to {whom} again "
                     + (f"until {_when(until)}." if until else "for a while."))
    if event.kind == "resumed" and data.get("follow_up_was"):
        parts.append(f"Taken up before its follow-up time ({_when(data['follow_up_was'])})")
    if event.kind == "cancelled" and holder_key:
        parts.append(f"Cancelled while held by {agent(holder_key)}")
    if event.kind == "pended" and data.get("until"):
        parts.append(f"Until {_when(data['until'])}")
        if data.get("governed_by") == EXTERNAL_DEADLINE:
            parts.append(f"(the SLA clock pauses; the source's deadline, {_when(data.get('due_at'))}, governs)")
    if event.kind == "completed" and data.get("outcome"):
        parts.append(f"Outcome: {labels.outcome_label(data['outcome'])}")
    if event.kind == "transferred":
        if data.get("to_queue"):
            names = [queue_names.get(data.get(key), data.get(key)) for key in ("from_queue", "to_queue")]
            parts.append(f"From {names[0]} to {names[1]}")
        if data.get("to_agent"):
            parts.append(f"To {agent('to_agent')}")
    if event.kind == "priority_changed" and data.get("to_priority"):
        names = dict(Priority.choices)
        parts.append(f"From {names.get(data.get('from_priority'), '?')} to {names.get(data['to_priority'], '?')};")
        parts.append(f"due {_when(data.get('from_due_at'))} → {_when(data.get('to_due_at'))}")
        if data.get("governed_by"):
            parts.append(f"(set by {GOVERNING_LABELS[data['governed_by']]})")
    if event.kind == "created" and data.get("source"):
        parts.append(f"From {data['source']} ({data.get('external_id', '')})")
        if data.get("external_deadline"):
            parts.append(f"with its own deadline {_when(data['external_deadline'])};")
            governing = GOVERNING_LABELS[data.get("governed_by", "policy")]
            parts.append(f"due {_when(data.get('due_at'))}, set by {governing}")
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
def remaining_words(remaining: timedelta) -> str:
    """'3 h 5 min left' or 'overdue by 12 min': working time left on an SLA clock."""
    seconds = remaining.total_seconds()
    return f"{duration_words(seconds)} left" if seconds >= 0 else f"overdue by {duration_words(seconds)}"
