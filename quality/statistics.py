"""Calibration statistics: score spread and inter-rater agreement (Fleiss' kappa).

In a calibration session several evaluators score the same work item on the same
evaluation form. The product reports two things about such a session:

* how far apart the evaluators' total scores are (:func:`score_spread`), and
* how well the evaluators agree on the individual questions
  (:func:`question_agreement` per question, :func:`session_kappa` for the session).

Everything here is a pure function over plain Python values, so it is cheap to test and
can be called from views, reports or Celery tasks alike. Agreement arithmetic is done on
exact fractions (the inputs are integer counts) and only converted to ``float`` at the
end: a boundary case such as "every rater always chose the same category" is detected
exactly instead of through a floating-point comparison, perfect agreement comes out as
exactly ``1.0``, and reordering the input can never change the result in the last bit.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Agreement",
    "FleissKappa",
    "Spread",
    "fleiss_kappa",
    "fleiss_kappa_parts",
    "question_agreement",
    "score_spread",
    "session_kappa",
]


# Score spread -------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """How far apart the evaluators' scores of one calibrated item are.

    ``count`` is the number of evaluators that produced a score. The other fields are
    ``None`` when there is nothing to describe (no scores; ``stdev`` also with a single
    score), so a template can show "—" instead of a misleading 0.
    """

    count: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    stdev: float | None


def score_spread(scores: Sequence[float | None]) -> Spread:
    """Describe the spread of the scores that evaluators gave the same item.

    ``None`` means "no score" (the evaluator has not scored yet, or the form was not
    scorable) and is left out rather than counted as 0, which would drag the mean down.

    ``stdev`` is the *sample* standard deviation (:func:`statistics.stdev`, n - 1 in the
    denominator): the evaluators in a session are a sample of everyone who could have
    scored the item, and the question is how much evaluators in general disagree. It
    needs at least two scores, so it is ``None`` for fewer.

    Values are converted with ``float()`` first, so ``int``, ``Decimal`` (as Django's
    ``DecimalField`` returns them) and ``Fraction`` are accepted and may be mixed.

    Raises:
        ValueError: for a NaN or infinite score, which can only come from a bug upstream
            and would silently turn every statistic into NaN.
    """
    values = [float(score) for score in scores if score is not None]
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"score_spread: scores must be finite numbers, got {value!r}")
    if not values:
        return Spread(count=0, minimum=None, maximum=None, mean=None, stdev=None)
    return Spread(
        count=len(values),
        minimum=min(values),
        maximum=max(values),
        mean=statistics.fmean(values),
        stdev=statistics.stdev(values) if len(values) >= 2 else None,
    )


# Fleiss' kappa ------------------------------------------------------------------------


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa together with the parts it is computed from.

    The parts are exposed because they are what a reviewer checks against a textbook
    (and what the tests check against the published worked example):

    * ``observed_agreement`` is P̄, the mean over subjects of the share of rater pairs
      that chose the same category;
    * ``expected_agreement`` is P̄e, the agreement expected by chance from the overall
      category proportions;
    * ``kappa`` is (P̄ - P̄e) / (1 - P̄e), or ``None`` when P̄e == 1 (see
      :func:`fleiss_kappa`).
    """

    subjects: int
    raters: int
    categories: int
    observed_agreement: float
    expected_agreement: float
    kappa: float | None


