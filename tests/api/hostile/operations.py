"""Every write operation of the API: its fields, who may act on which object, and
`acceptable`, which judges whether a 2xx answer to a body would be legitimate — a small model
of README's REST API v1 and the input serializers. Where it cannot be sure it says
"acceptable", so a legitimate answer is never called a finding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tests.api.hostile.fields import (
    Answers,
    Choice,
    Comments,
    DisputedQuestions,
    Field,
    Flag,
    Ids,
    Instant,
    Lookup,
    Payload,
    Text,
    TextList,
    WebhookUrl,
    Whole,
    text_of,
)
from tests.api.hostile.text import Unjudged, depth, plain

if TYPE_CHECKING:
    from tests.api.hostile.draws import Gen

HOLDERS = {"agent": ("held",), "other_agent": ("other_held",)}
HOLDERS_ANY = {"agent": ("held", "pushed"), "other_agent": ("other_held", "other_pushed")}
PUSHED_TO = {"agent": ("pushed",), "other_agent": ("other_pushed",)}
TEAM_A = ("held", "pushed", "queued_a")
TEAM_B = ("other_held", "other_pushed", "queued_b")
OVERSEERS = {"supervisor": TEAM_A, "other_supervisor": TEAM_B, "admin": TEAM_A + TEAM_B}
SOURCES = {"source": TEAM_A, "other_source": TEAM_B}


@dataclass(frozen=True)
class Operation:
    name: str  # the URL's name
    method: str
    fields: dict[str, Field]
    target: str | None  # "item" or "evaluation": what the URL names
    legit: dict[str, tuple[str | None, ...]]  # role -> the targets on which a 2xx may be legitimate
    one_of: tuple[str, ...] = ()
    check: Callable[[dict, Gen], bool] | None = None  # a rule across fields
    rows: bool = False  # intake: one object, or a list of them

    @property
    def key(self) -> str:
        """How bodies and replays name it: the URL's name, and the method where one URL takes two."""
        return self.name if self.method in ("POST", "PUT") else f"{self.name} {self.method}"

    def default_target(self, role: str) -> str | None:
        if self.target is None:
            return None
        own = self.legit.get(role)
        if own:
            return own[0]
        return {"item": "held", "evaluation": "evaluation", "subscription": "own"}[self.target]


def _intake_source_ok(text: str, g: Gen, body: dict) -> bool:
    allowed = g.refs.sources.get(g.role, frozenset())
    return allowed is None or text in allowed


def _outcome_ok(body: dict, g: Gen) -> bool:
    outcomes = g.refs.outcomes.get(g.target, ())
    return not outcomes or text_of(body.get("outcome", "")).strip() in outcomes


def dispute_says_something(body: dict, g: Gen) -> bool:
    return bool(text_of(body.get("comment", "")).strip()) or bool(body.get("questions"))


def _optional(spec: Field) -> Field:
    return replace(spec, required=False)


REASON = Text(max_length=500)
OPTIONAL_REASON = Text(required=False, max_length=500, blank=True)
INTAKE_ROW = {
    "queue": Lookup(kind="queue"),
    "source": Text(max_length=50, rule=_intake_source_ok, examples=("crm",)),
    "external_id": Text(max_length=128, examples=("CB-1",)),
    "customer_ref": Text(max_length=64, examples=("CUST-9", "Zoë-1")),
    "title": Text(max_length=200),
    "payload": Payload(),
    "priority": Choice(required=False, choices=(1, 2, 3, 4, 5)),
    "received_at": Instant(required=False, rule="receipt", nullable=True),
    "external_deadline": Instant(required=False, rule="deadline", nullable=True),
}

