"""Every JSON body the API reads holds at its edges (core/parsers.py): nesting depth, number of
values, numbers PostgreSQL can store, one value per key, UTF-8. A hostile body is a 400 in
the API's error format naming what is wrong, sent through the real API as the role that uses
the operation, and nothing is written. The schema documents what any operation can answer
besides its own errors: 413, 415 and 503."""

import codecs
import json
from io import BytesIO
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from allocation.models import ItemStatus, WorkItem, WorkItemEvent
from core.parsers import BoundedJSONParser
from tests import factories
from tests.helpers import started_item, supervisor_for

pytestmark = pytest.mark.django_db

ITEMS = "/api/v1/items/"


@pytest.fixture
def world(queue, agent):
    """A source system, the agent holding a started item, and that queue's supervisor, each
    with a token: the three kinds of caller that send bodies."""
    source = factories.SourceSystemFactory(sources=["cards"])
    held = started_item(agent, queue)
    tokens = {
        "source": Token.objects.create(user=source).key,
        "agent": Token.objects.create(user=agent.user).key,
        "supervisor": Token.objects.create(user=supervisor_for(queue)).key,
    }
    return SimpleNamespace(queue=queue, held=held, tokens=tokens)


def send(world, who: str, path: str, body, content_type: str = "application/json"):
    """POST `body` (text, or bytes sent as they are) as `who`, answered as the server answers
    (a 500 is a response here, not an exception in the test)."""
    client = Client(raise_request_exception=False)
    return client.post(path.format(item=world.held.pk), data=body, content_type=content_type,
                       HTTP_AUTHORIZATION=f"Token {world.tokens[who]}")


def rows() -> tuple[int, int]:
    return WorkItem.objects.count(), WorkItemEvent.objects.count()


def assert_refused(response, message: str):
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["code"] == "parse_error", body
    assert message in body["detail"], body


def nested(levels: int, innermost: str = "1") -> str:
    """`levels` objects, one inside the other, as JSON text (json.dumps would recurse)."""
    return '{"a":' * levels + innermost + "}" * levels


def intake_body(world, payload: str, n: int = 1) -> str:
    """One item for the intake, with `payload` as raw JSON text."""
    row = {"queue": world.queue.code, "source": "cards", "external_id": f"CB-{n}", "customer_ref": "CUST-9",
           "title": f"Chargeback {n}"}
    return json.dumps(row)[:-1] + f', "payload": {payload}}}'


# 1. Depth and number of values ---------------------------------------------------------------

DEEP_BODIES = {
    "intake, payload 1,000 deep": ("source", ITEMS, lambda world: intake_body(world, nested(1000))),
    "intake, 100,000 nested arrays": ("source", ITEMS, lambda world: "[" * 100_000 + "]" * 100_000),
    "intake, unclosed arrays": ("source", ITEMS, lambda world: "[" * 100_000),
    "release, 10,000 deep": ("agent", ITEMS + "{item}/release/",
                             lambda world: '{"reason": "Wrong queue", "extra": ' + nested(10_000) + "}"),
    "transfer, 1,000 deep": ("supervisor", ITEMS + "{item}/transfer/",
                             lambda world: '{"queue": ' + nested(1000, json.dumps(world.queue.code)) + "}"),
    "reassign, items 5,000 deep": ("supervisor", ITEMS + "reassign/",
                                   lambda world: '{"queue": "x", "items": ' + "[" * 5000 + "]" * 5000 + "}"),
}


@pytest.mark.parametrize("case", DEEP_BODIES, ids=list(DEEP_BODIES))
def test_a_body_nested_deeper_than_the_limit_is_refused_and_writes_nothing(world, case):
    who, path, body = DEEP_BODIES[case]
    before = rows()
    assert_refused(send(world, who, path, body(world)), "nested deeper than 32 levels")
    assert rows() == before


def test_a_body_at_the_depth_limit_is_taken_in_and_one_level_more_is_not(world):
    # The item object is level 1, its payload level 2: 30 more levels inside make 32.
    at_limit = send(world, "source", ITEMS, intake_body(world, nested(31), n=1))
    assert at_limit.status_code == 201, at_limit.content[:500]
    before = rows()
    assert_refused(send(world, "source", ITEMS, intake_body(world, nested(32), n=2)),
                   "nested deeper than 32 levels")
    assert rows() == before


