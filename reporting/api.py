"""Report data as JSON (DESIGN.md's REST API: /api/v1/reports/...)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation.selectors import SEE_ALL_ITEMS_PERMISSION
from reporting import selectors


class IsSupervisor(BasePermission):
    message = "Reports are for supervisors and admins."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm(SEE_ALL_ITEMS_PERMISSION)


class BacklogReportApi(APIView):
    """The live backlog: per queue, open items by status, oldest waiting item, at risk and
    breached, today's arrivals and completions; agents by presence; open items by time left."""

    permission_classes = [IsSupervisor]

    @extend_schema(responses=inline_serializer("BacklogReport", {
        "at": serializers.DateTimeField(), "queues": serializers.ListField(child=serializers.DictField()),
        "presence": serializers.DictField(), "aging": serializers.DictField(),
    }))
    def get(self, request):
        board = selectors.wallboard()
        return Response({
            "at": board.at,
            "queues": [{
                "queue": row.queue.code, "name": row.queue.name, "by_status": row.by_status, "open": row.open,
                "oldest_queued_received_at": row.oldest_queued, "at_risk": row.at_risk, "breached": row.breached,
                "arrivals_today": row.arrivals_today, "completed_today": row.completed_today,
            } for row in board.queues],
            "presence": board.presence,
            "aging": {key: n for key, _, n in board.aging},
        })
