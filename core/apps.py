from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: roles and permissions, actors, the error hierarchy and the
    API's plumbing, notifications, the worker heartbeat. It imports none of the apps.

    Its label stays "wfo", the package it grew out of (wfo/ is now the project's
    configuration alone), so its tables, migrations and permissions carry over unchanged."""

    name = "core"
    label = "wfo"
    verbose_name = "Portal"
