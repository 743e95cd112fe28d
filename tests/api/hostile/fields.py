"""The fields of the API's request bodies: what each accepts (as the input serializers and
the services read it), a valid value, and values with one thing wrong to try on it. Like
DRF, a number sent for a text field is read as its digits."""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.utils.dateparse import parse_datetime
from rest_framework.fields import BooleanField, IntegerField

from tests.api.hostile.refs import Question

if TYPE_CHECKING:
    from tests.api.hostile.draws import Gen

SURROGATE = "\ud800"
LONE_SURROGATES = ("\ud800", "\udfff", "a\udc00b")
SURROGATES = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> bool:
    """Text PostgreSQL can hold, as the serializers' validators decide."""
    return "\x00" not in text and not SURROGATES.search(text)


def text_of(value) -> str | None:
    """What a DRF CharField makes of a value: numbers as their digits, no bool, list, dict or null."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)


@dataclass(frozen=True)
class Field:
    required: bool = True

    def accepts(self, value, g: Gen, body: dict) -> bool:
        raise NotImplementedError

    def valid(self, g: Gen, body: dict):
        raise NotImplementedError

    def wrong(self, g: Gen) -> list:
        """Well-typed values with one thing wrong (or right at an edge)."""
        return []


@dataclass(frozen=True)
class Text(Field):
    max_length: int = 500
    blank: bool = False
    rule: Callable[[str, Gen, dict], bool] | None = None
    examples: tuple[str, ...] = ("Waiting for the customer", "x", "Zoë Ångström, 東京", "  trimmed  ", "12")

    def accepts(self, value, g, body):
        text = text_of(value)
        if text is None or not _storable(text) or len(text) > self.max_length:
            return False
        if not text.strip() and not self.blank:
            return False
        return self.rule is None or self.rule(text.strip(), g, body)

    def valid(self, g, body):
        if g.rng.random() < 0.15:
            return g.rng.choice(["a", "é", "😀", "\u0301"]) * self.max_length
        return g.rng.choice(self.examples)

    def wrong(self, g):
        m = self.max_length
        return ["a" * (m + 1), "é" * (m + 1), "😀" * (m + 1), "a" * m + " ", " " * (m + 1), "a" * m,
                "x" * 100_000, "", "   ", "\t\n", "\u3000", "bad\x00text", "bad\ud800text", "\udfff"]


@dataclass(frozen=True)
class Choice(Field):
    choices: tuple = ()

    def accepts(self, value, g, body):
        return not isinstance(value, bool | list | dict) and value is not None and \
            str(value) in {str(choice) for choice in self.choices}

    def valid(self, g, body):
        value = g.rng.choice(self.choices)
        return str(value) if isinstance(value, int) and g.rng.random() < 0.2 else value

    def wrong(self, g):
        strings = [str(choice) for choice in self.choices]
        return [0, 6, -1, 3.0, 2**63, "", " ", strings[0].upper(), strings[0] + " ", f" {strings[0]}", "busy",
                SURROGATE, "\udfff" + strings[0], "a\x00", strings[0] + "\u200b"]


@dataclass(frozen=True)
class Flag(Field):
    def accepts(self, value, g, body):
        lowered = value.lower() if isinstance(value, str) else value
        try:
            return lowered in BooleanField.TRUE_VALUES or lowered in BooleanField.FALSE_VALUES
        except TypeError:  # unhashable: a list or an object
            return False

    def valid(self, g, body):
        return g.rng.choice([True, False, "true", 0])

    def wrong(self, g):
        return ["maybe", 2, -1, "", "null", "yes please", SURROGATE, 0.5]


def _drf_integer(value) -> int | None:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, str) and len(value) > IntegerField.MAX_STRING_LENGTH:
        return None
    try:
        return int(IntegerField.re_decimal.sub("", str(value)))
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Ids(Field):
    """A list of item ids (bulk reassign): ids that do not exist or may not move are listed
    as refused in a 200, by design."""

    max_items: int = 500

    def accepts(self, value, g, body):
        if not isinstance(value, list) or not 1 <= len(value) <= self.max_items:
            return False
        return all((number := _drf_integer(item)) is not None and number >= 1 for item in value)

    def valid(self, g, body):
        names = g.rng.sample(sorted(g.refs.items), g.rng.randint(1, 4))
        return [g.refs.items[name] for name in names if name != "huge"] or [g.refs.items["held"]]

    def wrong(self, g):
        held = g.refs.items["held"]
        return [[], [0], [-1], [2**63], [2**63 - 1], [2**64], [held] * 501, [held, held], [str(held)], [f"{held}.0"],
                [held + 0.5], [True], [None], [[held]], [{"id": held}], ["1" * 1001], [SURROGATE], [1e308]]


@dataclass(frozen=True)
class Lookup(Field):
    """A queue by code or an agent by username."""

    kind: str = "queue"

    def names(self, g: Gen) -> frozenset[str]:
        return g.refs.active_queues if self.kind == "queue" else g.refs.agent_usernames

    def accepts(self, value, g, body):
        return isinstance(value, str) and value in self.names(g)

    def valid(self, g, body):
        if self.kind == "queue":
            return g.rng.choice([g.refs.queues["own"], g.refs.queues["other"], g.refs.queues["push"]])
        return g.rng.choice([g.refs.agents["teammate"], g.refs.agents["other_team"], g.refs.agents["agent"]])

    def wrong(self, g):
        known = sorted(self.names(g))[0]
        others = ([g.refs.queues["inactive"]] if self.kind == "queue"
                  else [g.refs.agents["not_agent"], "admin-user"])
        return [*others, "nope", "", " ", known.upper(), f" {known}", known + "\x00", known + SURROGATE, "%",
                "*", "' OR 1=1 --", known * 500, 1, -1]


@dataclass(frozen=True)
class Instant(Field):
    """An ISO 8601 date and time, judged by `rule` once it parses."""

    rule: str = "pend"  # pend, receipt, deadline
    nullable: bool = False

    def accepts(self, value, g, body):
        if value is None:
            return self.nullable
        instant = _instant(value)
        if instant is None:
            return False
        now = g.refs.now
        if self.rule == "pend":
            return now < instant <= now + g.refs.max_pend
        if self.rule == "receipt":
            return now - g.refs.max_receipt_age <= instant <= now + g.refs.clock_skew
        received = _instant(body.get("received_at")) or now
        return instant > now and instant > received

    def valid(self, g, body):
        now = g.refs.now
        if self.rule == "pend":
            instant = now + timedelta(hours=g.rng.randint(1, 24 * 300))
        elif self.rule == "receipt":
            instant = now - timedelta(hours=g.rng.randint(0, 24 * 300))
        else:
            instant = now + timedelta(hours=g.rng.randint(2, 24 * 100))
        return _iso(instant, g.rng)

    def wrong(self, g):
        return [value for value, _ in date_values(g.refs.now)]


def _instant(value) -> datetime | None:
    """The instant DRF's DateTimeField reads (naive: UTC, the suite's time zone), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, TypeError, OverflowError):
        return None


