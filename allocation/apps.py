from django.apps import AppConfig


class AllocationConfig(AppConfig):
    name = "allocation"
    verbose_name = "Work allocation"

    def ready(self) -> None:
        from allocation.metrics import DatabaseCollector
        from core.metrics import DATABASE_COLLECTORS

        if not any(isinstance(collector, DatabaseCollector) for collector in DATABASE_COLLECTORS):
            DATABASE_COLLECTORS.append(DatabaseCollector())
