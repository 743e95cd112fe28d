"""The JSON parser of every API view (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES).

DRF's JSONParser hands the body to Python's json module, which recurses once per level of
nesting (100,000 `[` is a RecursionError: a 500), reads numbers PostgreSQL cannot store
(`1e400` becomes inf), keeps the last of a key given twice without a word, and decodes
whatever charset the client names. This one refuses such a body with a 400 (a ParseError, so
the API's error body) that names what is wrong, before any view or serializer sees it:

- not UTF-8 (RFC 8259 §8.1): another declared charset, a byte order mark, UTF-16 or UTF-32,
  invalid bytes;
- nested deeper than WFO_MAX_JSON_DEPTH, or more than WFO_MAX_JSON_ELEMENTS values: counted
  by a scan of the text outside its strings (regular expressions and str methods, linear and
  without recursion) before json.loads runs, so json.loads never recurses deeper than that,
  and what is built in memory stays bounded;
- a number that is not finite (`1e400`, `NaN`, `Infinity`) or an integer longer than Python
  converts (sys.get_int_max_str_digits());
- a key twice in one object, at any depth: which value was meant is anyone's guess.

Form and multipart bodies (DRF's other default parsers, kept) are flat and need none of this.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from itertools import accumulate

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
# A JSON string (possessive, so the engine keeps no backtracking state on a long body).
STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
LONGEST_QUOTED = 40


class _Refused(Exception):
    """Raised inside json.loads's hooks, which pass it through as it is."""


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = _utf8_text(stream.read(), declared=_declared_charset(parser_context or {}))
            _check_shape(text, max_depth=settings.WFO_MAX_JSON_DEPTH, max_values=settings.WFO_MAX_JSON_ELEMENTS)
            return json.loads(text, object_pairs_hook=_object, parse_float=_finite_float, parse_int=_integer,
                              parse_constant=_constant)
        except _Refused as refusal:
            raise ParseError(str(refusal)) from None
        except ValueError as error:  # not JSON at all: json's own message says where
            raise ParseError(f"JSON parse error - {error}") from None


def _declared_charset(parser_context: dict) -> str | None:
    """The charset the Content-Type names, as sent: Django keeps it as the request's encoding
    only when Python knows it, so `charset=nonsense` would otherwise pass for UTF-8."""
    request = parser_context.get("request")
    sent = getattr(request, "content_params", None) or {}
    return sent.get("charset") or parser_context.get("encoding")


def _utf8_text(raw: bytes, *, declared: str | None) -> str:
    if declared and not _is_utf8(declared):
        raise _Refused(f"The body's charset {declared} is not UTF-8: a JSON body must be UTF-8 (RFC 8259).")
    if raw.startswith(BYTE_ORDER_MARKS):
        raise _Refused("The body starts with a byte order mark: send UTF-8 without one (RFC 8259).")
    # JSON text starts with ASCII, so a NUL byte among the first four means UTF-16 or UTF-32.
    if b"\x00" in raw[:4]:
        raise _Refused("The body looks like UTF-16 or UTF-32: send UTF-8 (RFC 8259).")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Refused(
            f"The body is not valid UTF-8: byte 0x{raw[error.start]:02X} at position {error.start:,}."
        ) from None


def _is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def _check_shape(text: str, *, max_depth: int, max_values: int) -> None:
    structure = STRING.sub("", text)
    # The values are the top one and each entry of an array or object: the first entry follows
    # its opening bracket, the others a comma. So this counts them (an empty [] or {} one too
    # many), in C, and bounds what the depth scan below walks through.
    values = 1 + structure.count(",") + structure.count("[") + structure.count("{")
    if values > max_values:
        raise _Refused(f"The JSON body holds more than {max_values:,} values.")
    depth = max(accumulate(map(DEPTH_STEP.__getitem__, NOT_A_BRACKET.sub("", structure))), default=0)
    if depth > max_depth:
        raise _Refused(f"The JSON body is nested deeper than {max_depth} levels.")


def _object(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"The key {_quoted(key)} appears twice in one object.")
            seen.add(key)
    return result


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"The number {_clipped(text)} is out of range: numbers must be finite (at most about 1.8e308).")
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # over sys.get_int_max_str_digits()
        digits = len(text.lstrip("-"))
        raise _Refused(
            f"The number {_clipped(text)} has {digits:,} digits; at most {sys.get_int_max_str_digits():,} are read."
        ) from None


def _constant(name: str):
    raise _Refused(f"NaN, Infinity and -Infinity are not JSON numbers (the body has {name}).")


def _quoted(key: str) -> str:
    return json.dumps(_clipped(key), ensure_ascii=False)


def _clipped(text: str) -> str:
    return text if len(text) <= LONGEST_QUOTED else text[:LONGEST_QUOTED] + "…"
