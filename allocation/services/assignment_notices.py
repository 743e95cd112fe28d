"""Telling an agent that a person gave it an item (a supervisor's transfer or bulk
reassignment): a directed assignment is a decision, so the agent hears of it — who, which
item, why — in the portal and by e-mail (the notification is the e-mail's outbox)."""

from __future__ import annotations

from django.urls import reverse

from allocation.models import WorkItem
from core.services import NotificationDraft, notifications_create

NOTIFICATION_KIND = "assignment"


def assignment_notify(*, item: WorkItem, by, reason: str) -> None:
    """Within the assigning transaction: nothing is said of an assignment rolled back."""
    giver = by.get_full_name() or by.get_username()
    body = (f"{giver} gave you work item #{item.pk} in {item.queue.name}. "
            + (f"Reason: {reason}. " if reason else "")
            + "It stays with you until you start it or hand it back.")
    notifications_create(drafts=[NotificationDraft(
        user_id=item.assignee_id, kind=NOTIFICATION_KIND, title=f"{giver} gave you #{item.pk} {item.title}"[:200],
        body=body, url=reverse("work:item", args=[item.pk]), email=True,
    )])
