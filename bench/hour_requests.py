"""The agent-hour's request types (bench/agent_hour.py): one name per kind of request, told
from its method and path, shared by the load generator (bench/hourfile.py, which names its
requests so) and the web workers' accounting (bench/hour_gunicorn.py, which sorts what
each request cost by the same names). Imports nothing of the portal: it serves any
commit's server."""

from __future__ import annotations

import re

# The poll of the cadence's floor (bench/agent_hour.py, kind "api+poll-floor"): a path the
# portal does not have, which Django answers 404 through its middleware, reading nothing.
BARE_REQUEST_PATH, BARE_REQUEST = "/api/v1/bench-floor/", "bare request (404)"

# (method, path pattern, name), first match wins.
REQUEST_TYPES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"^/work/inbox/list/$", "inbox refresh"),
        ("GET", r"^/work/$", "inbox page"),
        ("POST", r"^/work/next/$", "get next (page)"),
        ("GET", r"^/work/items/\d+/$", "item page"),
        ("GET", r"^/work/items/\d+/[a-z]+/form/$", "action form"),
        ("POST", r"^/work/items/\d+/start/$", "start (page)"),
        ("POST", r"^/work/items/\d+/complete/$", "complete (page)"),
        ("POST", r"^/work/items/\d+/pend/$", "pend (page)"),
        ("POST", r"^/work/items/\d+/release/$", "release (page)"),
        ("GET", r"^/work/customers/[^/]+/$", "customer page"),
        ("GET", r"^/notifications/$", "notifications page"),
        ("GET", r"^/reports/scorecards/\d+/$", "scorecard page"),
        ("GET", r"^/quality/$", "quality inbox page"),
        ("GET", r"^/api/v1/agent/presence/$", "presence poll (api)"),
        ("POST", r"^/api/v1/agent/next/$", "get next (api)"),
        ("POST", r"^/api/v1/items/\d+/start/$", "start (api)"),
        ("POST", r"^/api/v1/items/\d+/complete/$", "complete (api)"),
        ("POST", r"^/api/v1/items/\d+/pend/$", "pend (api)"),
        ("POST", r"^/api/v1/items/\d+/release/$", "release (api)"),
        ("GET", "^" + re.escape(BARE_REQUEST_PATH) + "$", BARE_REQUEST),
    ]
]


def request_type(method: str, path: str) -> str:
    for want, pattern, name in REQUEST_TYPES:
        if method == want and pattern.match(path):
            return name
    return f"other {method}"
