"""Drawing the bodies: each kind of hostility a function of one draw (`Gen`), taken in turn
by `schedule`; `body_for` gives body `index` of an operation for a role, the same on every run."""

from __future__ import annotations

import functools
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from tests.api.hostile.fields import LONE_SURROGATES, SURROGATE, Instant, Lookup, Text, date_values
from tests.api.hostile.operations import BY_NAME, Operation, acceptable, dispute_says_something
from tests.api.hostile.refs import Question, Refs
from tests.api.hostile.text import Pairs, Raw, dumps, nested

SEED = 20260301
# 120 a role walks every kind of body seven times over in `make test`; a deeper search is one
# variable away (HOSTILE_BODIES_PER_ROLE=1000), with the same seed and the same first bodies.
BODIES_PER_ROLE = int(os.environ.get("HOSTILE_BODIES_PER_ROLE", "120"))
JSON = "application/json"
ROLES = ("agent", "other_agent", "supervisor", "other_supervisor", "evaluator", "quality_lead", "admin", "source",
         "other_source")
SHALLOW = 32  # nesting the judge builds as Python values (beyond twice this: text only)


@dataclass(frozen=True)
class Body:
    operation: str
    role: str
    index: int
    kind: str
    note: str
    data: bytes
    content_type: str
    target: str | None  # the object the URL names (a key of Refs.items or Refs.evaluations)
    acceptable: bool  # a 2xx answer is legitimate
    environ: tuple[tuple[str, str], ...] = ()  # WSGI environ entries to send as well (a lying Content-Length)

    def excerpt(self, limit: int = 160) -> str:
        text = repr(self.data[:limit])[2:-1]
        more = f"… ({len(self.data):,} bytes)" if len(self.data) > limit else ""
        sent = "; ".join([self.content_type or "no content type", *(f"{k}={v}" for k, v in self.environ)])
        return f"{text}{more} [{sent}]"



@dataclass
class Gen:
    """One draw: body `index` of `operation` for `role`, the `draw`-th of its kind."""

    operation: Operation
    role: str
    index: int
    refs: Refs
    draw: int = 0
    rng: random.Random = field(init=False)
    target: str | None = field(init=False)

    def __post_init__(self):
        self.rng = random.Random(f"{SEED}:{self.operation.name}:{self.role}:{self.index}")
        self.target = self.operation.default_target(self.role)

    def pick(self, label: str, options: list):
        """The draw-th of `options` in a seeded order, from where this role's share begins: the
        roles that may act share the list out between them, and so do the others, so that
        their draws of one kind cover it before any repeats."""
        legit = [role for role in ROLES if role in self.operation.legit]
        peers = legit if self.role in legit else [role for role in ROLES if role not in legit]
        start = peers.index(self.role) * len(options) // len(peers)
        return options[_order(f"{self.operation.name}:{label}", len(options))[(start + self.draw) % len(options)]]

    def valid(self) -> dict:
        """A body the contract accepts, for this role and target."""
        fields = self.operation.fields
        chosen = self.rng.choice(self.operation.one_of) if self.operation.one_of else None
        body: dict = {}
        for name, spec in fields.items():
            if name in self.operation.one_of and name != chosen:
                continue
            if spec.required or name == chosen or self.rng.random() < 0.5:
                body[name] = spec.valid(self, body)
        if self.operation.name == "item-list":
            allowed = self.refs.sources.get(self.role)
            body["source"] = self.rng.choice(sorted(allowed) if allowed else ["crm", "tests", "claims"])
            body["external_id"] = f"HB-{self.index}-{self.rng.randrange(10**9)}"
        if self.operation.name == "item-complete" and self.refs.outcomes.get(self.target):
            body["outcome"] = self.rng.choice(self.refs.outcomes[self.target])
        if self.operation.name == "quality-dispute" and not dispute_says_something(body, self):
            body["comment"] = "I disagree"
        return body

    def body(self, kind: str, note: str, value, *, data: bytes | None = None, content_type: str = JSON,
             acceptable_: bool | None = None, environ: tuple[tuple[str, str], ...] = ()) -> Body:
        if data is None:
            data = dumps(value).encode()
        if acceptable_ is None:
            acceptable_ = acceptable(self.operation, value, self)
        return Body(self.operation.name, self.role, self.index, kind, note, data, content_type, self.target,
                    acceptable_, environ)

    def questions(self) -> tuple[Question, ...]:
        """The questions of the evaluation the URL names (of the caller's own, if it names none)."""
        return self.refs.questions.get(self.target) or self.refs.questions["evaluation"]

    def field_names(self) -> list[str]:
        return sorted(self.operation.fields)

    def some_field(self) -> str | None:
        return self.rng.choice(self.field_names()) if self.operation.fields else None