OPERATIONS = [
    Operation("item-list", "POST", INTAKE_ROW, None,
              {"admin": (None,), "source": (None,), "other_source": (None,)}, rows=True),
    Operation("item-cancel", "POST", {"reason": OPTIONAL_REASON}, "item", {**OVERSEERS, **SOURCES}),
    Operation("item-start", "POST", {}, "item", PUSHED_TO),
    Operation("item-resume", "POST", {}, "item", {}),  # the world pends nothing: always refused
    Operation("item-pend", "POST", {"until": Instant(rule="pend"), "reason": REASON}, "item", HOLDERS),
    Operation("item-complete", "POST", {
        "outcome": Text(required=False, max_length=100, blank=True, examples=("done", "approved")),
        "note": Text(required=False, max_length=2000, blank=True),
    }, "item", HOLDERS, check=_outcome_ok),
    Operation("item-release", "POST", {"reason": REASON}, "item", HOLDERS_ANY),
    Operation("item-transfer", "POST", {
        "queue": Lookup(required=False, kind="queue"), "agent": Lookup(required=False, kind="agent"),
        "reason": OPTIONAL_REASON,
    }, "item", {**HOLDERS_ANY, **OVERSEERS}, one_of=("queue", "agent")),
    Operation("item-reject", "POST", {"reason": REASON}, "item", PUSHED_TO),
    Operation("item-priority", "POST", {"priority": Choice(choices=(1, 2, 3, 4, 5)), "reason": OPTIONAL_REASON},
              "item", OVERSEERS),
    Operation("items-reassign", "POST", {
        "items": Ids(), "queue": Lookup(required=False, kind="queue"), "agent": Lookup(required=False, kind="agent"),
        "reason": OPTIONAL_REASON, "preview": Flag(required=False),
    }, None, {"supervisor": (None,), "other_supervisor": (None,), "admin": (None,)}, one_of=("queue", "agent")),
    Operation("agent-next", "POST", {}, None, {"agent": (None,), "other_agent": (None,)}),
    Operation("agent-presence", "PUT", {"presence": Choice(choices=("available", "away", "offline"))}, None,
              {"agent": (None,), "other_agent": (None,)}),
    Operation("quality-submit", "POST", {"answers": Answers(), "comments": Comments(), "draft": Flag(required=False)},
              "evaluation", {"evaluator": ("evaluation",)}),
    Operation("quality-acknowledge", "POST", {}, "evaluation",
              {"agent": ("submitted",), "other_agent": ("other_submitted",)}),
    Operation("quality-dispute", "POST", {
        "comment": Text(required=False, max_length=2000, blank=True, examples=("I disagree", "Zoë disagrees")),
        "questions": DisputedQuestions(),
    }, "evaluation", {"agent": ("submitted",), "other_agent": ("other_submitted",)}, check=dispute_says_something),
]

# A source system's webhook subscriptions (allocation/api/webhooks.py): its own ("own" is
# the source's, "other" the other source's).
INTEGRATION_KINDS = ("created", "assigned", "started", "pended", "resumed", "released", "transferred", "completed",
                     "cancelled", "sla_warning", "sla_breach", "step_entered")
SUBSCRIBERS = {"source": ("own",), "other_source": ("other",)}
SUBSCRIPTION = {
    "name": Text(max_length=100, examples=("Decisions feed", "Zoë's hook")),
    "url": WebhookUrl(),
    "kinds": TextList(max_items=len(INTEGRATION_KINDS), max_length=20, empty_ok=False, required=True,
                      allowed=lambda g: frozenset(INTEGRATION_KINDS)),
    "queues": TextList(max_items=100, max_length=50, allowed=lambda g: g.refs.all_queues),
    "sources": TextList(max_items=50, max_length=50, allowed=lambda g: g.refs.sources.get(g.role) or frozenset()),
    "is_active": Flag(required=False),
    "max_attempts": Whole(low=1, high=30),
}
OPERATIONS += [
    Operation("webhook-list", "POST", SUBSCRIPTION, None, {"source": (None,), "other_source": (None,)}),
    Operation("webhook-detail", "PATCH", {name: _optional(spec) for name, spec in SUBSCRIPTION.items()},
              "subscription", SUBSCRIBERS),
    Operation("webhook-detail", "DELETE", {}, "subscription", SUBSCRIBERS),
    Operation("webhook-redeliver", "POST", {"deliveries": Ids(max_items=1000, required=False)}, "subscription",
              SUBSCRIBERS),
]
BY_NAME = {operation.key: operation for operation in OPERATIONS}


# Judging a body ---------------------------------------------------------------------------------

def acceptable(operation: Operation, body, g: Gen) -> bool:
    """Whether a 2xx answer to `body` (as sent to g.target, by g.role) is legitimate."""
    if g.target not in operation.legit.get(g.role, ()):
        return False
    try:
        body = plain(body)
    except Unjudged:
        return False
    if depth(body) > g.refs.max_depth:
        return False
    if operation.rows and isinstance(body, list):
        keys = [(text_of(row.get("source")), text_of(row.get("external_id"))) for row in body
                if isinstance(row, dict)]
        keys = [(source.strip(), external.strip()) for source, external in keys if source and external]
        return (1 <= len(body) <= g.refs.max_batch and len(set(keys)) == len(keys)
                and all(_object_ok(operation, row, g) for row in body))
    return _object_ok(operation, body, g)


def _object_ok(operation: Operation, body, g: Gen) -> bool:
    if not isinstance(body, dict) or set(body) - set(operation.fields):
        return False
    for name, spec in operation.fields.items():
        if name in body:
            if not spec.accepts(body[name], g, body):
                return False
        elif spec.required:
            return False
    if operation.one_of and sum(name in body for name in operation.one_of) != 1:
        return False
    return operation.check is None or operation.check(body, g)
