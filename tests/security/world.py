"""One small office for authorization tests: two teams, each with a supervisor and an
agent; an item held by team A's agent; a completed item of that agent under evaluation by
a quality evaluator; a quality lead with a form and a calibration session; two source
systems with API tokens, the first bound to the sources of the office's items, the second
to a source of its own. Every role the matrix checks is a user here (or anonymous)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authtoken.models import Token

from allocation.models import ItemStatus
from allocation.services import webhooks
from core import roles
from quality.models import EvaluationSource
from tests import factories
from tests.helpers import started_item

ROLES = ("anonymous", "agent", "other_agent", "supervisor", "other_supervisor", "evaluator", "quality_lead", "admin",
         "source", "other_source")


@dataclass
class World:
    users: dict
    tokens: dict
    kwargs: dict  # URL keyword arguments → the objects of this world


def world_build() -> World:
    team, other_team = factories.TeamFactory(name="Team A"), factories.TeamFactory(name="Team B")
    queue = factories.QueueFactory(teams=[team], code="qa", name="Queue A")
    other_queue = factories.QueueFactory(teams=[other_team], code="qb", name="Queue B")
    agent = factories.AgentFactory(team=team, capacity=5)
    other_agent = factories.AgentFactory(team=other_team, capacity=5)
    supervisor = factories.UserFactory(username="lead-a", roles=[roles.SUPERVISOR])
    other_supervisor = factories.UserFactory(username="lead-b", roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    other_team.supervisors.add(other_supervisor)
    evaluator = factories.UserFactory(username="qa-analyst", roles=[roles.QUALITY_EVALUATOR])
    quality_lead = factories.UserFactory(username="qa-lead", roles=[roles.QUALITY_LEAD], is_staff=True)
    admin = factories.UserFactory(username="admin-user", roles=[roles.ADMIN], is_staff=True)
    source = factories.SourceSystemFactory(username="crm", sources=["crm", "tests"])
    other_source = factories.SourceSystemFactory(username="claims", sources=["claims"])

    held = started_item(agent, queue, customer_ref="CUST-A1")
    done = factories.WorkItemFactory(
        queue=queue, status=ItemStatus.COMPLETED, completed_by=agent.user, customer_ref="CUST-A1",
        closed_at=timezone.now() - timedelta(hours=1), outcome="done",
    )
    form, version, _ = factories.form_with_questions()
    evaluation = factories.EvaluationFactory(item=done, agent=agent.user, evaluator=evaluator, version=version,
                                             source=EvaluationSource.MANUAL)
    session = factories.CalibrationSessionFactory(item=done, version=version, created_by=quality_lead)
    subscription = webhooks.webhook_subscription_create(
        name="CRM feed", url="https://93.184.215.14/wfo", kinds=["completed"], integration=source, owner=source)
    users = {"agent": agent.user, "other_agent": other_agent.user, "supervisor": supervisor,
             "other_supervisor": other_supervisor, "evaluator": evaluator, "quality_lead": quality_lead,
             "admin": admin, "source": source, "other_source": other_source, "anonymous": AnonymousUser()}
    tokens = {name: Token.objects.create(user=user).key for name, user in users.items() if name != "anonymous"}
    kwargs = {"item_id": held.pk, "evaluation_id": evaluation.pk, "form_id": form.pk, "session_id": session.pk,
              "customer_ref": "CUST-A1", "agent_id": agent.pk, "subscription_id": subscription.pk,
              "action": "transfer",  # the item page's form fetched when opened
              # not URL parameters: what request bodies name
              "queue_id": queue.pk, "queue_code": queue.code, "other_queue_id": other_queue.pk,
              "other_queue_code": other_queue.code}
    return World(users=users, tokens=tokens, kwargs=kwargs)
