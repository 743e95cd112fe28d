from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.models import ChangeRecord, WorkerHeartbeat

admin.site.site_header = "WFO Portal administration"
admin.site.site_title = "WFO Portal administration"
admin.site.index_title = "Configuration and records"

# A worker that missed this many beats in a row is reported as not alive.
MISSED_BEATS_BEFORE_DEAD = 3


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Written by the heartbeat task only. Deleting the row of a decommissioned worker is
    allowed; a live worker recreates its row on the next beat."""

    list_display = ["hostname", "last_seen", "beats", "is_alive"]
    search_fields = ["hostname"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description="alive")
    def is_alive(self, heartbeat: WorkerHeartbeat) -> bool:
        allowed_silence = timedelta(seconds=MISSED_BEATS_BEFORE_DEAD * settings.WFO_WORKER_HEARTBEAT_SECONDS)
        return timezone.now() - heartbeat.last_seen <= allowed_silence


@admin.register(ChangeRecord)
class ChangeRecordAdmin(admin.ModelAdmin):
    """The change log, read-only: written by the services that make the changes."""

    list_display = ["at", "action", "subject", "who", "before", "after", "reason"]
    list_filter = ["action", "subject_type"]
    search_fields = ["subject", "subject_id", "actor__username", "reason"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="by")
    def who(self, record: ChangeRecord) -> str:
        return record.actor.get_username() if record.actor_id else f"{record.system_actor} (automatic)"


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's schedule admin, whose "Run selected tasks" sends to the broker
    from the request: with the broker down that would be a 500."""

    @admin.action(description=beat_admin.PeriodicTaskAdmin.run_tasks.short_description)
    def run_tasks(self, request, queryset):
        try:
            return super().run_tasks(request, queryset)
        except BrokerUnavailable:
            self.message_user(
                request,
                "The broker (Redis) is not answering, so no task was started. Nothing is lost: each job "
                "runs on its schedule once the broker is back and does all the work that came due meanwhile.",
                level=messages.ERROR,
            )
            return None


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