@functools.cache
def _order(key: str, size: int) -> list[int]:
    return random.Random(f"{SEED}:{key}").sample(range(size), size)


_CACHE: dict[tuple, bytes] = {}


def _cached(key: tuple, build: Callable[[], bytes]) -> bytes:
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def plain_nested(levels: int, *, arrays: bool = False):
    value: object = 1
    for _ in range(levels):
        value = [value] if arrays else {"a": value}
    return value


def nested_value(levels: int, *, arrays: bool) -> Raw:
    """`levels` arrays or objects one inside the other, as text, and as the value it parses to
    when the judge should read it."""
    text = nested(levels, opener="[", closer="]") if arrays else nested(levels)
    return Raw(text, plain_nested(levels, arrays=arrays)) if levels <= 2 * SHALLOW else Raw(text)


def draw_valid(g: Gen) -> Body:
    return g.body("valid", "a valid body", g.valid())


def draw_edge(g: Gen) -> Body:
    """Valid bodies at an edge: text at its length limit, nesting at the depth limit, large
    finite numbers, the oldest plausible receipt; or an unknown field nested to the limit."""
    body = g.valid()
    limit = g.refs.max_depth
    texts = [name for name, spec in g.operation.fields.items() if isinstance(spec, Text)]
    variant = g.pick("edge", ["text", "payload depth", "payload numbers", "old receipt", "unknown at the limit"])
    if variant == "text" and texts:
        name = g.rng.choice(texts)
        spec = g.operation.fields[name]
        body[name] = g.rng.choice(["a", "é", "😀", "\u0301", "\u202e"]) * spec.max_length
        return g.body("edge", f"{name} at its limit of {spec.max_length} characters", body)
    if variant == "payload depth" and "payload" in g.operation.fields:
        body["payload"] = plain_nested(limit - 1)  # the item is level 1
        return g.body("edge", f"payload nested to the limit of {limit} levels", body)
    if variant == "payload numbers" and "payload" in g.operation.fields:
        body["payload"] = {"big": Raw("1e308", 1e308), "tiny": Raw("1e-400", 0.0), "neg": -0.0,
                           "long": Raw("9" * 4000, 10**4000 - 1)}
        return g.body("edge", "payload with large finite numbers", body)
    if variant == "old receipt" and "received_at" in g.operation.fields:
        body["received_at"] = (g.refs.now - g.refs.max_receipt_age + timedelta(days=2)).isoformat()
        return g.body("edge", "received almost as long ago as is plausible", body)
    body["extra"] = plain_nested(limit - 1)  # past the parser, refused as unknown
    return g.body("edge", f"an unknown field nested to the limit of {limit} levels", body)


