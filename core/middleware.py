"""Request-wide behaviour: the user's time zone, domain errors as pages, a database that is
not answering as a 503, the body size limit every request is held to, and the
Content-Security-Policy header (django-csp's, configured in settings, its text built once)."""

from __future__ import annotations

import logging
import zoneinfo
from functools import lru_cache
from urllib.parse import unquote

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from core.errors import DATABASE_UNAVAILABLE, bad_request, database_error_words, database_unavailable, is_api
from core.exceptions import DomainError

logger = logging.getLogger(__name__)


# A view's own policy (django-csp's decorators set these on the response).
_RESPONSE_POLICY = frozenset({"_csp_config", "_csp_update", "_csp_replace",
                              "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro"})


@lru_cache(maxsize=8)
def _policy_text(setting: str, policy: str) -> str:
    """The header's text for the policy in settings (`policy` is its repr: the cache's key,
    so a changed setting builds anew)."""
    return build_policy(report_only=setting.endswith("_REPORT_ONLY"))


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the header's text built once per policy: the portal's
    pages ask for no nonce and no view sets a policy of its own, so every response would
    build the same text again (about 0.2 ms a response: the policy and the report-only
    one). A response with a nonce or a policy of its own is built as django-csp builds it."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or not _RESPONSE_POLICY.isdisjoint(vars(response)):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:  # as django-csp: Django's debug pages
            return response
        for setting, header, exempt in (("CONTENT_SECURITY_POLICY", HEADER, "_csp_exempt"),
                                        ("CONTENT_SECURITY_POLICY_REPORT_ONLY", HEADER_REPORT_ONLY, "_csp_exempt_ro")):
            policy = getattr(settings, setting, None) or {}
            text = _policy_text(setting, repr(policy)) if policy else ""
            excluded = request.path_info.startswith(tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ()))
            if text and header not in response and not getattr(response, exempt, False) and not excluded:
                response[header] = text
        # As django-csp: a nonce asked for once the header is written is an error, not a
        # nonce silently missing from the header.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

TIMEZONE_COOKIE = "wfo_tz"


class BrowserTimezoneMiddleware:
    """Show and read times in the browser's zone (static/js/portal.js sets the cookie from
    Intl); without it, or with a zone this server does not know, TIME_ZONE applies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = unquote(request.COOKIES.get(TIMEZONE_COOKIE, ""))
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return self.get_response(request)


class DomainErrorPageMiddleware:
    """A page that hits a broken rule (not yours: 403, gone: 404, changed meanwhile: 409)
    shows the service's message with that status, never a 500. The API maps the same
    errors itself (core.api.exception_handler) before this is reached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        context = {"message": exception.message, "status": exception.status_code}
        return render(request, "error.html", context, status=exception.status_code)


class DatabaseUnavailableMiddleware:
    """A view the database could not serve (restarting, unreachable) answers 503 with
    Retry-After (core.errors.database_unavailable), logged as one line, not as a traceback
    per request for the length of an outage."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path,
                       database_error_words(exception))
        return database_unavailable(request)


class ApiHostMiddleware:
    """An API request naming a host not in ALLOWED_HOSTS gets the API's JSON 400 here, before
    anything else asks for the host: left to Django, DEBUG's technical page (an HTML page, and
    one that shows the settings) would answer it outside production, and handler400 in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api(request):
            try:
                request.get_host()
            except DisallowedHost as error:
                return bad_request(request, error)
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a body over settings.WFO_MAX_REQUEST_BYTES with 413 before anything reads it
    (a declared Content-Length; Django's DATA_UPLOAD_MAX_MEMORY_SIZE catches the rest)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number.", "code": "bad_request"}, status=400)
        limit = settings.WFO_MAX_REQUEST_BYTES
        if length > limit:
            return JsonResponse(
                {"detail": f"The request body is {length:,} bytes; the limit is {limit:,}.", "code": "too_large"},
                status=413,
            )
        return self.get_response(request)