def fleiss_kappa_parts(ratings: Sequence[Mapping[str, int]] | Sequence[Sequence[int]]) -> FleissKappa | None:
    """Compute Fleiss' kappa and its parts P̄ and P̄e; see :func:`fleiss_kappa`.

    Returns ``None`` when even P̄ is undefined: no subjects, or fewer than 2 raters per
    subject (agreement is a property of pairs of raters). When P̄ is defined but kappa
    is not (P̄e == 1), the parts are returned with ``kappa=None``.
    """
    table = _count_table(ratings)
    if not table:
        return None
    subjects = len(table)
    raters = sum(table[0])
    if raters < 2:
        return None
    categories = len(table[0])

    # P_i = (sum_j n_ij^2 - n) / (n (n - 1)); P̄ is their mean, summed in one fraction.
    squares = sum(count * count for row in table for count in row)
    observed = Fraction(squares - subjects * raters, subjects * raters * (raters - 1))
    # p_j = (sum_i n_ij) / (N n); P̄e = sum_j p_j^2.
    column_totals = [sum(column) for column in zip(*table, strict=True)]
    expected = Fraction(sum(total * total for total in column_totals), (subjects * raters) ** 2)
    kappa = None if expected == 1 else float((observed - expected) / (1 - expected))
    return FleissKappa(
        subjects=subjects,
        raters=raters,
        categories=categories,
        observed_agreement=float(observed),
        expected_agreement=float(expected),
        kappa=kappa,
    )


