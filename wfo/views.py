import sys

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from allocation import selectors
from wfo import selectors as wfo_selectors
from wfo import services


@require_GET
@login_required
def home(request):
    """Landing page after login: agents go straight to their work; everyone else sees
    what they can do here."""
    if selectors.agent_profile_for(request.user) is not None:
        return redirect("work:inbox")
    return render(request, "home.html")


@require_GET
def health(request):
    """Database and broker reachable: 200, else 503 with which one failed (no login: load
    balancers and orchestrators call it)."""
    from wfo.health import health_checks

    checks = health_checks()
    healthy = all(check.ok for check in checks)
    body = {"status": "ok" if healthy else "unavailable", **{check.name: check.as_json() for check in checks}}
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def metrics(request):
    """Prometheus exposition (wfo/metrics.py). With WFO_METRICS_TOKEN set, a scrape must send
    `Authorization: Bearer <token>`."""
    import secrets

    from django.conf import settings
    from django.http import HttpResponse

    from wfo.metrics import exposition

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


def not_found(request, exception):
    """The 404 of a path no URL pattern matches (wfo/urls.py's handler404). An API client gets
    the API's JSON error body, as for every other API error; a person gets the 404 page."""
    if request.path.startswith("/api/"):
        body = {"detail": f"No API operation at {request.path}. See /api/docs/.", "code": "not_found"}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


# Errors of the database connection (server restarting, unreachable, connections used up)
# and transaction conflicts it asks the client to retry: worth a retry, not a bug report.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable(request) -> HttpResponse:
    """The 503 of a request the database could not serve: it says so, asks to retry after
    RETRY_AFTER_SECONDS, and the portal recovers by itself (each request checks its pooled
    connection and reconnects). JSON under /api/, a page that retries by itself elsewhere."""
    detail = ("The database is not answering just now, so this request may not have been carried out. "
              f"Check, then try again in {RETRY_AFTER_SECONDS} seconds.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail, "code": "database_unavailable"}, status=503)
    else:
        # A page reloads itself; a form's post is not sent again behind the user's back.
        context = {"detail": detail, "reload": request.method == "GET"}
        response = HttpResponse(render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """wfo/urls.py's handler500, called while an unhandled exception is in flight (views'
    database errors are answered before, by wfo.middleware.DatabaseUnavailableMiddleware;
    these come from middleware). JSON under /api/, the 500 page elsewhere."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    if request.path.startswith("/api/"):
        detail = "Something went wrong on our side; the error has been logged."
        return JsonResponse({"detail": detail, "code": "server_error"}, status=500)
    return django_server_error(request)