def _iso(instant: datetime, rng: random.Random) -> str:
    form = rng.choice(["Z", "offset", "micro"])
    if form == "Z":
        return instant.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "offset":
        return instant.astimezone(datetime.now(UTC).astimezone().tzinfo).isoformat()
    return instant.isoformat()


@functools.cache
def date_values(now: datetime) -> list[tuple[str | int | float | None, str]]:
    """Dates hostile or odd, each with what it is."""
    def iso(delta: timedelta) -> str:
        return (now + delta).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    day = timedelta(days=1)
    return [
        ("0001-01-01T00:00:00Z", "year 1"), ("9999-12-31T23:59:59Z", "year 9999"),
        ("0001-01-01T00:00:00+14:00", "year 1, east of UTC"), ("9999-12-31T23:59:59-14:00", "year 9999, west of UTC"),
        ("0001-01-01", "year 1 as a date"), ("9999-12-31", "year 9999 as a date"),
        ("1899-12-31T23:59:59Z", "1899"), ("2501-01-01T00:00:00Z", "2501"), ("1970-01-01T00:00:00Z", "the epoch"),
        ("yesterday", "a word"), ("tomorrow", "a word"), ("now", "a word"), ("", "empty"), (" ", "a space"),
        ("2026-02-30T10:00:00Z", "30 February"), ("2026-13-01T00:00:00Z", "month 13"),
        ("2026-01-01T24:00:00Z", "hour 24"), ("2026-06-30T23:59:60Z", "a leap second"),
        (iso(day)[:10], "tomorrow as a date"), (iso(day)[:-1], "tomorrow, no zone"),
        (iso(day).replace("T", " "), "tomorrow with a space"), (iso(day).lower(), "tomorrow in lower case"),
        (iso(day)[:-1] + "+23:59", "tomorrow +23:59"), (iso(day)[:-1] + "-23:59", "tomorrow -23:59"),
        (iso(day)[:-1] + "+24:00", "offset +24:00"), (iso(day)[:-1] + "+99:00", "offset +99:00"),
        (iso(day)[:-1] + "-99:99", "offset -99:99"), (iso(day)[:-1] + "+05:30", "tomorrow +05:30"),
        (iso(day)[:-1] + ".123456789Z", "nanoseconds"), (iso(day) + "Z", "two zones"),
        (iso(day).translate(str.maketrans("0123456789", "０１２３４５６７８９")), "full-width digits"),
        (iso(day) + "0" * 10_000, "10,000 trailing zeros"), (iso(day) + "\x00", "NUL"),
        (iso(day) + SURROGATE, "surrogate"),
        (iso(timedelta(hours=1)), "in an hour"), (iso(day), "tomorrow"), (iso(300 * day), "in 300 days"),
        (iso(366 * day), "in 366 days"), (iso(400 * day), "in 400 days"), (iso(36500 * day), "in a century"),
        (iso(timedelta(minutes=3)), "in 3 minutes"), (iso(timedelta(minutes=30)), "in 30 minutes"),
        (iso(-timedelta(hours=1)), "an hour ago"), (iso(-day), "yesterday"), (iso(-300 * day), "300 days ago"),
        (iso(-400 * day), "400 days ago"), (iso(-36500 * day), "a century ago"),
        (int((now + day).timestamp()), "epoch seconds"), (int((now + day).timestamp() * 1000), "epoch ms"),
        ((now + day).timestamp(), "epoch float"), (str(int((now + day).timestamp())), "epoch seconds as text"),
        (-62135596800, "epoch of year 1"), (0, "zero"), (None, "null"),
    ]


