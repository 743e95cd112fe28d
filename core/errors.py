"""What a client gets when a request fails on our side, matches nothing or cannot be served
at all: JSON error bodies under /api/ (the API's format, core.api), pages elsewhere.
wfo/urls.py's handler400, handler404 and handler500, and DatabaseUnavailableMiddleware,
answer through these."""

import sys

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    """wfo/urls.py's handler400: Django answers through it when a SuspiciousOperation escapes
    the views' own error handling, most often DisallowedHost, which request.get_host() raises in
    middleware for a Host header not in ALLOWED_HOSTS. An API client gets the API's JSON error
    body; a person gets Django's 400 page. Neither repeats the exception's text (Django's
    names the settings to change)."""
    if not is_api(request):
        return django_bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        body = {"detail": "This server does not answer for the host named in the request's Host header.",
                "code": "disallowed_host"}
    else:
        body = {"detail": "The request could not be read.", "code": "bad_request"}
    return JsonResponse(body, status=400)


def not_found(request, exception):
    """The 404 of a path no URL pattern matches (wfo/urls.py's handler404). An API client gets
    the API's JSON error body, as for every other API error; a person gets the 404 page."""
    if is_api(request):
        body = {"detail": f"No API operation at {request.path}. See /api/docs/.", "code": "not_found"}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


# Errors of the database connection (server restarting, unreachable, connections used up)
# and transaction conflicts it asks the client to retry: worth a retry, not a bug report.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_error_words(error: BaseException) -> str:
    """A database error in one log line — its class and the first line of its text (the
    driver adds the statement and hints below): logged once per request for the length of
    an outage, a traceback each time would bury everything else."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def database_unavailable(request) -> HttpResponse:
    """The 503 of a request the database could not serve: it says so, asks to retry after
    RETRY_AFTER_SECONDS, and the portal recovers by itself (each request checks its pooled
    connection and reconnects). JSON under /api/, a page that retries by itself elsewhere."""
    detail = ("The database is not answering just now, so this request may not have been carried out. "
              f"Check, then try again in {RETRY_AFTER_SECONDS} seconds.")
    if is_api(request):
        response = JsonResponse({"detail": detail, "code": "database_unavailable"}, status=503)
    else:
        # A page reloads itself; a form's post is not sent again behind the user's back.
        context = {"detail": detail, "reload": request.method == "GET"}
        response = HttpResponse(render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """wfo/urls.py's handler500, called while an unhandled exception is in flight (views'
    database errors are answered before, by core.middleware.DatabaseUnavailableMiddleware;
    these come from middleware). JSON under /api/, the 500 page elsewhere."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    if is_api(request):
        detail = "Something went wrong on our side; the error has been logged."
        return JsonResponse({"detail": detail, "code": "server_error"}, status=500)
    return django_server_error(request)
