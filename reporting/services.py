"""Writes of the reporting app other than the rollups (reporting/rollups.py owns those):
a user's wallboard choice, and a queue's wallboard thresholds."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from allocation.models import Queue, Team
from core.exceptions import PermissionDenied
from reporting import selectors
from reporting.models import QueueThresholds, WallboardChoice


@transaction.atomic
def wallboard_choice_save(*, user, teams: Iterable[Team], queues: Iterable[Queue], theme: str) -> WallboardChoice:
    """Remember what the user's wallboard shows (the caller offers only teams and queues
    the user may filter by)."""
    choice, _ = WallboardChoice.objects.get_or_create(user=user)
    choice.theme = theme
    choice.save(update_fields=["theme", "updated_at"])
    choice.teams.set(teams)
    choice.queues.set(queues)
    return choice


@transaction.atomic
def queue_thresholds_save(*, user, queue: Queue, values: dict[str, int | None]) -> QueueThresholds:
    """Set a queue's amber and red thresholds (the form checked them field by field; the
    database refuses an amber not below its red)."""
    if not selectors.thresholds_queues(user).filter(pk=queue.pk).exists():
        raise PermissionDenied(f"You can set the thresholds of your teams' queues only, not {queue.name}'s.")
    thresholds, _ = QueueThresholds.objects.get_or_create(queue=queue)
    for name, value in values.items():
        setattr(thresholds, name, value)
    thresholds.updated_by = user
    thresholds.save()
    return thresholds
