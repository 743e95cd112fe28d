"""The OpenAPI schema class of every API view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).

It is drf-spectacular's, plus what this API does that it cannot see:
- an empty optional query parameter (`?due_before=`) is the same as leaving it out, as
  django-filter, Django forms and the paginators read it. Repeatable (list) parameters are
  left as they are.
- a request body read by an InputSerializer refuses fields it does not declare
  (`additionalProperties: false`).
(A module of its own: drf_spectacular.openapi imports rest_framework.generics, which imports
wfo.api for the default paginator.)
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance

from wfo.api import InputSerializer


class EmptyQueryValueAutoSchema(AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            optional = parameter["in"] == "query" and not parameter.get("required")
            if optional and parameter["schema"].get("type") != "array":
                parameter["allowEmptyValue"] = True
        return operation

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), InputSerializer):
            schema["additionalProperties"] = False
        return schema