def draw_deep(g: Gen) -> Body:
    limit = g.refs.max_depth
    variant, levels = g.pick("deep", [
        *[("arrays", n) for n in (limit + 1, 1000, 100_000)], *[("unclosed", n) for n in (limit + 1, 100_000)],
        ("values", g.refs.max_values),
        ("payload", limit), ("batch payload", limit - 1),
        *[(kind, n) for kind in ("field arrays", "field objects") for n in (limit - 1, limit, limit + 1, 10_000)],
    ])
    if variant == "arrays":
        data = _cached(("arrays", levels), lambda: ("[" * levels + "]" * levels).encode())
        return g.body("deep", f"{levels:,} nested arrays", None, data=data, acceptable_=False)
    if variant == "values":  # one value more than WFO_MAX_JSON_ELEMENTS: a list of that many zeros
        data = _cached(("values", levels), lambda: ("[" + "0," * (levels - 1) + "0]").encode())
        return g.body("deep", f"{levels + 1:,} values", None, data=data, acceptable_=False)
    if variant == "unclosed":
        data = _cached(("unclosed", levels), lambda: ("[" * levels).encode())
        return g.body("deep", f"{levels:,} unclosed arrays", None, data=data, acceptable_=False)
    body = g.valid()
    if variant == "payload" and "payload" in g.operation.fields:
        body["payload"] = Raw(nested(levels))  # the item is level 1: one level too many
        return g.body("deep", f"payload nested one level past {limit}", body)
    if variant == "batch payload" and g.operation.rows:
        body["payload"] = Raw(nested(levels))  # level 3 in a batch: one too many
        return g.body("deep", f"a batch row's payload nested one level past {limit}", [body])
    name = g.some_field() or "extra"
    body[name] = nested_value(levels, arrays=variant == "field arrays")
    return g.body("deep", f"{name} nested {levels:,} levels (the body {levels + 1:,})", body)


NUMBERS = [
    Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("9" * 5000), Raw("-" + "9" * 5000),
    Raw("1" * 400 + ".5"), Raw("1e-400", 0.0), Raw("4" * 4000, int("4" * 4000)), Raw("1E2", 100.0), Raw("-0", 0),
    2**63, 2**63 - 1, -(2**63) - 1, 2**64, 2**31, -1, 0, 1, -0.0, 0.5, 1e308, -1e308, 5e-324, 3, 5, 6, 1.0, 3.0,
]


def draw_number(g: Gen) -> Body:
    body = g.valid()
    number = g.pick("number", NUMBERS)
    shown = number.text[:20] if isinstance(number, Raw) else repr(number)[:20]
    where = g.rng.random()
    if where < 0.2 and "payload" in g.operation.fields:
        body["payload"] = {"amount": number, "lines": [{"qty": number}]}
        return g.body("number", f"payload amounts = {shown}", body)
    if where < 0.4 and "items" in g.operation.fields:
        body["items"] = [g.refs.items["held"], number]
        return g.body("number", f"items = [held, {shown}]", body)
    name = g.some_field() if g.operation.fields and where < 0.9 else "amount"
    body[name] = number
    return g.body("number", f"{name} = {shown}", body)


def draw_date(g: Gen) -> Body:
    body = g.valid()
    dates = [name for name, spec in g.operation.fields.items() if isinstance(spec, Instant)] or \
        [g.some_field() or "until"]
    options = [(name, value, what) for name in dates for value, what in date_values(g.refs.now)]
    if "external_deadline" in dates:
        options.append(("external_deadline", "before receipt", "before receipt (and past)"))
    name, value, what = g.pick("date", options)
    if value == "before receipt":
        body["received_at"] = (g.refs.now - timedelta(days=2)).isoformat()
        value = (g.refs.now - timedelta(days=3)).isoformat()
    body[name] = value
    return g.body("date", f"{name}: {what}", body)