@dataclass(frozen=True)
class Payload(Field):
    required: bool = False

    def accepts(self, value, g, body):
        if not isinstance(value, dict) or not _storable_json(value):
            return False
        return len(json.dumps(value, separators=(",", ":")).encode()) <= g.refs.max_payload_bytes

    def valid(self, g, body):
        return g.rng.choice([
            {}, {"amount": "12.50", "reason_code": "4837"}, {"lines": [{"sku": "A-1", "qty": 2, "ok": True}]},
            {"customer": {"name": "Zoë", "tags": ["vip", None]}, "amount": 1e308, "tiny": 5e-324},
            {"nested": {"deeper": {"deepest": [1, [2, [3]]]}}},
        ])

    def wrong(self, g):
        return [{"k\x00": 1}, {"k": "v\x00"}, {SURROGATE: 1}, {"k": ["a", "b\udfff"]},
                {"big": "x" * (g.refs.max_payload_bytes + 1)}, {"many": ["é"] * (g.refs.max_payload_bytes // 5)},
                [], "payload", 12, None, True]


def _storable_json(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(_storable(key) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not _storable(item):
            return False
    return True


def _question_id(key) -> int | None:
    try:
        return int(key)
    except (ValueError, TypeError):
        return None


def _question_map(value, child_ok: Callable[[object], bool]) -> dict[int, object] | None:
    """A dict of question id -> value as quality/api.py reads it, or None where it refuses it."""
    if not isinstance(value, dict) or not all(child_ok(item) for item in value.values()):
        return None
    ids = {key: _question_id(key) for key in value}
    if None in ids.values():
        return None
    return {ids[key]: item for key, item in value.items()}


def _answer_text(value) -> bool:
    return value is None or (text_of(value) is not None and _storable(text_of(value)))


def _comment_text(value) -> bool:
    return text_of(value) is not None and _storable(text_of(value))


@dataclass(frozen=True)
class Answers(Field):
    """Question id -> "yes", "no", "na" or a scale value (quality submit)."""

    def accepts(self, value, g, body):
        answers = _question_map(value, _answer_text)
        if answers is None:
            return False
        questions = {q.id: q for q in g.questions()}
        given = {qid: "" if raw is None else text_of(raw).strip() for qid, raw in answers.items()}
        if not set(given) <= set(questions):
            return False
        if not all(_answer_fits(questions[qid], answer) for qid, answer in given.items() if answer):
            return False
        draft = body.get("draft", False)
        if isinstance(draft, str):
            draft = draft.lower()
        if Flag().accepts(draft, g, body) and draft in BooleanField.TRUE_VALUES:
            return True
        return all(given.get(qid) for qid in questions)  # submitting: every question answered

    def valid(self, g, body):
        return {str(q.id): _fitting_answer(q, g.rng) for q in g.questions()}

    def wrong(self, g):
        questions = g.questions()
        first = questions[0]
        foreign = g.refs.questions["other_evaluation"][0].id
        full = {str(q.id): _fitting_answer(q, random.Random(q.id)) for q in questions}
        return [
            {}, {**full, str(first.id): "maybe"}, {**full, str(first.id): "YES"}, {**full, str(foreign): "yes"},
            {**full, "abc": "yes"}, {**full, "": "yes"}, {**full, str(2**63): "yes"}, {**full, "9" * 5000: "yes"},
            {**full, str(first.id): ["yes"]}, {**full, str(first.id): True}, {**full, str(first.id): "yes\x00"},
            {**full, str(first.id): SURROGATE}, {**full, f" {first.id} ": "yes"}, {**full, f"{first.id}.0": "yes"},
            {q: a for q, a in list(full.items())[1:]},
            {**full, **{str(q.id): "0" * 12 + str(q.scale_max) for q in questions if q.kind == "scale"}},
            {**full, **{str(q.id): str(q.scale_max + 1) for q in questions if q.kind == "scale"}},
            {**full, **{str(q.id): "٣" for q in questions if q.kind == "scale"}},
            {**full, **{str(q.id): "na" for q in questions if not q.allow_na}},
            ["yes"], "yes", None,
        ]


def _answer_fits(question: Question, answer: str) -> bool:
    if answer == "na":
        return question.allow_na
    if question.kind == "yes_no":
        return answer in ("yes", "no")
    try:
        return question.scale_min <= int(answer) <= question.scale_max
    except ValueError:
        return False


def _fitting_answer(question: Question, rng: random.Random) -> str:
    if question.kind == "yes_no":
        return rng.choice(["yes", "no", *(["na"] if question.allow_na else [])])
    return str(rng.randint(question.scale_min, question.scale_max))


@dataclass(frozen=True)
class Comments(Field):
    """Question id -> a comment (quality submit); comments on unanswered questions are dropped."""

    required: bool = False

    def accepts(self, value, g, body):
        return _question_map(value, _comment_text) is not None

    def valid(self, g, body):
        return {str(q.id): g.rng.choice(["Good", "", "Zoë 東京"]) for q in g.questions()[:2]}

    def wrong(self, g):
        qid = str(g.questions()[0].id)
        return [{qid: None}, {qid: ["x"]}, {qid: "x\x00"}, {"abc": "x"}, {qid: "x" * 100_000}, ["x"], "x"]


@dataclass(frozen=True)
class DisputedQuestions(Field):
    """Question id -> the agent's objection (quality dispute): only answered questions."""

    required: bool = False

    def accepts(self, value, g, body):
        def objection(item) -> bool:
            text = text_of(item)
            return text is not None and _storable(text) and text.strip() != "" and len(text) <= 2000

        questions = _question_map(value, objection)
        return questions is not None and set(questions) <= g.refs.answered.get(g.target, frozenset())

    def valid(self, g, body):
        answered = sorted(g.refs.answered.get(g.target, ())) or [g.questions()[0].id]
        return {str(g.rng.choice(answered)): "The evidence was attached"}

    def wrong(self, g):
        qid = str((sorted(g.refs.answered.get(g.target, ())) or [g.questions()[0].id])[0])
        foreign = str(g.refs.questions["other_evaluation"][0].id)
        return [{qid: ""}, {qid: "  "}, {qid: "x" * 2001}, {foreign: "x"}, {"abc": "x"}, {qid: None}, {qid: 5},
                {str(2**63): "x"}, {qid: "x\x00"}, ["x"], "x"]


@dataclass(frozen=True)
class Whole(Field):
    """A whole number in [low, high], as DRF's IntegerField reads it ("3", 3.0 and 3 alike)."""

    low: int = 1
    high: int = 30
    required: bool = False

    def accepts(self, value, g, body):
        number = _drf_integer(value)
        return number is not None and self.low <= number <= self.high

    def valid(self, g, body):
        number = g.rng.randint(self.low, self.high)
        return str(number) if g.rng.random() < 0.2 else number

    def wrong(self, g):
        return [self.low - 1, self.high + 1, -1, 2**63, 10**30, 1.5, "x", "", True, None, [1], {"n": 1}, "1e3"]


@dataclass(frozen=True)
class TextList(Field):
    """A list of texts, each one of `allowed(g, role)` once trimmed (None: any storable text)."""

    max_items: int = 50
    max_length: int = 50
    allowed: Callable[[Gen], frozenset[str] | None] = lambda g: None
    empty_ok: bool = True
    required: bool = False

    def accepts(self, value, g, body):
        if not isinstance(value, list) or len(value) > self.max_items or (not value and not self.empty_ok):
            return False
        allowed = self.allowed(g)
        for item in value:
            text = text_of(item)
            if text is None or isinstance(item, bool) or not _storable(text) or len(text) > self.max_length:
                return False
            if not text.strip() or (allowed is not None and text.strip() not in allowed):
                return False
        return True

    def valid(self, g, body):
        allowed = sorted(self.allowed(g) or {"x"})
        return g.rng.sample(allowed, g.rng.randint(0 if self.empty_ok else 1, min(3, len(allowed))))

    def wrong(self, g):
        known = sorted(self.allowed(g) or {"x"})[0]
        return ["not a list", [known] * (self.max_items + 1), ["nope"], [known.upper()], ["a" * (self.max_length + 1)],
                [""], [" "], [None], [1], [[known]], [{"x": known}], [known + "\x00"], [known + SURROGATE],
                [] if not self.empty_ok else [known, "nope"]]


@dataclass(frozen=True)
class WebhookUrl(Field):
    """http(s) only, at most 500 characters, and a public address. Judged for literal
    addresses; a host name is taken as acceptable (only resolving it could tell)."""

    required: bool = True

    def accepts(self, value, g, body):
        import ipaddress
        from urllib.parse import urlsplit

        text = text_of(value)
        if text is None or isinstance(value, bool) or not _storable(text) or len(text) > 500:
            return False
        try:
            parts = urlsplit(text.strip())
            host = parts.hostname or ""
            if parts.port == 0:  # an impossible port raises
                return False
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not host:
            return False
        try:
            return ipaddress.ip_address(host).is_global
        except ValueError:
            return True

    def valid(self, g, body):
        return g.rng.choice(["https://93.184.215.14/hooks/wfo", "http://8.8.8.8:8080/in?x=1",
                             "https://[2606:4700:4700::1111]/wfo"])

    def wrong(self, g):
        return ["ftp://93.184.215.14/x", "http://127.0.0.1/x", "http://10.1.2.3/", "http://169.254.169.254/meta",
                "http://[::1]/", "http://0.0.0.0/", "https://93.184.215.14:99999/", "not a url", "", " ",
                "https://93.184.215.14/" + "a" * 480, "javascript:alert(1)", "http://192.168.0.1:80/x",
                "https://93.184.215.14/x\x00", 1, ["https://93.184.215.14/"]]
