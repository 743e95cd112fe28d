"""The OpenAPI schema class of every API view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).

It is drf-spectacular's, plus what the views' own declarations cannot show:

- what this API does with an empty optional query parameter (`?due_before=`): the same as
  leaving it out, as django-filter, Django forms and the paginators read it. Repeatable (list)
  parameters are left as they are;
- a request body read by an InputSerializer refuses fields it does not declare
  (`additionalProperties: false`);
- an operation that takes one object or a list of them (a view's `one_or_many = (method,
  most)`, intake) and answers in the form it was sent: its JSON request body and 2xx answers
  are either;
- the answers any operation may give before or around its view, so no view declares them:
  503 when the database is not answering (core/errors.py, with Retry-After), 413 for a body
  over WFO_MAX_REQUEST_BYTES (core/middleware.py) on every POST, PUT and PATCH, and 415 for a
  body type no parser reads (core/parsers.py and DRF's form parsers) wherever a body is read.

(A module of its own: drf_spectacular.openapi imports rest_framework.generics, which imports
core.api for the default paginator.)
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, get_doc

from core.api import ERROR_DESCRIPTIONS, ErrorOutputSerializer, InputSerializer
from core.errors import RETRY_AFTER_SECONDS

BODY_METHODS = ("POST", "PUT", "PATCH")


class ApiAutoSchema(AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self._allow_empty_query_values(operation)
        self._allow_one_or_many(operation)
        self._add_answers_of_any_operation(operation)
        return operation

    def _allow_one_or_many(self, operation: dict) -> None:
        method, most = getattr(self.view, "one_or_many", (None, None))
        if self.method != method:
            return
        bodies = [operation["requestBody"]] + [
            answer for code, answer in operation["responses"].items() if code.startswith("2")
        ]
        for body in bodies:
            json_body = body["content"]["application/json"]
            one = json_body["schema"]
            json_body["schema"] = {"oneOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": most}]}

    def _allow_empty_query_values(self, operation: dict) -> None:
        for parameter in operation.get("parameters", []):
            optional = parameter["in"] == "query" and not parameter.get("required")
            if optional and parameter["schema"].get("type") != "array":
                parameter["allowEmptyValue"] = True

    def _add_answers_of_any_operation(self, operation: dict) -> None:
        codes = [503]
        if self.method in BODY_METHODS:
            codes.append(413)
            if "requestBody" in operation:
                codes.append(415)
        responses = operation["responses"]
        for code in codes:
            responses.setdefault(str(code), {
                "content": {"application/json": {"schema": self.resolve_serializer(ErrorOutputSerializer,
                                                                                   "response").ref}},
                "description": ERROR_DESCRIPTIONS[code],
            })
        responses["503"]["headers"] = {"Retry-After": {
            "schema": {"type": "integer", "minimum": 1}, "required": True,
            "description": f"Seconds to wait before trying again ({RETRY_AFTER_SECONDS}).",
        }}
        operation["responses"] = dict(sorted(responses.items()))

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), InputSerializer):
            schema["additionalProperties"] = False
            if schema.get("description") == get_doc(InputSerializer):
                del schema["description"]  # the base class's docstring, inherited: says nothing of this body
        return schema
