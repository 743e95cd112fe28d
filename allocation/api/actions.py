"""What can be done to an item: the holder's start, pend, complete, release and reject;
transfer; a supervisor's cancel, priority change and bulk reassign. Each view reads its
body, calls one service and renders the item; the services own the rules and their errors."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import services
from allocation.api.common import (
    ITEM_ACTION_RESPONSES,
    SlugLookupField,
    item_response,
)
from allocation.models import Priority, Queue
from allocation.services import bulk
from core.api import BoundedCharField, EmptyInputSerializer, InputSerializer, error_responses, valid_body
from core.permissions import IsAgent


class ItemCancelApi(APIView):
    class ItemCancelInputSerializer(InputSerializer):
        reason = BoundedCharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemCancelInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemCancelInputSerializer, request)
        return item_response(services.item_cancel(item_id=item_id, actor=request.user, **data))


class ItemStartApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(request=EmptyInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        valid_body(EmptyInputSerializer, request)
        return item_response(services.item_start(item_id=item_id, actor=request.user))


class ItemResumeApi(APIView):
    """The holder takes a pended item up again before its follow-up time."""

    permission_classes = [IsAgent]

    @extend_schema(request=EmptyInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        valid_body(EmptyInputSerializer, request)
        return item_response(services.item_resume(item_id=item_id, actor=request.user))


class ItemPendApi(APIView):
    permission_classes = [IsAgent]

    class ItemPendInputSerializer(InputSerializer):
        until = serializers.DateTimeField()
        reason = BoundedCharField(max_length=500)

    @extend_schema(request=ItemPendInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemPendInputSerializer, request)
        return item_response(services.item_pend(item_id=item_id, actor=request.user, **data))


class ItemCompleteApi(APIView):
    permission_classes = [IsAgent]

    class ItemCompleteInputSerializer(InputSerializer):
        outcome = BoundedCharField(max_length=100, required=False, allow_blank=True, default="")
        note = BoundedCharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemCompleteInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemCompleteInputSerializer, request)
        return item_response(services.item_complete(item_id=item_id, actor=request.user, **data))


class ItemReleaseApi(APIView):
    permission_classes = [IsAgent]

    class ItemReleaseInputSerializer(InputSerializer):
        reason = BoundedCharField(max_length=500)

    @extend_schema(request=ItemReleaseInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemReleaseInputSerializer, request)
        return item_response(services.item_release(item_id=item_id, actor=request.user, **data))


class TargetInputSerializer(InputSerializer):
    """Where work goes: a queue (by code) or an agent (by username), and why."""

    queue = SlugLookupField(
        slug_field="code", queryset=Queue.objects.filter(is_active=True), required=False,
        error_messages={"does_not_exist": "No active queue has the code '{value}'."},
    )
    agent = SlugLookupField(
        slug_field="username", queryset=get_user_model().objects.filter(agent_profile__isnull=False),
        required=False, error_messages={"does_not_exist": "No agent has the username '{value}'."},
    )
    reason = BoundedCharField(max_length=500, required=False, allow_blank=True, default="")

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

    @extend_schema(request=TargetInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(TargetInputSerializer, request)
        item = services.item_transfer(item_id=item_id, actor=request.user, reason=data["reason"], **_target(data))
        return item_response(item)


class ItemsReassignApi(APIView):
    """Supervisor bulk reassign: `preview: true` says which items would move and why the
    others are refused; without it the items move. Supervisors reach the items of queues
    their teams serve; admins any."""

    class ItemsReassignInputSerializer(TargetInputSerializer):
        items = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False,
                                      max_length=settings.WFO_MAX_BULK_ITEMS)
        preview = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=ItemsReassignInputSerializer,
        # Items that do not exist or may not move are listed in `refused`, not a 404 or 409.
        responses={200: inline_serializer("ReassignResult", {
            "preview": serializers.BooleanField(),
            "moved": serializers.ListField(child=serializers.IntegerField()),
            "refused": serializers.ListField(child=serializers.DictField()),
        }), **error_responses(400, 403)},
    )
    def post(self, request):
        data = valid_body(self.ItemsReassignInputSerializer, request)
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

    class ItemRejectInputSerializer(InputSerializer):
        reason = BoundedCharField(max_length=500)

    @extend_schema(request=ItemRejectInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemRejectInputSerializer, request)
        return item_response(services.item_reject(item_id=item_id, actor=request.user, reason=data["reason"]))


class ItemPriorityApi(APIView):
    """Change an open item's priority (supervisors): its SLA clock moves to the new
    priority's target, keeping the working time already used."""

    class ItemPriorityInputSerializer(InputSerializer):
        priority = serializers.ChoiceField(choices=Priority.choices)
        reason = BoundedCharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemPriorityInputSerializer, responses=ITEM_ACTION_RESPONSES)
    def post(self, request, item_id: int):
        data = valid_body(self.ItemPriorityInputSerializer, request)
        item = services.item_change_priority(
            item_id=item_id, actor=request.user, priority=data["priority"], reason=data["reason"]
        )
        return item_response(item)

