"""Prometheus metrics at /metrics/: request latency and allocations counted in the process
(summed across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set), queue depths and
SLA alerts read from the database at each scrape (so every instance reports the same,
true figures).

Names: wfo_http_request_seconds{method,view,status}, wfo_allocations_total{outcome},
wfo_queue_items{queue,status}, wfo_sla_alerts_total{kind}, wfo_sla_alert_emails_total.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REQUEST_SECONDS = Histogram(
    "wfo_http_request_seconds", "Time to answer a request, by view.", ["method", "view", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ALLOCATIONS = Counter("wfo_allocations", "Get-next calls, by outcome (assigned or none).", ["outcome"])


# Figures that live in the database, read at each scrape: each app adds its collectors (an
# object with `collect()`, as prometheus_client expects) in its AppConfig.ready().
DATABASE_COLLECTORS: list = []


def registry() -> CollectorRegistry:
    """This process's metrics, or every worker's when running multi-process, plus the
    database's."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape)
    else:
        for collector in (REQUEST_SECONDS, ALLOCATIONS):
            scrape.register(collector)
    for collector in DATABASE_COLLECTORS:
        scrape.register(collector)
    return scrape


def exposition() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Time every request, labelled by the view's URL name (never the raw path: ids would
    make unbounded labels)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        began = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        REQUEST_SECONDS.labels(request.method, view, str(response.status_code)).observe(time.perf_counter() - began)
        return response
