"""Form plumbing shared by every page and by the admin: how a service's refusal lands on a
form, and the fields people fill in configuration with — durations in hours and minutes,
lists typed one entry a line, and choices searched from a long list (time zones)."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import cache

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_duration
from django.utils.text import capfirst

from core.durations import hours_minutes_words
from core.exceptions import InvalidInput

WHOLE_NUMBER = re.compile(r"[+-]?\d+")
# More digits than any duration the portal accepts: refused before being read as a number,
# so that a pasted megabyte of nines costs nothing.
MOST_DIGITS = 9
# The longest duration any configuration takes: past a year it is a typing mistake (days for
# hours), and the SLA engine counts no further.
LONGEST_DURATION = timedelta(days=366)


def form_errors_from(form: forms.Form, error: InvalidInput) -> None:
    """Show a service's refusal on the form that sent the input: each message on its field
    when the form has one, else at the top of the form."""
    for field, messages in error.fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


# Durations in hours and minutes ---------------------------------------------------------------

class HoursMinutesWidget(forms.MultiWidget):
    """Two number boxes side by side, hours then minutes. Hours are not folded into days:
    a 40-hour target is typed, and shown, as 40 h 0 min."""

    template_name = "core/widgets/hours_minutes.html"

    def __init__(self, attrs=None):
        number = {"min": "0", "step": "1", "inputmode": "numeric"}
        super().__init__(
            {"hours": forms.NumberInput(attrs=number | {"class": "hours", "title": "hours"}),
             "minutes": forms.NumberInput(attrs=number | {"class": "minutes", "max": "59", "title": "minutes",
                                                          "aria-label": "minutes"})},
            attrs,
        )

    def decompress(self, value) -> list:
        if isinstance(value, str):  # sent in the one box (below), shown back in the two
            try:
                value = parse_duration(value.strip())
            except (ValueError, OverflowError):
                value = None
        if not isinstance(value, timedelta):
            return [None, None]
        return list(divmod(int(value.total_seconds() // 60), 60))

    def value_from_datadict(self, data, files, name):
        # The one-box form Django's DurationField took ("8:00:00", "1 00:00:00") is still read
        # when neither box was sent, so scripts written against it keep working.
        if not any(f"{name}{suffix}" in data for suffix in self.widgets_names) and name in data:
            return data[name]
        return super().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data, files, name) -> bool:
        return name not in data and super().value_omitted_from_data(data, files, name)

    def id_for_label(self, id_):
        return f"{id_}_0" if id_ else ""  # the field's label names the hours box

    def use_required_attribute(self, initial) -> bool:
        return False  # a blank box counts as 0: the field, not the browser, says what is missing


class HoursMinutesField(forms.Field):
    """A duration typed as hours and minutes (hours may pass 24: 40 h 0 min). A blank box
    counts as 0; both blank is no duration. Refused, each with its own message: a part that
    is not a whole number, a negative part, 60 minutes or more, and a duration outside
    [min_value, max_value] (by default 0 to 366 days, past which it is a typing mistake)."""

    widget = HoursMinutesWidget
    default_error_messages = {
        "required": "Give the hours and minutes.",
        "hours": "Hours: write a whole number, e.g. 8.",
        "minutes": "Minutes: write a whole number from 0 to 59.",
        "negative_hours": "Hours cannot be negative.",
        "negative_minutes": "Minutes cannot be negative.",
        "minutes_over": "Minutes run from 0 to 59: write 90 minutes as 1 h 30 min.",
        "one_box": "Give the hours and minutes, e.g. 8 h 30 min.",
    }

    def __init__(self, *, min_value: timedelta = timedelta(0), max_value: timedelta = LONGEST_DURATION,
                 **kwargs):
        self.min_value, self.max_value = min_value, max_value
        super().__init__(**kwargs)

    @classmethod
    def for_model_field(cls, model: type[models.Model], name: str, **bounds) -> HoursMinutesField:
        """The field for a model's duration, labelled, explained and filled in (its default,
        on an add page) as the model field is."""
        db_field = model._meta.get_field(name)
        return cls(label=capfirst(db_field.verbose_name), help_text=db_field.help_text,
                   required=not db_field.blank, initial=db_field.get_default() if db_field.has_default() else None,
                   **bounds)

    def to_python(self, value) -> timedelta | None:
        if isinstance(value, timedelta):
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            return self._from_one_box(value)
        hours_text, minutes_text = ((str(part).strip() if part is not None else "") for part in value)
        if not hours_text and not minutes_text:
            return None
        errors: list[ValidationError] = []
        hours = self._part(hours_text, errors, invalid="hours", negative="negative_hours")
        minutes = self._part(minutes_text, errors, invalid="minutes", negative="negative_minutes")
        if minutes is not None and minutes >= 60:
            errors.append(ValidationError(self.error_messages["minutes_over"], code="minutes_over"))
        if errors:
            raise ValidationError(errors)
        if hours > self.max_value.total_seconds() // 3600 + 1:
            raise self._too_long()  # before building a timedelta that may not exist
        return timedelta(hours=hours, minutes=minutes)

    def _part(self, text: str, errors: list, *, invalid: str, negative: str) -> int | None:
        if not text:
            return 0
        if not WHOLE_NUMBER.fullmatch(text):
            errors.append(ValidationError(self.error_messages[invalid], code=invalid))
            return None
        if text.startswith("-") and text.strip("-0"):
            errors.append(ValidationError(self.error_messages[negative], code=negative))
            return None
        if len(text.lstrip("+-0")) > MOST_DIGITS:
            errors.append(self._too_long())
            return None
        return abs(int(text))

    def _from_one_box(self, text: str) -> timedelta:
        try:
            duration = parse_duration(text.strip())
        except (ValueError, OverflowError):
            duration = None
        if duration is None:
            raise ValidationError(self.error_messages["one_box"], code="one_box")
        return duration

    def validate(self, value: timedelta | None) -> None:
        super().validate(value)
        if value is None:
            return
        if value > self.max_value:
            raise self._too_long()
        if value < self.min_value:
            if value < timedelta(0):
                raise ValidationError("A duration cannot be negative.", code="negative")
            raise ValidationError(f"At least {hours_minutes_words(self.min_value)}.", code="too_short")

    def _too_long(self) -> ValidationError:
        days = self.max_value.days
        in_days = f" ({days} days)" if days >= 2 and self.max_value == timedelta(days=days) else ""
        return ValidationError(f"At most {hours_minutes_words(self.max_value)}{in_days}.", code="too_long")

    def has_changed(self, initial, data) -> bool:
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


# Lists typed one entry a line ---------------------------------------------------------------------

class LineListField(forms.Field):
    """A list of short texts typed one a line (a queue's outcomes): each line trimmed, blank
    lines dropped, the order kept. Refused, line by line: a line too long, one holding a
    control character, one given twice (in any case); and more lines than `max_items`."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 40})

    def __init__(self, *, item_max_length: int, max_items: int, entry_words: str = "entry", **kwargs):
        self.item_max_length, self.max_items, self.entry_words = item_max_length, max_items, entry_words
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(line) for line in value]
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        errors = []
        seen: set[str] = set()
        for number, line in enumerate(value, start=1):
            if any(unicodedata.category(character) == "Cc" for character in line):
                errors.append(ValidationError(
                    f"Line {number} holds a control character: type it again without it.", code="control"))
            elif len(line) > self.item_max_length:
                errors.append(ValidationError(
                    f"Line {number} is {len(line)} characters long: at most {self.item_max_length}.", code="long"))
            elif line.casefold() in seen:
                errors.append(ValidationError(
                    f"“{line}” is listed twice: give each {self.entry_words} once.", code="duplicate"))
            seen.add(line.casefold())
        if len(value) > self.max_items:
            errors.append(ValidationError(f"At most {self.max_items} {self.entry_words}s.", code="too_many"))
        if errors:
            raise ValidationError(errors)

    def has_changed(self, initial, data) -> bool:
        return list(initial or []) != self.to_python(data)


