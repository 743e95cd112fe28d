"""Who may call which part of the API, by role (core/roles.py): the DRF permission classes
every API view names. What a caller may then see or change inside — which items, which
evaluations — is the selectors' and services' business."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from core import roles


class IsAgent(BasePermission):
    message = "Only agents can do this: this user has no agent profile."

    def has_permission(self, request, view) -> bool:
        return roles.is_agent(request.user)


class IsSourceSystem(BasePermission):
    message = "Only source systems (integration users) can do this."

    def has_permission(self, request, view) -> bool:
        return roles.is_source_system(request.user)


class OverseesWork(BasePermission):
    """Supervisors and admins: reports, bulk reassignment."""

    message = "This is for supervisors and admins."

    def has_permission(self, request, view) -> bool:
        return roles.oversees_work(request.user)


class WorksWithItems(BasePermission):
    """The item API's callers: agents (what they hold), supervisors and admins (what they
    oversee), source systems (their own sources' items). Quality evaluators and leads see
    items only through the evaluations they work on."""

    message = "Your role does not work with work items through the API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return roles.is_agent(user) or roles.oversees_work(user) or roles.is_source_system(user)


class TakesPartInQuality(BasePermission):
    """The quality API's callers: agents (their evaluated work), evaluators, quality leads,
    supervisors and admins — not source systems."""

    message = "Your role has no part in quality evaluation."

    def has_permission(self, request, view) -> bool:
        return roles.takes_part_in_quality(request.user)
