"""A source system's webhook subscriptions: create, read, change, delete its own, read
their delivery log and send failed deliveries again. It subscribes to its items' lifecycle
and SLA events only, and hears only of its own sources (admins make any subscription in
Django admin). Another system's subscriptions do not exist for it (404)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, webhooks
from allocation.api.common import TEXT_VALIDATORS
from allocation.models import INTEGRATION_KINDS, DeliveryStatus, Queue, WebhookDelivery, WebhookSubscription
from allocation.models.outbound import INTEGRATION_KIND_CHOICES
from allocation.services import webhooks as outbound
from core import roles
from core.api import (
    BoundedCharField,
    EmptyInputSerializer,
    InputSerializer,
    StandardPagination,
    error_responses,
    valid_body,
    valid_query,
)
from core.parsers import BoundedJSONParser
from core.permissions import IsSourceSystem

MAX_QUEUES = 100


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    queues = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "kinds", "queues", "sources", "is_active", "paused_reason", "max_attempts",
                  "failing_since", "created_at"]


class CreatedSubscriptionOutputSerializer(SubscriptionOutputSerializer):
    class Meta(SubscriptionOutputSerializer.Meta):
        fields = [*SubscriptionOutputSerializer.Meta.fields, "secret"]
        extra_kwargs = {"secret": {"help_text": "Shown once, in this answer: keep it to verify the signatures."}}


class DeliveryOutputSerializer(serializers.ModelSerializer):
    event_id = serializers.SerializerMethodField(help_text="The id every request of this event carries.")
    kind = serializers.CharField(source="event.kind")
    item = serializers.IntegerField(source="item_id")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "kind", "item", "status", "attempts", "next_attempt_at", "last_attempt_at",
                  "delivered_at", "response_status", "latency_ms", "response_excerpt", "error", "created_at"]

    def get_event_id(self, delivery) -> str:
        return webhooks.event_id(delivery.event_id)


class SubscriptionInputSerializer(InputSerializer):
    name = BoundedCharField(max_length=100, validators=TEXT_VALIDATORS)
    url = BoundedCharField(max_length=500, validators=TEXT_VALIDATORS, help_text="http or https; a public address.")
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=INTEGRATION_KIND_CHOICES),
        allow_empty=False, max_length=len(INTEGRATION_KINDS),
    )
    queues = serializers.ListField(
        child=BoundedCharField(max_length=Queue._meta.get_field("code").max_length, validators=TEXT_VALIDATORS),
        required=False, default=list, max_length=MAX_QUEUES, help_text="Queue codes; none: every queue.",
    )
    sources = serializers.ListField(
        child=BoundedCharField(max_length=50, validators=TEXT_VALIDATORS), required=False, default=list,
        max_length=50, help_text="Some of your sources; none: all of them.",
    )
    is_active = serializers.BooleanField(required=False, default=True)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=30)

    def validate_url(self, url: str) -> str:
        problem = webhooks.webhook_url_problem(url)
        if problem:
            raise serializers.ValidationError(problem)
        return url

    def validate_queues(self, codes: list[str]) -> list[Queue]:
        found = {queue.code: queue for queue in Queue.objects.filter(code__in=set(codes))}
        unknown = sorted(set(codes) - set(found))
        if unknown:
            raise serializers.ValidationError(f"No queue has the code {', '.join(map(repr, unknown))}.")
        return list(found.values())

    def validate_sources(self, sources: list[str]) -> list[str]:
        user = self.context.get("user")
        foreign = sorted(set(sources) - (roles.sources_of(user) if user is not None else frozenset()))
        if foreign:
            raise serializers.ValidationError(
                f"Not a source of yours: {', '.join(map(repr, foreign))}. You hear only of your own sources' items.")
        return sources


def _subscription(request, subscription_id: int) -> WebhookSubscription:
    subscription = selectors.webhook_subscriptions_of(request.user).filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFound(f"Webhook subscription #{subscription_id} does not exist or is not yours.")
    return subscription


class SubscriptionListCreateApi(APIView):
    permission_classes = [IsSourceSystem]
    parser_classes = [BoundedJSONParser]

    @extend_schema(responses={200: SubscriptionOutputSerializer(many=True), **error_responses(403)})
    def get(self, request):
        subscriptions = selectors.webhook_subscriptions_of(request.user)
        return Response(SubscriptionOutputSerializer(subscriptions, many=True).data)

    @extend_schema(request=SubscriptionInputSerializer,
                   responses={201: CreatedSubscriptionOutputSerializer, **error_responses(400, 403)},
                   description="Subscribe a URL to your items' events. The answer holds the signing secret, once.")
    def post(self, request):
        data = _valid(request, partial=False)
        subscription = outbound.webhook_subscription_create(
            name=data["name"], url=data["url"], kinds=data["kinds"], queues=data["queues"], sources=data["sources"],
            is_active=data["is_active"], max_attempts=data.get("max_attempts"), integration=request.user,
            owner=request.user,
        )
        return Response(CreatedSubscriptionOutputSerializer(subscription).data, status=status.HTTP_201_CREATED)


def _valid(request, *, partial: bool) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = SubscriptionInputSerializer(data=request.data, partial=partial, context={"user": request.user})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SubscriptionDetailApi(APIView):
    permission_classes = [IsSourceSystem]
    parser_classes = [BoundedJSONParser]

    @extend_schema(responses={200: SubscriptionOutputSerializer, **error_responses(403, 404)})
    def get(self, request, subscription_id: int):
        return Response(SubscriptionOutputSerializer(_subscription(request, subscription_id)).data)

    @extend_schema(request=SubscriptionInputSerializer,
                   responses={200: SubscriptionOutputSerializer, **error_responses(400, 403, 404)},
                   description="Change some fields. Activating a paused subscription sends what it kept, in order.")
    def patch(self, request, subscription_id: int):
        subscription = _subscription(request, subscription_id)
        changes = dict(_valid(request, partial=True))
        queues = changes.pop("queues", None)
        outbound.webhook_subscription_update(subscription, queues=queues, **changes)
        return Response(SubscriptionOutputSerializer(subscription).data)

    @extend_schema(request=EmptyInputSerializer,
                   responses={204: OpenApiResponse(description="Deleted, with its delivery log."),
                              **error_responses(403, 404)})
    def delete(self, request, subscription_id: int):
        subscription = _subscription(request, subscription_id)
        valid_body(EmptyInputSerializer, request)
        outbound.webhook_subscription_delete(subscription)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryFilterSerializer(InputSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1)


class DeliveryListApi(ListAPIView):
    """The delivery log, newest event first; `status` narrows it (dead: the dead letters)."""

    permission_classes = [IsSourceSystem]
    serializer_class = DeliveryOutputSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        query = valid_query(DeliveryFilterSerializer, self.request, self)
        return selectors.webhook_delivery_log(_subscription(self.request, self.kwargs["subscription_id"]),
                                              status=query.get("status"))

    @extend_schema(responses={200: DeliveryOutputSerializer(many=True), **error_responses(400, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RedeliverInputSerializer(InputSerializer):
    deliveries = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, allow_empty=False,
        max_length=1000, help_text="Delivery ids to send again; none given: every dead-lettered one.",
    )


class RedeliverApi(APIView):
    permission_classes = [IsSourceSystem]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=RedeliverInputSerializer,
        responses={200: OpenApiResponse(description='{"redelivered": N}'), **error_responses(400, 403, 404)},
        description="Send deliveries again, each with a fresh round of tries, in its item's order.",
    )
    def post(self, request, subscription_id: int):
        subscription = _subscription(request, subscription_id)
        body = valid_body(RedeliverInputSerializer, request)
        count = outbound.webhook_deliveries_redeliver(subscription, delivery_ids=body.get("deliveries"))
        return Response({"redelivered": count})
