"""The OpenAPI schema class of every API view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS).

It is drf-spectacular's, plus what this API does with an empty optional query parameter
(`?due_before=`): the same as leaving it out, as django-filter, Django forms and the
paginators read it. Repeatable (list) parameters are left as they are. (A module of its own:
drf_spectacular.openapi imports rest_framework.generics, which imports wfo.api for the
default paginator.)
"""

from drf_spectacular.openapi import AutoSchema


class EmptyQueryValueAutoSchema(AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            optional = parameter["in"] == "query" and not parameter.get("required")
            if optional and parameter["schema"].get("type") != "array":
                parameter["allowEmptyValue"] = True
        return operation
