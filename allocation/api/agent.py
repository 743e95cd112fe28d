"""The calling agent: get next work, and presence."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors, services
from allocation.api.common import ItemOutputSerializer, item_response
from allocation.models import AgentProfile, Presence
from wfo.api import EmptyInputSerializer, InputSerializer, error_responses, valid_body
from wfo.permissions import IsAgent


class AgentNextApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
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


class AgentPresenceApi(APIView):
    permission_classes = [IsAgent]

    class AgentPresenceInputSerializer(InputSerializer):
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

    @extend_schema(responses={200: OutputSerializer, **error_responses(403)})
    def get(self, request):
        return self._render(selectors.agent_profile_for(request.user))

    @extend_schema(
        request=AgentPresenceInputSerializer, responses={200: OutputSerializer, **error_responses(400, 403)}
    )
    def put(self, request):
        data = valid_body(self.AgentPresenceInputSerializer, request)
        profile = services.agent_set_presence(agent_id=request.user.pk, presence=data["presence"], actor=request.user)
        return self._render(profile)
