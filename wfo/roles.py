"""The portal's roles and the permissions each needs: the one place to read or change them.

Groups are created by data migrations that call `role_groups_sync`; a later migration
that adds permissions calls it again.
"""

from __future__ import annotations

AGENT = "Agent"
SUPERVISOR = "Supervisor"
ADMIN = "Admin"
SOURCE_SYSTEM = "Source system"

_VIEW_SETUP = [
    "allocation.view_queue",
    "allocation.view_queueskill",
    "allocation.view_skill",
    "allocation.view_team",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Agents see and work only the items they hold: no view_workitem.
    AGENT: [*_VIEW_SETUP],
    SUPERVISOR: [
        *_VIEW_SETUP,
        "allocation.view_agentprofile",
        "allocation.view_agentskill",
        "allocation.view_workitem",
        "allocation.view_workitemevent",
        "allocation.cancel_workitem",
        "allocation.reassign_workitem",
        "quality.view_evaluation",
        "quality.view_evaluationform",
        "quality.resolve_dispute",
        "quality.add_calibrationsession",
    ],
    # Admins configure the operation; they get every permission of these apps.
    ADMIN: [
        "allocation.*",
        "quality.*",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "authtoken.*",
        "django_celery_beat.*",
        "wfo.*",
        "axes.*",  # see and clear login lockouts
    ],
    SOURCE_SYSTEM: [
        "allocation.view_queue",
        "allocation.add_workitem",
        "allocation.view_workitem",
        "allocation.cancel_workitem",
    ],
}


def _permission_filter(Permission, spec: str):
    app_label, codename = spec.split(".")
    permissions = Permission.objects.filter(content_type__app_label=app_label)
    return permissions if codename == "*" else permissions.filter(codename=codename)


def role_groups_sync(apps) -> None:
    """Create the role groups and set each one's permissions to exactly ROLE_PERMISSIONS."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Permissions are normally created after migrate; the groups need them now.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, specs in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = set()
        for spec in specs:
            found = list(_permission_filter(Permission, spec))
            # An app migrated later (no permission of it exists yet) syncs the roles again then.
            app_migrated = Permission.objects.filter(content_type__app_label=spec.split(".")[0]).exists()
            if not found and app_migrated:
                raise LookupError(f"Role {role!r} names unknown permission {spec!r}.")
            permissions.update(found)
        group.permissions.set(permissions)


def user_roles(user) -> list[str]:
    if not user.is_authenticated:
        return []
    names = {group.name for group in user.groups.all()}
    return [role for role in ROLE_PERMISSIONS if role in names]


# Who runs the whole operation rather than some teams of it: admins reach every queue's
# work and every agent; supervisors only their teams' (bulk reassign, scorecards).
ADMIN_PERMISSION = "allocation.change_queue"


def user_is_admin(user) -> bool:
    return user.is_superuser or user.has_perm(ADMIN_PERMISSION)
