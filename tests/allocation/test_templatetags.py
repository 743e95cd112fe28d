"""How payloads, timelines and SLA clocks are worded on the pages."""

from datetime import timedelta

from allocation.templatetags.work import duration_words, humanize_key, payload_rows, remaining_words


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
