"""Fuzz the REST API against its own OpenAPI schema (schemathesis).

Every operation of /api/schema/ gets generated requests, valid and invalid, from each role
that uses the API (supervisor, agent, source system). Every answer must have a documented
status code and content type and a body that matches the schema, invalid input must be
refused with a 4xx, and nothing may answer 5xx.

Bounded for `make test`: EXAMPLES_PER_OPERATION requests per operation and role, the same
ones on every run (derandomized). For a deeper look, raise it and add the "coverage" phase
in `api_schema` for one run.
"""

from datetime import timedelta

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core import roles
from quality.models import EvaluationSource
from tests import factories
from tests.helpers import pended_item, queued_item, started_item

EXAMPLES_PER_OPERATION = 25

# Where a case's parts live on it.
CONTAINERS = {"path": "path_parameters", "query": "query", "body": "body"}


@pytest.fixture(params=[roles.SUPERVISOR, roles.AGENT, roles.SOURCE_SYSTEM])
def fuzz_world(request, transactional_db, role_groups):
    """Committed data for the app to work on (it runs through WSGI, whose request cycle
    closes or recycles the database connection, so the data cannot live in a test
    transaction), the token of one user in the role under test, and what exists, by
    (location, name, type) of a request part, for `steer_to_existing`."""
    team = factories.TeamFactory()
    skill = factories.SkillFactory()
    queues = [factories.QueueFactory(teams=[team]) for _ in range(2)]
    for queue in queues:
        factories.QueueSkillFactory(queue=queue, skill=skill)
    agent, colleague = (factories.AgentFactory(team=team, capacity=5) for _ in range(2))
    for profile in (agent, colleague):
        factories.AgentSkillFactory(agent=profile, skill=skill, proficiency=4)
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(supervisor)
    source = factories.SourceSystemFactory(sources=["tests", "fuzz"])

    items = [started_item(agent, queues[0]), pended_item(agent, queues[1])]
    items += [queued_item(queues[n % 2], customer_ref=f"CUST-{n % 3}") for n in range(6)]
    _, version, questions = factories.form_with_questions()
    done = factories.CompletedItemFactory(queue=queues[0], completed_by=agent.user,
                                          closed_at=timezone.now() - timedelta(hours=1))
    evaluations = [
        factories.EvaluationFactory(item=done, agent=agent.user, evaluator=evaluator, version=version,
                                    source=EvaluationSource.MANUAL)
        for evaluator in (supervisor, colleague.user)
    ]
    user = {roles.SUPERVISOR: supervisor, roles.AGENT: agent.user, roles.SOURCE_SYSTEM: source}[request.param]
    item_ids = [item.pk for item in [*items, done]]
    today = timezone.localdate()
    existing = {
        ("path", "item_id", int): item_ids,
        ("path", "evaluation_id", int): [evaluation.pk for evaluation in evaluations],
        ("path", "customer_ref", str): sorted({item.customer_ref for item in items}),
        ("query", "queue", str): [queue.code for queue in queues],
        ("query", "assignee", str): [agent.user.username],
        ("query", "queue", list): [[queue.pk for queue in queues]],
        ("query", "team", int): [team.pk],
        ("query", "agent", int): [agent.pk],
        ("query", "since", str): [(today - timedelta(days=6)).isoformat()],
        ("query", "until", str): [today.isoformat()],
        ("body", "queue", str): [queue.code for queue in queues],
        ("body", "source", str): ["fuzz"],
        ("body", "agent", str): [agent.user.username, colleague.user.username],
        ("body", "items", list): [item_ids[:3], item_ids],
        ("body", "until", str): [(timezone.now() + timedelta(days=1)).isoformat()],
        ("body", "answers", dict): [{str(question.pk): "yes" if question.kind == "yes_no" else "4"
                                     for question in questions}],
    }
    return {"token": Token.objects.create(user=user).key, "existing": existing}


def steer_to_existing(case, existing: dict):
    """Half the time, point each id, code or username of a case at something that exists, so
    the operation gets past its 404s and 400s to its work. Only parts generated valid are
    touched: an invalid part stays exactly as generated."""
    if case.meta is None:
        return st.just(case)
    choices = {}
    for location, info in case.meta.components.items():
        container = getattr(case, CONTAINERS.get(location, ""), None)
        if not info.mode.is_positive or not isinstance(container, dict):
            continue
        for name, value in container.items():
            candidates = existing.get((location, name, type(value)))
            if candidates:
                choices[(location, name)] = st.one_of(st.just(value), st.sampled_from(candidates))

    def apply(picked: dict):
        for (location, name), value in picked.items():
            getattr(case, CONTAINERS[location])[name] = value
        return case

    return st.fixed_dictionaries(choices).map(apply)


@pytest.fixture
def production_connection_age():
    """Keep the database connection between requests as production does (CONN_MAX_AGE 60),
    not the suite's 0, which reconnects on every one of the fuzz's requests."""
    suite_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60
    yield
    connection.settings_dict["CONN_MAX_AGE"] = suite_age


@pytest.fixture
def api_schema(production_connection_age, fuzz_world):
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    loaded.config.update(headers={"Authorization": f"Token {fuzz_world['token']}"})
    # The coverage phase sends every boundary value of every parameter: thorough, but about
    # twice the requests of the fuzzing, and not bounded by EXAMPLES_PER_OPERATION.
    loaded.config.phases.update(phases=["examples", "fuzzing"])

    @loaded.hook
    def flatmap_case(context, case):
        return steer_to_existing(case, fuzz_world["existing"])

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_matches_its_schema(case):
    # Too strict for this API: a reference to something that does not exist (a queue code,
    # a username, an id), a follow-up time in the past or a report range over 366 days is
    # well-formed by the schema, yet refused with a 400 and a message per field, by design.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
