"""API plumbing shared by every app: how requests are read, pagination, the error format, and
how the schema says so (core/schema.py adds what drf-spectacular cannot see, and the answers
every operation may give).

Every error body is JSON: {"detail": "...", "code": "...", "errors": {field: [messages]}}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import DomainError


class InputSerializer(serializers.Serializer):
    """The base of every serializer that reads a request (its body, query string or path):
    a field it does not declare is refused by name. DRF would drop it silently, so a misspelt
    `priorty`, or a `due_at` the API does not take, would look accepted. A new field is
    declared and nothing else; the schema says `additionalProperties: false` (core/schema.py)."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {name: [f"Unknown field: {name}."] for name in data if name not in known}
        try:
            value = super().to_internal_value(data)
        except DRFValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise DRFValidationError({**error.detail, **unknown}) from None
            raise
        if unknown:
            raise DRFValidationError(unknown)
        return value


class EmptyInputSerializer(InputSerializer):
    """The body of an operation that takes none: whatever field is sent is refused, not ignored."""


def valid_body(serializer_class: type[InputSerializer], request) -> dict:
    """The body, a JSON object, validated by `serializer_class`."""
    if not isinstance(request.data, dict):
        raise DRFValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _read_elsewhere(view) -> set[str]:
    """Query parameters a view reads outside its filters: the paginator's (page, cursor, page
    size) and DRF's `format`."""
    names = {api_settings.URL_FORMAT_OVERRIDE}
    if getattr(view, "paginator", None) is not None:
        names |= {parameter["name"] for parameter in view.paginator.get_schema_operation_parameters(view)}
    return names


def valid_query(serializer_class: type[InputSerializer], request, view) -> dict:
    """The query string, validated by `serializer_class`. The parameters other parts of the
    view read are theirs, not unknown: the paginator's (page, page size) and DRF's `format`."""
    query = request.query_params.copy()
    for name in _read_elsewhere(view):
        query.pop(name, None)
    serializer = serializer_class(data=query)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend (every API list's), refusing a query parameter that neither
    the view's filters nor its paginator read, as InputSerializer refuses an unknown field: a
    misspelt `?stauts=queued` would otherwise list everything as if unfiltered."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            known = set(filterset_class.base_filters) | _read_elsewhere(view)
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise DRFValidationError({name: [f"Unknown field: {name}."] for name in unknown})
        return super().filter_queryset(request, queryset, view)


class StrictPageSizeMixin:
    """A `page_size` that is not a whole number from 1 is refused with a message, not
    silently replaced by the default (DRF's way); one above `max_page_size` is capped."""

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            message = f"Give a whole number from 1 (at most {self.max_page_size} are used)."
            raise DRFValidationError({self.page_size_query_param: [message]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class BoundedCharField(serializers.CharField):
    """A CharField whose `max_length` counts the text as sent, as the schema's `maxLength`
    says. DRF trims surrounding whitespace first and counts what is left, so a reason of 600
    characters, 150 of them trailing spaces, would pass a limit of 500 that the schema says it
    breaks. The stored value is still trimmed."""

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)


class StandardPagination(StrictPageSizeMixin, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ErrorOutputSerializer(serializers.Serializer):
    """The body of every error answer."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        required=False, help_text="Field name -> list of messages (a batch's `rows`: row number -> field -> messages)."
    )


ERROR_DESCRIPTIONS = {
    400: ("The request is not valid; `errors` has a message per field. A body that cannot be read (not "
          "UTF-8, not JSON, nested deeper than WFO_MAX_JSON_DEPTH, more than WFO_MAX_JSON_ELEMENTS values, a "
          "number that is not finite, a key twice in one object) gets `detail` saying which, code `parse_error`."),
    401: "No valid token or session.",
    403: "Your role, or who holds the object, does not allow this.",
    404: "No such object, or not one you may see.",
    409: "The object's current state does not allow this (often: someone else changed it).",
    413: "The body is larger than WFO_MAX_REQUEST_BYTES; it was not read.",
    415: "The body's Content-Type is not JSON, form data or multipart.",
    503: "The database is not answering, so this may not have been carried out: check, then retry after "
         "Retry-After seconds.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation's own, for its `extend_schema(responses=...)`. Every
    operation needs authentication, so every one can answer 401; what any operation may
    answer outside its view (413, 415, 503) the schema class adds (core/schema.py)."""
    return {
        code: OpenApiResponse(ErrorOutputSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in sorted({401, *codes})
    }


def _as_message_lists(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def exception_handler(exc, context):
    response = _error_response(exc, context)
    if response is not None:
        # Messages may quote what was sent (a key, a choice): a lone surrogate in it would
        # make the JSON renderer fail to encode the answer (a 500 instead of the 400).
        response.data = _encodable(response.data)
    return response


def _error_response(exc, context) -> Response | None:
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.fields:
            body["errors"] = exc.fields
        return Response(body, status=exc.status_code)
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        # Over Django's DATA_UPLOAD_MAX_* limits: left to Django, this would be its HTML 400 page.
        return Response({"detail": str(exc), "code": "too_large"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            {"detail": "The request is not valid.", "code": "invalid", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, DRFValidationError):
        response.data = {
            "detail": "The request is not valid.",
            "code": "invalid",
            "errors": _as_message_lists(exc.detail),
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": response.data["detail"], "code": getattr(exc, "default_code", "error")}
    return response


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value):
    """`value` with every lone surrogate (text no UTF-8 can carry) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value