def draw_batch(g: Gen) -> Body:
    """Lists: empty, with one bad row, of things that are not rows (past the batch limit: see
    `draw_over_the_batch_limit`)."""
    variant = g.pick("batch", ["valid", "empty", "unknown field", "same key", "not rows", "wrong type"])
    rows = [g.valid() for _ in range(g.rng.randint(2, 8))]
    bad = g.rng.randrange(len(rows))
    if variant == "valid":
        return g.body("batch", f"{len(rows)} valid rows", rows)
    if variant == "empty":
        return g.body("batch", "an empty list", [])
    if variant == "unknown field":
        rows[bad] = {**rows[bad], "priorty": 5}
        return g.body("batch", f"row {bad + 1} has an unknown field", rows)
    if variant == "same key":
        rows[-1] = {**rows[-1], "external_id": rows[0].get("external_id", "x"), "source": rows[0].get("source", "x")}
        return g.body("batch", "two rows with the same source and external id", rows)
    if variant == "not rows":
        things = g.rng.sample([rows[0], 1, "row", None, [], rows], 3)
        return g.body("batch", "a list of things that are not rows", things)
    name = g.some_field() or "x"
    rows[bad] = {**rows[bad], name: g.rng.choice([None, [], {}, True, "x" * 5000])}
    return g.body("batch", f"row {bad + 1}: {name} of the wrong type", rows)


def draw_over_the_batch_limit(g: Gen) -> Body:
    """One row more than WFO_MAX_BATCH_ITEMS: valid-looking rows from the roles that take items
    in (each such row costs the intake a queue look-up today), empty objects from the others."""
    over = g.refs.max_batch + 1
    if g.role in g.refs.sources:
        data = _cached(("batch", g.role, over), lambda: _big_batch(g, over))
        return g.body("batch", f"{over:,} valid-looking rows", None, data=data, acceptable_=False)
    data = _cached(("empty rows", over), lambda: ("[" + ",".join(["{}"] * over) + "]").encode())
    return g.body("batch", f"{over:,} empty objects", None, data=data, acceptable_=False)


def _big_batch(g: Gen, count: int) -> bytes:
    row = dict(g.valid(), external_id="{n}")
    row.pop("payload", None)
    template = dumps(row)
    return ("[" + ",".join(template.replace('"{n}"', f'"BIG-{n}"') for n in range(count)) + "]").encode()


DUPLICABLE_KEYS = ["amount", "", SURROGATE, "\x00", "é", "a" * 500]


def draw_duplicate(g: Gen) -> Body:
    body = g.valid()
    pairs = list(body.items())
    variant, key = g.pick("duplicate", [("field", None), *[(where, key) for where in ("top", "payload", "row")
                                                                 for key in DUPLICABLE_KEYS]])
    if variant == "field" and pairs:
        key, value = g.rng.choice(pairs)
        twin = g.rng.choice([value, None, "other", 5, [], {}])
        pairs.insert(g.rng.randrange(len(pairs) + 1), (key, twin))
        return g.body("duplicate", f"{key!r} twice", Pairs(tuple(pairs)))
    key = key if key is not None else "amount"
    doubled = Pairs(((key, 1), ("other", 2), (key, 3)))
    if variant == "payload" and "payload" in g.operation.fields:
        body["payload"] = {"lines": [doubled]}
        return g.body("duplicate", f"{key[:10]!r} twice in the payload, 4 deep", body)
    if variant == "row" and g.operation.rows:
        return g.body("duplicate", f"{key[:10]!r} twice in a batch row", [g.valid(), {**g.valid(), "x": doubled}])
    return g.body("duplicate", f"{key[:10]!r} twice at the top", Pairs(((key, 1), *pairs, (key, 2))))


def _utf8_invalid(text: bytes, what: str) -> bytes:
    bad = {"byte 0xFF": b"\xff", "an overlong /": b"\xc0\xaf", "a CESU-8 surrogate": b"\xed\xa0\x80",
           "a lone continuation byte": b"\x80", "a truncated sequence": b"\xe2\x82"}[what]
    cut = text.rfind(b'"') if b'"' in text else len(text) // 2
    return text[:cut] + bad + text[cut:]


