from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """Dashboards, SLA and history reports, rollups (issue 8)."""

    name = "reporting"
    verbose_name = "Reporting"
