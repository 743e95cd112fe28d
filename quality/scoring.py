"""The evaluation score (DESIGN.md, "Quality semantics"), as a pure function.

Score = Σ(weight × question score) / Σ(weight) over the answered, non-N/A questions, each
question score normalised to 0–100 (yes 100, no 0; a scale value by its place between the
scale's minimum and maximum). Any failed critical question — "no", or a scale's lowest
value — makes the score 0. With nothing applicable the score is empty ("no score"): it is
shown as "—" and left out of averages, never counted as 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

YES, NO, NA = "yes", "no", "na"
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ScoredQuestion:
    """What scoring needs of a question (a Question row, or a test's literal)."""

    id: int
    kind: str  # "yes_no" or "scale"
    weight: Decimal
    allow_na: bool = False
    critical: bool = False
    scale_min: int | None = None
    scale_max: int | None = None


@dataclass(frozen=True)
class Score:
    value: Decimal | None  # None: nothing applicable
    failed_critical: tuple[int, ...] = ()  # ids of critical questions failed
    applicable_weight: Decimal = Decimal(0)

    def passed(self, pass_mark: Decimal) -> bool | None:
        return None if self.value is None else self.value >= pass_mark


class InvalidAnswer(ValueError):
    """An answer the question does not accept (the caller reports it on the form)."""

    def __init__(self, question_id: int, message: str):
        super().__init__(message)
        self.question_id = question_id
        self.message = message


SCALE_VALUE = re.compile(r"-?[0-9]{1,9}")  # a scale is small; a longer number is no answer


def question_score(question: ScoredQuestion, value: str) -> tuple[Decimal | None, bool]:
    """(normalised 0–100 score or None for N/A, whether a critical question failed)."""
    if value == NA:
        if not question.allow_na:
            raise InvalidAnswer(question.id, "N/A is not allowed for this question.")
        return None, False
    if question.kind == "yes_no":
        if value not in (YES, NO):
            raise InvalidAnswer(question.id, 'Answer "yes" or "no".')
        return (HUNDRED if value == YES else Decimal(0)), question.critical and value == NO
    # Written as the scale writes it ("5"): int() would also read "0005", " 5" or "٥", which
    # are not the scale's values and would be stored as sent.
    number = int(value) if isinstance(value, str) and SCALE_VALUE.fullmatch(value) else None
    if number is None or str(number) != value:
        raise InvalidAnswer(question.id, f"Answer a whole number from {question.scale_min} to {question.scale_max}.")
    if not question.scale_min <= number <= question.scale_max:
        raise InvalidAnswer(question.id, f"Answer from {question.scale_min} to {question.scale_max}.")
    span = Decimal(question.scale_max - question.scale_min)
    return HUNDRED * (number - question.scale_min) / span, question.critical and number == question.scale_min


def answer_label(question, value: str | None) -> str:
    """An answer as people read it: "Yes", "No", "N/A", "4 (1–5)"; "—" when unanswered."""
    if not value:
        return "—"
    if value in (YES, NO, NA):
        return {YES: "Yes", NO: "No", NA: "N/A"}[value]
    return f"{value} ({question.scale_min}–{question.scale_max})"


def evaluation_score(questions: Iterable[ScoredQuestion], answers: Mapping[int, str | None]) -> Score:
    """Score the answers (question id → "yes"/"no"/"na"/scale value; missing or None:
    not answered, which counts like N/A)."""
    weighted, total_weight, failed = Decimal(0), Decimal(0), []
    for question in questions:
        value = answers.get(question.id)
        if value is None or value == "":
            continue
        normalised, critical_failed = question_score(question, value)
        if critical_failed:
            failed.append(question.id)
        if normalised is None:
            continue
        weighted += Decimal(question.weight) * normalised
        total_weight += Decimal(question.weight)
    if total_weight == 0:
        return Score(value=None, failed_critical=tuple(failed))
    # Quantized either way, so a failed critical reads "0.00" wherever the score is shown.
    value = (Decimal(0) if failed else weighted / total_weight).quantize(CENT, rounding=ROUND_HALF_UP)
    return Score(value=value, failed_critical=tuple(failed), applicable_weight=total_weight)
