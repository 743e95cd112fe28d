"""Reads of the project-wide records: a user's notifications."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from core.models import Notification


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


# Every full page shows the count in its navigation: a plain statement (on the partial
# index of unread rows), since the ORM's compiling of a count cost more than running it.
_UNREAD_COUNT = (f'SELECT count(*) FROM "{Notification._meta.db_table}" '
                 f'WHERE "{Notification._meta.get_field("user").column}" = %s AND read_at IS NULL')


def unread_notification_count(user) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_UNREAD_COUNT, [user.pk])
        return cursor.fetchone()[0]
