"""Calibration statistics against published and hand-computed values (quality/statistics.py)."""

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quality.statistics import (
    Agreement,
    FleissKappa,
    Spread,
    fleiss_kappa,
    fleiss_kappa_parts,
    question_agreement,
    score_spread,
    session_kappa,
)

# score_spread ---------------------------------------------------------------------------


def test_spread_of_three_scores():
    # mean (80 + 90 + 100) / 3 = 90; squared deviations 100 + 0 + 100 = 200; sample
    # variance 200 / (3 - 1) = 100; stdev 10.
    assert score_spread([80, 90, 100]) == Spread(count=3, minimum=80.0, maximum=100.0, mean=90.0, stdev=10.0)


def test_spread_ignores_missing_scores():
    # 80 and 100: mean 90, sample variance (100 + 100) / 1 = 200, stdev sqrt(200).
    spread = score_spread([None, 80, None, 100])
    assert (spread.count, spread.minimum, spread.maximum, spread.mean) == (2, 80.0, 100.0, 90.0)
    assert spread.stdev == pytest.approx(math.sqrt(200))


def test_spread_of_one_score_has_no_stdev():
    assert score_spread([None, 72.5]) == Spread(count=1, minimum=72.5, maximum=72.5, mean=72.5, stdev=None)


@pytest.mark.parametrize("scores", [[], [None], [None, None]])
def test_spread_of_nothing(scores):
    assert score_spread(scores) == Spread(count=0, minimum=None, maximum=None, mean=None, stdev=None)


def test_spread_accepts_decimal_scores_as_the_scoring_returns_them():
    spread = score_spread([Decimal("80.00"), 90, Decimal("100.00")])
    assert (spread.mean, spread.stdev) == (90.0, 10.0)
    assert isinstance(spread.mean, float)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_spread_rejects_non_finite_scores(bad):
    with pytest.raises(ValueError, match="finite"):
        score_spread([80, bad])


# Fleiss' kappa: the published worked example ------------------------------------------

# Fleiss (1971), as reproduced in the Wikipedia article "Fleiss' kappa", "Worked example":
# 10 subjects, 14 raters each, 5 categories; cell = raters who put the subject in the category.
FLEISS_1971 = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_the_worked_example_table_is_transcribed_right():
    assert [sum(row) for row in FLEISS_1971] == [14] * 10
    assert [sum(column) for column in zip(*FLEISS_1971, strict=True)] == [20, 28, 39, 21, 32]


def test_fleiss_kappa_of_the_published_worked_example():
    # By hand: sum_j n_ij^2 - 14 per row is 182, 46, 56, 80, 60, 84, 44, 32, 52, 52 (sum 688),
    # so P̄ = 688 / (10 * 14 * 13) = 172/455 ≈ 0.378. Column totals 20, 28, 39, 21, 32 of 140:
    # P̄e = (400 + 784 + 1521 + 441 + 1024) / 140² = 4170/19600 = 417/1960 ≈ 0.213.
    # kappa = (0.37802 - 0.21276) / (1 - 0.21276) ≈ 0.20993.
    parts = fleiss_kappa_parts(FLEISS_1971)
    assert isinstance(parts, FleissKappa)
    assert (parts.subjects, parts.raters, parts.categories) == (10, 14, 5)
    assert round(parts.observed_agreement, 3) == 0.378
    assert round(parts.expected_agreement, 3) == 0.213
    assert round(parts.kappa, 3) == 0.210
    assert parts.observed_agreement == pytest.approx(172 / 455, abs=1e-12)
    assert parts.expected_agreement == pytest.approx(417 / 1960, abs=1e-12)
    assert parts.kappa == pytest.approx((172 / 455 - 417 / 1960) / (1 - 417 / 1960), abs=1e-12)
    assert fleiss_kappa(FLEISS_1971) == parts.kappa


def test_mapping_rows_give_the_same_kappa_as_sequence_rows():
    names = ["a", "b", "c", "d", "e"]
    # Zero counts left out of the mappings: a missing category counts 0.
    rows = [{name: count for name, count in zip(names, row, strict=True) if count} for row in FLEISS_1971]
    assert fleiss_kappa(rows) == fleiss_kappa(FLEISS_1971)


# Fleiss' kappa: boundaries -------------------------------------------------------------


def test_perfect_agreement_across_varied_categories_is_one():
    assert fleiss_kappa([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]) == 1.0
    assert fleiss_kappa([{"yes": 2}, {"no": 2}]) == 1.0


