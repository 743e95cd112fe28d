import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core import roles, services
from core import selectors as wfo_selectors
from core.health import health_checks
from core.metrics import exposition


@require_GET
@login_required
def home(request):
    """Landing page after login: agents go straight to their work, supervisors and admins to
    what needs their attention, quality evaluators and leads to their quality inbox; anyone
    else learns what to ask for."""
    user = request.user
    if roles.is_agent(user):
        return redirect("work:inbox")
    if roles.oversees_work(user):
        return redirect("reports:home")
    if roles.is_quality_evaluator(user) or roles.is_quality_lead(user):
        return redirect("quality:home")
    return render(request, "home.html")


@require_GET
def health(request):
    """Database and broker reachable: 200, else 503 with which one failed (no login: load
    balancers and orchestrators call it)."""
    checks = health_checks()
    healthy = all(check.ok for check in checks)
    body = {"status": "ok" if healthy else "unavailable", **{check.name: check.as_json() for check in checks}}
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def metrics(request):
    """Prometheus exposition (core/metrics.py). With WFO_METRICS_TOKEN set, a scrape must send
    `Authorization: Bearer <token>`."""
    token = settings.WFO_METRICS_TOKEN
    if token and not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("A metrics token is required.\n", status=401, content_type="text/plain")
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


NOTIFICATIONS_PER_PAGE = 30


@require_GET
@login_required
def notifications(request):
    """The user's notifications, newest first, unread ones marked."""
    page = Paginator(wfo_selectors.notifications_for(request.user), NOTIFICATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "notifications.html", {"page": page})


@require_POST
@login_required
def notifications_read(request):
    """Mark one notification (`id`) or all of them read, then go back to the list, or on to
    the notification's page when `next` says so."""
    raw_id = request.POST.get("id")
    if raw_id is not None and not raw_id.isdigit():
        messages.error(request, "That notification does not exist.")
        return redirect("notifications")
    ids = [int(raw_id)] if raw_id is not None else None
    changed = services.notifications_mark_read(user=request.user, notification_ids=ids)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    if ids is None:
        messages.success(request, f"Marked {changed} notification{pluralize(changed)} read.")
    return redirect("notifications")
