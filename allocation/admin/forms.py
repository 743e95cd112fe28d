"""The admin's configuration forms: durations in hours and minutes, a queue's outcomes one a
line, a calendar's time zone and holiday country searched by name, the pend and release
reasons. Each refuses bad input with a message on the field at fault, and nothing is saved."""

from __future__ import annotations

import re
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError

from allocation.models import (
    OTHER_REASON,
    BusinessCalendar,
    ItemActionReason,
    Queue,
    SlaPolicy,
    WorkItem,
)
from allocation.models.sla import LONGEST_TARGET
from allocation.services.calendars import holiday_countries, supported_countries
from core.forms import WHOLE_NUMBER, HoursMinutesField, LineListField, ListInput, TimeZoneField

ONE_MINUTE = timedelta(minutes=1)
MOST_OUTCOMES = 50
# "United Kingdom (GB)": a country as the list offers it, its code at the end.
COUNTRY_WITH_CODE = re.compile(r".*\(\s*([A-Za-z]{2,3})\s*\)\s*")


class QueueForm(forms.ModelForm):
    standard_handle_time = HoursMinutesField.for_model_field(Queue, "standard_handle_time")
    reservation_timeout = HoursMinutesField.for_model_field(Queue, "reservation_timeout", min_value=ONE_MINUTE)
    sla_target = HoursMinutesField.for_model_field(Queue, "sla_target", min_value=ONE_MINUTE,
                                                   max_value=LONGEST_TARGET)
    outcomes = LineListField(
        label="Outcomes", required=False, help_text=Queue._meta.get_field("outcomes").help_text,
        item_max_length=WorkItem._meta.get_field("outcome").max_length, max_items=MOST_OUTCOMES,
        entry_words="outcome",
    )

    class Meta:
        model = Queue
        fields = ["code", "name", "description", "is_active", "outcomes", "allocation_mode", "teams",
                  "starts_on_pull", "reservation_timeout", "sla_target", "standard_handle_time", "routing_enabled"]


class SlaPolicyForm(forms.ModelForm):
    target = HoursMinutesField.for_model_field(SlaPolicy, "target", min_value=ONE_MINUTE, max_value=LONGEST_TARGET)

    class Meta:
        model = SlaPolicy
        fields = ["queue", "priority", "target", "calendar", "warning_thresholds", "pause_when_pended"]


class BusinessCalendarForm(forms.ModelForm):
    time_zone = TimeZoneField(label="Time zone", help_text=BusinessCalendar._meta.get_field("time_zone").help_text)

    class Meta:
        model = BusinessCalendar
        fields = ["name", "time_zone", "description"]


def country_options() -> list[str]:
    return [f"{name} ({code})" for code, name in holiday_countries().items()]


def country_code(typed: str) -> str | None:
    """The holiday data's code for a country typed as the list offers it ('United Kingdom
    (GB)'), as a code ('gb', 'GBR') or as a name ('united kingdom'); None if it has none."""
    supported = supported_countries()
    if (with_code := COUNTRY_WITH_CODE.fullmatch(typed)) and with_code.group(1).upper() in supported:
        return with_code.group(1).upper()
    if typed.upper() in supported:
        return typed.upper()
    by_name = {name.casefold(): code for code, name in holiday_countries().items()}
    return by_name.get(typed.strip().casefold())


class HolidayCountryField(forms.CharField):
    """A country with public holiday data, searched by name as one types ('king' offers
    United Kingdom (GB)), and taken as its code."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", ListInput(country_options, attrs={"size": 40, "spellcheck": "false"}))
        super().__init__(max_length=100, **kwargs)

    def clean(self, value) -> str:
        typed = super().clean(value)
        code = country_code(typed) if typed else None
        if typed and code is None:
            raise ValidationError(
                "No public holiday data for “%(typed)s”: choose a country from the list, e.g. United Kingdom (GB).",
                code="unknown_country", params={"typed": typed},
            )
        return code or typed


class ItemActionReasonForm(forms.ModelForm):
    class Meta:
        model = ItemActionReason
        fields = ["action", "label", "active", "position"]
        error_messages = {"label": {"required": "Write the reason as agents will read it in the list."}}

    def clean(self):
        data = super().clean()
        label, action = data.get("label"), data.get("action")
        if not label:
            return data
        if label.casefold() == OTHER_REASON.casefold():
            self.add_error("label", f"“{OTHER_REASON}” is always offered last, asking for details: no need to add it.")
        elif action and ItemActionReason.objects.filter(action=action, label__iexact=label) \
                .exclude(pk=self.instance.pk).exists():
            words = dict(ItemActionReason._meta.get_field("action").choices)[action].lower()
            self.add_error("label", f"“{label}” is a {words} reason already: edit that one instead.")
        return data


class RoutingWaitField(HoursMinutesField):
    """How long a routing step's condition must hold, in hours and minutes; the step keeps it
    as whole minutes (RoutingStep.minutes), which is also how the one box it replaced took it."""

    def __init__(self, **kwargs):
        super().__init__(label="How long", required=False, min_value=ONE_MINUTE, max_value=timedelta(days=30),
                         help_text="For “waited” and “no agent available”: hours and minutes.", **kwargs)

    def prepare_value(self, value):
        return timedelta(minutes=value) if isinstance(value, int) else value

    def _from_one_box(self, text: str) -> timedelta:
        if not WHOLE_NUMBER.fullmatch(text.strip()):
            return super()._from_one_box(text)
        errors: list[ValidationError] = []
        minutes = self._part(text.strip(), errors, invalid="minutes", negative="negative_minutes")
        if errors:
            raise ValidationError(errors)
        return timedelta(minutes=minutes)  # whole minutes, as the one box took them

    def clean(self, value) -> int | None:
        duration = super().clean(value)
        return None if duration is None else int(duration.total_seconds() // 60)

    def has_changed(self, initial, data) -> bool:
        return super().has_changed(self.prepare_value(initial), data)

