"""The allocation domain's figures for Prometheus (core/metrics.py serves them at
/metrics/): queue depths and SLA alerts, read from the database at each scrape."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from allocation.models import OPEN_STATUSES, SlaAlert, WorkItem


class DatabaseCollector:
    """Figures that live in the database: read when scraped (two grouped queries)."""

    def collect(self):
        depth = GaugeMetricFamily("wfo_queue_items", "Open items per queue and status.", labels=["queue", "status"])
        for code, status, n in (
            WorkItem.objects.filter(status__in=OPEN_STATUSES).values_list("queue__code", "status")
            .annotate(n=Count("*")).order_by()
        ):
            depth.add_metric([code, status], n)
        yield depth
        alerts = CounterMetricFamily("wfo_sla_alerts", "SLA alerts raised, by kind.", labels=["kind"])
        emails = CounterMetricFamily("wfo_sla_alert_emails", "SLA alert e-mails sent.")
        sent = 0
        for threshold, n, mailed in (
            SlaAlert.objects.values_list("threshold").annotate(n=Count("*"), mailed=Count("emailed_at")).order_by()
        ):
            alerts.add_metric(["breach" if threshold >= 100 else "warning"], n)
            sent += mailed
        emails.add_metric([], sent)
        yield alerts
        yield emails