def test_systematic_disagreement_is_negative():
    # 2 raters who always disagree: P̄ = 0, P̄e = 0.5² + 0.5² = 0.5, kappa = -0.5 / 0.5 = -1.
    assert fleiss_kappa([[1, 1], [1, 1], [1, 1]]) == -1.0
    # 3 raters spread over 3 categories every time: P̄ = 0, P̄e = 1/3, kappa = -1/2 = -1/(n-1).
    assert fleiss_kappa([[1, 1, 1], [1, 1, 1]]) == pytest.approx(-0.5)
    # A 2-1 split on every subject, never on the same category: each P_i = (4 + 1 - 3) / 6 = 1/3,
    # so P̄ = 1/3 = 27/81; totals 4, 3, 2 of 9 -> P̄e = (16 + 9 + 4) / 81 = 29/81;
    # kappa = (27/81 - 29/81) / (52/81) = -2/52 = -1/26: a majority every time, yet below chance.
    assert fleiss_kappa([[2, 1, 0], [1, 2, 0], [1, 0, 2]]) == pytest.approx(-1 / 26)


@pytest.mark.parametrize(
    "ratings",
    [
        pytest.param([], id="no subjects"),
        pytest.param([[1, 0], [0, 1]], id="one rater"),
        pytest.param([[0, 0], [0, 0]], id="no raters"),
        pytest.param([[], []], id="no categories"),
        pytest.param([[5]], id="one subject, one category"),
        pytest.param([[4, 0], [4, 0], [4, 0]], id="everybody always the same category"),
        pytest.param([{"yes": 3}, {"yes": 3}], id="everybody always yes"),
    ],
)
def test_undefined_kappa_is_none(ratings):
    assert fleiss_kappa(ratings) is None


def test_unanimous_single_category_still_reports_its_parts():
    # P̄ = P̄e = 1: perfect but uninformative agreement, kappa = 0/0.
    assert fleiss_kappa_parts([[4, 0], [4, 0]]) == FleissKappa(
        subjects=2, raters=4, categories=2, observed_agreement=1.0, expected_agreement=1.0, kappa=None
    )
    assert fleiss_kappa_parts([[1, 0], [0, 1]]) is None


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        pytest.param([[2, 1], [1, 1]], "same number of raters", id="different totals"),
        pytest.param([[3, -1], [1, 1]], "negative", id="negative count"),
        pytest.param([[1.5, 0.5], [1, 1]], "integers", id="fractional count"),
        pytest.param([[True, True], [1, 1]], "integers", id="boolean count"),
        pytest.param([[1, 1], [2]], "same length", id="ragged rows"),
        pytest.param([[1, 1], {"a": 2}], "mix", id="mapping and sequence rows"),
        pytest.param([{"a": 2}, {"a": 1, "b": 2}], "same number of raters", id="mapping totals differ"),
        pytest.param(["ab", "ba"], "sequence of counts", id="string rows"),
    ],
)
def test_bad_input_raises(ratings, message):
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(ratings)


# Calibration sessions -----------------------------------------------------------------

# 3 evaluators (ids 1, 2, 3) on one item; 4 yes/no/na questions (ids 10, 20, 30, 40).
SESSION = {
    1: {10: "yes", 20: "yes", 30: "no", 40: "na"},
    2: {10: "yes", 20: "yes", 30: "no", 40: "na"},
    3: {10: "yes", 20: "no", 30: "na", 40: "na"},
}


def test_question_agreement_of_a_small_session():
    # Each question has 3 rater pairs.
    # 10: yes, yes, yes -> 3/3 pairs agree; kappa of one unanimous subject: P̄e = 1 -> None.
    # 20: yes, yes, no  -> 1/3 (only 1-2 agree); one subject: kappa = -1/(3-1) = -0.5.
    # 30: no, no, na    -> 1/3; kappa -0.5 likewise.
    # 40: na, na, na    -> 3/3 ("na" is an answer, and they agree on it); kappa None.
    assert question_agreement(SESSION) == {
        10: Agreement(raters=3, categories={"yes": 3}, percent_agreement=1.0, kappa=None),
        20: Agreement(
            raters=3, categories={"no": 1, "yes": 2}, percent_agreement=pytest.approx(1 / 3), kappa=pytest.approx(-0.5)
        ),
        30: Agreement(
            raters=3, categories={"na": 1, "no": 2}, percent_agreement=pytest.approx(1 / 3), kappa=pytest.approx(-0.5)
        ),
        40: Agreement(raters=3, categories={"na": 3}, percent_agreement=1.0, kappa=None),
    }