def fleiss_kappa(ratings: Sequence[Mapping[str, int]] | Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa (Fleiss 1971) for N subjects each rated by the same number n of raters.

    Kappa is agreement corrected for chance: 1 is perfect agreement, 0 is what raters
    choosing at random with the observed category proportions would reach, and negative
    values mean systematic disagreement. It lies in [-1/(n-1), 1]; the lower bound is
    reached exactly when every subject has the same category mix.

    Input is the standard "counts" table, one row per subject, each row the number of
    raters who chose each category. A row is either a sequence of counts (all rows the
    same length, column j = category j) or a mapping category -> count (categories are
    the union of the keys; a missing key counts 0). The raters of different subjects
    need not be the same people, but every row must total the same n.

    Returns ``None`` when kappa is undefined:

    * no subjects, or fewer than 2 raters per subject (there is no pair to agree);
    * expected agreement P̄e == 1, which happens exactly when every rater chose the
      same single category for every subject. Agreement is then perfect but
      uninformative: nobody ever had to discriminate between categories, so there is
      nothing to correct for chance against (0/0). Callers should show this as
      "unanimous, kappa not applicable" rather than as 1 or 0.

    Raises:
        ValueError: for rows with different totals, negative or non-integer counts,
            sequence rows of different lengths, or a mix of mapping and sequence rows.
    """
    parts = fleiss_kappa_parts(ratings)
    return None if parts is None else parts.kappa


def _count_table(ratings: Sequence[Mapping[str, int]] | Sequence[Sequence[int]]) -> list[list[int]]:
    """Validate the counts table and return it as rows of ints with one column per category."""
    rows = list(ratings)
    if not rows:
        return []
    mapping_rows = [isinstance(row, Mapping) for row in rows]
    if all(mapping_rows):
        categories: dict[str, None] = {}
        for row in rows:
            categories.update(dict.fromkeys(row))
        table = [[row.get(category, 0) for category in categories] for row in rows]
    elif any(mapping_rows):
        raise ValueError("fleiss_kappa: rows must be all mappings or all sequences, not a mix")
    else:
        for row in rows:
            if isinstance(row, str | bytes) or not isinstance(row, Sequence):
                raise ValueError(f"fleiss_kappa: a row must be a sequence of counts, got {row!r}")
        if len({len(row) for row in rows}) != 1:
            raise ValueError("fleiss_kappa: all rows must have one count per category (same length)")
        table = [list(row) for row in rows]

    for row in table:
        for count in row:
            if isinstance(count, bool) or not isinstance(count, int):
                raise ValueError(f"fleiss_kappa: counts must be integers, got {count!r}")
            if count < 0:
                raise ValueError(f"fleiss_kappa: counts must not be negative, got {count}")
    totals = {sum(row) for row in table}
    if len(totals) != 1:
        raise ValueError(
            f"fleiss_kappa: every subject must be rated by the same number of raters, got totals {sorted(totals)}"
        )
    return table


# Calibration sessions -----------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How the evaluators of a calibration session answered one question of the form.

    * ``raters``: evaluators who answered it (unanswered ones are left out).
    * ``categories``: how many of them chose each answer, keyed by answer, sorted.
    * ``percent_agreement``: share of pairs of those raters that gave the same answer,
      in [0, 1]; ``None`` with fewer than 2 raters. This is the number to show per
      question.
    * ``kappa``: Fleiss' kappa of this question taken alone, i.e. over ONE subject.
      That is degenerate: with a single subject the chance correction is computed
      from the very answers it corrects, and the formula collapses to exactly
      -1/(raters - 1) whenever anyone disagrees, and to ``None`` (P̄e == 1) when all
      agree. It is kept for completeness and so that nobody recomputes it expecting
      something else; use :func:`session_kappa` for a meaningful kappa.
    """

    raters: int
    categories: dict[str, int]
    percent_agreement: float | None
    kappa: float | None


def question_agreement(answers_by_evaluator: Mapping[int, Mapping[int, str | None]]) -> dict[int, Agreement]:
    """Per question of a calibration session, how the evaluators' answers agree.

    Input: evaluator id -> (question id -> chosen answer). An answer is the category
    the evaluator chose, e.g. ``"yes"``, ``"no"``, ``"na"`` or a scale value as a string.
    ``"na"`` ("not applicable") is a real answer and a category like any other: two
    evaluators who both judged a question not applicable agree. ``None`` (or a missing
    question) means "not answered" and the evaluator is left out for that question.

    Output: question id -> :class:`Agreement`, for every question any evaluator
    mentions, in question-id order. Each question is a single subject (the one
    calibrated item), so its ``kappa`` is degenerate (see :class:`Agreement`); the
    session-level statistic is :func:`session_kappa`.
    """
    question_ids = sorted({question for answers in answers_by_evaluator.values() for question in answers})
    result: dict[int, Agreement] = {}
    for question in question_ids:
        counts = Counter(
            answer for answers in answers_by_evaluator.values() if (answer := answers.get(question)) is not None
        )
        raters = sum(counts.values())
        agreeing_pairs = sum(count * (count - 1) // 2 for count in counts.values())
        all_pairs = raters * (raters - 1) // 2
        result[question] = Agreement(
            raters=raters,
            categories=dict(sorted(counts.items())),
            percent_agreement=agreeing_pairs / all_pairs if all_pairs else None,
            kappa=fleiss_kappa([counts]),
        )
    return result


def session_kappa(answers_by_evaluator: Mapping[int, Mapping[int, str | None]]) -> float | None:
    """Fleiss' kappa of a calibration session, with each question of the form as one subject.

    Kappa needs several subjects to separate agreement from chance, and a calibration
    session has only one item; but every question of the form is a separate judgement
    on which the evaluators can agree or not. So the rows of the counts table are the
    questions, the categories are the union of the answers given, and the raters are
    the evaluators. The result answers "do these evaluators apply the form the same
    way?", which is what calibration is for.

    Only questions answered by *every* evaluator in the input are used: Fleiss' kappa
    needs the same number of raters for every subject, and dropping questions is more
    honest than inventing answers. Pass only the evaluators whose evaluation is
    complete: one evaluator who answered nothing leaves no usable question at all.

    Input is the same as for :func:`question_agreement`. Returns ``None`` when kappa is
    undefined: fewer than 2 evaluators, no question answered by all of them, or every
    answer in the session the same (perfect but uninformative agreement, see
    :func:`fleiss_kappa`).
    """
    evaluators = list(answers_by_evaluator.values())
    if len(evaluators) < 2:
        return None
    question_ids = sorted({question for answers in evaluators for question in answers})
    rows = [
        Counter(answers[question] for answers in evaluators)
        for question in question_ids
        if all(answers.get(question) is not None for answers in evaluators)
    ]
    return fleiss_kappa(rows)
