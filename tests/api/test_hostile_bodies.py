"""Hostile bodies for every write operation of the API, from every role (tests/api/hostile.py
draws them, seeded: a failure names the operation, role and index to replay with
`hostile.body_for`).

Each request runs in a savepoint rolled back after it, so requests are independent and the
world is built once. For every answer: never a 5xx; a 2xx only where the body is legitimately
acceptable (hostile.acceptable); every 4xx the API's JSON error body ({"detail", "code",
optional "errors"}) and nothing written — the row count of every table of the project's apps
and auth/authtoken, and a fingerprint of what requests change in place (items' state, holder,
queue, priority and deadlines, evaluations and their answers, agents' presence, SLA clocks),
read in one statement, equal to the world's. Every offence is reported, not only the first.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone

from allocation import services
from allocation.models import (
    AgentProfile,
    AllocationMode,
    BusinessCalendar,
    ItemStatus,
    Queue,
    SlaClock,
    SlaPolicy,
    WebhookDelivery,
    WebhookSubscription,
    WorkingWindow,
    WorkItem,
)
from allocation.services import intake, webhooks
from core import roles
from core.actors import SystemActor
from core.roles import role_groups_sync
from quality import services as quality_services
from quality.models import Answer, Evaluation, EvaluationSource, Question
from tests import factories
from tests.api import hostile
from tests.helpers import queued_item, started_item
from tests.security.matrix_client import url_names
from tests.security.world import world_build

WRITE_METHODS = ("post", "put", "patch", "delete")
COUNTED_APPS = ("allocation", "quality", "reporting", "wfo", "auth", "authtoken")
ERROR_KEYS = {"detail", "code", "errors"}

# The module's world lives in a transaction of its own (the `world` fixture); each test's
# transaction nests inside it.
pytestmark = pytest.mark.django_db


# The world -------------------------------------------------------------------------------------

@dataclass
class HostileWorld:
    refs: hostile.Refs
    tokens: dict[str, str]
    snapshot_sql: str
    snapshot_names: list[str]
    baseline: tuple
    # One client for every request: its handler loads the middleware once.
    client: Client = field(default_factory=lambda: Client(raise_request_exception=False))
    urls: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def url(self, operation: hostile.Operation, target: str | None) -> str:
        key = (operation.name, target)
        if key not in self.urls:
            if operation.target is None:
                self.urls[key] = reverse(operation.name)
            else:
                ids = self.refs.targets(operation.target)
                self.urls[key] = reverse(operation.name, kwargs={f"{operation.target}_id": ids[target]})
        return self.urls[key]


def _world_extend(world) -> hostile.Refs:
    """tests/security/world.py's office, plus what the bodies name: a push queue per team, an
    inactive queue, a teammate, items held (started, pushed) by each team's agent and waiting
    in each team's queue under each source, an evaluation by another evaluator on another form,
    and a submitted evaluation of each agent's work; team A's queues count their SLA on a
    business calendar, queue B has fixed outcomes."""
    users = world.users
    agent, other_agent = users["agent"].agent_profile, users["other_agent"].agent_profile
    team, other_team = agent.team, other_agent.team
    queue_a = Queue.objects.get(code=world.kwargs["queue_code"])
    queue_b = Queue.objects.get(code=world.kwargs["other_queue_code"])
    queue_b.outcomes = ["approved", "declined"]
    queue_b.save(update_fields=["outcomes"])
    calendar = BusinessCalendar.objects.create(name="Office hours", time_zone="Europe/London")
    WorkingWindow.objects.bulk_create(
        WorkingWindow(calendar=calendar, weekday=day, start="09:00", end="17:30") for day in range(5)
    )
    push_a = factories.QueueFactory(code="qpa", teams=[team], allocation_mode=AllocationMode.PUSH)
    for queue in (queue_a, push_a):
        SlaPolicy.objects.create(queue=queue, target=timedelta(hours=16), calendar=calendar)
    SlaPolicy.objects.create(queue=queue_b, priority=5, target=timedelta(hours=2))
    push_b = factories.QueueFactory(code="qpb", teams=[other_team], allocation_mode=AllocationMode.PUSH)
    inactive = factories.QueueFactory(code="qx", teams=[team], is_active=False)
    teammate = factories.AgentFactory(team=team, capacity=5, user__username="teammate")

    system = SystemActor("tests")
    other_held = started_item(other_agent, queue_b, source="claims")
    pushed = services.item_transfer(item_id=queued_item(push_a).pk, actor=system, to_agent_id=agent.pk)
    other_pushed = services.item_transfer(item_id=queued_item(push_b, source="claims").pk, actor=system,
                                          to_agent_id=other_agent.pk)
    queued_a = queued_item(queue_a, source="crm")
    queued_b = queued_item(queue_b, source="claims")
    other_done = factories.WorkItemFactory(
        queue=queue_b, source="claims", status=ItemStatus.COMPLETED, completed_by=other_agent.user,
        closed_at=timezone.now() - timedelta(hours=1), outcome="approved",
    )

    evaluation = Evaluation.objects.get(pk=world.kwargs["evaluation_id"])
    second_evaluator = factories.UserFactory(username="qa-analyst-2", roles=[roles.QUALITY_EVALUATOR])
    _, other_version, _ = factories.form_with_questions(name="Refund handling")
    other_evaluation = factories.EvaluationFactory(item=evaluation.item, agent=agent.user, evaluator=second_evaluator,
                                                   version=other_version, source=EvaluationSource.MANUAL)

    def submitted(item, agent_user) -> Evaluation:
        scored = factories.EvaluationFactory(item=item, agent=agent_user, evaluator=second_evaluator,
                                             version=evaluation.version, source=EvaluationSource.MANUAL)
        answers = {q.id: "yes" if q.kind == "yes_no" else "4" for q in questions_of(evaluation.version)}
        return quality_services.evaluation_submit(evaluation_id=scored.pk, actor=second_evaluator, answers=answers)

    own_submitted = submitted(evaluation.item, agent.user)
    other_submitted = submitted(other_done, other_agent.user)

    other_subscription = webhooks.webhook_subscription_create(
        name="Claims feed", url="https://93.184.215.14/claims", kinds=["completed"], integration=users["other_source"],
        owner=users["other_source"])
    last_item = WorkItem.objects.order_by("-pk").values_list("pk", flat=True).first()
    last_evaluation = Evaluation.objects.order_by("-pk").values_list("pk", flat=True).first()
    items = {"held": world.kwargs["item_id"], "pushed": pushed.pk, "queued_a": queued_a.pk,
             "other_held": other_held.pk, "other_pushed": other_pushed.pk, "queued_b": queued_b.pk,
             "done": evaluation.item_id, "missing": last_item + 10_000, "huge": 2**63}
    evaluations = {"evaluation": evaluation.pk, "other_evaluation": other_evaluation.pk,
                   "submitted": own_submitted.pk, "other_submitted": other_submitted.pk,
                   "missing": last_evaluation + 10_000, "huge": 2**63}
    version_of = {"evaluation": evaluation.version, "other_evaluation": other_version,
                  "submitted": evaluation.version, "other_submitted": evaluation.version}
    queue_of = {name: WorkItem.objects.select_related("queue").get(pk=pk).queue
                for name, pk in items.items() if name not in ("missing", "huge")}
    held = WorkItem.objects.get(pk=items["held"])
    return hostile.Refs(
        now=timezone.now(),
        items=items,
        evaluations=evaluations,
        questions={name: questions_of(version) for name, version in version_of.items()},
        answered={name: frozenset(Answer.objects.filter(evaluation_id=evaluations[name])
                                  .values_list("question_id", flat=True)) for name in version_of},
        outcomes={name: tuple(queue.outcomes) for name, queue in queue_of.items()},
        queues={"own": queue_a.code, "other": queue_b.code, "push": push_a.code, "inactive": inactive.code},
        active_queues=frozenset(Queue.objects.filter(is_active=True).values_list("code", flat=True)),
        agents={"agent": users["agent"].username, "teammate": teammate.user.username,
                "other_team": users["other_agent"].username, "not_agent": users["supervisor"].username},
        agent_usernames=frozenset(AgentProfile.objects.values_list("user__username", flat=True)),
        sources={role: (roles.sources_of(users[role]) if roles.is_source_system(users[role]) else None)
                 for role in ("admin", "source", "other_source")},
        existing={"own": (held.source, held.external_id), "other": (other_held.source, other_held.external_id)},
        max_depth=settings.WFO_MAX_JSON_DEPTH,
        max_values=settings.WFO_MAX_JSON_ELEMENTS,
        max_batch=settings.WFO_MAX_BATCH_ITEMS,
        max_request_bytes=settings.WFO_MAX_REQUEST_BYTES,
        max_payload_bytes=settings.WFO_MAX_PAYLOAD_BYTES,
        max_pend=settings.WFO_MAX_PEND,
        max_receipt_age=settings.WFO_MAX_RECEIPT_AGE,
        clock_skew=intake.CLOCK_SKEW_ALLOWANCE,
        subscriptions={"own": world.kwargs["subscription_id"], "other": other_subscription.pk,
                       "missing": other_subscription.pk + 10_000, "huge": 2**63},
        all_queues=frozenset(Queue.objects.values_list("code", flat=True)),
    )


def questions_of(version) -> tuple[hostile.Question, ...]:
    return tuple(hostile.Question(q.pk, q.kind, q.allow_na, q.scale_min, q.scale_max)
                 for q in Question.objects.filter(section__version=version).order_by("pk"))


def _snapshot_query() -> tuple[str, list[str]]:
    """One statement: the row count of every table of the counted apps, then a fingerprint of
    each kind of row that requests change in place."""
    quote = connection.ops.quote_name
    tables = counted_tables()
    parts = [f"(SELECT count(*) FROM {quote(table)})" for table in tables]
    names = [f"rows of {table}" for table in tables]
    state = {
        WorkItem: ["status", "assignee", "queue", "priority", "due_at", "start_by", "pended_until", "closed_at",
                   "outcome", "completed_by", "updated_at"],
        Evaluation: ["status", "score", "passed", "dispute_comment", "submitted_at"],
        Answer: ["value", "comment", "dispute_comment"],
        AgentProfile: ["presence", "presence_since", "last_assigned_at", "capacity"],
        SlaClock: ["target", "paused_working", "paused_since", "stopped_at", "next_threshold", "external_deadline"],
        WebhookSubscription: ["name", "url", "kinds", "sources", "is_active", "max_attempts", "paused_reason"],
        WebhookDelivery: ["status", "attempts", "next_attempt_at"],
    }
    for model, fields in state.items():
        columns = ", ".join(quote(model._meta.get_field(name).column) for name in [model._meta.pk.name, *fields])
        pk = quote(model._meta.pk.column)
        parts.append(f"(SELECT md5(coalesce(string_agg(concat_ws('|', {columns}), ',' ORDER BY {pk}), '')) "
                     f"FROM {quote(model._meta.db_table)})")
        names.append(f"state of {model._meta.label} ({', '.join(fields)})")
    return "SELECT " + ", ".join(parts), names


def counted_tables() -> list[str]:
    return sorted({model._meta.db_table for label in COUNTED_APPS
                   for model in apps.get_app_config(label).get_models(include_auto_created=True)})


def vacuum_counted_tables() -> None:
    """Every test before this module rolled its rows back, and a server without autovacuum
    keeps them as dead rows that each of this module's ~27,000 requests (and row counts) would
    wade through: a few hundred milliseconds now save far more."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {', '.join(quote(table) for table in counted_tables())}")