ENCODINGS = [
    "latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig",
    "invalid: byte 0xFF", "invalid: an overlong /", "invalid: a CESU-8 surrogate", "invalid: a lone continuation byte",
    "invalid: a truncated sequence",
    "charset latin-1", "charset utf-16", "charset us-ascii", "charset nonsense", "charset utf8", 'charset "utf-8"',
    "value NUL", "value surrogate", "value high surrogate", "value low surrogate", "key NUL", "key surrogate",
    "control character", "text/plain", "application/xml", "application/vnd.api+json", "application/x-json",
    "application/json-patch+json", "*/*", "no content type", "form", "malformed multipart",
    "raw ", "raw null", "raw {", "raw }", 'raw {"a":}', "raw '{}'", "raw {'reason': 'x'}", "raw empty",
    "raw NULs", "beyond ASCII", "form of many fields", "multipart of many files",
    "length abc", "length -1", "length 0", "length short",
]
RAW_BODIES = {"raw ": b" ", "raw null": b"null", "raw {": b"{", "raw }": b"}", 'raw {"a":}': b'{"a":}',
              "raw '{}'": b"'{}'", "raw {'reason': 'x'}": b"{'reason': 'x'}", "raw empty": b"",
              "raw NULs": b"\x00\x00\x00{}"}


def draw_encoding(g: Gen) -> Body:
    body = g.valid()
    texts = [name for name, spec in g.operation.fields.items() if isinstance(spec, Text)]
    body[g.rng.choice(texts) if texts else "note"] = "Zoë Ångström"
    text = dumps(body)
    variant = g.pick("encoding", ENCODINGS)
    if variant == "latin-1":
        data = text.replace("\\u00eb", "ë").replace("\\u00c5", "Å").encode("latin-1")
        return g.body("encoding", "Latin-1 bytes", body, data=data, acceptable_=False)
    if variant.startswith("utf-"):
        return g.body("encoding", f"encoded as {variant}", body, data=text.encode(variant), acceptable_=False)
    if variant.startswith("invalid: "):
        return g.body("encoding", f"invalid UTF-8: {variant[9:]}", body,
                      data=_utf8_invalid(text.encode(), variant[9:]), acceptable_=False)
    if variant.startswith("charset "):
        charset = variant[8:]
        # Django keeps a declared charset only if Python knows it; UTF-8 by any name is fine.
        ok = charset.strip('"').lower() in ("utf8", "utf-8")
        return g.body("encoding", f"declared charset {charset}", body, content_type=f"{JSON}; charset={charset}",
                      acceptable_=None if ok else False)
    if variant.startswith("value "):
        name = g.some_field() or "extra"
        value = {"value NUL": "a\x00b", "value surrogate": SURROGATE, "value high surrogate": "x\ud83d",
                 "value low surrogate": "\ude00x"}[variant]
        body[name] = value
        return g.body("encoding", f"{name} = {value!r}", body)
    if variant.startswith("key "):
        key = "\x00" if variant == "key NUL" else g.rng.choice(LONE_SURROGATES)
        if isinstance(body.get("payload"), dict):
            body["payload"] = {**body["payload"], key: "value"}
            return g.body("encoding", f"a payload key {key!r}", body)
        body[key] = "value"
        return g.body("encoding", f"a key {key!r}", body)
    if variant == "control character":
        data = text.replace('"', '"\x01', 1).encode()
        return g.body("encoding", "a raw control character in a string", body, data=data, acceptable_=False)
    if variant in ("text/plain", "application/xml", "application/vnd.api+json", "application/x-json",
                   "application/json-patch+json"):
        return g.body("encoding", f"content type {variant}", body, content_type=variant, acceptable_=False)
    if variant == "*/*":  # DRF's JSON parser takes it: judged as JSON
        return g.body("encoding", "content type */*", body, content_type=variant)
    if variant == "no content type":
        return g.body("encoding", "no content type", body, content_type="", acceptable_=False)
    if variant == "form":  # a payload too, as a form field of JSON text
        if "payload" in g.operation.fields:
            body["payload"] = body.get("payload") or {"amount": "12.50"}
        form = {key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()}
        return g.body("encoding", "form-encoded", form, data=urlencode(form).encode(),
                      content_type="application/x-www-form-urlencoded")
    if variant == "malformed multipart":  # Django reads no part from it: an empty body
        return g.body("encoding", "malformed multipart", {}, data=b"--x\r\nnot a part\r\n",
                      content_type="multipart/form-data; boundary=y")
    if variant == "form of many fields":  # past DATA_UPLOAD_MAX_NUMBER_FIELDS
        return g.body("encoding", "a form of 1,100 fields", None, data=b"&".join(b"f%d=1" % n for n in range(1100)),
                      content_type="application/x-www-form-urlencoded", acceptable_=False)
    if variant == "multipart of many files":  # past DATA_UPLOAD_MAX_NUMBER_FILES
        part = b'--b\r\nContent-Disposition: form-data; name="f%d"; filename="f.txt"\r\n\r\nx\r\n'
        data = b"".join(part % n for n in range(120)) + b"--b--\r\n"
        return g.body("encoding", "a multipart body of 120 files", None, data=data,
                      content_type="multipart/form-data; boundary=b", acceptable_=False)
    if variant.startswith("length "):
        length = {"abc": "abc", "-1": "-1", "0": "0", "short": str(len(text) - 1)}[variant[7:]]
        # No body read is an empty one; a short one cuts the object's closing brace.
        ok = acceptable(g.operation, {}, g) if length == "0" else False
        return g.body("encoding", f"Content-Length {length} for {len(text)} bytes", body, acceptable_=ok,
                      environ=(("CONTENT_LENGTH", length),))
    if variant in RAW_BODIES:
        data = RAW_BODIES[variant]
        return g.body("encoding", f"body {data!r}", None, data=data,
                      acceptable_=data == b"" and acceptable(g.operation, {}, g))
    return g.body("encoding", "valid, with text beyond ASCII", body)


