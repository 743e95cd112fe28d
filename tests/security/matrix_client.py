"""Requests as each role, each in a savepoint rolled back after it, so one role's POST
never changes what the next role sees."""

from __future__ import annotations

import json

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.world import World

API_PREFIX = "/api/"


def url_names() -> dict[str, set[str]]:
    """Every named URL of the project outside the admin site (which has its own matrix),
    with the names of its parameters."""
    names: dict[str, set[str]] = {}

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                names[name] = set(pattern.pattern.regex.groupindex)

    walk(get_resolver().url_patterns)
    return names


def url_for(name: str, world: World) -> str:
    return reverse(name, kwargs={key: world.kwargs[key] for key in url_names()[name]})


def fingerprint(world: World) -> tuple:
    """What a request could have changed: the held item, the evaluation, work and events,
    webhook subscriptions, the agent's presence."""
    from allocation.models import AgentProfile, WebhookSubscription, WorkItem, WorkItemEvent
    from quality.models import Evaluation

    item = WorkItem.objects.get(pk=world.kwargs["item_id"])
    agent = AgentProfile.objects.get(pk=world.kwargs["agent_id"])
    evaluation = Evaluation.objects.get(pk=world.kwargs["evaluation_id"])
    return (item.status, item.assignee_id, item.queue_id, item.priority, WorkItem.objects.count(),
            WorkItemEvent.objects.count(), evaluation.status, Evaluation.objects.count(),
            sorted(WebhookSubscription.objects.values_list("pk", "name", "is_active")), agent.presence,
            agent.presence_reason_id)


def status_as(role: str, world: World, method: str, url: str, data=None) -> tuple[int, str, bool]:
    """The status, the redirect target, and whether anything changed, for a request as
    `role`: pages with a session, the API with the role's token (a source system has only
    its token)."""
    client = Client()
    headers = {}
    if role != "anonymous":
        if url.startswith(API_PREFIX) or role in ("source", "other_source"):
            headers["HTTP_AUTHORIZATION"] = f"Token {world.tokens[role]}"
        else:
            client.force_login(world.users[role])
    with transaction.atomic():
        before = fingerprint(world)
        if method == "GET":
            response = client.get(url, data or {}, **headers)
        elif url.startswith(API_PREFIX):
            response = client.generic(method, url, json.dumps(data or {}), content_type="application/json", **headers)
        else:
            response = client.post(url, data or {}, **headers)
        changed = fingerprint(world) != before
        transaction.set_rollback(True)
    return response.status_code, response.get("Location", ""), changed
