from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Quality evaluation: forms, sampling, scoring, disputes, calibration (issue 7)."""

    name = "quality"
    verbose_name = "Quality"