MISSPELLINGS = [
    ("drop the last letter", lambda name: name[:-1]), ("double the last letter", lambda name: name + name[-1]),
    ("upper case", str.upper), ("title case", str.title), ("a trailing space", lambda name: name + " "),
    ("a leading space", lambda name: " " + name), ("hyphens", lambda name: name.replace("_", "-")),
    ("camel case", lambda name: name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])),
    ("a zero-width space", lambda name: name[:1] + "\u200b" + name[1:]),
    ("a Cyrillic e", lambda name: name.replace("e", "\u0435")),
    ("two letters swapped", lambda name: name[1] + name[0] + name[2:]),
]
EXTRA_FIELDS = ["id", "status", "assignee", "due_at", "external_deadline", "priority", "queue_id", "agent_id", "notes",
                "preveiw", "__proto__", "constructor", "", " ", "\x00", SURROGATE, "x" * 1000, "ré", "data", "payload"]
UNKNOWN_VALUES = ["x", 1, None, True, [], {}, {"nested": {"deeper": "x"}}, "2026-01-01T00:00:00Z"]


def draw_unknown(g: Gen) -> Body:
    body = g.valid()
    value = g.rng.choice(UNKNOWN_VALUES)
    options = [("misspelt", name, how) for name in g.field_names() for how in range(len(MISSPELLINGS))]
    options += [("extra", name, None) for name in EXTRA_FIELDS if name not in g.operation.fields]
    options += [("row", name, None) for name in EXTRA_FIELDS if g.operation.rows and name not in g.operation.fields]
    options += [("inside", name, None) for name in ("answers", "comments", "questions") if name in g.operation.fields]
    variant, name, how = g.pick("unknown", options)
    if variant == "misspelt":
        what, misspell = MISSPELLINGS[how]
        typo = misspell(name)
        if g.rng.random() < 0.5 and name in body:
            body[typo] = body.pop(name)
            return g.body("unknown", f"{name!r} misspelt as {typo!r} ({what}) instead", body)
        body[typo] = body.get(name, value)
        return g.body("unknown", f"{name!r} misspelt as {typo!r} ({what}) as well", body)
    if variant == "row":
        rows = [g.valid() for _ in range(g.rng.randint(1, 4))]
        bad = g.rng.randrange(len(rows))
        rows[bad][name] = value
        return g.body("unknown", f"an unknown field {name[:20]!r} in batch row {bad + 1}", rows)
    if variant == "inside":
        body[name] = {**body.get(name, {}), "unknown": value}
        return g.body("unknown", f"an unknown key inside {name}", body)
    body[name] = value
    return g.body("unknown", f"an extra field {name[:20]!r}", body)


