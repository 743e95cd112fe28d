from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from wfo.models import WorkerHeartbeat

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
