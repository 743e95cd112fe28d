"""The words for codes and values (allocation/labels.py)."""

from datetime import UTC, datetime

import pytest
import time_machine

from allocation import labels


@pytest.mark.parametrize(("value", "words"), [
    ("2031-04-01", "Tue 1 Apr 2031"),
    ("2031-03-12T09:30:00+00:00", "Wed 12 Mar 2031, 09:30"),
    ("2031-03-12T09:30:00Z", "Wed 12 Mar 2031, 09:30"),
    ("2031-13-40", "2031-13-40"),  # not a date: as it is
    ("Ref 2031-04-01", "Ref 2031-04-01"),
])
def test_iso_dates_read_as_the_portals(value, words, settings):
    settings.TIME_ZONE = "UTC"
    assert labels.iso_words(value) == words


@pytest.mark.parametrize(("moment", "words"), [
    (datetime(2031, 3, 12, 7, 5, tzinfo=UTC), "08:05"),  # today in Paris: the time alone
    (datetime(2031, 3, 11, 23, 30, tzinfo=UTC), "00:30"),  # today in Paris, yesterday in UTC
    (datetime(2031, 3, 11, 22, 30, tzinfo=UTC), "Tue 11 Mar 2031, 23:30"),  # yesterday: the day too
    (None, "—"),
])
def test_since_when_says_the_day_unless_today(moment, words, settings):
    settings.TIME_ZONE = "Europe/Paris"
    with time_machine.travel(datetime(2031, 3, 12, 15, 0, tzinfo=UTC), tick=False):
        assert labels.since_words(moment) == words


@pytest.mark.parametrize(("outcome", "words"), [
    ("resolved-for-cardholder", "Resolved for cardholder"),
    ("need_info", "Need info"),
    ("approved", "Approved"),
    ("Customer agreed to a refund", "Customer agreed to a refund"),  # free text, as typed
])
def test_outcomes_have_labels(outcome, words):
    assert labels.outcome_label(outcome) == words
