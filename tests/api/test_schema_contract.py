"""The contract as the OpenAPI schema states it, for what drf-spectacular cannot see by itself:
intake's list form and its list answer, and the external deadline an item may carry."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def _ref(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_intake_takes_one_item_or_a_list_and_answers_in_kind(schema):
    intake = schema["paths"]["/api/v1/items/"]["post"]

    body = intake["requestBody"]["content"]["application/json"]["schema"]
    one, many = body["oneOf"]
    assert many == {"type": "array", "items": one, "minItems": 1, "maxItems": settings.WFO_MAX_BATCH_ITEMS}
    assert _ref(schema, one["$ref"])["additionalProperties"] is False
    for code in ("200", "201"):
        answer = intake["responses"][code]["content"]["application/json"]["schema"]
        one_out, many_out = answer["oneOf"]
        assert one_out["$ref"].endswith("/ItemOutput") and many_out["items"] == one_out, code


def test_the_external_deadline_is_in_the_contract(schema):
    intake = schema["paths"]["/api/v1/items/"]["post"]
    item_input = _ref(schema, intake["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]["$ref"])
    deadline = item_input["properties"]["external_deadline"]
    assert deadline["format"] == "date-time" and deadline["nullable"] is True
    assert "external_deadline" not in item_input["required"]

    output = schema["components"]["schemas"]["ItemOutput"]["properties"]
    assert output["external_deadline"]["format"] == "date-time"
    clock = schema["components"]["schemas"]["SlaOutput"]["properties"]
    governed_by = _ref(schema, clock["governed_by"]["allOf"][0]["$ref"])
    assert governed_by["enum"] == ["policy", "external_deadline"]
    assert {"policy_due_at", "external_deadline"} <= set(clock)
