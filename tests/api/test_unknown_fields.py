"""Every input serializer of the API refuses a field it does not declare, and the schema says
so (`additionalProperties: false`). Walked, not listed: a new input serializer that does not
build on core.api.InputSerializer fails here.

Output serializers are told apart by name: they end in `OutputSerializer`."""

from importlib import import_module

import pytest
from django.conf import settings
from rest_framework import serializers

from core.api import InputSerializer

PROJECT = ("allocation", "quality", "reporting", "core")
UNKNOWN = "surely_not_a_field"


def serializers_of_the_project() -> list[type[serializers.BaseSerializer]]:
    import_module(settings.ROOT_URLCONF)  # imports every view, so every serializer of the API is defined
    found, to_visit = [], [serializers.Serializer]
    while to_visit:
        cls = to_visit.pop()
        to_visit.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PROJECT:
            found.append(cls)
    return found


INPUT_SERIALIZERS = [cls for cls in serializers_of_the_project() if not cls.__name__.endswith("OutputSerializer")]


def test_the_walk_finds_the_input_serializers():
    names = {cls.__name__ for cls in INPUT_SERIALIZERS}
    assert {"ItemInputSerializer", "ItemPendInputSerializer", "TargetInputSerializer", "ItemsReassignInputSerializer",
            "AgentPresenceInputSerializer", "EvaluationSubmitInputSerializer", "EvaluationFilterSerializer",
            "CustomerRefSerializer", "EmptyInputSerializer"} <= names


@pytest.mark.parametrize("serializer_class", INPUT_SERIALIZERS, ids=lambda cls: cls.__qualname__)
def test_every_input_serializer_refuses_an_unknown_field(serializer_class):
    assert issubclass(serializer_class, InputSerializer), "build it on core.api.InputSerializer"
    serializer = serializer_class(data={UNKNOWN: "x"})
    assert not serializer.is_valid()
    assert serializer.errors[UNKNOWN] == [f"Unknown field: {UNKNOWN}."]
    for field in serializer.fields.values():  # a nested object is read the same way
        nested = getattr(field, "child", field)
        if isinstance(nested, serializers.BaseSerializer):
            assert isinstance(nested, InputSerializer), (serializer_class, field.field_name)


def test_every_request_body_in_the_schema_refuses_additional_properties(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    bodies = 0

    def check(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                component = components[name]
                if component.get("type") == "object":
                    assert component.get("additionalProperties") is False, (where, name)
                check(component, where)
            for value in node.values():
                check(value, where)
        elif isinstance(node, list):
            for value in node:
                check(value, where)

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                bodies += 1
                check(operation["requestBody"], f"{method} {path}")
    assert bodies >= 15


@pytest.mark.django_db
def test_a_list_refuses_a_query_parameter_it_does_not_read(role_groups):
    """The item list's filters are django-filter's; a misspelt one would list everything."""
    from rest_framework.test import APIClient

    from tests import factories
    from tests.helpers import queued_item

    source = factories.SourceSystemFactory(sources=["tests"])
    queued_item(factories.QueueFactory())
    client = APIClient()
    client.force_authenticate(source)

    misspelt = client.get("/api/v1/items/", {"stauts": "queued", "queue": "x"})

    assert misspelt.status_code == 400
    assert misspelt.json()["errors"] == {"stauts": ["Unknown field: stauts."]}
    read = client.get("/api/v1/items/", {"status": "queued", "page_size": 1, "format": "json"})
    assert read.status_code == 200 and len(read.json()["results"]) == 1
    cursor = read.json()["next"]
    assert cursor is None or client.get(cursor).status_code == 200
