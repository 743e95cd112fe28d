"""The calling agent: get next work, and presence."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, services
from allocation.api.common import ItemOutputSerializer, item_response
from allocation.models import AgentProfile, Presence
from core.api import EmptyInputSerializer, InputSerializer, error_responses, valid_body
from core.permissions import IsAgent


class AgentNextApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Get next work",
        description="Assigns the calling agent its next best item and returns it: `assigned`, for the agent to "
                    "start within the queue's reservation timeout, or `in_progress` where the queue starts pulled "
                    "work at once (no start call then).",
        request=EmptyInputSerializer,
        responses={
            200: ItemOutputSerializer,
            204: OpenApiResponse(description="Nothing is waiting for you."),
            **error_responses(400, 403, 409),
        },
    )
    def post(self, request):
        valid_body(EmptyInputSerializer, request)
        item = services.item_get_next(agent_id=request.user.pk, actor=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return item_response(item)


class PresenceReasonOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    presence = serializers.ChoiceField(choices=Presence.choices)
    label = serializers.CharField()


class AgentPresenceApi(APIView):
    permission_classes = [IsAgent]

    class AgentPresenceInputSerializer(InputSerializer):
        presence = serializers.ChoiceField(choices=Presence.choices)
        reason = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
            help_text="Why you are away or offline: the id of one of `reasons_offered` for that presence.",
        )

    OutputSerializer = inline_serializer(
        name="AgentPresence",
        fields={
            "presence": serializers.ChoiceField(choices=Presence.choices),
            "reason": PresenceReasonOutputSerializer(
                allow_null=True, help_text="Why away or offline, if the agent said."),
            "since": serializers.DateTimeField(),
            "capacity": serializers.IntegerField(),
            "holding": serializers.IntegerField(),
            "get_next_refusal": serializers.CharField(
                allow_null=True, help_text="Why get-next would refuse now (away, offline, at capacity), or null.",
            ),
            "set_by": serializers.CharField(
                allow_null=True,
                help_text="Who made the agent away or offline when it was not the agent itself: a supervisor's or "
                          "admin's username, or `system: idle-timeout` when no request came from the agent for "
                          "the idle time (its client stopped). Null when the agent set its presence itself.",
            ),
            "reasons_offered": PresenceReasonOutputSerializer(many=True),
        },
    )

    def _render(self, profile: AgentProfile) -> Response:
        state = selectors.agent_presence_state(profile)
        refusal = services.next_work_refusal(presence=profile.presence, held=state.holding, capacity=profile.capacity,
                                    reason=state.reason["label"] if state.reason else "")
        return Response({
            "presence": profile.presence,
            "reason": state.reason,
            "since": serializers.DateTimeField().to_representation(profile.presence_since),
            "capacity": profile.capacity,
            "holding": state.holding,
            "get_next_refusal": refusal.message if refusal else None,
            "set_by": state.set_by.actor_label if state.set_by else None,
            "reasons_offered": state.reasons_offered,
        })

    @extend_schema(responses={200: OutputSerializer, **error_responses(403)})
    def get(self, request):
        return self._render(selectors.agent_profile_for(request.user))

    @extend_schema(
        request=AgentPresenceInputSerializer, responses={200: OutputSerializer, **error_responses(400, 403)}
    )
    def put(self, request):
        data = valid_body(self.AgentPresenceInputSerializer, request)
        profile = services.agent_set_presence(
            agent_id=request.user.pk, presence=data["presence"], reason_id=data.get("reason"), actor=request.user
        )
        return self._render(profile)