def _snapshot(sql: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end."""
    with django_db_blocker.unblock():
        vacuum_counted_tables()
    with django_db_blocker.unblock(), transaction.atomic():
        role_groups_sync(apps)
        office = world_build()
        refs = _world_extend(office)
        sql, names = _snapshot_query()
        yield HostileWorld(refs=refs, tokens=office.tokens, snapshot_sql=sql, snapshot_names=names,
                           baseline=_snapshot(sql))
        transaction.set_rollback(True)


# The checks -------------------------------------------------------------------------------------

def write_operations() -> set[tuple[str, str]]:
    """Every (URL name, method) of the API that takes a body, from the URL conf."""
    found = set()
    for name, params in url_names().items():
        path = reverse(name, kwargs={param: 1 if param.endswith("_id") else "x" for param in params})
        if not path.startswith("/api/"):
            continue
        view = getattr(resolve(path).func, "view_class", None)
        found |= {(name, method.upper()) for method in WRITE_METHODS if view and hasattr(view, method)}
    return found


def error_body_problem(response) -> str | None:
    """What is wrong with a 4xx answer's body, if anything."""
    if not response.get("Content-Type", "").startswith("application/json"):
        return f"error body is not JSON ({response.get('Content-Type')}): {response.content[:80]!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"error body does not parse: {response.content[:80]!r}"
    if not isinstance(body, dict) or not {"detail", "code"} <= set(body) or set(body) - ERROR_KEYS:
        return f"error body is not {{detail, code, errors}}: {response.content[:120]!r}"
    if not isinstance(body["detail"], str) or not isinstance(body["code"], str) or \
            not isinstance(body.get("errors", {}), dict):
        return f"error body has the wrong types: {response.content[:120]!r}"
    return None


def send(operation: hostile.Operation, body: hostile.Body, world: HostileWorld) -> list[str]:
    """Send one body; what is wrong with the answer. The caller rolls back what it did."""
    response = world.client.generic(operation.method, world.url(operation, body.target), body.data,
                              content_type=body.content_type, HTTP_AUTHORIZATION=f"Token {world.tokens[body.role]}",
                              **dict(body.environ))
    status = response.status_code
    problems = []
    if status >= 500:
        problems.append(f"server error: {response.content[:200]!r}")
    elif 200 <= status < 300:
        if not body.acceptable:
            problems.append("accepted a body that breaks the contract")
    elif 400 <= status < 500:
        if problem := error_body_problem(response):
            problems.append(problem)
        try:
            after = _snapshot(world.snapshot_sql)
        except DatabaseError as error:
            problems.append(f"left the transaction unusable: {str(error).splitlines()[0]}")
        else:
            changed = [name for name, old, new in zip(world.snapshot_names, world.baseline, after, strict=True)
                       if old != new]
            if changed:
                problems.append(f"wrote on a {status}: {'; '.join(changed)}")
    else:
        problems.append("neither 2xx, 4xx nor 5xx")
    return [f"{status} {problem}" for problem in problems]


@contextmanager
def quiet_refusals():
    """Django logs every 4xx as a warning: thousands here, by design. Server errors still log."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def each_rolled_back():
    """A savepoint; `undo()` returns to it (one statement: ROLLBACK TO SAVEPOINT keeps it for
    the next request), and it is rolled back at the end. What a request leaves behind, even
    a failed statement, is undone before the next one."""
    sid = transaction.savepoint()

    def undo():
        transaction.savepoint_rollback(sid)
        transaction.set_rollback(False)  # back at a known-good savepoint

    try:
        yield undo
    finally:
        undo()


# The tests --------------------------------------------------------------------------------------

def test_every_write_operation_of_the_api_has_a_generator():
    covered = {(operation.name, operation.method) for operation in hostile.OPERATIONS}
    assert write_operations() == covered


def test_the_valid_bodies_are_judged_acceptable_for_the_roles_that_may_act(world):
    for operation in hostile.OPERATIONS:
        for role in operation.legit:
            for index in range(20):
                g = hostile.Gen(operation, role, index, world.refs)
                body = g.valid()
                assert hostile.acceptable(operation, body, g), (operation.name, role, index, body)


@pytest.mark.parametrize("operation", hostile.OPERATIONS, ids=[operation.key for operation in hostile.OPERATIONS])
def test_hostile_bodies_are_refused_cleanly_and_write_nothing(world, operation):
    assert _snapshot(world.snapshot_sql) == world.baseline
    offences = []
    sent = 0
    for role in hostile.ROLES:
        with each_rolled_back() as undo, quiet_refusals():
            for body in hostile.bodies(operation.key, role, world.refs):
                sent += 1
                offences += [(body, problem) for problem in send(operation, body, world)]
                undo()
    assert sent >= len(hostile.ROLES) * hostile.BODIES_PER_ROLE
    if offences:
        pytest.fail(report(operation, offences), pytrace=False)


def report(operation: hostile.Operation, offences: list) -> str:
    kinds = Counter((body.kind, problem.split(":")[0]) for body, problem in offences)
    lines = [f"{len(offences)} offences on {operation.method} {operation.name} (seed {hostile.SEED}; replay with "
             f"hostile.body_for({operation.key!r}, role, index, refs)):"]
    lines += [f"  {count:4} × {kind}: {problem}" for (kind, problem), count in kinds.most_common()]
    lines += [f"  {body.role} #{body.index} [{body.kind}: {body.note}] → {body.target or '-'}: {problem} | "
              f"{body.excerpt()}" for body, problem in offences]
    return "\n".join(lines)
