from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.models import ChangeRecord, WorkerHeartbeat

admin.site.site_header = "WFO Portal administration"
admin.site.site_title = "WFO Portal administration"
admin.site.index_title = "Configuration and records"


class TamperProofAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget re-renders a refused value by looking it up as the
    target's key: a crafted one ("x") raised there, a 500 instead of the form's own error.
    Values that cannot be such a key are left out of that lookup (the field still refuses
    them, with its message)."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        target = remote.model._meta.get_field(remote.field_name)
        return super().optgroups(name, [v for v in value if _is_value_of(target, v)], attr)


def _is_value_of(field, value) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class TamperProofAutocomplete:
    """For a ModelAdmin or inline with `autocomplete_fields`: their widget is
    TamperProofAutocompleteSelect."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = TamperProofAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
