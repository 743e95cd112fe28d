"""Durations as people type and read them in configuration: in hours and minutes."""

from __future__ import annotations

from datetime import timedelta


def hours_minutes_words(duration: timedelta | None) -> str:
    """A configured duration as it is entered, in hours and minutes: '8 h', '40 h 30 min',
    '15 min', '0 min'. Unlike the SLA clock's countdown (allocation's duration_words:
    '1 d 16 h'), hours are not folded into days: admins type 40 h, and read 40 h back."""
    if duration is None:
        return "—"
    hours, minutes = divmod(int(duration.total_seconds() // 60), 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
