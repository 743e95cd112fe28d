"""Who is signed in, read with what every request then asks of them — the user, its agent
profile (or its absence), its role groups, the teams it supervises and its permissions — in
one plain statement (core.rows): from the session (`UserWithProfileBackend`) or from an API
token (`TokenWithProfileAuthentication`). The ORM would spend up to six queries on them,
and about 1 ms of CPU compiling each, on every request; roles (core.roles), the agent's
own pages, the lifecycle's permission checks and the API then find them in hand."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from allocation.models import AgentProfile, Team
from core import roles
from core.rows import Columns, columns


class UserWithProfileBackend(ModelBackend):
    """Django's model backend (passwords, permissions), whose signed-in user comes with its
    agent profile, roles and permissions."""

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


def _permission_names(links: str, owner: str) -> str:
    """"app_label.codename" of each permission `links` (a many-to-many table) gives `owner`,
    as ModelBackend names them."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    return (f'SELECT ct.app_label || \'.\' || pm.codename FROM {links} '
            f'JOIN "{Permission._meta.db_table}" pm ON pm.id = link.permission_id '
            f'JOIN "{ContentType._meta.db_table}" ct ON ct.id = pm.content_type_id WHERE {owner}')


@functools.cache
def _read_along() -> str:
    """The groups' names, the supervised teams' ids, the user's own permissions and its
    groups' (each an array)."""
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    in_groups = f'"{user_model.groups.through._meta.db_table}"'
    return ", ".join([
        f'ARRAY(SELECT g.name FROM {in_groups} ug JOIN "{Group._meta.db_table}" g ON g.id = ug.group_id '
        f"WHERE ug.user_id = u.id)",
        f'ARRAY(SELECT ts.team_id FROM "{Team.supervisors.through._meta.db_table}" ts WHERE ts.user_id = u.id)',
        "ARRAY(" + _permission_names(f'"{user_model.user_permissions.through._meta.db_table}" link',
                                     "link.user_id = u.id") + ")",
        "ARRAY(" + _permission_names(f'{in_groups} ug JOIN "{Group.permissions.through._meta.db_table}" link '
                                     "ON link.group_id = ug.group_id", "ug.user_id = u.id") + ")",
    ])


@functools.cache
def _statement(by: str) -> tuple[str, Columns, Columns, Columns | None]:
    user, profile = columns(get_user_model(), "u"), columns(AgentProfile, "p")
    token = columns(Token, "t") if by == BY_TOKEN else None
    select = ", ".join([*(c.select_list for c in (user, profile, token) if c is not None), _read_along()])
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
    *row, group_names, team_ids, user_permissions, group_permissions = row
    user = user_columns.instance(row[:user_columns.width])
    rest = row[user_columns.width:]
    profile_row, token_row = rest[:profile_columns.width], rest[profile_columns.width:]
    roles.roles_read_along(user, group_names=group_names, team_ids=team_ids)
    if user.is_active and not user.is_superuser:
        # ModelBackend's own caches, filled as it fills them (a superuser has every
        # permission: Django answers it without them).
        user._user_perm_cache, user._group_perm_cache = set(user_permissions), set(group_permissions)
        user._perm_cache = user._user_perm_cache | user._group_perm_cache
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