def test_a_body_with_more_values_than_the_limit_is_refused_and_writes_nothing(world):
    limit = settings.WFO_MAX_JSON_ELEMENTS
    values = "[" + ",".join("0" * limit) + "]"  # the array and its entries: one more than the limit
    before = rows()
    assert_refused(send(world, "source", ITEMS, intake_body(world, values)), f"more than {limit:,} values")
    assert rows() == before


def test_a_body_with_more_values_than_a_lowered_limit_is_refused_for_an_agent_too(world, settings):
    settings.WFO_MAX_JSON_ELEMENTS = 10
    before = rows()
    response = send(world, "agent", ITEMS + "{item}/release/", '{"reason": "Wrong queue", "x": [1,2,3,4,5,6,7,8,9]}')
    assert_refused(response, "more than 10 values")
    assert rows() == before
    world.held.refresh_from_db()
    assert world.held.status == ItemStatus.IN_PROGRESS


def largest_batch() -> bytes:
    """The largest intake the API takes under its default limits: WFO_MAX_BATCH_ITEMS items
    whose payloads of ordinary short fields (a list of order lines) fill the body up to
    WFO_MAX_REQUEST_BYTES."""
    def compact(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    items = settings.WFO_MAX_BATCH_ITEMS
    line = {"sku": "SKU-000123", "qty": 2, "amount": 12.5, "currency": "EUR", "ok": True, "note": None}
    row = {"queue": "cards", "source": "card-platform", "external_id": "CB-0000000", "customer_ref": "CUST-0001",
           "title": "Chargeback on a card payment", "priority": 3, "received_at": "2026-03-01T09:30:00Z",
           "payload": {"amount": "1234.56", "reason_code": "4837", "lines": []}}
    room = settings.WFO_MAX_REQUEST_BYTES // items - len(compact(row)) - 1
    row["payload"]["lines"] = [line] * (room // (len(compact(line)) + 1))
    body = compact([{**row, "external_id": f"CB-{n:07d}"} for n in range(items)])
    assert settings.WFO_MAX_REQUEST_BYTES * 0.99 < len(body) <= settings.WFO_MAX_REQUEST_BYTES
    return body


def test_the_largest_batch_the_request_limit_lets_through_parses_with_room_to_spare():
    body = largest_batch()
    parsed = BoundedJSONParser().parse(BytesIO(body), "application/json", {"encoding": "utf-8"})
    assert len(parsed) == settings.WFO_MAX_BATCH_ITEMS
    values = body.count(b",") + body.count(b"[") + body.count(b"{") + 1  # no commas or brackets in its texts
    assert values * 2 < settings.WFO_MAX_JSON_ELEMENTS  # at least twice its values


# 2. Numbers -----------------------------------------------------------------------------------

NUMBERS = {
    "1e400": "is out of range",
    "-1e400": "is out of range",
    "1" * 400 + ".5": "is out of range",
    "NaN": "NaN, Infinity and -Infinity are not JSON numbers",
    "Infinity": "NaN, Infinity and -Infinity are not JSON numbers",
    "-Infinity": "NaN, Infinity and -Infinity are not JSON numbers",
    "9" * 5000: "5,000 digits",
}


@pytest.mark.parametrize("number", NUMBERS, ids=lambda number: number[:12])
def test_a_number_postgresql_cannot_store_is_refused_and_writes_nothing(world, number):
    before = rows()
    payload = f'{{"amount": {number}, "lines": [{{"amount": {number}}}]}}'
    assert_refused(send(world, "source", ITEMS, intake_body(world, payload)), NUMBERS[number])
    release = '{"reason": "Wrong queue", "amount": ' + number + "}"
    assert_refused(send(world, "agent", ITEMS + "{item}/release/", release), NUMBERS[number])
    assert rows() == before


def test_large_but_finite_numbers_are_taken_in(world):
    payload = '{"big": 1e308, "tiny": 1e-400, "long": ' + "9" * 4000 + "}"
    response = send(world, "source", ITEMS, intake_body(world, payload))
    assert response.status_code == 201, response.content[:500]


# 3. Duplicate keys ---------------------------------------------------------------------------

DUPLICATE_KEYS = {
    "intake, top level": ("source", ITEMS, "title",
                          lambda world: intake_body(world, "{}")[:-1] + ', "title": "Another title"}'),
    "intake, in a batch's payload, 4 deep": ("source", ITEMS, "sku", lambda world: "[" + intake_body(
        world, '{"lines": [{"sku": 1, "qty": 2, "sku": 3}]}') + "]"),
    "release": ("agent", ITEMS + "{item}/release/", "reason",
                lambda world: '{"reason": "Wrong queue", "reason": "Mine after all"}'),
    "transfer": ("supervisor", ITEMS + "{item}/transfer/", "queue",
                 lambda world: '{"queue": "%s", "reason": "Overflow", "queue": "%s"}' % ((world.queue.code,) * 2)),
}


@pytest.mark.parametrize("case", DUPLICATE_KEYS, ids=list(DUPLICATE_KEYS))
def test_a_key_twice_in_one_object_is_refused_at_any_depth(world, case):
    who, path, key, body = DUPLICATE_KEYS[case]
    before = rows()
    assert_refused(send(world, who, path, body(world)), f'The key "{key}" appears twice in one object')
    assert rows() == before


def test_the_same_key_in_different_objects_is_fine(world):
    payload = '{"lines": [{"sku": 1}, {"sku": 2}], "sku": 3}'
    assert send(world, "source", ITEMS, intake_body(world, payload)).status_code == 201


# 4. Encodings --------------------------------------------------------------------------------

ENCODINGS = {
    "invalid UTF-8 byte": (lambda body: body.replace(b"Chargeback", b"Charge\xffback"), "application/json",
                           "not valid UTF-8"),
    "UTF-8 byte order mark": (lambda body: codecs.BOM_UTF8 + body, "application/json", "byte order mark"),
    "UTF-16 with a BOM": (lambda body: body.decode().encode("utf-16"), "application/json", "byte order mark"),
    "UTF-16 without a BOM": (lambda body: body.decode().encode("utf-16-le"), "application/json", "UTF-16 or UTF-32"),
    "UTF-32 without a BOM": (lambda body: body.decode().encode("utf-32-be"), "application/json", "UTF-16 or UTF-32"),
    "declared UTF-16": (lambda body: body.decode(), "application/json; charset=utf-16", "charset utf-16"),
    "declared Latin-1": (lambda body: body.decode(), "application/json; charset=latin-1", "charset latin-1"),
}


@pytest.mark.parametrize("case", ENCODINGS, ids=list(ENCODINGS))
def test_a_body_that_is_not_utf8_is_refused_and_writes_nothing(world, case):
    transform, content_type, message = ENCODINGS[case]
    before = rows()
    response = send(world, "source", ITEMS, transform(intake_body(world, '{"amount": "12.50"}').encode()),
                    content_type=content_type)
    assert_refused(response, message)
    assert "UTF-8" in response.json()["detail"]
    assert rows() == before


def test_utf8_with_or_without_a_declared_charset_is_taken_in(world):
    for n, content_type in enumerate(["application/json", "application/json; charset=UTF-8"]):
        body = intake_body(world, '{"name": "Zoë Ångström, 東京"}', n=n)
        response = send(world, "source", ITEMS, body.encode(), content_type=content_type)
        assert response.status_code == 201, response.content[:500]
        assert response.json()["payload"]["name"] == "Zoë Ångström, 東京"


# 6. The schema ---------------------------------------------------------------------------------

def test_every_operation_documents_503_and_every_write_413_and_415(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    writes = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert "503" in answers and "Retry-After" in answers["503"].get("headers", {}), (method, path)
            if method in ("post", "put", "patch"):
                writes += 1
                assert "413" in answers, (method, path)
                if "requestBody" in operation:
                    assert {"400", "415"} <= set(answers), (method, path)
    assert writes >= 15
