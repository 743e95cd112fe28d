"""What the allocation API's views share: who may call, how items are rendered, how a
request body is read, and the text and lookup fields that refuse what the database cannot hold."""

from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from allocation.models import WorkItem, WorkItemEvent
from core.api import error_responses

# Output -------------------------------------------------------------------------------

class ItemOutputSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(source="queue.code")
    routing_step = serializers.IntegerField(
        read_only=True, help_text="The routing step of its queue the item has reached (1: the queue's own rule).",
    )
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    completed_by = serializers.CharField(source="completed_by.username", allow_null=True, default=None)
    external_deadline = serializers.DateTimeField(
        source="sla_clock.external_deadline", allow_null=True, default=None, read_only=True,
        help_text="The deadline the source set, if any. `due_at` is the earlier of it and the SLA policy's.",
    )

    class Meta:
        model = WorkItem
        fields = [
            "id", "queue", "source", "external_id", "customer_ref", "title", "payload", "priority",
            "status", "routing_step", "assignee", "received_at", "due_at", "external_deadline", "start_by",
            "assigned_at", "started_at", "pended_until", "closed_at", "outcome", "completed_by", "created_at",
            "updated_at",
        ]


class EventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = WorkItemEvent
        fields = ["id", "at", "actor", "kind", "from_status", "to_status", "reason", "data"]


class SlaOutputSerializer(serializers.Serializer):
    """What the item's SLA clock reads now, in working time on its calendar."""

    state = serializers.CharField(
        help_text="on_track, warning, breached, paused, met, missed, or cancelled (closed with no SLA outcome)")
    due_at = serializers.DateTimeField(help_text="The governing deadline's.")
    governed_by = serializers.ChoiceField(
        choices=["policy", "external_deadline"],
        help_text="Which deadline governs: the SLA policy's due at, or the source's external deadline (the "
                  "earlier; the external one also while the policy's clock is paused). Targets, elapsed and "
                  "remaining time, percentages, alerts and attainment follow it.",
    )
    policy_due_at = serializers.DateTimeField(help_text="The SLA policy's due at (moved later by pauses).")
    external_deadline = serializers.DateTimeField(allow_null=True)
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


# One serializer for every action's answer, its fields built once: a ModelSerializer builds
# its fields anew for each instance (about half a millisecond of CPU for an item's), while
# rendering through built fields keeps no state between calls — a ListSerializer renders
# every row through one child the same way.
_ITEM_RENDERING = ItemOutputSerializer()


def item_response(item: WorkItem, code: int = status.HTTP_200_OK) -> Response:
    return Response(_ITEM_RENDERING.to_representation(item), status=code)



ITEM_ACTION_RESPONSES = {200: ItemOutputSerializer, **error_responses(400, 403, 404, 409)}


# Input fields -----------------------------------------------------------------

# Text PostgreSQL cannot hold (text and jsonb): DRF's CharField refuses it with these.
TEXT_VALIDATORS = [ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator()]


def storable_json(value) -> None:
    """Refuse a NUL character or a lone surrogate anywhere in a JSON value, keys included:
    a 400 with a message, not a database error."""
    if isinstance(value, dict):
        for key, item in value.items():
            storable_json(key)
            storable_json(item)
    elif isinstance(value, list):
        for item in value:
            storable_json(item)
    elif isinstance(value, str):
        for validator in TEXT_VALIDATORS:
            validator(value)


class SlugLookupField(serializers.SlugRelatedField):
    """A lookup by code or username that refuses text the database could not compare, as
    CharField does, before looking."""

    def to_internal_value(self, data):
        for validator in TEXT_VALIDATORS:
            validator(data)
        return super().to_internal_value(data)
