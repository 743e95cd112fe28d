"""The demo's quality setup: a form for chargeback and dispute handling, a daily sampling
rule with the quality evaluators scoring (the lead decides disputes, so it scores none), and
the last week's samples drawn — so a new user of `make run` finds evaluations to do (as the
evaluator) and evaluations of their work (as an agent)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from core import roles
from quality import selectors, services
from quality.models import Evaluation, EvaluationForm, FormSection, Question, SamplingRule

FORM_NAME = "Dispute and chargeback handling"
SECTIONS = [
    ("Accuracy", [
        ("Was the right reason code or dispute category used?", "yes_no", 3, False, True,
         "A wrong code loses the case at the network: critical."),
        ("Was the evidence complete for the reason code?", "yes_no", 2, True, False,
         "N/A when the case needed no evidence (e.g. accepted liability)."),
        ("Was the amount correct to the cent?", "yes_no", 2, False, False, ""),
    ]),
    ("Customer", [
        ("Clarity of the letter or message to the cardholder", "scale", 1, True, False,
         "1 confusing … 5 plain, complete and kind."),
        ("Were the next steps and dates stated?", "yes_no", 1, False, False, ""),
    ]),
]
SAMPLED_QUEUES = ("chargebacks", "chargebacks-mastercard", "disputes")


def quality_demo_ensure(*, queues: dict, days: int = 7) -> None:
    form, created = EvaluationForm.objects.get_or_create(
        name=FORM_NAME, defaults={"pass_mark": Decimal("80"), "description": "Sampled daily for the dispute teams."}
    )
    if created:
        version = services.form_version_for_editing(form=form, actor=services.SAMPLER, note="First version")
        for position, (title, questions) in enumerate(SECTIONS):
            section = FormSection.objects.create(version=version, title=title, position=position)
            Question.objects.bulk_create(
                Question(section=section, text=text, kind=kind, weight=weight, allow_na=na, critical=critical,
                         guidance=guidance, position=n, scale_min=1 if kind == "scale" else None,
                         scale_max=5 if kind == "scale" else None)
                for n, (text, kind, weight, na, critical, guidance) in enumerate(questions)
            )
    evaluators = list(selectors.evaluators().filter(groups__name=roles.QUALITY_EVALUATOR))
    for code in SAMPLED_QUEUES:
        rule, made = SamplingRule.objects.get_or_create(
            queue=queues[code], form=form, defaults={"share_percent": 10, "new_agent_days": 30,
                                                     "new_agent_share_percent": 25, "extra_after_fail": 1},
        )
        if made:
            rule.evaluators.set(evaluators)
    today = timezone.localdate()
    for back in range(days, 0, -1):
        services.samples_draw(day=today - timedelta(days=back), seed=2026)
    # A small demo's week may draw nothing by chance (10 % of a few items each): draw the
    # days before too, up to four weeks, until the evaluator has something to do.
    back = days
    while back < 4 * 7 and not Evaluation.objects.filter(sampling_rule__form=form).exists():
        back += 1
        services.samples_draw(day=today - timedelta(days=back), seed=2026)
