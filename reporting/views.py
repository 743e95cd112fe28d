"""Report pages. The wallboard refreshes itself in place (htmx) and every number leads to
the items behind it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from allocation import services as allocation_services
from allocation import transitions
from allocation.models import OPEN_STATUSES, AgentProfile, ItemStatus, Presence
from core import roles
from core.exceptions import InvalidInput, NotFound, PermissionDenied
from reporting import agents_now, attention, exports, history_tables, selectors, services
from reporting.forms import (
    THRESHOLD_LABELS,
    AgentPresenceForm,
    CapacityForm,
    HistoryForm,
    LiveAgentsForm,
    QueueThresholdsForm,
    WallboardFilterForm,
)
from reporting.history import Scope, agent_totals
from reporting.history import history as history_report
from reporting.models import WallboardChoice
from reporting.rollups import day_start, local_day, reports_today


def _require_supervisor(user) -> None:
    if not roles.oversees_work(user):
        raise PermissionDenied("Reports are for supervisors and admins.")


def _context(request: HttpRequest) -> dict:
    scope = selectors.wallboard_scope(request.user)
    board = selectors.with_levels(selectors.wallboard(queue_ids=scope.queue_ids, team_ids=scope.team_ids))
    peak = max([n for _, _, n in board.aging] + [1])
    # The board counts every queue; its numbers link to the items only where this user may
    # see and move them (a supervisor: the queues its teams serve). The totals link only for
    # a user who sees every queue: for anyone else the list would count fewer.
    reach = transitions.queues_in_reach(request.user)
    on_board = {row.queue.pk for row in board.queues}
    linked = on_board if reach is None else set(reach.values_list("pk", flat=True))
    # The agents by presence open the scorecards list of those agents (with their reasons),
    # for a user who sees every agent there: for anyone else it would count fewer.
    agents_linked = selectors.agents_visible_to(request.user).count() == sum(board.presence.values())
    # Today's arrivals and completions: items created, and completed, since the portal's day began.
    today = day_start(local_day(board.at)).isoformat()
    return {"board": board, "totals": board.totals, "peak": peak, "linked": linked,
            "totals_linked": on_board <= linked, "open_query": urlencode([("status", s) for s in OPEN_STATUSES]),
            "arrived_today_query": urlencode({"arrived_after": today}),
            "done_today_query": urlencode({"status": ItemStatus.COMPLETED, "closed_after": today}),
            "agents_linked": agents_linked, "refresh_seconds": settings.WFO_WALLBOARD_REFRESH_SECONDS,
            "scope": scope, "wall": request.GET.get("wall") == "1"}


FILTER_PARAMS = ("teams", "queues", "theme")


@require_GET
@login_required
def wallboard(request: HttpRequest) -> HttpResponse:
    """The wallboard, as the user last filtered it; `?wall=1`: full screen for a wall (large
    type, no navigation, the chosen theme). Filtering saves the choice, then comes back
    without the parameters (a reload saves nothing again)."""
    _require_supervisor(request.user)
    if "filter" in request.GET:
        form = WallboardFilterForm(request.GET)
        if not form.is_valid():
            context = _context(request) | {"filter_form": form}
            return render(request, "reporting/wallboard.html", context, status=400)
        services.wallboard_choice_save(user=request.user, teams=form.cleaned_data["teams"],
                                       queues=form.cleaned_data["queues"],
                                       theme=form.cleaned_data["theme"] or WallboardChoice.Theme.AUTO)
        messages.success(request, "The wallboard shows your choice; it is kept for your next visit.")
        return redirect(reverse("reports:wallboard") + ("?wall=1" if request.GET.get("wall") == "1" else ""))
    context = _context(request)
    if context["wall"]:
        return render(request, "reporting/wall.html", context)
    scope = context["scope"]
    context["filter_form"] = WallboardFilterForm(initial={"teams": scope.teams, "queues": scope.queues,
                                                          "theme": scope.theme})
    export = request.GET.get("format")
    if export in exports.FORMATS:
        board = context["board"]
        return exports.table_response(
            name="backlog", fmt=export,
            headers=["Queue", "Waiting", "Assigned", "In progress", "Pended", "Oldest waiting received at",
                     "At risk", "Breached", "Arrivals today", "Completed today"],
            rows=[[r.queue.name, *(r.by_status.get(s, 0) for s in OPEN_STATUSES),
                   r.oldest_queued.isoformat() if r.oldest_queued else "", r.at_risk, r.breached, r.arrivals_today,
                   r.completed_today] for r in board.queues],
        )
    return render(request, "reporting/wallboard.html", context)


@require_GET
@login_required
def wallboard_live(request: HttpRequest) -> HttpResponse:
    """The board alone, for htmx to swap in place (`?wall=1`: the wall mode's)."""
    _require_supervisor(request.user)
    context = _context(request)
    return render(request, "reporting/_wall_board.html" if context["wall"] else "reporting/_board.html", context)


@login_required
def wallboard_thresholds(request: HttpRequest) -> HttpResponse:
    """When each queue's wallboard cells turn amber and red, for the queues of the user's
    teams (an admin: every queue). Saved all at once, or none with a message per field."""
    _require_supervisor(request.user)
    queues = list(selectors.thresholds_queues(request.user))
    found = selectors.thresholds_of(queues)
    data = request.POST if request.method == "POST" else None
    forms = [QueueThresholdsForm(data, queue=queue, thresholds=found.get(queue.pk)) for queue in queues]
    if request.method == "POST":
        if all(form.is_valid() for form in forms):
            changed = [form for form in forms if form.has_changed()]
            for form in changed:
                services.queue_thresholds_save(user=request.user, queue=form.queue, values=form.cleaned_data)
            messages.success(request, f"Thresholds saved for {len(changed)} queue{'' if len(changed) == 1 else 's'}."
                             if changed else "Nothing changed.")
            return redirect("reports:wallboard-thresholds")
        messages.error(request, "Nothing was saved: fix the values marked below.")
    status = 400 if request.method == "POST" else 200
    return render(request, "reporting/thresholds.html", {"forms": forms, "labels": THRESHOLD_LABELS}, status=status)


def _home_context(request: HttpRequest) -> dict:
    now = timezone.now()
    today = day_start(local_day(now)).isoformat()
    queues = attention.supervised_queues(request.user)
    return {"lines": attention.attention(request.user, now=now, queues=queues),
            "days": attention.today_and_yesterday(request.user, now=now, queues=queues), "now": now,
            "arrived_today_query": urlencode({"arrived_after": today}),
            "done_today_query": urlencode({"status": ItemStatus.COMPLETED, "closed_after": today}),
            "refresh_seconds": settings.WFO_WALLBOARD_REFRESH_SECONDS}


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The supervisor's home: what needs attention now, in order (reporting/attention.py),
    and today's figures beside yesterday's."""
    _require_supervisor(request.user)
    return render(request, "reporting/home.html", _home_context(request))


@require_GET
@login_required
def home_live(request: HttpRequest) -> HttpResponse:
    """The attention list and the day's figures alone, for htmx to swap in place."""
    _require_supervisor(request.user)
    return render(request, "reporting/_home.html", _home_context(request))


AGENTS_PER_PAGE = 50


def _agents_context(request: HttpRequest) -> tuple[dict, int]:
    params = request.GET.copy()
    page_number = params.pop("page", [None])[0]
    form = LiveAgentsForm(params or None, user=request.user)
    valid = not form.is_bound or form.is_valid()
    filters, sort = form.filters() if valid else (agents_now.AgentFilters(), "name")
    now = timezone.now()
    rows = agents_now.agents_now(request.user, filters, sort=sort, now=now, figures=False) if valid else []
    page = Paginator(rows, AGENTS_PER_PAGE).get_page(page_number)
    agents_now.figures_fill(page.object_list, now=now)
    today = day_start(local_day(now)).isoformat()
    # Quoted once here, not in every row.
    context = {"form": form, "rows": rows, "page": page, "now": now, "query": params.urlencode(),
               "query_param": quote(params.urlencode()), "page_query": request.GET.urlencode(),
               "today_param": quote(today),
               "refresh_seconds": settings.WFO_WALLBOARD_REFRESH_SECONDS}
    return context, 200 if valid else 400


@require_GET
@login_required
def agents(request: HttpRequest) -> HttpResponse:
    """Live agents: every agent of the user's teams now (reporting/agents_now.py), filtered
    and sorted; the table refreshes itself in place (htmx) with the same filters."""
    _require_supervisor(request.user)
    context, status = _agents_context(request)
    return render(request, "reporting/agents.html", context, status=status)


@require_GET
@login_required
def agents_live(request: HttpRequest) -> HttpResponse:
    """The table alone, for htmx to swap in place."""
    _require_supervisor(request.user)
    context, status = _agents_context(request)
    return render(request, "reporting/_agents.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def agent_presence(request: HttpRequest, agent_id: int) -> HttpResponse:
    """A supervisor sets an agent away or offline from its row (GET: the form, which the
    live view loads into the row; a page of its own without JavaScript); back to the view
    with the same filters, saying what changed."""
    _require_supervisor(request.user)
    if request.method == "GET":
        agent = agents_now.agents_overseen(request.user).select_related("user").filter(pk=agent_id).first()
        if agent is None:
            raise NotFound("No agent of your teams has that id.")
        template = "reporting/_agent_presence.html" if request.htmx else "reporting/agent_presence.html"
        return render(request, template, {"agent": agent, "form": AgentPresenceForm(),
                                          "query": request.GET.get("query", "")})
    form = AgentPresenceForm(request.POST)
    back = reverse("reports:agents") + (f"?{request.POST['query']}" if request.POST.get("query") else "")
    try:
        if not form.is_valid():
            raise InvalidInput(" ".join(message for errors in form.errors.values() for message in errors))
        presence, reason_id = form.chosen()
        agent = allocation_services.agent_set_presence_by_supervisor(
            agent_id=agent_id, presence=presence, actor=request.user, reason_id=reason_id)
    except InvalidInput as error:
        messages.error(request, error.message)
        context, _ = _agents_context(request)
        return render(request, "reporting/agents.html", context, status=400)
    name = agent.user.get_full_name() or agent.user.get_username()
    grace = int(settings.WFO_REBALANCE_GRACE.total_seconds() // 60)
    messages.success(request, f"{name} is now {agent.presence_words}. The items they hold go to others if they "
                              f"stay so over {grace} minutes.")
    return redirect(back)


@require_GET
@login_required
def customer_journey(request: HttpRequest) -> HttpResponse:
    """Search a customer reference: every item across queues with its timeline, SLA outcome
    and quality results — what the front office needs to answer "where is my case?"."""
    _require_supervisor(request.user)
    ref = request.GET.get("ref", "").strip()
    items = selectors.customer_journey_report(customer_ref=ref) if ref else []
    return render(request, "reporting/customer_journey.html", {"ref": ref, "items": items})


SCORECARD_DAYS = 28


@require_GET
@login_required
def scorecards(request: HttpRequest) -> HttpResponse:
    """The agents whose scorecards the user may open (an agent goes straight to its own)."""
    if not roles.sees_scorecards(request.user):
        raise PermissionDenied("Scorecards are for agents (their own), supervisors and admins.")
    agents = selectors.agents_visible_to(request.user)
    presence = request.GET.get("presence", "")
    if presence and presence not in Presence.values:
        return render(request, "reporting/scorecards.html", {"agents": [], "presence_error": (
            f"Unknown presence {presence[:30]!r}: choose {', '.join(Presence.values)}.")}, status=400)
    agents = list(agents.filter(presence=presence) if presence else agents)
    if not presence and len(agents) == 1 and agents[0].pk == request.user.pk:
        return redirect("reports:scorecard", agent_id=request.user.pk)
    return render(request, "reporting/scorecards.html", {
        "agents": agents, "presence": Presence(presence).label if presence else ""})


@require_GET
@login_required
def scorecard(request: HttpRequest, agent_id: int) -> HttpResponse:
    """One agent's productivity, SLA and quality over the last weeks, week by week, beside
    its team's average."""
    agent = selectors.agents_visible_to(request.user).filter(pk=agent_id).first()
    if agent is None:
        raise PermissionDenied("You can open your own scorecard, and supervisors their teams'.")
    until = reports_today()
    since = until - timedelta(days=SCORECARD_DAYS - 1)
    report = history_report(Scope(since=since, until=until, grain="week", agent_id=agent.pk))
    team = None
    if agent.team_id:
        members = list(AgentProfile.objects.filter(team_id=agent.team_id).values_list("pk", flat=True))
        team = selectors.team_average(list(agent_totals(agent_ids=members, since=since, until=until).values()))
    context = {"agent": agent, "card": report.total, "weeks": report.periods, "team": team, "since": since,
               "until": until, "presence_today": selectors.presence_changes_on(agent.pk, until)}
    return render(request, "reporting/scorecard.html", context)


@require_GET
@login_required
def capacity(request: HttpRequest) -> HttpResponse:
    """FTE needed per queue for the next working days against the skilled agents."""
    _require_supervisor(request.user)
    params = request.GET.copy()
    export = params.pop("format", [None])[0]
    form = CapacityForm(params or None)  # a download link alone plans with the defaults
    values = {name: field.initial for name, field in form.fields.items()}
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
    rows = selectors.capacity_plan(days=values["days"], history_weeks=values["weeks"],
                                   productive_hours=values["hours"], shrinkage=values["shrinkage"] / 100)
    if export in exports.FORMATS and not form.errors:
        return exports.table_response(
            name="capacity-plan", fmt=export,
            headers=["Queue", "Backlog", "Forecast arrivals", "Handle time (h)", "FTE needed", "Skilled agents",
                     "Shortfall"],
            rows=[[r.queue.name, r.backlog, round(r.forecast_arrivals, 2), round(r.handle_hours, 3),
                   round(r.fte_needed, 2), r.skilled_agents, round(r.shortfall, 2)] for r in rows],
        )
    context = {"form": form if form.is_bound else CapacityForm(initial=values), "rows": rows, "values": values}
    return render(request, "reporting/capacity.html", context, status=400 if form.errors else 200)


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    """Arrivals, completions, SLA, handle time, productivity and quality by day or week, from
    the rollups: a chart and its table per subject, each table downloadable."""
    _require_supervisor(request.user)
    params = request.GET.copy()
    export, table_key = params.pop("format", [None])[0], params.pop("table", [None])[0]
    form = HistoryForm(params or None, user=request.user, today=reports_today())
    if form.is_bound and not form.is_valid():
        return render(request, "reporting/history.html", {"form": form}, status=400)
    report = history_report(form.scope())
    tables = history_tables.tables_for(report)
    if export in exports.FORMATS:
        return _history_export(report, tables, table_key, export)
    context = {
        "form": form, "report": report, "query": params.urlencode(), "time_zone": settings.TIME_ZONE,
        "tables": [(table, history_tables.chart_data(table, report)) for table in tables],
        "hourly": history_tables.hourly_chart(report) if report.hours else None,
    }
    return render(request, "reporting/history.html", context)


def _history_export(report, tables, table_key: str | None, fmt: str) -> HttpResponse:
    scope = report.scope
    name = f"history-{table_key}-{scope.since}-{scope.until}"
    if table_key == "hourly" and report.hours:
        return exports.table_response(name=name, fmt=fmt, headers=history_tables.HOURLY_HEADERS,
                                      rows=history_tables.hourly_rows(report))
    table = next((t for t in tables if t.key == table_key), None)
    if table is None:
        raise NotFound(f"There is no table {table_key!r} in this report.")
    return exports.table_response(name=name, fmt=fmt, headers=history_tables.table_headers(table),
                                  rows=history_tables.table_rows(table, report))
