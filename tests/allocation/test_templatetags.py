"""How payloads, timelines and SLA clocks are worded on the pages."""

from datetime import timedelta

from allocation.models import WorkItemEvent
from allocation.templatetags.work import (
    duration_words,
    event_summary,
    hours_minutes,
    humanize_key,
    payload_rows,
    remaining_words,
)


def test_payload_rows_flatten_nested_json_into_readable_labels():
    payload = {
        "reason_code": "10.4",
        "card": {"network": "Visa", "last4": "4242"},
        "documents": ["id.pdf", "bill.pdf"],
        "lines": [{"sku": "A1", "amount": 5}, {"sku": "B2", "amount": 7}],
        "blocked": True,
        "note": None,
        "extra": {},
    }
    assert payload_rows(payload) == [
        ("Reason code", "10.4"),
        ("Card › Network", "Visa"),
        ("Card › Last4", "4242"),
        ("Documents", "id.pdf, bill.pdf"),
        ("Lines 1 › SKU", "A1"),
        ("Lines 1 › Amount", "5"),
        ("Lines 2 › SKU", "B2"),
        ("Lines 2 › Amount", "7"),
        ("Blocked", "Yes"),
        ("Note", "—"),
        ("Extra", "—"),
    ]
    assert payload_rows({}) == []
    assert payload_rows(None) == []
    assert payload_rows(["a", "b"]) == [("Value", "a, b")]


def test_humanize_key():
    assert humanize_key("arn") == "ARN"
    assert humanize_key("merchant-name") == "Merchant name"
    assert humanize_key("customerName") == "CustomerName"


def test_countdown_words():
    assert remaining_words(timedelta(hours=2, minutes=5)) == "2 h 5 min left"
    assert remaining_words(timedelta(minutes=-12)) == "overdue by 12 min"
    assert duration_words(3 * 86400 + 7200) == "3 d 2 h"
    assert duration_words(timedelta(minutes=59)) == "59 min"
    assert duration_words(timedelta(minutes=4, seconds=5)) == "4 min 05 s"


# Timeline summaries ----------------------------------------------------------------------

NAMES = {7: "Amelia Hart", 8: "Ben Ortiz"}


def summary(kind: str, **data) -> str:
    return event_summary(WorkItemEvent(kind=kind, data=data), NAMES)


def test_get_next_and_push_name_the_agent_that_got_the_item():
    assert summary("assigned", rule="next_best_item", eligible_queues=3, from_agent=None, to_agent=7) == (
        "Assigned to Amelia Hart by get next work. Picked as next best item from 3 eligible queues."
    )
    assert summary("assigned", rule="pended_follow_up_due", pended_until="2030-01-15T12:00:00+00:00",
                   from_agent=7, to_agent=7) == (
        "Assigned to Amelia Hart by get next work. Picked as its follow-up time came"
    )
    assert summary("assigned", rule="push", from_agent=None, to_agent=8, candidates=[]) == (
        "Assigned to Ben Ortiz by push allocation (least recently assigned eligible agent)"
    )


def test_release_reject_and_cancel_name_the_holder_before():
    assert summary("released", from_agent=7) == "Released by Amelia Hart"
    assert summary("rejected", from_agent=8, not_offered_again_until="2030-01-15T12:00:00+00:00") == (
        "Back to the queue; not offered to Ben Ortiz again until Tue 15 Jan 2030, 12:00."
    )
    assert summary("rejected", from_agent=7) == "Back to the queue; not offered to Amelia Hart again for a while."
    assert summary("cancelled", from_agent=7) == "Cancelled while held by Amelia Hart"


def test_nobody_is_named_when_nobody_held_the_item():
    assert summary("cancelled", from_agent=None) == ""
    assert summary("cancelled") == ""  # an older event of a queued item
    assert summary("released") == ""
    assert summary("rejected") == "Back to the queue; not offered to this agent again for a while."


def test_an_agent_without_a_name_is_named_by_id():
    assert summary("released", from_agent=99) == "Released by agent #99"


def test_a_configured_duration_reads_as_typed_not_as_a_countdown():
    """A queue's standard time beside the live time in progress: no seconds, no days."""
    assert (hours_minutes(timedelta(minutes=5)), duration_words(timedelta(minutes=5))) == ("5 min", "5 min 00 s")
    assert hours_minutes(timedelta(hours=40, minutes=30)) == "40 h 30 min"
