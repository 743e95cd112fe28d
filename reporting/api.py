"""Report data as JSON (DESIGN.md's REST API: /api/v1/reports/...)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import error_responses
from core.permissions import OverseesWork
from reporting import selectors
from reporting.forms import HistoryForm
from reporting.history import Period, Scope, history, sla_by_queue
from reporting.rollups import reports_today


class BacklogReportApi(APIView):
    """The live backlog: per queue, open items by status, oldest waiting item, at risk and
    breached, today's arrivals and completions; agents by presence; open items by time left."""

    permission_classes = [OverseesWork]

    @extend_schema(responses={200: inline_serializer("BacklogReport", {
        "at": serializers.DateTimeField(), "queues": serializers.ListField(child=serializers.DictField()),
        "presence": serializers.DictField(), "aging": serializers.DictField(),
    }), **error_responses(403)})
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


HISTORY_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="First day (default: 27 days before today)"),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Last day, inclusive (default: today); at most 366 days"),
    OpenApiParameter("grain", OpenApiTypes.STR, enum=["day", "week"], description="Periods (default: day)"),
    OpenApiParameter("queue", OpenApiTypes.INT, many=True, description="Queue ids (repeat; default: every queue)"),
    OpenApiParameter("team", OpenApiTypes.INT, description="A team: its members' completions, its queues' flows"),
    OpenApiParameter("agent", OpenApiTypes.INT, description="An agent (user id): its completions only"),
]


def _scope(request) -> Scope:
    """The report scope from the query string, or a 400 with a message per field."""
    form = HistoryForm(request.query_params, user=request.user, today=reports_today())
    if not form.is_valid():
        raise ValidationError({field: [str(e) for e in errors] for field, errors in form.errors.items()})
    return form.scope()


def _period(period: Period, *, flows: bool) -> dict:
    body = {
        "start": period.start, "end": period.end, "completed": period.completed, "met": period.met,
        "sla_attainment": period.sla_attainment, "handle_minutes_avg": period.handle_minutes_avg,
        "handle_minutes_p90": period.handle_minutes_p90, "throughput_per_hour": period.throughput_per_hour,
        "productivity": period.productivity, "utilization": period.utilization,
        "first_pass_yield": period.first_pass_yield, "rework_rate": period.rework_rate,
        "qa_average": period.qa_average, "qa_count": period.qa_count,
        "logged_in_hours": period.logged_in_seconds / 3600, "available_hours": period.available_seconds / 3600,
    }
    if flows:
        body.update(arrivals=period.arrivals, rework_arrivals=period.rework_arrivals, backlog_end=period.backlog_end)
    return body


def _scope_json(scope: Scope) -> dict:
    return {"since": scope.since, "until": scope.until, "grain": scope.grain,
            "queues": list(scope.queue_ids) if scope.queue_ids else None,
            "team": scope.team.pk if scope.team else None, "agent": scope.agent_id}


class HistoryReportApi(APIView):
    """Every history metric by day or week from the rollups (as the History page): arrivals,
    completions, SLA attainment, handle time (average, p90), throughput, productivity,
    utilization, first-pass yield, rework rate, QA score, end backlog. Shares are 0–1."""

    permission_classes = [OverseesWork]

    @extend_schema(parameters=HISTORY_PARAMETERS, responses={200: inline_serializer("HistoryReport", {
        "scope": serializers.DictField(), "periods": serializers.ListField(child=serializers.DictField()),
        "total": serializers.DictField(),
    }), **error_responses(400, 403)})
    def get(self, request):
        report = history(_scope(request))
        flows = report.shows_queue_flows
        return Response({"scope": _scope_json(report.scope),
                         "periods": [_period(p, flows=flows) for p in report.periods],
                         "total": _period(report.total, flows=flows)})


class SlaReportApi(APIView):
    """SLA attainment (completed at or before due ÷ completed) per period and per queue over
    the range, from the rollups."""

    permission_classes = [OverseesWork]

    @extend_schema(parameters=HISTORY_PARAMETERS, responses={200: inline_serializer("SlaReport", {
        "scope": serializers.DictField(), "periods": serializers.ListField(child=serializers.DictField()),
        "queues": serializers.ListField(child=serializers.DictField()), "total": serializers.DictField(),
    }), **error_responses(400, 403)})
    def get(self, request):
        scope = _scope(request)
        report = history(scope)

        def figures(p):
            return {"completed": p.completed, "met": p.met, "attainment": p.sla_attainment}

        return Response({
            "scope": _scope_json(scope),
            "periods": [{"start": p.start, "end": p.end, **figures(p)} for p in report.periods],
            "queues": [{"queue": q.code, "name": q.name, "completed": q.completed, "met": q.met,
                        "attainment": q.attainment} for q in sla_by_queue(scope)],
            "total": figures(report.total),
        })
