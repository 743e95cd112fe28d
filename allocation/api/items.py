"""Items: intake (one or a batch, idempotent), the list, one item with its events and
SLA clock, and a customer's journey."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, services
from allocation.api.common import ItemDetailOutputSerializer, ItemOutputSerializer, storable_json
from allocation.exceptions import IntakeRejected, ItemNotFound
from allocation.filters import ItemFilter
from allocation.models import Priority, Queue, WorkItem
from core.api import BoundedCharField, InputSerializer, StrictPageSizeMixin, error_responses
from core.parsers import BoundedJSONParser
from core.permissions import WorksWithItems


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



QUEUES = "queues"  # the serializer context's queues by code, read once for the whole request
QUEUE_CODE_SHAPE = {"max_length": Queue._meta.get_field("code").max_length, "trim_whitespace": False}


class QueueCodeField(BoundedCharField):
    """A queue, by its code, among the queues the request names (`queues_named`, in the
    context): a batch of a thousand rows costs one query, where a lookup per row costs a
    thousand."""

    default_error_messages = {"does_not_exist": "No queue has the code '{value}'."}

    def __init__(self, **kwargs):
        super().__init__(**QUEUE_CODE_SHAPE, **kwargs)

    def run_validation(self, data=serializers.empty):
        code = super().run_validation(data)  # the code's shape first: text, length
        queue = self.context[QUEUES].get(code)
        if queue is None:
            self.fail("does_not_exist", value=code)
        return queue


def queues_named(rows: list) -> dict[str, Queue]:
    """The queues that the rows of a request name, by code, in one query. Each code is read
    as QueueCodeField reads it; a value it refuses (not text, too long, a NUL character) is
    not looked up."""
    shape, codes = BoundedCharField(**QUEUE_CODE_SHAPE), set()
    for row in rows:
        if isinstance(row, dict) and "queue" in row:
            try:
                codes.add(shape.run_validation(row["queue"]))
            except serializers.ValidationError:
                continue
    return {queue.code: queue for queue in Queue.objects.filter(code__in=codes)} if codes else {}


class ItemInputSerializer(InputSerializer):
    queue = QueueCodeField()
    source = BoundedCharField(max_length=50)
    external_id = BoundedCharField(max_length=128)
    customer_ref = BoundedCharField(max_length=64)
    title = BoundedCharField(max_length=200)
    payload = serializers.DictField(required=False, default=dict, validators=[storable_json])
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.NORMAL)
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    external_deadline = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="The source's own deadline (e.g. a card network's respond-by date), an absolute instant after "
                  "receipt and in the future. The item's `due_at` is the earlier of it and the SLA policy's due at; "
                  "pauses and calendars do not move it.",
    )


def _drafts_from(request_data) -> tuple[list[services.ItemDraft], bool]:
    """Validate one item or a list of items; a bad list is reported row by row. A list's size
    is checked before any row is read, so an oversized one is refused at once, and the
    queues of all rows are read in one query."""
    many = isinstance(request_data, list)
    rows = request_data if many else [request_data]
    services.batch_size_check(count=len(rows))
    serializer = ItemInputSerializer(data=rows, many=True, context={QUEUES: queues_named(rows)})
    if not serializer.is_valid():
        errors = serializer.errors
        # DRF reports a list's errors as a list, or (newer releases) a dict by index.
        by_index = errors.items() if isinstance(errors, dict) else enumerate(errors)
        row_errors = {str(index + 1): fields for index, fields in by_index if fields}
        if not many:
            raise serializers.ValidationError(row_errors["1"])
        raise IntakeRejected(
            f"{len(row_errors)} of {len(rows)} items are not valid; nothing was created.",
            fields={"rows": row_errors},
        )
    return [services.ItemDraft(**row) for row in serializer.validated_data], many


class ItemListCreateApi(ListAPIView):
    permission_classes = [WorksWithItems]
    # JSON only: an item's payload is an object and a batch a list, which form data cannot
    # carry (DRF would read a form's `payload` as absent and take the item in without it).
    parser_classes = [BoundedJSONParser]
    # Intake takes one item or a list, and answers in the form it was sent (core/schema.py).
    one_or_many = ("POST", settings.WFO_MAX_BATCH_ITEMS)
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
            201: OpenApiResponse(ItemOutputSerializer, description=(
                "Something was created: the item, or the list's items in the order sent (new and existing).")),
            200: OpenApiResponse(ItemOutputSerializer, description="Nothing was new: the item(s) already existed."),
            **error_responses(400, 403),
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

    class CustomerRefSerializer(InputSerializer):
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

