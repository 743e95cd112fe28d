"""REST API v1 for source systems and agents (DESIGN.md, "REST API v1").

One view per operation; each validates the request's shape with its input serializer,
calls one service or selector, and renders with an output serializer. Business rules
and their errors come from the services (mapped to 4xx by wfo.api.exception_handler).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, services
from allocation.exceptions import IntakeRejected, ItemNotFound
from allocation.filters import ItemFilter
from allocation.models import (
    AgentProfile,
    Presence,
    Priority,
    Queue,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import bulk


class IsAgent(BasePermission):
    message = "Only agents can do this: this user has no agent profile."

    def has_permission(self, request, view) -> bool:
        return selectors.agent_profile_for(request.user) is not None


class ItemCursorPagination(CursorPagination):
    """Newest first; a cursor never counts the whole table and never skips or repeats
    items while new ones arrive."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# Output -------------------------------------------------------------------------------

class ItemOutputSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(source="queue.code")
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    completed_by = serializers.CharField(source="completed_by.username", allow_null=True, default=None)

    class Meta:
        model = WorkItem
        fields = [
            "id", "queue", "source", "external_id", "customer_ref", "title", "payload", "priority",
            "status", "assignee", "received_at", "due_at", "start_by", "assigned_at", "started_at",
            "pended_until", "closed_at", "outcome", "completed_by", "created_at", "updated_at",
        ]


class EventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = WorkItemEvent
        fields = ["id", "at", "actor", "kind", "from_status", "to_status", "reason", "data"]


class SlaOutputSerializer(serializers.Serializer):
    """What the item's SLA clock reads now, in working time on its calendar."""

    state = serializers.CharField(help_text="on_track, warning, breached, paused, met or missed")
    due_at = serializers.DateTimeField()
    target_seconds = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    remaining_seconds = serializers.SerializerMethodField()
    percent_used = serializers.IntegerField()
    around_the_clock = serializers.SerializerMethodField()

    def get_target_seconds(self, reading) -> int:
        return int(reading.target.total_seconds())

    def get_elapsed_seconds(self, reading) -> int:
        return int(reading.elapsed.total_seconds())

    def get_remaining_seconds(self, reading) -> int:
        return int(reading.remaining.total_seconds())

    def get_around_the_clock(self, reading) -> bool:
        return reading.calendar is None


class ItemDetailOutputSerializer(ItemOutputSerializer):
    events = EventOutputSerializer(many=True, read_only=True)
    sla = SlaOutputSerializer(read_only=True, allow_null=True, default=None)

    class Meta(ItemOutputSerializer.Meta):
        fields = [*ItemOutputSerializer.Meta.fields, "sla", "events"]


def _item_response(item: WorkItem, code: int = status.HTTP_200_OK) -> Response:
    return Response(ItemOutputSerializer(item).data, status=code)


# Intake and list ----------------------------------------------------------------------

UNKNOWN_QUEUE = {"does_not_exist": "No queue has the code '{value}'."}


class ItemInputSerializer(serializers.Serializer):
    queue = serializers.SlugRelatedField(slug_field="code", queryset=Queue.objects.all(), error_messages=UNKNOWN_QUEUE)
    source = serializers.CharField(max_length=50)
    external_id = serializers.CharField(max_length=128)
    customer_ref = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=200)
    payload = serializers.DictField(required=False, default=dict)
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
    serializer_class = ItemOutputSerializer
    pagination_class = ItemCursorPagination
    filterset_class = ItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return WorkItem.objects.none()
        return selectors.items_visible_to(self.request.user)

    @extend_schema(
        request=ItemInputSerializer,
        responses={
            201: ItemOutputSerializer,
            200: OpenApiResponse(ItemOutputSerializer, description="The item already existed."),
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
    @extend_schema(responses=ItemDetailOutputSerializer)
    def get(self, request, item_id: int):
        item = selectors.item_with_events(user=request.user, item_id=item_id)
        if item is None:
            raise ItemNotFound(f"Work item #{item_id} does not exist or is not visible to you.")
        selectors.with_clock_readings([item], now=timezone.now())
        return Response(ItemDetailOutputSerializer(item).data)


class CustomerItemsApi(ListAPIView):
    """The customer journey: every item of one customer reference, oldest first."""

    serializer_class = ItemOutputSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WorkItem.objects.none()
        return selectors.customer_items(user=self.request.user, customer_ref=self.kwargs["customer_ref"])


# Item actions -------------------------------------------------------------------------

class ItemCancelApi(APIView):
    class ItemCancelInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemCancelInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemCancelInputSerializer, request)
        return _item_response(services.item_cancel(item_id=item_id, actor=request.user, **data))


class ItemStartApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(request=None, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        return _item_response(services.item_start(item_id=item_id, actor=request.user))


class ItemPendApi(APIView):
    permission_classes = [IsAgent]

    class ItemPendInputSerializer(serializers.Serializer):
        until = serializers.DateTimeField()
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=ItemPendInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemPendInputSerializer, request)
        return _item_response(services.item_pend(item_id=item_id, actor=request.user, **data))


class ItemCompleteApi(APIView):
    permission_classes = [IsAgent]

    class ItemCompleteInputSerializer(serializers.Serializer):
        outcome = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemCompleteInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemCompleteInputSerializer, request)
        return _item_response(services.item_complete(item_id=item_id, actor=request.user, **data))


