"""REST API v1: contract, permissions, errors (one message per field), query counts."""

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocation import services
from allocation.models import AgentProfile, EventKind, ItemStatus, Presence, SlaPolicy, WorkItem, WorkItemEvent
from core import roles
from tests import factories
from tests.helpers import assigned_item, office_hours_queue, queued_item, started_item, supervisor_for

pytestmark = pytest.mark.django_db

ITEMS = "/api/v1/items/"


@pytest.fixture
def source_client(api_client):
    user = factories.SourceSystemFactory(username="card-platform", sources=["cards", "tests"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    api_client.user = user
    return api_client


@pytest.fixture
def agent_client(agent):
    client = APIClient()
    client.force_authenticate(agent.user)
    return client


def _row(queue, n=1, **overrides):
    return {"queue": queue.code, "source": "cards", "external_id": f"CB-{n}", "customer_ref": "CUST-9",
            "title": f"Chargeback {n}", "payload": {"amount": "12.50"}, **overrides}


# authentication --------------------------------------------------------------------------

def test_anonymous_requests_are_refused(api_client):
    response = api_client.get(ITEMS)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_bad_token_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert api_client.get(ITEMS).status_code == 401


# intake ----------------------------------------------------------------------------------

def test_create_one_then_repeat(source_client, queue):
    first = source_client.post(ITEMS, _row(queue), format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["queue"], body["status"], body["assignee"], body["priority"]) == (queue.code, "queued", None, 3)
    repeat = source_client.post(ITEMS, _row(queue, title="other"), format="json")
    assert repeat.status_code == 200
    assert repeat.json()["id"] == body["id"]
    assert WorkItem.objects.count() == 1


def test_create_a_batch(source_client, queue):
    response = source_client.post(ITEMS, [_row(queue, n) for n in range(3)], format="json")
    assert response.status_code == 201
    assert [i["external_id"] for i in response.json()] == ["CB-0", "CB-1", "CB-2"]
    again = source_client.post(ITEMS, [_row(queue, n) for n in range(3)], format="json")
    assert again.status_code == 200
    assert WorkItem.objects.count() == 3


def test_batch_with_bad_rows_reports_row_numbers_and_creates_nothing(source_client, queue):
    rows = [_row(queue, 1), {**_row(queue, 2), "queue": "nope"}, _row(queue, 3, priority="high"), _row(queue, 1)]
    del rows[2]["title"]
    response = source_client.post(ITEMS, rows, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "intake_rejected"
    assert set(body["errors"]["rows"]) == {"2", "3"}
    assert "queue" in body["errors"]["rows"]["2"]
    assert set(body["errors"]["rows"]["3"]) == {"title", "priority"}
    assert WorkItem.objects.count() == 0


def test_duplicates_inside_one_batch_are_rejected(source_client, queue):
    response = source_client.post(ITEMS, [_row(queue, 1), _row(queue, 1)], format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["rows"]["2"]["external_id"] == ["Repeats row 1 (same source and external id)."]
    assert WorkItem.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"priority": 9}, "priority"),
        ({"priority": "urgent"}, "priority"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"received_at": "yesterday"}, "received_at"),
        ({"title": "x" * 201}, "title"),
        ({"queue": "unknown-queue"}, "queue"),
        ({"external_id": None}, "external_id"),
    ],
)
def test_bad_fields_get_a_message_each(source_client, queue, payload, field):
    row = {**_row(queue), **payload}
    response = source_client.post(ITEMS, row, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"], body
    assert all(isinstance(m, str) for m in body["errors"][field])
    assert WorkItem.objects.count() == 0


def test_missing_fields_are_each_named(source_client, queue):
    response = source_client.post(ITEMS, {"queue": queue.code}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"source", "external_id", "customer_ref", "title"}
    assert WorkItem.objects.count() == 0


def test_malformed_json(source_client):
    response = source_client.post(ITEMS, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_body_must_be_an_object_or_list(source_client):
    response = source_client.post(ITEMS, data=json.dumps("hello"), content_type="application/json")
    assert response.status_code == 400


def test_oversized_payload(source_client, queue, settings):
    settings.WFO_MAX_PAYLOAD_BYTES = 1000
    response = source_client.post(ITEMS, _row(queue, payload={"blob": "x" * 2000}), format="json")
    assert response.status_code == 400
    assert "limit is 1000 bytes" in response.json()["errors"]["payload"][0]
    assert WorkItem.objects.count() == 0


def test_oversized_request_body(source_client, queue, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = source_client.post(ITEMS, [_row(queue, n) for n in range(200)], format="json")
    assert response.status_code in (400, 413)
    assert WorkItem.objects.count() == 0


# input at its edges ----------------------------------------------------------------------

@pytest.mark.parametrize("on_a_calendar", [True, False], ids=["office-hours", "around-the-clock"])
def test_an_implausible_receipt_time_is_a_400_not_a_500(source_client, team, on_a_calendar):
    queue = office_hours_queue(team) if on_a_calendar else factories.QueueFactory(teams=[team])
    one = source_client.post(ITEMS, _row(queue, received_at="0001-01-01T00:00:00Z"), format="json")
    assert one.status_code == 400, one.json()
    assert one.json()["errors"] == {"received_at": ["Must be within the last 366 days."]}
    rows = [_row(queue, 1), _row(queue, 2, received_at="9999-12-31T23:59:59Z"),
            _row(queue, 3, received_at="0001-01-01T00:00:00Z")]
    batch = source_client.post(ITEMS, rows, format="json")
    assert batch.status_code == 400, batch.json()
    assert batch.json()["errors"]["rows"] == {
        "2": {"received_at": ["Must not be in the future."]},
        "3": {"received_at": ["Must be within the last 366 days."]},
    }
    assert WorkItem.objects.count() == 0


def test_a_batch_over_the_limit_is_refused_before_any_row_is_read(source_client, queue, settings):
    settings.WFO_MAX_BATCH_ITEMS = 5
    rows = [{**_row(queue, n), "queue": f"no-such-queue-{n}"} for n in range(6)]
    with CaptureQueriesContext(connection) as queries:
        response = source_client.post(ITEMS, rows, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"items": ["At most 5 items per request."]}
    assert not [q["sql"] for q in queries.captured_queries if "allocation_queue" in q["sql"]]


def test_a_batch_costs_the_same_queries_whatever_its_size(source_client, team):
    # Half the queues count on a calendar of their own, so policies and calendars are read too.
    queues = [office_hours_queue(team) if n % 2 else factories.QueueFactory(teams=[team]) for n in range(20)]

    def queries_to_take_in(numbers):
        rows = [_row(queues[n % len(queues)], n) for n in numbers]
        with CaptureQueriesContext(connection) as queries:
            response = source_client.post(ITEMS, rows, format="json")
        assert response.status_code == 201, response.json()
        return len(queries)

    # 10 rows naming 10 queues, then 500 naming all 20
    assert queries_to_take_in(range(10)) == queries_to_take_in(range(10, 510))
    assert WorkItem.objects.count() == 510


def test_unknown_queues_are_named_row_by_row(source_client, queue):
    rows = [_row(queue, 1), {**_row(queue, 2), "queue": "nope"}, {**_row(queue, 3), "queue": "nope"}, _row(queue, 4)]
    response = source_client.post(ITEMS, rows, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["rows"] == {
        "2": {"queue": ["No queue has the code 'nope'."]}, "3": {"queue": ["No queue has the code 'nope'."]},
    }


def test_unknown_fields_are_refused_by_name(source_client, queue):
    one = source_client.post(ITEMS, _row(queue, due_at="yesterday", priorty=5), format="json")
    assert one.status_code == 400
    assert one.json()["errors"] == {"due_at": ["Unknown field: due_at."], "priorty": ["Unknown field: priorty."]}
    rows = [_row(queue, 1), _row(queue, 2), _row(queue, 3, due_at="yesterday")]
    batch = source_client.post(ITEMS, rows, format="json")
    assert batch.status_code == 400
    assert batch.json()["errors"]["rows"] == {"3": {"due_at": ["Unknown field: due_at."]}}
    missing_and_unknown = _row(queue, priorty=5)
    del missing_and_unknown["title"]
    both = source_client.post(ITEMS, missing_and_unknown, format="json")
    assert set(both.json()["errors"]) == {"title", "priorty"}  # reported together, not one after the other
    assert WorkItem.objects.count() == 0


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/api/v1/items/987654/cancel/"),
    ("post", "/api/v1/items/987654/start/"),
    ("post", "/api/v1/items/987654/pend/"),
    ("post", "/api/v1/items/987654/complete/"),
    ("post", "/api/v1/items/987654/release/"),
    ("post", "/api/v1/items/987654/transfer/"),
    ("post", "/api/v1/items/987654/reject/"),
    ("post", "/api/v1/items/987654/priority/"),
    ("post", "/api/v1/items/reassign/"),
    ("post", "/api/v1/agent/next/"),
    ("put", "/api/v1/agent/presence/"),
])
def test_every_action_refuses_an_unknown_field(agent_client, method, path):
    response = getattr(agent_client, method)(path, {"note_to_self": "x"}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["note_to_self"] == ["Unknown field: note_to_self."]


def test_a_pend_in_year_9999_or_year_1_is_a_400_not_a_500(agent_client, agent, queue):
    item = started_item(agent, queue)
    for until in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        response = agent_client.post(f"{ITEMS}{item.pk}/pend/", {"until": until, "reason": "x"}, format="json")
        assert response.status_code == 400, (until, response.json())
        assert "until" in response.json()["errors"]
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_PROGRESS


def test_a_priority_whose_target_gives_no_due_time_is_a_400_not_a_500(agent, queue):
    SlaPolicy.objects.create(queue=queue, priority=5, target=timedelta(days=3_000_000))  # entered in error
    item = queued_item(queue)
    supervisor = APIClient()
    supervisor.force_authenticate(supervisor_for(queue))
    response = supervisor.post(f"{ITEMS}{item.pk}/priority/", {"priority": 5}, format="json")
    assert response.status_code == 400, response.json()
    assert "an admin must correct it" in response.json()["errors"]["priority"][0]
    item.refresh_from_db()
    assert item.priority == 3


def test_agents_cannot_create_items(agent_client, queue):
    response = agent_client.post(ITEMS, _row(queue), format="json")
    assert response.status_code == 403
    assert WorkItem.objects.count() == 0


# reading ---------------------------------------------------------------------------------

def test_list_filters_and_paginates(source_client, team, agent):
    cards = factories.QueueFactory(teams=[team], code="cards")
    loans = factories.QueueFactory(teams=[team], code="loans")
    held = assigned_item(agent, cards)
    for _ in range(3):
        queued_item(cards, customer_ref="CUST-A")
    queued_item(loans, customer_ref="CUST-B")

    def ids(query):
        response = source_client.get(ITEMS, query)
        assert response.status_code == 200, response.json()
        return [i["id"] for i in response.json()["results"]]

    assert len(ids({"queue": "cards"})) == 4
    assert ids({"assignee": agent.user.username}) == [held.pk]
    assert len(ids({"status": ["queued"]})) == 4
    assert len(ids({"status": ["queued", "assigned"]})) == 5
    assert len(ids({"customer_ref": "CUST-B"})) == 1
    later = (timezone.now() + timedelta(days=30)).isoformat()
    assert len(ids({"due_before": later})) == 5
    assert ids({"due_after": later}) == []

    first_page = source_client.get(ITEMS, {"page_size": 2}).json()
    assert len(first_page["results"]) == 2
    second_page = source_client.get(first_page["next"]).json()
    assert len(second_page["results"]) == 2
    assert not {i["id"] for i in first_page["results"]} & {i["id"] for i in second_page["results"]}


def test_bad_filter_value_is_a_400(source_client):
    response = source_client.get(ITEMS, {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_agents_see_only_their_own_items(agent_client, agent, queue, team):
    mine = assigned_item(agent, queue)
    other_agent = factories.AgentFactory(team=team)
    theirs = assigned_item(other_agent, queue)
    listed = [i["id"] for i in agent_client.get(ITEMS).json()["results"]]
    assert listed == [mine.pk]
    assert agent_client.get(f"{ITEMS}{theirs.pk}/").status_code == 404
    assert agent_client.get(f"{ITEMS}{mine.pk}/").status_code == 200


def test_detail_includes_the_event_timeline(source_client, agent, queue):
    item = started_item(agent, queue)
    body = source_client.get(f"{ITEMS}{item.pk}/").json()
    assert [e["kind"] for e in body["events"]] == ["created", "assigned", "started"]
    assert body["events"][1]["actor"] == agent.user.username
    assert body["events"][1]["data"]["rule"] == "next_best_item"


def test_customer_journey(source_client, team):
    first = queued_item(factories.QueueFactory(teams=[team]), customer_ref="CUST-77")
    second = queued_item(factories.QueueFactory(teams=[team]), customer_ref="CUST-77")
    queued_item(factories.QueueFactory(teams=[team]), customer_ref="CUST-78")
    response = source_client.get("/api/v1/customers/CUST-77/items/")
    assert [i["id"] for i in response.json()] == [first.pk, second.pk]


# agent actions ---------------------------------------------------------------------------

def test_agent_works_an_item_end_to_end(agent_client, queue):
    item = queued_item(queue)
    got = agent_client.post("/api/v1/agent/next/")
    assert got.status_code == 200
    assert got.json()["id"] == item.pk
    url = f"{ITEMS}{item.pk}"
    assert agent_client.post(f"{url}/start/").json()["status"] == "in_progress"
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    pend = agent_client.post(f"{url}/pend/", {"until": until, "reason": "Call back"}, format="json")
    assert pend.json()["status"] == "pended"
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(seconds=1))
    assert agent_client.post("/api/v1/agent/next/").json()["id"] == item.pk
    agent_client.post(f"{url}/start/")
    done = agent_client.post(f"{url}/complete/", {"outcome": "resolved"}, format="json")
    assert (done.status_code, done.json()["status"], done.json()["outcome"]) == (200, "completed", "resolved")
    assert agent_client.post("/api/v1/agent/next/").status_code == 204


def test_release_and_transfer(agent_client, agent, team):
    queue, other_queue = factories.QueueFactory(teams=[team]), factories.QueueFactory(teams=[team])
    item = assigned_item(agent, queue)
    missing_reason = agent_client.post(f"{ITEMS}{item.pk}/release/", {}, format="json")
    assert missing_reason.status_code == 400
    assert "reason" in missing_reason.json()["errors"]
    released = agent_client.post(f"{ITEMS}{item.pk}/release/", {"reason": "Not mine"}, format="json")
    assert released.json()["status"] == "queued"
    assert agent_client.post("/api/v1/agent/next/").status_code == 204  # not handed straight back

    queued_item(queue)
    item = WorkItem.objects.get(pk=agent_client.post("/api/v1/agent/next/").json()["id"])
    both = agent_client.post(f"{ITEMS}{item.pk}/transfer/", {"queue": other_queue.code, "agent": "x"}, format="json")
    assert both.status_code == 400
    unknown = agent_client.post(f"{ITEMS}{item.pk}/transfer/", {"agent": "ghost"}, format="json")
    assert unknown.json()["errors"]["agent"] == ["No agent has the username 'ghost'."]
    moved = agent_client.post(f"{ITEMS}{item.pk}/transfer/", {"queue": other_queue.code}, format="json")
    assert (moved.status_code, moved.json()["queue"], moved.json()["status"]) == (200, other_queue.code, "queued")


def test_transfer_to_ineligible_agent_is_a_409_with_reasons(agent_client, agent, queue):
    stranger = factories.AgentFactory(team=factories.TeamFactory())
    item = assigned_item(agent, queue)
    response = agent_client.post(f"{ITEMS}{item.pk}/transfer/", {"agent": stranger.user.username}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "agent_not_eligible"
    assert "not in a team serving" in response.json()["errors"]["agent"][0]


def test_acting_on_someone_elses_item_is_forbidden_and_changes_nothing(agent_client, queue, team):
    other = factories.AgentFactory(team=team)
    item = started_item(other, queue)
    events_before = WorkItemEvent.objects.count()
    for action, body in [("complete", {}), ("release", {"reason": "x"}), ("start", {}),
                         ("pend", {"until": (timezone.now() + timedelta(hours=1)).isoformat(), "reason": "x"})]:
        response = agent_client.post(f"{ITEMS}{item.pk}/{action}/", body, format="json")
        assert response.status_code == 403, (action, response.json())
        assert response.json()["code"] == "not_item_holder"
    item.refresh_from_db()
    assert (item.status, item.assignee) == (ItemStatus.IN_PROGRESS, other.user)
    assert WorkItemEvent.objects.count() == events_before


def test_illegal_move_is_a_409_with_a_message(agent_client, agent, queue):
    item = assigned_item(agent, queue)
    response = agent_client.post(f"{ITEMS}{item.pk}/complete/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "is assigned, so it cannot be completed" in response.json()["detail"]


def test_unknown_item_is_a_404(agent_client):
    assert agent_client.post(f"{ITEMS}987654/start/").status_code == 404


def test_next_when_away_or_full_is_a_409(agent_client, agent, queue):
    agent.presence = Presence.AWAY
    agent.save()
    away = agent_client.post("/api/v1/agent/next/")
    assert (away.status_code, away.json()["code"]) == (409, "agent_not_available")
    agent.presence = Presence.AVAILABLE
    agent.capacity = 1
    agent.save()
    assigned_item(agent, queue)
    queued_item(queue)
    full = agent_client.post("/api/v1/agent/next/")
    assert (full.status_code, full.json()["code"]) == (409, "agent_at_capacity")


def test_source_system_cannot_act_as_agent(source_client, queue):
    item = queued_item(queue)
    assert source_client.post("/api/v1/agent/next/").status_code == 403
    assert source_client.post(f"{ITEMS}{item.pk}/start/").status_code == 403
    assert source_client.get("/api/v1/agent/presence/").status_code == 403


def test_source_system_cancels(source_client, queue, agent_client):
    item = queued_item(queue)
    response = source_client.post(f"{ITEMS}{item.pk}/cancel/", {"reason": "Withdrawn"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert item.events.order_by("-id").first().kind == EventKind.CANCELLED
    assert source_client.post(f"{ITEMS}{item.pk}/cancel/").status_code == 409
    other = queued_item(queue)
    assert agent_client.post(f"{ITEMS}{other.pk}/cancel/").status_code == 403


def test_presence(agent_client, agent):
    body = agent_client.get("/api/v1/agent/presence/").json()
    assert (body["presence"], body["capacity"], body["holding"]) == ("available", 3, 0)
    response = agent_client.put("/api/v1/agent/presence/", {"presence": "away"}, format="json")
    assert response.json()["presence"] == "away"
    agent.refresh_from_db()
    assert agent.presence == Presence.AWAY
    assert agent.presence_history.get().presence == "away"
    bad = agent_client.put("/api/v1/agent/presence/", {"presence": "asleep"}, format="json")
    assert bad.status_code == 400
    assert "presence" in bad.json()["errors"]


# schema ----------------------------------------------------------------------------------

def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/api/v1/items/", "/api/v1/items/{item_id}/", "/api/v1/agent/next/", "/api/v1/agent/presence/",
                 "/api/v1/items/{item_id}/transfer/", "/api/v1/customers/{customer_ref}/items/"]:
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html  # served locally: works offline
    assert "cdn." not in html


def test_openapi_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


# query counts ----------------------------------------------------------------------------

def test_get_next_query_count_does_not_depend_on_backlog_or_queues(agent, team):
    def statements(call):
        with CaptureQueriesContext(connection) as context:
            call()
        return [q["sql"] for q in context.captured_queries if "SAVEPOINT" not in q["sql"]]

    def get_next():
        services.item_get_next(agent_id=agent.pk)

    AgentProfile.objects.filter(pk=agent.pk).update(capacity=10)
    for _ in range(5):
        queue = factories.QueueFactory(teams=[team])
        for _ in range(4):
            factories.WorkItemFactory(queue=queue)
    # The first call judges the agent's eligibility (look, judge, look again); then one
    # statement: lock and check the agent, pick, assign, log, stamp, return the item.
    assert len(statements(get_next)) == 3
    small = statements(get_next)
    for _ in range(10):
        queue = factories.QueueFactory(teams=[team])
        for _ in range(20):
            factories.WorkItemFactory(queue=queue)
    changed = statements(get_next)  # the organisation changed: judged again, once
    large = statements(get_next)
    assert len(changed) == 3 and "INSERT INTO allocation_agenteligibility" in changed[1]
    assert len(small) == len(large) == 1, large


def test_item_list_query_count_is_flat(source_client, agent, queue):
    assigned_item(agent, queue)
    for _ in range(2):
        queued_item(queue)
    with CaptureQueriesContext(connection) as few:
        assert source_client.get(ITEMS).status_code == 200
    for _ in range(30):
        queued_item(queue)
    with CaptureQueriesContext(connection) as many:
        assert len(source_client.get(ITEMS).json()["results"]) == 33
    assert len(few) == len(many) <= 5


# found by fuzzing the schema (tests/api/test_schema_fuzz.py) ------------------------------

@pytest.mark.parametrize("overrides", [
    {"payload": {"note": "a\x00b"}},
    {"payload": {"a\x00": 1}},
    {"payload": {"lines": [{"text": "\ud800"}]}},
    {"queue": "cards\x00"},
])
def test_text_postgresql_cannot_hold_is_a_400_not_a_500(source_client, queue, overrides):
    # json.dumps escapes a lone surrogate, which the test client's own encoder refuses.
    body = json.dumps({**_row(queue), **overrides})
    response = source_client.post(ITEMS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(overrides)
    assert WorkItem.objects.count() == 0


def test_transfer_and_reassign_targets_with_a_nul_are_a_400(agent, queue):
    supervisor = APIClient()
    supervisor.force_authenticate(factories.UserFactory(roles=[roles.SUPERVISOR]))
    item = assigned_item(agent, queue)
    transfer = supervisor.post(f"{ITEMS}{item.pk}/transfer/", {"agent": "a\x00"}, format="json")
    assert transfer.status_code == 400 and "agent" in transfer.json()["errors"]
    reassign = supervisor.post(f"{ITEMS}reassign/", {"items": [item.pk], "queue": "q\x00"}, format="json")
    assert reassign.status_code == 400 and "queue" in reassign.json()["errors"]


def test_customer_ref_with_a_nul_is_a_400(source_client):
    response = source_client.get("/api/v1/customers/CUST%00/items/")
    assert response.status_code == 400
    assert "customer_ref" in response.json()["errors"]


def test_a_forged_cursor_is_a_404_not_a_500(source_client):
    response = source_client.get(ITEMS, {"cursor": base64.b64encode(b"p=not-an-id").decode()})
    assert (response.status_code, response.json()["detail"]) == (404, "Invalid cursor")


def test_page_size_is_a_whole_number_from_one(source_client, queue):
    for _ in range(3):
        queued_item(queue)
    for bad in ("abc", "0", "-2"):
        response = source_client.get(ITEMS, {"page_size": bad})
        assert response.status_code == 400 and "page_size" in response.json()["errors"], bad
    assert len(source_client.get(ITEMS, {"page_size": ""}).json()["results"]) == 3  # empty: the default
    assert len(source_client.get(ITEMS, {"page_size": "9999"}).json()["results"]) == 3  # capped, not refused


def test_too_many_form_fields_is_a_json_400(source_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"items={n}" for n in range(1, 20))
    response = source_client.post(f"{ITEMS}reassign/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["code"] == "too_large"


def test_every_operation_documents_its_error_answers(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
            if "_id}" in path:
                assert "404" in operation["responses"], (method, path)
    error = paths["/api/v1/items/{item_id}/start/"]["post"]["responses"]["409"]["content"]["application/json"]
    assert error["schema"]["$ref"] == "#/components/schemas/ErrorOutput"
    # Every view's schema (core/schema.py): an empty optional query value is allowed, as it is read.
    listing = {p["name"]: p for p in paths["/api/v1/items/"]["get"]["parameters"]}
    assert listing["due_before"].get("allowEmptyValue") is True
    assert "allowEmptyValue" not in listing["status"]  # repeatable


def test_max_length_counts_the_text_as_sent_and_stores_it_trimmed(agent_client, agent, queue):
    item = assigned_item(agent, queue)
    padded = "lost card" + " " * 500  # 509 characters as sent; 9 once trimmed
    refused = agent_client.post(f"{ITEMS}{item.pk}/release/", {"reason": padded}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"]["reason"] == ["Ensure this field has no more than 500 characters."]
    assert not WorkItemEvent.objects.filter(item=item, kind=EventKind.RELEASED).exists()
    accepted = agent_client.post(f"{ITEMS}{item.pk}/release/", {"reason": "  lost card  "}, format="json")
    assert accepted.status_code == 200
    assert WorkItemEvent.objects.get(item=item, kind=EventKind.RELEASED).reason == "lost card"


@pytest.mark.parametrize("path", ["/api/v1/items/abc/", "/api/v1/nothing-here/", "/api/v1/customers/a%2Fb/items/"])
def test_a_path_no_operation_matches_is_a_json_404(source_client, path):
    response = source_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found" and "/api/docs/" in response.json()["detail"]


def test_a_page_path_no_view_matches_is_the_404_page(client):
    response = client.get("/work/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_supervisor_sees_only_the_items_of_queues_its_teams_serve(queue):
    mine = queued_item(queue, customer_ref="CUST-SHARED")
    elsewhere = factories.QueueFactory(teams=[factories.TeamFactory()])
    theirs = queued_item(elsewhere, customer_ref="CUST-SHARED")
    supervisor = APIClient()
    supervisor.force_authenticate(supervisor_for(queue))
    assert [row["id"] for row in supervisor.get(ITEMS).json()["results"]] == [mine.pk]
    assert supervisor.get(f"{ITEMS}{theirs.pk}/").status_code == 404
    assert [row["id"] for row in supervisor.get("/api/v1/customers/CUST-SHARED/items/").json()] == [mine.pk]
    admin = APIClient()
    admin.force_authenticate(factories.UserFactory(is_superuser=True))
    assert {row["id"] for row in admin.get(ITEMS).json()["results"]} == {mine.pk, theirs.pk}
