"""Who is signed in, read with what every request then asks of them: the user and its agent
profile (or its absence) in one plain statement (core.rows) — from the session
(`UserWithProfileBackend`) or from an API token (`TokenWithProfileAuthentication`). The
ORM would spend two queries and about 2 ms of CPU compiling them on every request; roles,
the agent's own pages and the API all read `user.agent_profile`, which is then in hand."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from allocation.models import AgentProfile
from core.rows import Columns, columns


class UserWithProfileBackend(ModelBackend):
    """Django's model backend (passwords, permissions), whose signed-in user comes with its
    agent profile."""

    def get_user(self, user_id):
        found = _read(BY_USER_ID, user_id)
        user = found[0] if found else None
        return user if user is not None and self.user_can_authenticate(user) else None


class TokenWithProfileAuthentication(TokenAuthentication):
    """DRF's token authentication (the same answers), whose user comes with its agent profile."""

    def authenticate_credentials(self, key):
        found = _read(BY_TOKEN, key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, token


BY_USER_ID, BY_TOKEN = "user id", "token"


@functools.cache
def _statement(by: str) -> tuple[str, Columns, Columns, Columns | None]:
    user, profile = columns(get_user_model(), "u"), columns(AgentProfile, "p")
    token = columns(Token, "t") if by == BY_TOKEN else None
    select = ", ".join(c.select_list for c in (user, profile, token) if c is not None)
    source = (f'"{Token._meta.db_table}" t JOIN "{user.model._meta.db_table}" u ON u.id = t."user_id"'
              if token else f'"{user.model._meta.db_table}" u')
    where = 't."key" = %s' if token else "u.id = %s"
    sql = (f'SELECT {select} FROM {source} LEFT JOIN "{AgentProfile._meta.db_table}" p ON p."user_id" = u.id '
           f"WHERE {where}")
    return sql, user, profile, token


def _read(by: str, value):
    """(user, token or None) — the user with its profile, as select_related would leave
    them — or None when no row matches."""
    sql, user_columns, profile_columns, token_columns = _statement(by)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    user = user_columns.instance(row[:user_columns.width])
    rest = row[user_columns.width:]
    profile_row, token_row = rest[:profile_columns.width], rest[profile_columns.width:]
    profile = profile_columns.instance(profile_row) if profile_row[0] is not None else None
    link = AgentProfile._meta.get_field("user")
    link.remote_field.set_cached_value(user, profile)  # None: known to have none
    if profile is not None:
        link.set_cached_value(profile, user)
    token = None
    if token_columns is not None:
        token = token_columns.instance(token_row)
        Token._meta.get_field("user").set_cached_value(token, user)
    return user, token