WRONG_TYPES = [None, True, False, 0, 1, -1, 1.5, "", " ", "x", [], ["x"], [1, 2], {}, {"a": 1}, [[[]]]]


def draw_wrong_type(g: Gen) -> Body:
    body = g.valid()
    wholes = [[], [body], [body, body], "string", 1, None, True, [[body]], {"data": body}]
    options = [("whole", i) for i in range(len(wholes))]
    options += [(name, i) for name in g.field_names() for i in range(len(WRONG_TYPES) + 2)]
    name, i = g.pick("type", options)
    if name == "whole":
        whole = wholes[i]
        return g.body("type", f"the body is {type(whole).__name__} {dumps(whole)[:30]}", whole)
    value = [*WRONG_TYPES, [body.get(name)], {"value": body.get(name)}][i]
    body[name] = value
    return g.body("type", f"{name} = {dumps(value)[:30]}", body)


def draw_long(g: Gen) -> Body:
    body = g.valid()
    texts = [name for name, spec in g.operation.fields.items() if isinstance(spec, Text | Lookup)]
    options = [("text", name, i) for name in texts for i in range(7)]
    options += [("blob", name, size) for name in ("comments", "answers", "note", "extra") for size in (10_000, 200_000)]
    kind, name, i = g.pick("long", options)
    if kind == "text":
        limit = getattr(g.operation.fields[name], "max_length", 50)
        value = ["a" * (limit + 1), "é" * (limit + 1), "a" * limit + " " * 50, " " * (limit + 1), "x" * 100_000,
                 "a" * limit, "😀" * limit][i]
        body[name] = value
        return g.body("long", f"{name}: {len(value):,} characters ({value[:1]!r}…)", body)
    value = "y" * i
    question = str(g.questions()[0].id)
    if name == "answers" and "answers" in body:
        body["answers"] = {**body["answers"], question: value}
    elif name == "comments" and "comments" in g.operation.fields:
        body["comments"] = {question: value}
    else:
        body[name] = value
    return g.body("long", f"{name}: {len(value):,} characters", body)


def draw_reference(g: Gen) -> Body:
    """Other users', teams' and sources' objects, and objects that do not exist: in the URL or the body."""
    refs = g.refs
    options: list[tuple[str, str]] = []
    if g.operation.target:
        options += [("url", name) for name in sorted(refs.targets(g.operation.target))]
    if g.operation.rows:
        options += [("intake", what) for what in ("repeat", "claim", "claims", "crm", "tests", "nobody", "CRM", "crm ",
                                                  "inactive", "other", "nope")]
    if "items" in g.operation.fields:
        options += [("items", name) for name in sorted(refs.items)] + [("items", "all")]
    for name, spec in g.operation.fields.items():
        if isinstance(spec, Lookup):
            options += [(name, what) for what in sorted(refs.queues if spec.kind == "queue" else refs.agents)]
    if "answers" in g.operation.fields or "questions" in g.operation.fields:
        options += [("questions", "other form")]
    if not options:
        return draw_unknown(g)
    where, what = g.pick("reference", options)
    if where == "url":
        g.target = what
        return g.body("reference", f"the URL names {what}", g.valid())
    body = g.valid()
    if where == "intake":
        if what in ("repeat", "claim"):
            own = (what == "repeat") == (g.role != "other_source")
            source, external = refs.existing["own" if own else "other"]
            body.update(source=source, external_id=external)
            return g.body("reference", f"{what}s the existing item of {source}", body)
        if what in ("inactive", "other", "nope"):
            body["queue"] = refs.queues.get(what, what)
            return g.body("reference", f"queue {body['queue']!r}", body)
        body["source"] = what
        return g.body("reference", f"source {what!r}", body)
    if where == "items":
        names = sorted(refs.items) if what == "all" else [what]
        body["items"] = [refs.items[name] for name in names]
        return g.body("reference", f"items: {', '.join(names)}", body)
    if where == "questions":
        name = "answers" if "answers" in g.operation.fields else "questions"
        body[name] = {str(q.id): "yes" for q in refs.questions["other_evaluation"]}
        return g.body("reference", f"{name} of another form's questions", body)
    for other in g.operation.one_of:
        body.pop(other, None)
    pool = refs.queues if g.operation.fields[where].kind == "queue" else refs.agents
    body[where] = pool[what]
    return g.body("reference", f"{where}: the {what} one", body)