class ItemReleaseApi(APIView):
    permission_classes = [IsAgent]

    class ItemReleaseInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=ItemReleaseInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemReleaseInputSerializer, request)
        return _item_response(services.item_release(item_id=item_id, actor=request.user, **data))


class TargetInputSerializer(serializers.Serializer):
    """Where work goes: a queue (by code) or an agent (by username), and why."""

    queue = serializers.SlugRelatedField(
        slug_field="code", queryset=Queue.objects.filter(is_active=True), required=False,
        error_messages={"does_not_exist": "No active queue has the code '{value}'."},
    )
    agent = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(agent_profile__isnull=False),
        required=False, error_messages={"does_not_exist": "No agent has the username '{value}'."},
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if ("queue" in attrs) == ("agent" in attrs):
            raise serializers.ValidationError("Give exactly one of queue or agent.")
        return attrs


def _target(data: dict) -> dict:
    return {"to_queue_id": data["queue"].pk if "queue" in data else None,
            "to_agent_id": data["agent"].pk if "agent" in data else None}


class ItemTransferApi(APIView):
    """Transfer to a queue (by code) or to an agent (by username); the holder may transfer
    its own item, supervisors any open item."""

    @extend_schema(request=TargetInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(TargetInputSerializer, request)
        item = services.item_transfer(item_id=item_id, actor=request.user, reason=data["reason"], **_target(data))
        return _item_response(item)


class ItemsReassignApi(APIView):
    """Supervisor bulk reassign: `preview: true` says which items would move and why the
    others are refused; without it the items move. Supervisors reach the items of queues
    their teams serve; admins any."""

    class ItemsReassignInputSerializer(TargetInputSerializer):
        items = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500)
        preview = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=ItemsReassignInputSerializer,
        responses=inline_serializer("ReassignResult", {
            "preview": serializers.BooleanField(),
            "moved": serializers.ListField(child=serializers.IntegerField()),
            "refused": serializers.ListField(child=serializers.DictField()),
        }),
    )
    def post(self, request):
        data = _valid(self.ItemsReassignInputSerializer, request)
        target = _target(data)
        if data["preview"]:
            result = bulk.items_reassign_preview(actor=request.user, item_ids=data["items"], **target)
        else:
            result = bulk.items_reassign(actor=request.user, item_ids=data["items"], reason=data["reason"], **target)
        return Response({
            "preview": data["preview"],
            "moved": [v.item_id for v in result.moving],
            "refused": [{"item": v.item_id, "reasons": list(v.reasons)} for v in result.refused],
        })


class ItemRejectApi(APIView):
    """Turn down an item pushed to you (push-mode queues): back to the queue, and not
    offered to you again for a while."""

    permission_classes = [IsAgent]

    class ItemRejectInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=ItemRejectInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemRejectInputSerializer, request)
        return _item_response(services.item_reject(item_id=item_id, actor=request.user, reason=data["reason"]))


class ItemPriorityApi(APIView):
    """Change an open item's priority (supervisors): its SLA clock moves to the new
    priority's target, keeping the working time already used."""

    class ItemPriorityInputSerializer(serializers.Serializer):
        priority = serializers.ChoiceField(choices=Priority.choices)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemPriorityInputSerializer, responses=ItemOutputSerializer)
    def post(self, request, item_id: int):
        data = _valid(self.ItemPriorityInputSerializer, request)
        item = services.item_change_priority(
            item_id=item_id, actor=request.user, priority=data["priority"], reason=data["reason"]
        )
        return _item_response(item)


# The calling agent --------------------------------------------------------------------

class AgentNextApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=None,
        responses={200: ItemOutputSerializer, 204: OpenApiResponse(description="Nothing is waiting for you.")},
    )
    def post(self, request):
        item = services.item_get_next(agent_id=request.user.pk, actor=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return _item_response(item)


class AgentPresenceApi(APIView):
    permission_classes = [IsAgent]

    class AgentPresenceInputSerializer(serializers.Serializer):
        presence = serializers.ChoiceField(choices=Presence.choices)

    OutputSerializer = inline_serializer(
        name="AgentPresence",
        fields={
            "presence": serializers.ChoiceField(choices=Presence.choices),
            "since": serializers.DateTimeField(),
            "capacity": serializers.IntegerField(),
            "holding": serializers.IntegerField(),
        },
    )

    def _render(self, profile: AgentProfile) -> Response:
        return Response({
            "presence": profile.presence,
            "since": serializers.DateTimeField().to_representation(profile.presence_since),
            "capacity": profile.capacity,
            "holding": selectors.agent_active_item_count(profile.pk),
        })

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return self._render(selectors.agent_profile_for(request.user))

    @extend_schema(request=AgentPresenceInputSerializer, responses=OutputSerializer)
    def put(self, request):
        data = _valid(self.AgentPresenceInputSerializer, request)
        profile = services.agent_set_presence(agent_id=request.user.pk, presence=data["presence"], actor=request.user)
        return self._render(profile)


def _valid(serializer_class, request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
