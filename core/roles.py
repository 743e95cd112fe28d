"""The portal's roles: who is what, and the permissions each role's group carries. The one
place to ask "is this user an agent, a supervisor (of this team), a quality evaluator, a
quality lead, an admin, a source system?" — never a model permission standing in for a role.

A role is held explicitly: membership of the role's group (Admin › Users › Groups), which
data migrations create from ROLE_PERMISSIONS through `role_groups_sync`. The agent role is
the agent profile (team, skills, capacity), since there is no agent without one. Reach —
which teams a supervisor supervises, which sources an integration may use — is data on the
user, read here once per request.

What each role may do is README's role table; tests/security/test_authorization_matrix.py
holds every URL × role to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import Prefetch, QuerySet
from django.utils.functional import LazyObject, empty

AGENT = "Agent"
SUPERVISOR = "Supervisor"
QUALITY_EVALUATOR = "Quality evaluator"
QUALITY_LEAD = "Quality lead"
ADMIN = "Admin"
SOURCE_SYSTEM = "Source system"

_VIEW_SETUP = [
    "allocation.view_queue",
    "allocation.view_queueskill",
    "allocation.view_skill",
    "allocation.view_team",
]

# The model permissions each role's group carries: Django admin reads them, and the item
# actions check them (allocation/transitions.py). Whether a user may reach a page or an API
# at all is a role question, answered by the functions below.
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
    ],
    # Scores what it is assigned; sees nothing else of the back office.
    QUALITY_EVALUATOR: [
        "quality.view_evaluationform",
    ],
    # Forms, sampling rules (in Django admin, as staff), calibration and dispute decisions.
    QUALITY_LEAD: [
        "allocation.view_queue",
        "quality.view_evaluation",
        "quality.view_evaluationform",
        "quality.add_evaluationform",
        "quality.change_evaluationform",
        "quality.view_formversion",
        "quality.view_formsection",
        "quality.view_samplingrule",
        "quality.add_samplingrule",
        "quality.change_samplingrule",
        "quality.delete_samplingrule",
        "quality.resolve_dispute",
        "quality.add_calibrationsession",
        "quality.view_calibrationsession",
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


# Who is what ------------------------------------------------------------------------------

def _remembered(user, key: str, compute: Callable):
    """Each answer read once per user object, so a request asks the database once however
    many checks a page makes (as Django caches a user's permissions). Kept on the user
    itself, not on request.user's lazy wrapper (whose __dict__ is its own): what the sign-in
    read along (roles_read_along) is then what every check of the request finds."""
    if isinstance(user, LazyObject):
        if user._wrapped is empty:
            user._setup()
        user = user._wrapped
    answers = user.__dict__.setdefault("_role_answers", {})
    if key not in answers:
        answers[key] = compute()
    return answers[key]


def roles_read_along(user, *, group_names: Iterable[str], team_ids: Iterable[int]) -> None:
    """Tell the role checks what was read along with the user (allocation.identity reads
    its groups and supervised teams in the statement that reads the user): they then ask
    the database nothing."""
    _remembered(user, "groups", lambda: frozenset(name for name in group_names if name in ROLE_PERMISSIONS))
    _remembered(user, "teams", lambda: frozenset(team_ids))


def _is_user(user) -> bool:
    # System jobs (core.actors.SystemActor) are not users and hold no role.
    return getattr(user, "is_authenticated", False) is True


def with_roles(users: QuerySet) -> QuerySet:
    """`users` with their role groups and supervised teams read along (two queries for all
    of them), so asking each one's roles costs no query: a list of deciders, say."""
    from django.contrib.auth.models import Group

    return users.prefetch_related(
        Prefetch("groups", queryset=Group.objects.filter(name__in=ROLE_PERMISSIONS), to_attr="role_groups"),
        Prefetch("supervised_teams", to_attr="teams_supervised"),
    )


def role_names(user) -> frozenset[str]:
    """The role groups the user belongs to."""
    if not _is_user(user):
        return frozenset()
    if hasattr(user, "role_groups"):  # read along (with_roles)
        return _remembered(user, "groups", lambda: frozenset(group.name for group in user.role_groups))
    return _remembered(user, "groups", lambda: frozenset(
        user.groups.filter(name__in=ROLE_PERMISSIONS).values_list("name", flat=True)
    ))


def user_roles(user) -> list[str]:
    """The user's roles for display, in ROLE_PERMISSIONS order."""
    names = role_names(user)
    return [role for role in ROLE_PERMISSIONS if role in names]


def is_agent(user) -> bool:
    """Has an agent profile (a team, skills, a capacity): gets work and acts on what it holds."""
    if not _is_user(user):
        return False

    def has_profile() -> bool:
        from django.core.exceptions import ObjectDoesNotExist

        try:
            return user.agent_profile is not None
        except ObjectDoesNotExist:
            return False

    return _remembered(user, "agent", has_profile)


def is_supervisor(user) -> bool:
    return SUPERVISOR in role_names(user)


def supervised_team_ids(user) -> frozenset[int]:
    """The teams a supervisor supervises (none for anyone else)."""
    if not is_supervisor(user):
        return frozenset()
    if hasattr(user, "teams_supervised"):  # read along (with_roles)
        return _remembered(user, "teams", lambda: frozenset(team.pk for team in user.teams_supervised))
    return _remembered(user, "teams", lambda: frozenset(user.supervised_teams.values_list("pk", flat=True)))


def is_supervisor_of(user, *, team_id: int | None) -> bool:
    """Supervises that team (an agent's, or one serving a queue)."""
    return team_id is not None and team_id in supervised_team_ids(user)


def is_quality_evaluator(user) -> bool:
    return QUALITY_EVALUATOR in role_names(user)


def is_quality_lead(user) -> bool:
    return QUALITY_LEAD in role_names(user)


def is_admin(user) -> bool:
    """Runs the whole operation: every queue's work, every agent, every page."""
    return _is_user(user) and (user.is_superuser or ADMIN in role_names(user))


def is_source_system(user) -> bool:
    return SOURCE_SYSTEM in role_names(user)


def oversees_work(user) -> bool:
    """Supervisors and admins: the back office's items (within reach), reports, reassignment."""
    return is_supervisor(user) or is_admin(user)


def sees_scorecards(user) -> bool:
    """Agents (their own) and those who oversee work (their teams'): the scorecards."""
    return is_agent(user) or oversees_work(user)


def leads_quality(user) -> bool:
    """Quality leads and admins: evaluation forms, sampling rules, calibration, disputes."""
    return is_quality_lead(user) or is_admin(user)


def takes_part_in_quality(user) -> bool:
    """Agents (their evaluated work), evaluators, quality leads, supervisors and admins: not
    source systems."""
    return is_agent(user) or is_quality_evaluator(user) or leads_quality(user) or oversees_work(user)


def sources_of(user) -> frozenset[str]:
    """The source names an integration user is bound to (Admin › Users, or Admin › Source
    bindings): it creates, reads, lists and cancels only items of these sources."""
    if not is_source_system(user):
        return frozenset()
    return _remembered(user, "sources", lambda: frozenset(user.source_bindings.values_list("source", flat=True)))
