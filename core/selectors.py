"""Reads of the project-wide records: a user's notifications."""

from __future__ import annotations

from django.db.models import QuerySet

from core.models import Notification


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def unread_notification_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
