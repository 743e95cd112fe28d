"""Admin for the SLA engine: business calendars (windows, holidays, a preview of the next
working windows, loading public holidays), SLA policies, and the alerts raised."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from allocation import selectors
from allocation.admin.core import ReadOnlyAdminMixin
from allocation.admin.forms import BusinessCalendarForm, HolidayCountryField, SlaPolicyForm
from allocation.models import (
    BusinessCalendar,
    Holiday,
    OutsideWorkingTime,
    RoutingStep,
    SlaAction,
    SlaActionRun,
    SlaAlert,
    SlaPolicy,
    WorkingWindow,
)
from allocation.services import sla_actions
from allocation.services.calendars import calendar_holidays_load
from allocation.sla.policies import working_calendar
from allocation.sla.working_time import NoWorkingTime
from core.admin import TamperProofAutocomplete
from core.durations import hours_minutes_words
from core.exceptions import InvalidInput
from core.forms import form_errors_from

PREVIEW_WINDOWS = 10


class WorkingWindowFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        by_day: dict[int, list[tuple]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("weekday") is None or not data.get("start"):
                continue
            start, end = data["start"], data["end"]
            # Compare as minutes of the day; a window past midnight runs to 24:00 on its own day.
            first = start.hour * 60 + start.minute
            last = end.hour * 60 + end.minute if end > start else 24 * 60
            by_day.setdefault(data["weekday"], []).append((first, last, form))
        for windows in by_day.values():
            windows.sort(key=lambda window: window[0])
            for (_, last, _), (first, _, form) in pairwise(windows):
                if first < last:
                    form.add_error("start", "Overlaps another window of the same day.")


class WorkingWindowInline(admin.TabularInline):
    model = WorkingWindow
    formset = WorkingWindowFormSet
    extra = 0
    fields = ["weekday", "start", "end"]


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0
    fields = ["date", "name", "source"]
    readonly_fields = ["source"]


class LoadHolidaysForm(forms.Form):
    country = HolidayCountryField(help_text="Type part of its name to search, e.g. King for United Kingdom (GB).")
    subdivision = forms.CharField(required=False, max_length=10, help_text="e.g. ENG for England; empty: nationwide.")
    first_year = forms.IntegerField(min_value=2000, max_value=2100)
    last_year = forms.IntegerField(min_value=2000, max_value=2100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        this_year = date.today().year
        self.fields["first_year"].initial, self.fields["last_year"].initial = this_year, this_year + 2


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "time_zone", "week", "holiday_count"]
    search_fields = ["name"]
    inlines = [WorkingWindowInline, HolidayInline]
    readonly_fields = ["preview"]
    fields = ["name", "time_zone", "description", "preview"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("windows", "holidays")

    @admin.display(description="working week")
    def week(self, calendar: BusinessCalendar) -> str:
        return ", ".join(str(window) for window in calendar.windows.all()) or "no windows yet"

    @admin.display(description="holidays")
    def holiday_count(self, calendar: BusinessCalendar) -> int:
        return len(calendar.holidays.all())

    @admin.display(description="Next working windows")
    def preview(self, calendar: BusinessCalendar):
        if calendar.pk is None:
            return "Save the calendar with its windows to see them here."
        try:
            upcoming = working_calendar(calendar).upcoming_windows(timezone.now(), PREVIEW_WINDOWS)
        except NoWorkingTime:
            return "No working time: add windows."
        zone = working_calendar(calendar).zone
        shown = (
            (opens.astimezone(zone).strftime("%a %d %b %Y %H:%M"), closes.astimezone(zone).strftime("%H:%M %Z"))
            for opens, closes in upcoming
        )
        rows = format_html_join("", "<li>{} – {}</li>", shown)
        load = reverse("admin:allocation_businesscalendar_load_holidays", args=[calendar.pk])
        return format_html('<ul class="sla-preview">{}</ul><p><a href="{}">Load public holidays…</a></p>', rows, load)

    def get_urls(self):
        urls = [
            path("<int:calendar_id>/load-holidays/", self.admin_site.admin_view(self.load_holidays),
                 name="allocation_businesscalendar_load_holidays"),
        ]
        return urls + super().get_urls()

    def load_holidays(self, request, calendar_id: int):
        calendar = get_object_or_404(BusinessCalendar, pk=calendar_id)
        if not self.has_change_permission(request, calendar):
            raise admin.sites.PermissionDenied
        form = LoadHolidaysForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                added = calendar_holidays_load(calendar=calendar, **form.cleaned_data)
            except InvalidInput as error:
                form_errors_from(form, error)
            else:
                messages.success(request, f"Added {added} holidays to {calendar.name}.")
                return redirect("admin:allocation_businesscalendar_change", calendar.pk)
        context = {
            **self.admin_site.each_context(request), "title": f"Load public holidays into {calendar.name}",
            "form": form, "calendar": calendar, "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/allocation/businesscalendar/load_holidays.html", context,
                                status=400 if form.errors else 200)


class SlaActionInline(admin.StackedInline):
    """One action a block, a field a line; the page's script shows the fields its kind
    uses (the model's clean() is the rule)."""

    model = SlaAction
    extra = 0
    fields = ["threshold", "position", "kind", "is_enabled", "priority", "step", "queue", "agent", "notify", "team",
              "by_email", "outside_working_time"]
    verbose_name = "threshold action"
    verbose_name_plural = "Threshold actions (each done once per item, in order, when its threshold is crossed)"

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "outside_working_time":  # the empty choice in words, not dashes
            kwargs["choices"] = [("", "As alerts: the breach's at once, a warning's at the next working window"),
                                 *OutsideWorkingTime.choices]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "step":  # only the policy's own queue's steps
            policy_id = request.resolver_match.kwargs.get("object_id")
            queue_ids = SlaPolicy.objects.filter(pk=policy_id).values("queue_id")
            kwargs["queryset"] = RoutingStep.objects.filter(queue_id__in=queue_ids).select_related("queue")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(TamperProofAutocomplete, admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = ["queue", "priority", "target_words", "calendar", "warning_thresholds", "pause_when_pended",
                    "action_count"]
    list_filter = ["calendar", "pause_when_pended"]
    search_fields = ["queue__name", "queue__code"]
    autocomplete_fields = ["queue"]
    inlines = [SlaActionInline]
    readonly_fields = ["actions_preview"]

    class Media:
        js = ["js/admin/sla-actions.js"]

    @admin.display(description="target", ordering="target")
    def target_words(self, policy: SlaPolicy) -> str:
        return hours_minutes_words(policy.target)

    @admin.display(description="threshold actions")
    def action_count(self, policy: SlaPolicy) -> int:
        return policy.actions.count()

    @admin.display(description="preview of the actions")
    def actions_preview(self, policy: SlaPolicy):
        """What each action would do, enabled now, to the open items already past its
        threshold (sla_actions.action_preview): saving an action enabled does exactly that."""
        if not policy.pk or not policy.actions.exists():
            return "Add actions and save to preview them."
        blocks = []
        actions = list(policy.actions.all())
        tally = selectors.sla_action_run_tally([action.pk for action in actions])
        for action in actions:
            count, lines = sla_actions.action_preview(action)
            state = "enabled" if action.is_enabled else "disabled"
            head = format_html("<strong>{}</strong> ({}): ", str(action), state)
            if not count:
                blocks.append(format_html("<p>{}no open item is past its threshold without it.{}</p>", head,
                                          self._runs_so_far(action, tally[action.pk])))
                continue
            more = format_html(" … and {} more", count - len(lines)) if count > len(lines) else ""
            blocks.append(format_html(
                "<p>{}{} open item{} past its threshold without it; enabled now:</p><ul>{}</ul>{}<p>{}</p>", head,
                count, " is" if count == 1 else "s are",
                format_html_join("", '<li><a href="{}">#{}</a> {}</li>',
                                 ((reverse("work:item", args=[line.item.pk]), line.item.pk, line.words)
                                  for line in lines)),
                more, self._runs_so_far(action, tally[action.pk])))
        return format_html_join("", "{}", ((block,) for block in blocks))

    @staticmethod
    def _runs_so_far(action: SlaAction, tally: dict[str, int]):
        """ "Runs so far: 13 waiting for the next run of the job, 2 done, 1 not done", linked
        to the action's runs; nothing before its first run."""
        parts = [f"{tally['waiting']} waiting for the next run of the SLA threshold actions job (within a minute)"
                 if tally["waiting"] else "", f"{tally['done']} done" if tally["done"] else "",
                 f"{tally['not_done']} not done" if tally["not_done"] else ""]
        if not any(parts):
            return ""
        url = reverse("admin:allocation_slaactionrun_changelist") + f"?action={action.pk}"
        return format_html(' <a href="{}">Runs so far</a>: {}.', url, ", ".join(part for part in parts if part))

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is not SlaAction:
            return
        touched = [*formset.new_objects,
                   *(action for action, fields in formset.changed_objects
                     if {"is_enabled", "threshold", "kind"} & set(fields))]
        for action in touched:
            if (recorded := sla_actions.action_catch_up(action)):
                messages.info(request, f"{action}: {recorded} item{'' if recorded == 1 else 's'} already past its "
                                       "threshold will be acted on by the next run of the SLA threshold actions "
                                       "job (within a minute).")


class RunActionFilter(admin.SimpleListFilter):
    """The actions that have runs, named with their policy ("Refunds · default — 75%: Raise
    priority"): the policies' previews link here."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        actions = SlaAction.objects.filter(pk__in=SlaActionRun.objects.values("action_id")) \
            .select_related("policy__queue").order_by("policy__queue__name", "policy_id", "threshold", "position")
        return [(str(action.pk), f"{action.policy} — {action}") for action in actions]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit() and len(value) <= 18:  # an id, not a number past bigint
            return queryset.filter(action_id=value)
        return queryset.none() if value else queryset


@admin.register(SlaActionRun)
class SlaActionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["item_link", "action", "outcome", "detail", "crossed_at", "done_at"]
    list_filter = ["outcome", "action__kind", "threshold", RunActionFilter]
    ordering = ["-crossed_at", "-pk"]
    date_hierarchy = "crossed_at"
    search_fields = ["item__external_id", "item__customer_ref", "detail"]
    list_select_related = ["item", "action"]

    @admin.display(description="item")
    def item_link(self, run: SlaActionRun):
        return format_html('<a href="{}">#{} {}</a>', reverse("work:item", args=[run.item_id]), run.item_id,
                           run.item.title)


@admin.register(SlaAlert)
class SlaAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["item_link", "threshold_label", "crossed_at", "raised_at", "emailed_at"]
    list_filter = ["threshold"]
    date_hierarchy = "raised_at"
    search_fields = ["item__external_id", "item__customer_ref"]
    list_select_related = ["item"]

    @admin.display(description="item")
    def item_link(self, alert: SlaAlert):
        return format_html('<a href="{}">#{} {}</a>', reverse("work:item", args=[alert.item_id]), alert.item_id,
                           alert.item.title)

    @admin.display(description="threshold", ordering="threshold")
    def threshold_label(self, alert: SlaAlert) -> str:
        return "breach" if alert.is_breach else f"{alert.threshold}%"
