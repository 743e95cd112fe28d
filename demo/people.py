"""The demo's people: the admin, supervisors, agents (with team, capacity and skills) and the
card platform's integration user, all sharing one demo password, and the logins table
that prints how to sign in as them.

`people_ensure` creates whoever is missing and restores the roles, flags and password the
printed logins promise, so the table is always true after a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from allocation.models import AgentProfile, AgentSkill, Presence, Skill, SourceBinding, Team
from core import roles
from demo.catalog import (
    ADMIN_USER,
    AGENT_NAMES,
    AGENT_TEAMS,
    QUALITY_EVALUATOR_USER,
    QUALITY_LEAD_USER,
    QUEUES,
    SEED,
    SKILLS,
    SOURCE,
    SUPERVISORS,
    TEAMS,
)

DEMO_PASSWORD = "wfo-demo-2026"
PORTAL_URL = "http://127.0.0.1:8000/"


@dataclass
class People:
    integration: AbstractBaseUser
    agents: list[AgentProfile]  # in AGENT_NAMES order


def _agent_skills(index: int, team: str, rng: random.Random) -> dict[str, int]:
    """2–5 skills: everything the agent's main queue needs, then a few more of its team's."""
    by_code = {spec.code: spec for spec in QUEUES}
    codes = TEAMS[team]
    main = by_code[codes[index % len(codes)]]
    skills = {name: min(5, level + rng.choice([0, 0, 1, 1, 2])) for name, level in main.skills.items()}
    others = sorted({name for code in codes for name in by_code[code].skills} - set(skills))
    for name in rng.sample(others, min(len(others), rng.randint(max(1, 2 - len(skills)), 5 - len(skills)))):
        skills[name] = rng.choices([1, 2, 3, 4, 5], [1, 2, 4, 3, 2])[0]
    return skills


def people_ensure() -> People:
    User = get_user_model()
    rng = random.Random(SEED)
    groups = {group.name: group for group in Group.objects.all()}
    missing_roles = set(roles.ROLE_PERMISSIONS) - set(groups)
    if missing_roles:
        raise CommandError(f"Role groups {sorted(missing_roles)} are missing: run `manage.py migrate` first.")

    wanted: list[tuple[str, str, str, str]] = [(ADMIN_USER[0], ADMIN_USER[1], ADMIN_USER[2], roles.ADMIN)]
    wanted += [(username, first, last, roles.SUPERVISOR) for username, first, last, _ in SUPERVISORS]
    wanted += [(*QUALITY_EVALUATOR_USER, roles.QUALITY_EVALUATOR), (*QUALITY_LEAD_USER, roles.QUALITY_LEAD)]
    wanted += [(f"{first}.{last}", first.title(), last.title(), roles.AGENT) for first, last in AGENT_NAMES]
    wanted.append((SOURCE, "Card", "Platform", roles.SOURCE_SYSTEM))

    usernames = [username for username, *_ in wanted]
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    demo_hash = _DemoHash()
    new_users = []
    for username, first, last, role in wanted:
        if username in users:
            continue
        password = make_password(None) if role == roles.SOURCE_SYSTEM else demo_hash.value
        user = User(username=username, first_name=first, last_name=last, email=f"{username}@example.com",
                    password=password)
        user.full_clean()
        new_users.append(user)
    User.objects.bulk_create(new_users)
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}

    # Restore what the printed logins promise: the role, the password, active; the admin is a
    # superuser; the quality lead is staff (its sampling rules are in Django admin).
    changed = []
    for username, _, _, role in wanted:
        user = users[username]
        is_admin = role == roles.ADMIN
        wanted_flags = {"is_active": True, "is_staff": is_admin or role == roles.QUALITY_LEAD, "is_superuser": is_admin}
        needs_update = any(getattr(user, name) != value for name, value in wanted_flags.items())
        for name, value in wanted_flags.items():
            setattr(user, name, value)
        if role != roles.SOURCE_SYSTEM and not demo_hash.matches(user.password):
            user.password = demo_hash.value
            needs_update = True
        if needs_update:
            changed.append(user)
    User.objects.bulk_update(changed, ["is_active", "is_staff", "is_superuser", "password"])
    User.groups.through.objects.bulk_create(
        [User.groups.through(user=users[username], group=groups[role]) for username, _, _, role in wanted],
        ignore_conflicts=True,
    )

    teams = {team.name: team for team in Team.objects.filter(name__in=TEAMS)}
    for username, _, _, team_names in SUPERVISORS:
        Team.supervisors.through.objects.bulk_create(
            [Team.supervisors.through(team=teams[name], user=users[username]) for name in team_names],
            ignore_conflicts=True,
        )

    skills = {skill.name: skill for skill in Skill.objects.filter(name__in=SKILLS)}
    agent_users = [users[f"{first}.{last}"] for first, last in AGENT_NAMES]
    has_profile = set(AgentProfile.objects.filter(user__in=agent_users).values_list("pk", flat=True))
    profiles, agent_skills = [], []
    for index, (user, team) in enumerate(zip(agent_users, AGENT_TEAMS, strict=True)):
        capacity = rng.randint(2, 5)
        wanted_skills = _agent_skills(index, team, rng)  # drawn every run, so the sequence never shifts
        if user.pk in has_profile:
            continue
        profiles.append(AgentProfile(user=user, team=teams[team], capacity=capacity, presence=Presence.OFFLINE))
        agent_skills += [AgentSkill(agent_id=user.pk, skill=skills[name], proficiency=level)
                         for name, level in wanted_skills.items()]
    AgentProfile.objects.bulk_create(profiles)
    AgentSkill.objects.bulk_create(agent_skills)

    Token.objects.get_or_create(user=users[SOURCE])
    SourceBinding.objects.get_or_create(user=users[SOURCE], source=SOURCE)
    agents = list(AgentProfile.objects.filter(user__in=agent_users).select_related("user"))
    order = {user.pk: index for index, user in enumerate(agent_users)}
    agents.sort(key=lambda agent: order[agent.pk])
    return People(integration=users[SOURCE], agents=agents)


class _DemoHash:
    """The demo password hashed once (hashing is deliberately slow), and stored hashes
    checked once each: every demo user shares one hash."""

    def __init__(self):
        self._value: str | None = None
        self._checked: dict[str, bool] = {}

    @property
    def value(self) -> str:
        if self._value is None:
            self._value = make_password(DEMO_PASSWORD)
        return self._value

    def matches(self, encoded: str) -> bool:
        if encoded not in self._checked:
            self._checked[encoded] = check_password(DEMO_PASSWORD, encoded)
        return self._checked[encoded]


def logins_table(url: str = PORTAL_URL) -> str:
    """The demo logins, for people: a few agents per team, supervisors, admin, the API token."""
    User = get_user_model()
    rows = [("Admin", ADMIN_USER[0], DEMO_PASSWORD, "Django admin at /admin/ (superuser)")]
    rows += [("Supervisor", username, DEMO_PASSWORD, ", ".join(teams)) for username, _, _, teams in SUPERVISORS]
    rows.append(("Quality evaluator", QUALITY_EVALUATOR_USER[0], DEMO_PASSWORD, "scores sampled work at /quality/"))
    rows.append(("Quality lead", QUALITY_LEAD_USER[0], DEMO_PASSWORD,
                 "forms, calibration, disputes; sampling rules in /admin/"))
    shown = 0
    for team in TEAMS:
        agents = (AgentProfile.objects.filter(team__name=team, presence=Presence.AVAILABLE,
                                              user__username__in=[f"{f}.{last}" for f, last in AGENT_NAMES])
                  .select_related("user").order_by("user__username")[:2])
        for agent in agents:
            rows.append(("Agent", agent.user.username, DEMO_PASSWORD, f"{team}, capacity {agent.capacity}"))
            shown += 1
    token = Token.objects.filter(user__username=SOURCE).values_list("key", flat=True).first() or "(none)"
    rows.append(("Source system", SOURCE, "(token only)", f"API token {token}, source {SOURCE!r}"))

    widths = [max(len(row[column]) for row in [("Role", "Username", "Password", "Notes"), *rows])
              for column in range(4)]
    line = "  ".join(f"{{:<{width}}}" for width in widths[:-1]) + "  {}"
    more = User.objects.filter(username__in=[f"{f}.{last}" for f, last in AGENT_NAMES]).count() - shown
    return "\n".join([
        "",
        f"WFO Portal: {url}",
        "",
        line.format("Role", "Username", "Password", "Notes"),
        "  ".join("-" * width for width in widths),
        *(line.format(*row) for row in rows),
        "",
        f"{more} more agents (first.last, e.g. julia.novak) use the same password; see Admin › Users.",
        f"API: curl -H 'Authorization: Token {token}' '{url}api/v1/items/?page_size=2'",
        "",
    ])
