"""The fields configuration is typed in (core/forms.py): a duration in hours and minutes, a
list one entry a line, a time zone searched from the list. Each refuses bad input with its
own message."""

from datetime import timedelta

import pytest
from django import forms

from core.durations import hours_minutes_words
from core.forms import HoursMinutesField, LineListField, TimeZoneField


class DurationForm(forms.Form):
    wait = HoursMinutesField(min_value=timedelta(minutes=1))


class OutcomesForm(forms.Form):
    outcomes = LineListField(item_max_length=20, max_items=3, entry_words="outcome", required=False)


class ZoneForm(forms.Form):
    zone = TimeZoneField()


def duration(hours, minutes):
    return DurationForm({"wait_hours": hours, "wait_minutes": minutes})


@pytest.mark.parametrize(("hours", "minutes", "value"), [
    ("40", "0", timedelta(hours=40)),  # past a day: hours, not days
    ("8", "30", timedelta(hours=8, minutes=30)),
    ("", "45", timedelta(minutes=45)),  # a blank box counts as 0
    ("2", "", timedelta(hours=2)),
    (" 3 ", "05", timedelta(hours=3, minutes=5)),
    (str(366 * 24), "0", timedelta(days=366)),  # the longest
])
def test_a_duration_is_hours_and_minutes(hours, minutes, value):
    form = duration(hours, minutes)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["wait"] == value


@pytest.mark.parametrize(("hours", "minutes", "messages"), [
    ("eight", "0", ["Hours: write a whole number, e.g. 8."]),
    ("1.5", "0", ["Hours: write a whole number, e.g. 8."]),
    ("1e3", "0", ["Hours: write a whole number, e.g. 8."]),
    ("-1", "0", ["Hours cannot be negative."]),
    ("0", "-5", ["Minutes cannot be negative."]),
    ("0", "60", ["Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]),
    ("0", "half", ["Minutes: write a whole number from 0 to 59."]),
    ("-2", "75", ["Hours cannot be negative.", "Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]),
    ("8785", "0", ["At most 8784 h (366 days)."]),
    ("8784", "1", ["At most 8784 h (366 days)."]),
    ("9" * 5000, "0", ["At most 8784 h (366 days)."]),  # refused before being read as a number
    ("0", "0", ["At least 1 min."]),
    ("", "", ["Give the hours and minutes."]),
])
def test_a_duration_that_makes_no_sense_is_refused_with_what_is_wrong(hours, minutes, messages):
    form = duration(hours, minutes)
    assert not form.is_valid()
    assert form.errors == {"wait": messages}


def test_the_one_box_form_django_took_is_still_read():
    assert DurationForm({"wait": "1 00:00:00"}).is_valid()
    assert DurationForm({"wait": "8:30:00"}).is_valid()
    refused = DurationForm({"wait": "soon"})
    assert refused.errors == {"wait": ["Give the hours and minutes, e.g. 8 h 30 min."]}
    assert DurationForm({"wait": "9" * 40}).errors == {"wait": ["Give the hours and minutes, e.g. 8 h 30 min."]}


def test_a_duration_is_shown_back_in_hours_and_minutes():
    html = DurationForm(initial={"wait": timedelta(days=1, hours=16, minutes=30)}).as_p()
    assert 'name="wait_hours" value="40"' in html and 'name="wait_minutes" value="30"' in html
    assert '<label for="id_wait_0">' in html  # the field's label names the hours box
    assert 'aria-label="minutes"' in html
    kept = duration("-2", "75").as_p()  # what was typed comes back as typed, to be corrected
    assert 'value="-2"' in kept and 'value="75"' in kept


@pytest.mark.parametrize(("value", "words"), [
    (timedelta(hours=8), "8 h"),
    (timedelta(hours=40, minutes=30), "40 h 30 min"),
    (timedelta(minutes=15), "15 min"),
    (timedelta(0), "0 min"),
    (None, "—"),
])
def test_durations_in_words_keep_the_hours(value, words):
    assert hours_minutes_words(value) == words


def test_a_list_is_typed_one_entry_a_line():
    form = OutcomesForm({"outcomes": "  approved \n\n declined\r\nneed-info\n   \n"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["outcomes"] == ["approved", "declined", "need-info"]
    assert OutcomesForm({"outcomes": ""}).is_valid()
    shown = OutcomesForm(initial={"outcomes": ["approved", "declined"]}).as_p()
    assert "approved\ndeclined</textarea>" in shown


@pytest.mark.parametrize(("typed", "messages"), [
    ("approved\nApproved", ["“Approved” is listed twice: give each outcome once."]),
    ("a\n" + "x" * 21, ["Line 2 is 21 characters long: at most 20."]),
    ("ok\nbad\x00byte", ["Line 2 holds a control character: type it again without it."]),
    ("a\nb\nc\nd", ["At most 3 outcomes."]),
    ("a\na\nb\nc\n" + "y" * 30, ["“a” is listed twice: give each outcome once.",
                                  "Line 5 is 30 characters long: at most 20.", "At most 3 outcomes."]),
])
def test_a_list_with_a_bad_line_is_refused_line_by_line(typed, messages):
    form = OutcomesForm({"outcomes": typed})
    assert not form.is_valid()
    assert form.errors == {"outcomes": messages}


@pytest.mark.parametrize(("typed", "zone"), [
    ("Europe/London", "Europe/London"),
    ("europe/london", "Europe/London"),
    ("  America/New_York ", "America/New_York"),
    ("UTC", "UTC"),
])
def test_a_time_zone_is_taken_in_the_lists_spelling(typed, zone):
    form = ZoneForm({"zone": typed})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["zone"] == zone


@pytest.mark.parametrize("typed", ["Mars/Olympus_Mons", "London", "GMT+25", "x" * 65])
def test_an_unknown_time_zone_is_refused(typed):
    form = ZoneForm({"zone": typed})
    assert not form.is_valid()
    [message] = form.errors["zone"]
    assert "is not an IANA time zone: choose one from the list, e.g. Europe/London." in message \
        or "at most 64 characters" in message


def test_time_zones_are_offered_as_a_searchable_list():
    html = ZoneForm().as_p()
    assert 'list="id_zone_list"' in html and '<datalist id="id_zone_list">' in html
    assert '<option value="Europe/London">' in html and '<option value="Asia/Tokyo">' in html
