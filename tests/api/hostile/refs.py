"""What exists for bodies and URLs to name: the world's objects by the part each plays, and
the limits in force (tests/api/test_hostile_bodies.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Question:
    id: int
    kind: str  # "yes_no" or "scale"
    allow_na: bool
    scale_min: int | None
    scale_max: int | None


@dataclass(frozen=True)
class Refs:
    """What bodies and URLs may name, by the part each thing plays, and the limits in force."""

    now: datetime
    items: dict[str, int]  # held, pushed, queued_a, other_held, other_pushed, queued_b, done, missing, huge
    evaluations: dict[str, int]  # evaluation, other_evaluation, submitted, other_submitted, missing, huge
    questions: dict[str, tuple[Question, ...]]  # evaluation target -> its form version's questions
    answered: dict[str, frozenset[int]]  # evaluation target -> the questions it has answers to
    outcomes: dict[str, tuple[str, ...]]  # item target -> its queue's outcomes (empty: free text)
    queues: dict[str, str]  # own, other, push, inactive -> queue code
    active_queues: frozenset[str]
    agents: dict[str, str]  # agent, teammate (team A), other_team, not_agent -> username
    agent_usernames: frozenset[str]
    sources: dict[str, frozenset[str] | None]  # role -> the sources it may create items under (None: any)
    existing: dict[str, tuple[str, str]]  # own, other -> (source, external_id) of an item that exists
    max_depth: int
    max_values: int
    max_batch: int
    max_request_bytes: int
    max_payload_bytes: int
    max_pend: timedelta
    max_receipt_age: timedelta
    clock_skew: timedelta
    subscriptions: dict[str, int] = field(default_factory=dict)  # own (the source's), other, missing, huge
    all_queues: frozenset[str] = frozenset()  # every queue's code, inactive ones too

    def targets(self, kind: str) -> dict[str, int]:
        """The objects a URL of `kind` ("item", "evaluation", "subscription") may name."""
        return {"item": self.items, "evaluation": self.evaluations, "subscription": self.subscriptions}[kind]
