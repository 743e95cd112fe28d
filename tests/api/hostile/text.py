"""JSON text as the bodies are sent: what json.dumps cannot write (numbers out of range, a
key twice, nesting past any limit), and the value the API reads from it where it reads one."""

from __future__ import annotations

import json
from dataclasses import dataclass

_UNJUDGED = object()


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: what json.dumps cannot write (1e400, NaN, 5,000 digits) or
    should not build (100,000 levels). `python` is the value it parses to, when it parses."""

    text: str
    python: object = _UNJUDGED


@dataclass(frozen=True)
class Pairs:
    """An object written key by key, so that a key can appear twice."""

    pairs: tuple[tuple[str, object], ...]


def dumps(value) -> str:
    """JSON text; strings are ASCII-escaped, so NUL and lone surrogates travel as \\u escapes."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(key)}:{dumps(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{dumps(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


class Unjudged(Exception):
    """The body holds text the parser must refuse (or a key twice): no 2xx is legitimate."""


def plain(value):
    """The value the API reads from `value`, or Unjudged."""
    if isinstance(value, Raw):
        if value.python is _UNJUDGED:
            raise Unjudged
        return value.python
    if isinstance(value, Pairs):
        raise Unjudged
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def depth(value) -> int:
    """Nesting as the parser counts it: brackets, the outermost one level 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def nested(levels: int, innermost: str = "1", opener: str = '{"a":', closer: str = "}") -> str:
    return opener * levels + innermost + closer * levels