# Choices searched from a long list ---------------------------------------------------------------

class ListInput(forms.TextInput):
    """A text box that suggests entries of a list as one types (an HTML datalist): a long
    list searched without a script. What is typed is checked by the field, not the box."""

    template_name = "core/widgets/list_input.html"

    def __init__(self, options: Iterable[str] | Callable[[], Iterable[str]] = (), attrs=None):
        super().__init__(attrs)
        self.options = options

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["list_id"] = f"{widget['attrs'].get('id') or name}_list"
        widget["attrs"]["list"] = widget["list_id"]
        widget["attrs"].setdefault("autocomplete", "off")
        widget["options"] = list(self.options() if callable(self.options) else self.options)
        return context


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA time zone this machine's time zone data knows, in order."""
    return tuple(sorted(zoneinfo.available_timezones()))


class TimeZoneField(forms.CharField):
    """An IANA time zone, searched from the list as one types ("lond" offers Europe/London).
    Typed in another case it is taken in the list's; a zone not in the list is refused."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("widget", ListInput(time_zone_names, attrs={"size": 32, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def clean(self, value) -> str:
        typed = super().clean(value)
        if not typed:
            return typed
        by_folded = {name.casefold(): name for name in time_zone_names()}
        zone = by_folded.get(typed.casefold())
        if zone is None:
            raise ValidationError(
                "“%(typed)s” is not an IANA time zone: choose one from the list, e.g. Europe/London.",
                code="unknown_zone", params={"typed": typed[:64]},
            )
        return zone
