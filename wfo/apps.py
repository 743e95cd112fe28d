from django.apps import AppConfig


class WfoConfig(AppConfig):
    """Project-wide pieces: roles, login pages, worker heartbeat, shared error types."""

    name = "wfo"
    verbose_name = "Portal"