def test_session_kappa_of_a_small_session():
    # Rows = questions, columns yes / no / na, 3 raters:
    #   10: [3, 0, 0]  P_i = (9 - 3) / 6     = 1
    #   20: [2, 1, 0]  P_i = (4 + 1 - 3) / 6 = 1/3
    #   30: [0, 2, 1]  P_i = 1/3
    #   40: [0, 0, 3]  P_i = 1
    # P̄ = (1 + 1/3 + 1/3 + 1) / 4 = 2/3 (= the mean of the per-question percent agreement).
    # Column totals 5, 3, 4 of 12: P̄e = (25 + 9 + 16) / 144 = 25/72.
    # kappa = (48/72 - 25/72) / (47/72) = 23/47 ≈ 0.489.
    assert session_kappa(SESSION) == pytest.approx(23 / 47)
    parts = fleiss_kappa_parts([[3, 0, 0], [2, 1, 0], [0, 2, 1], [0, 0, 3]])
    assert parts is not None
    assert parts.observed_agreement == pytest.approx(2 / 3)
    assert parts.expected_agreement == pytest.approx(25 / 72)


def test_unanswered_questions_are_left_out():
    # Question 50 answered by evaluators 1 and 2 only (3: None), question 60 by evaluator 1 only.
    session = {
        1: {**SESSION[1], 50: "yes", 60: "no"},
        2: {**SESSION[2], 50: "no"},
        3: {**SESSION[3], 50: None},
    }
    agreement = question_agreement(session)
    # 50: two raters who disagree: 0 of 1 pair; one subject, n = 2 -> kappa -1/(2-1) = -1.
    assert agreement[50] == Agreement(raters=2, categories={"no": 1, "yes": 1}, percent_agreement=0.0, kappa=-1.0)
    assert agreement[60] == Agreement(raters=1, categories={"no": 1}, percent_agreement=None, kappa=None)
    assert agreement[10] == question_agreement(SESSION)[10]
    # Neither 50 nor 60 was answered by everybody, so the session kappa is still 23/47.
    assert session_kappa(session) == pytest.approx(23 / 47)


def test_question_nobody_answered():
    agreement = question_agreement({1: {10: None}, 2: {10: None}})
    assert agreement == {10: Agreement(raters=0, categories={}, percent_agreement=None, kappa=None)}


@pytest.mark.parametrize(
    "session",
    [
        pytest.param({}, id="no evaluators"),
        pytest.param({1: SESSION[1]}, id="one evaluator"),
        pytest.param({1: SESSION[1], 2: {}}, id="an evaluator who answered nothing"),
        pytest.param({1: {10: "yes", 20: "yes"}, 2: {10: "yes", 20: "yes"}}, id="everybody always yes"),
    ],
)
def test_undefined_session_kappa_is_none(session):
    assert session_kappa(session) is None


def test_session_kappa_of_evaluators_who_agree_on_everything():
    session = {evaluator: {10: "yes", 20: "no", 30: "na", 40: "4"} for evaluator in (1, 2, 3)}
    assert session_kappa(session) == 1.0
    assert all(a.percent_agreement == 1.0 for a in question_agreement(session).values())


# Properties ---------------------------------------------------------------------------


@st.composite
def count_tables(draw, min_subjects=1):
    """A valid counts table: every rater of every subject picks one of k categories."""
    raters = draw(st.integers(2, 8))
    categories = draw(st.integers(1, 5))
    subjects = draw(st.integers(min_subjects, 8))
    table = []
    for _ in range(subjects):
        choices = draw(st.lists(st.integers(0, categories - 1), min_size=raters, max_size=raters))
        table.append([choices.count(category) for category in range(categories)])
    return table


@given(count_tables())
def test_kappa_lies_between_minus_one_over_n_minus_one_and_one(table):
    kappa = fleiss_kappa(table)
    if kappa is not None:
        raters = sum(table[0])
        assert -1 / (raters - 1) - 1e-12 <= kappa <= 1.0


@given(count_tables(), st.randoms(use_true_random=False))
def test_kappa_does_not_depend_on_the_order_of_subjects_or_categories(table, random):
    subjects = list(table)
    random.shuffle(subjects)
    order = list(range(len(table[0])))
    random.shuffle(order)
    shuffled = [[row[column] for column in order] for row in subjects]
    assert fleiss_kappa(shuffled) == fleiss_kappa(table)


@given(count_tables(min_subjects=1).map(lambda table: table[:1]))
def test_kappa_of_a_single_subject_is_degenerate(table):
    # Why question_agreement's per-question kappa is not the statistic to show.
    row = table[0]
    kappa = fleiss_kappa(table)
    if max(row) == sum(row):
        assert kappa is None
    else:
        assert kappa == pytest.approx(-1 / (sum(row) - 1))
