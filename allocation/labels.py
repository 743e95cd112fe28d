"""How codes and values read to a person: the one place each is worded for pages, messages
and notifications. Data and the API keep the codes; people see these words."""

from __future__ import annotations

import re
from datetime import date, datetime

from django.utils import timezone
from django.utils.formats import date_format

# The portal's way of writing a moment, and a day (in the current time zone).
MOMENT_FORMAT = "D j M Y, H:i"
DAY_FORMAT = "D j M Y"

# A value in the ISO form sources and events write dates in: 2027-01-01, or with a time.
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
# An outcome written as a code (resolved-for-cardholder, need_info), not as free text.
CODE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")

# The periodic jobs and internal processes that act without a person (SystemActor names).
SYSTEM_ACTORS = {
    "reservation-expiry": "reservation expiry (automatic)",
    "rebalancer": "rebalancing (automatic)",
    "push-allocation": "push allocation (automatic)",
    "routing": "the routing job (automatic)",
    "sla-alerts": "SLA alerts (automatic)",
    "sla-actions": "SLA actions (automatic)",
    "idle-timeout": "idle timeout (automatic)",
    "quality-rework": "quality rework (automatic)",
    "quality-sampling": "quality sampling (automatic)",
}


def presence_label(presence: str, reason: str = "") -> str:
    """"Away (Lunch)": a presence and, if the agent gave one, why."""
    from allocation.models import Presence

    return str(Presence(presence).label) + (f" ({reason})" if reason else "")


def moment_words(moment: datetime | None) -> str:
    """A moment as the portal writes it, in the current time zone: 'Wed 2 Dec 2026, 11:07'."""
    return "—" if moment is None else date_format(timezone.localtime(moment), MOMENT_FORMAT)


def since_words(moment: datetime | None) -> str:
    """Since when, for a state that may have begun days ago: '11:07' today, else the whole
    moment ('Wed 2 Dec 2026, 11:07') — a bare time from another day reads as today's."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return date_format(local, "H:i") if local.date() == timezone.localdate() else moment_words(moment)


def iso_words(value) -> str:
    """An ISO date or moment, as events and payloads store them, in the portal's words;
    anything else as it is."""
    text = str(value)
    try:
        if ISO_MOMENT.fullmatch(text):
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment_words(moment if timezone.is_aware(moment) else timezone.make_aware(moment))
        if ISO_DATE.fullmatch(text):
            return date_format(date.fromisoformat(text), DAY_FORMAT)
    except ValueError:
        pass
    return text


def display_name(user) -> str:
    """What a person is called on pages: the full name, else the username."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


def actor_name(record) -> str:
    """Who acted on an audit record (an event, a presence change), for people: the person's
    display name, or the job's name in words."""
    if record.actor_id:
        return display_name(record.actor)
    return SYSTEM_ACTORS.get(record.system_actor, f"{words(record.system_actor)} (automatic)")


def presence_set_by_words(change) -> str:
    """Who made an agent away or offline, told to that agent (selectors.presence_set_by_another):
    'Set offline by Dana Morgan at 14:02.', or the idle sweep's rule in words."""
    from django.conf import settings

    from allocation.models import Presence
    from allocation.services.rebalancing import IDLE_TIMEOUT  # the sweep that writes it, named once

    presence, at = str(Presence(change.presence).label).lower(), since_words(change.at)
    if change.system_actor == IDLE_TIMEOUT.name:
        minutes = int(settings.WFO_PRESENCE_IDLE.total_seconds() // 60)
        return (f"Set {presence} automatically at {at}: no page or API request came from you for "
                f"{minutes} minute{'s' if minutes != 1 else ''}.")
    return f"Set {presence} by {actor_name(change)} at {at}."


def words(code: str) -> str:
    """'resolved-for-cardholder' → 'Resolved for cardholder'."""
    text = re.sub(r"[-_]+", " ", str(code)).strip()
    return text[:1].upper() + text[1:]


def outcome_label(outcome: str) -> str:
    """An item's outcome as people read it. Queues list outcomes as codes
    ('resolved-for-cardholder'); a queue without a list takes free text, shown as typed."""
    return words(outcome) if CODE.fullmatch(outcome or "") else outcome