def draw_wrong_value(g: Gen) -> Body:
    """A valid body but for one well-typed value, so that it reaches the services' rules."""
    if not g.operation.fields:
        return draw_unknown(g)
    wrongs = {name: spec.wrong(g) for name, spec in g.operation.fields.items()}
    options = [(name, i) for name in sorted(wrongs) for i in range(len(wrongs[name]))]
    if g.operation.one_of:
        options += [("both", 0), ("neither", 0)]
    name, i = g.pick("wrong", options)
    body = g.valid()
    if name in ("both", "neither"):
        for other in g.operation.one_of:
            body.pop(other, None)
            if name == "both":
                body[other] = g.operation.fields[other].valid(g, body)
        return g.body("wrong", f"{name} of {' and '.join(g.operation.one_of)}", body)
    body[name] = wrongs[name][i]
    return g.body("wrong", f"{name} = {dumps(body[name])[:40]}", body)


# Values with one thing wrong and references to others' objects reach the services: they get
# the most turns.
SCHEDULE = (draw_valid, draw_edge, draw_deep, draw_number, draw_date, draw_batch, draw_duplicate, draw_encoding,
            draw_unknown, draw_wrong_type, draw_long, draw_reference, draw_wrong_value, draw_wrong_value,
            draw_reference, draw_wrong_value)
FIXED = 2  # body 0 is past the byte limit, body 1 past the batch limit


@functools.cache
def schedule(operation: str) -> tuple[Callable[[Gen], Body], ...]:
    """The kinds of body drawn in turn: more dates where the operation takes one."""
    fields = BY_NAME[operation].fields.values()
    return SCHEDULE + ((draw_date,) if any(isinstance(spec, Instant) for spec in fields) else ())


def body_for(operation: str, role: str, index: int, refs: Refs) -> Body:
    """Body `index` of `operation` for `role`: the same one on every run."""
    if index == 0:
        g = Gen(BY_NAME[operation], role, index, refs)
        size = refs.max_request_bytes + 1
        data = _cached(("huge", size), lambda: b'{"reason": "' + b"a" * (size - 14) + b'"}')
        return g.body("oversize", f"{size:,} bytes", None, data=data, acceptable_=False)
    if index == 1:
        return draw_over_the_batch_limit(Gen(BY_NAME[operation], role, index, refs))
    kinds = schedule(operation)
    cycle, slot = divmod(index - FIXED, len(kinds))
    same = [position for position, kind in enumerate(kinds) if kind is kinds[slot]]
    g = Gen(BY_NAME[operation], role, index, refs, draw=cycle * len(same) + same.index(slot))
    return kinds[slot](g)


def bodies(operation: str, role: str, refs: Refs, count: int = BODIES_PER_ROLE) -> list[Body]:
    return [body_for(operation, role, index, refs) for index in range(count)]
