"""Items: intake (one or a batch, idempotent), the list, one item with its events and
SLA clock, and a customer's journey."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, services
from allocation.api.common import ItemDetailOutputSerializer, ItemOutputSerializer, SlugLookupField, storable_json
from allocation.exceptions import IntakeRejected, ItemNotFound
from allocation.filters import ItemFilter
from allocation.models import Priority, Queue, WorkItem
from wfo.api import BoundedCharField, StrictPageSizeMixin, error_responses
from wfo.permissions import WorksWithItems


class ItemCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Newest first; a cursor never counts the whole table and never skips or repeats
    items while new ones arrive."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """DRF checks a cursor's offset but not its position, here an item id: a forged one
        would reach the database (a 500) instead of being an invalid cursor (a 404)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor



UNKNOWN_QUEUE = {"does_not_exist": "No queue has the code '{value}'."}


class ItemInputSerializer(serializers.Serializer):
    queue = SlugLookupField(slug_field="code", queryset=Queue.objects.all(), error_messages=UNKNOWN_QUEUE)
    source = BoundedCharField(max_length=50)
    external_id = BoundedCharField(max_length=128)
    customer_ref = BoundedCharField(max_length=64)
    title = BoundedCharField(max_length=200)
    payload = serializers.DictField(required=False, default=dict, validators=[storable_json])
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.NORMAL)
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


def _drafts_from(request_data) -> tuple[list[services.ItemDraft], bool]:
    """Validate one item or a list of items; a bad list is reported row by row."""
    many = isinstance(request_data, list)
    serializer = ItemInputSerializer(data=request_data, many=many)
    if not serializer.is_valid():
        if not many:
            raise serializers.ValidationError(serializer.errors)
        errors = serializer.errors
        # DRF reports a list's errors as a list, or (newer releases) a dict by index.
        by_index = errors.items() if isinstance(errors, dict) else enumerate(errors)
        rows = {str(index + 1): row_errors for index, row_errors in by_index if row_errors}
        raise IntakeRejected(
            f"{len(rows)} of {len(request_data)} items are not valid; nothing was created.",
            fields={"rows": rows},
        )
    rows = serializer.validated_data if many else [serializer.validated_data]
    return [services.ItemDraft(**row) for row in rows], many


class ItemListCreateApi(ListAPIView):
    permission_classes = [WorksWithItems]
    serializer_class = ItemOutputSerializer
    pagination_class = ItemCursorPagination
    filterset_class = ItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return WorkItem.objects.none()
        return selectors.items_visible_to(self.request.user)

    @extend_schema(responses={200: ItemOutputSerializer(many=True), **error_responses(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ItemInputSerializer,
        responses={
            201: ItemOutputSerializer,
            200: OpenApiResponse(ItemOutputSerializer, description="The item already existed."),
            **error_responses(400, 403, 415),
        },
        description=(
            "Create one item, or a JSON list of items (up to WFO_MAX_BATCH_ITEMS). Idempotent on "
            "(source, external_id): a repeat returns the existing item. A list is all or nothing: "
            "with any invalid row nothing is created and `errors.rows` maps row numbers "
            "(from 1) to per-field messages. Status 201 if anything was created, else 200."
        ),
    )
    def post(self, request):
        if not isinstance(request.data, (dict, list)):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object or a list of objects."]})
        drafts, many = _drafts_from(request.data)
        if many:
            results = services.items_intake(actor=request.user, drafts=drafts)
        else:
            results = [services.item_intake(actor=request.user, draft=drafts[0])]
        code = status.HTTP_201_CREATED if any(r.created for r in results) else status.HTTP_200_OK
        data = ItemOutputSerializer([r.item for r in results], many=True).data
        return Response(data if many else data[0], status=code)


class ItemDetailApi(APIView):
    permission_classes = [WorksWithItems]

    @extend_schema(responses={200: ItemDetailOutputSerializer, **error_responses(403, 404)})
    def get(self, request, item_id: int):
        item = selectors.item_with_events(user=request.user, item_id=item_id)
        if item is None:
            raise ItemNotFound(f"Work item #{item_id} does not exist or is not visible to you.")
        selectors.with_clock_readings([item], now=timezone.now())
        return Response(ItemDetailOutputSerializer(item).data)


class CustomerItemsApi(ListAPIView):
    """The customer journey: every item of one customer reference, oldest first."""

    permission_classes = [WorksWithItems]
    serializer_class = ItemOutputSerializer
    pagination_class = None

    class CustomerRefSerializer(serializers.Serializer):
        customer_ref = serializers.CharField(trim_whitespace=False)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WorkItem.objects.none()
        path = self.CustomerRefSerializer(data=self.kwargs)
        path.is_valid(raise_exception=True)
        return selectors.customer_items(user=self.request.user, customer_ref=path.validated_data["customer_ref"])

    # 404: a reference with a "/" in it matches no path.
    @extend_schema(responses={200: ItemOutputSerializer(many=True), **error_responses(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

