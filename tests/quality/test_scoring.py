"""Score math on hand-computed forms (DESIGN.md, "Quality semantics")."""

from decimal import Decimal

import pytest

from quality.scoring import InvalidAnswer, ScoredQuestion, evaluation_score

D = Decimal


def yes_no(qid, weight=1, *, na=False, critical=False):
    return ScoredQuestion(id=qid, kind="yes_no", weight=D(weight), allow_na=na, critical=critical)


def scale(qid, low, high, weight=1, *, na=False, critical=False):
    return ScoredQuestion(id=qid, kind="scale", weight=D(weight), allow_na=na, critical=critical,
                          scale_min=low, scale_max=high)


FORM = [
    yes_no(1, 2), yes_no(2, 1, na=True), scale(3, 1, 5, 3), yes_no(4, 1, critical=True), scale(5, 0, 10, 2, na=True),
]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # all best: 100
        ({1: "yes", 2: "yes", 3: "5", 4: "yes", 5: "10"}, D("100.00")),
        # q1 no (2×0), q2 yes (1×100), q3 3 of 1..5 = 50 (3×50), q4 yes (1×100), q5 7 of 0..10 = 70 (2×70)
        # = (0 + 100 + 150 + 100 + 140) / (2 + 1 + 3 + 1 + 2) = 490 / 9 = 54.444… → 54.44
        ({1: "no", 2: "yes", 3: "3", 4: "yes", 5: "7"}, D("54.44")),
        # N/A and unanswered questions leave the denominator: q1 yes (2×100), q3 2 → 25 (3×25), q4 yes
        # = (200 + 75 + 100) / (2 + 3 + 1) = 375 / 6 = 62.50
        ({1: "yes", 2: "na", 3: "2", 4: "yes", 5: None}, D("62.50")),
        # a failed critical question makes everything 0, however good the rest
        ({1: "yes", 2: "yes", 3: "5", 4: "no", 5: "10"}, D("0")),
        # one question only: its weight cancels; 4 of 1..5 = 75
        ({3: "4"}, D("75.00")),
        # nothing applicable: no score, not 0
        ({2: "na", 5: "na"}, None),
        ({}, None),
        # rounding: (1×100 + 2×0) / 3 = 33.333… → 33.33; (2×100 + 1×0) / 3 = 66.67
        ({1: "no", 4: "yes"}, D("33.33")),
        ({1: "yes", 4: "no"}, D("0")),
    ],
)
def test_hand_computed_scores(answers, expected):
    assert evaluation_score(FORM, answers).value == expected


def test_weights_and_rounding_half_up():
    form = [yes_no(1, 2), yes_no(2, 1)]
    assert evaluation_score(form, {1: "yes", 2: "no"}).value == D("66.67")  # 200 / 3
    form = [scale(1, 0, 8, 1), yes_no(2, 1)]
    assert evaluation_score(form, {1: "1", 2: "no"}).value == D("6.25")  # 12.5 / 2
    assert evaluation_score([scale(1, 0, 200)], {1: "1"}).value == D("0.50")


def test_a_critical_scale_fails_at_its_lowest_value():
    form = [scale(1, 1, 5, critical=True), yes_no(2)]
    result = evaluation_score(form, {1: "1", 2: "yes"})
    assert result.value == 0 and result.failed_critical == (1,)
    assert str(result.value) == "0.00"  # as stored and shown, also in the message on submitting
    assert evaluation_score(form, {1: "2", 2: "yes"}).value == D("62.50")


def test_pass_mark():
    result = evaluation_score([yes_no(1), yes_no(2)], {1: "yes", 2: "no"})
    assert result.passed(D("50")) is True and result.passed(D("50.01")) is False
    assert evaluation_score([yes_no(1, na=True)], {1: "na"}).passed(D("80")) is None


@pytest.mark.parametrize(
    ("question", "value", "message"),
    [
        (yes_no(1), "maybe", 'Answer "yes" or "no".'),
        (yes_no(1), "na", "N/A is not allowed"),
        (scale(1, 1, 5), "6", "Answer from 1 to 5."),
        (scale(1, 1, 5), "three", "whole number"),
    ],
)
def test_bad_answers_are_refused_per_question(question, value, message):
    with pytest.raises(InvalidAnswer, match=message) as refused:
        evaluation_score([question], {1: value})
    assert refused.value.question_id == 1
