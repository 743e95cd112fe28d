"""Scoring an item in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from core import roles
from quality.models import EvaluationSource, EvaluationStatus
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.usefixtures("role_groups")]


def test_an_evaluator_scores_an_item(open_page, queue, agent, screenshot):
    _, version, (right, evidence, _tone) = factories.form_with_questions()
    evaluator = factories.UserFactory(username="eva", first_name="Eva", last_name="Lund",
                                      roles=[roles.QUALITY_EVALUATOR])
    item = factories.CompletedItemFactory(queue=queue, completed_by=agent.user)
    evaluation = factories.EvaluationFactory(item=item, agent=agent.user, evaluator=evaluator, version=version,
                                             source=EvaluationSource.SAMPLING)
    page = open_page(evaluator)
    page.goto("/quality/")
    page.get_by_role("link", name=f"#{evaluation.pk}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Evaluation #{evaluation.pk}"))).to_be_visible()
    page.locator(f'input[name="q_{right.pk}"][value="yes"]').check()
    page.locator(f'input[name="q_{evidence.pk}"][value="na"]').check()
    page.get_by_label("Score (1–5)").select_option("4")
    page.get_by_label(re.compile("Comment on .Letter tone")).fill("Clear and polite")
    screenshot(page, "quality-scoring-1280")
    page.get_by_role("button", name="Submit evaluation").click()
    expect(page.get_by_text("Evaluation submitted: 91.67, passed.")).to_be_visible()
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUBMITTED and evaluation.passed is True
