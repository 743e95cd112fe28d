from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo back office (`manage.py seed_demo`) and `make run` (`manage.py run_portal`):
    the one place that crosses every app, so none of them depends on it."""

    name = "demo"
    verbose_name = "Demo"
