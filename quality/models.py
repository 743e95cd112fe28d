"""Quality evaluation (DESIGN.md, "Quality semantics"): versioned evaluation forms, the
evaluations scored on them, and the sampling rules that choose what gets evaluated.

A form version that any evaluation uses is never changed: editing makes a new version
(quality/services/forms.py, `form_version_for_editing`), and every evaluation keeps the version
it was scored on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class EvaluationForm(models.Model):
    """What quality is judged against, e.g. "Chargeback handling". Its questions live in
    versions; the form itself is the stable name evaluations and reports group by."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    pass_mark = models.DecimalField(
        max_digits=5, decimal_places=2, default=80,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="An evaluation passes at this score or above (0–100).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(pass_mark__gte=0, pass_mark__lte=100), name="form_pass_mark_0_100"),
        ]

    def __str__(self) -> str:
        return self.name


class FormVersion(models.Model):
    form = models.ForeignKey(EvaluationForm, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True, help_text="What changed in this version.")

    class Meta:
        ordering = ["form", "-number"]
        constraints = [models.UniqueConstraint(fields=["form", "number"], name="formversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.form} v{self.number}"


class FormSection(models.Model):
    version = models.ForeignKey(FormVersion, on_delete=models.CASCADE, related_name="sections")
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["version", "position", "id"]

    def __str__(self) -> str:
        return self.title


class QuestionKind(models.TextChoices):
    YES_NO = "yes_no", "Yes / no"
    SCALE = "scale", "Numeric scale"


class Question(models.Model):
    section = models.ForeignKey(FormSection, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=300)
    guidance = models.TextField(blank=True, help_text="What a good answer looks like; shown to evaluators.")
    kind = models.CharField(max_length=10, choices=QuestionKind.choices, default=QuestionKind.YES_NO)
    scale_min = models.SmallIntegerField(null=True, blank=True)
    scale_max = models.SmallIntegerField(null=True, blank=True)
    weight = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    allow_na = models.BooleanField(default=False, verbose_name="N/A allowed")
    critical = models.BooleanField(
        default=False, help_text='Failing it ("no", or the lowest value of a scale) makes the score 0.'
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["section__position", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="question_weight_positive"),
            models.CheckConstraint(
                condition=Q(kind=QuestionKind.YES_NO, scale_min__isnull=True, scale_max__isnull=True)
                | Q(kind=QuestionKind.SCALE, scale_min__isnull=False, scale_max__gt=F("scale_min")),
                name="question_scale_bounds",
                violation_error_message="A scale question needs a minimum below its maximum; yes/no questions none.",
            ),
            models.CheckConstraint(condition=Q(kind__in=QuestionKind.values), name="question_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.text


class EvaluationStatus(models.TextChoices):
    ASSIGNED = "assigned", "To do"
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DISPUTED = "disputed", "Disputed"
    UPHELD = "upheld", "Upheld"
    RESCORED = "rescored", "Re-scored"


# Being scored (the evaluator's), and scored (the agent sees it; it counts in reports).
OPEN_EVALUATION_STATUSES = (EvaluationStatus.ASSIGNED, EvaluationStatus.DRAFT)
DONE_EVALUATION_STATUSES = (
    EvaluationStatus.SUBMITTED, EvaluationStatus.ACKNOWLEDGED, EvaluationStatus.DISPUTED,
    EvaluationStatus.UPHELD, EvaluationStatus.RESCORED,
)
# Scored and not replaced (a re-scored evaluation gave way to its replacement, which counts
# instead); EvaluationQuerySet.standing() adds the rest of what every figure counts.
STANDING_EVALUATION_STATUSES = tuple(s for s in DONE_EVALUATION_STATUSES if s != EvaluationStatus.RESCORED)


class EvaluationSource(models.TextChoices):
    SAMPLING = "sampling", "Sampling"
    MANUAL = "manual", "Chosen by hand"
    CALIBRATION = "calibration", "Calibration"
    RESCORE = "rescore", "Re-score after a dispute"


class EvaluationQuerySet(models.QuerySet):
    def not_calibration(self) -> EvaluationQuerySet:
        """Evaluations of the agent's work. A calibration evaluation judges the evaluators
        (how far they agree on one item), not the agent: only its evaluators and quality
        leads see it, the agent never acknowledges or disputes it, and no figure counts it."""
        return self.exclude(source=EvaluationSource.CALIBRATION)

    def standing(self) -> EvaluationQuerySet:
        """The one definition of the evaluations quality figures count — the form's results
        by version, the report rollups behind history and scorecards (reporting/rollups.py
        reads this query's SQL), the customer journey's QA results, risk-based sampling:
        scored (submitted, acknowledged, disputed or upheld), not replaced by a re-score, and
        not a calibration."""
        return self.not_calibration().filter(status__in=STANDING_EVALUATION_STATUSES)


class SamplingPeriod(models.TextChoices):
    DAY = "day", "Daily"
    WEEK = "week", "Weekly (from Monday)"


class SamplingRule(models.Model):
    """Which completed work gets evaluated: per queue and form, a share or a count of each
    agent's completed items per period, at random; more for new agents and for agents whose
    last evaluation failed (risk-based sampling)."""

    queue = models.ForeignKey("allocation.Queue", on_delete=models.CASCADE, related_name="sampling_rules")
    form = models.ForeignKey(EvaluationForm, on_delete=models.PROTECT, related_name="sampling_rules")
    period = models.CharField(max_length=4, choices=SamplingPeriod.choices, default=SamplingPeriod.DAY)
    share_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)],
        help_text="Percent of each agent's completed items per period (or give a count).",
    )
    count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Items per agent per period.")
    new_agent_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Agents who joined fewer days ago than this are sampled at the new-agent rate."
    )
    new_agent_share_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    extra_after_fail = models.PositiveSmallIntegerField(
        default=0, help_text="Extra items for an agent whose last evaluation failed."
    )
    evaluators = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="sampling_rules")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(share_percent__isnull=False) & Q(count__isnull=True))
                | (Q(share_percent__isnull=True) & Q(count__isnull=False)),
                name="samplingrule_share_or_count",
                violation_error_message="Give either a share (percent) or a count per period, not both.",
            ),
        ]

    def __str__(self) -> str:
        rate = f"{self.share_percent}%" if self.share_percent is not None else f"{self.count} items"
        return f"{self.queue} · {self.form} · {rate} {self.get_period_display().lower()}"


class Evaluation(models.Model):
    """One evaluation of one completed item's handling, on one form version."""

    item = models.ForeignKey("allocation.WorkItem", on_delete=models.PROTECT, related_name="evaluations")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="evaluations_received")
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations_given"
    )
    version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="evaluations")
    status = models.CharField(max_length=12, choices=EvaluationStatus.choices, default=EvaluationStatus.ASSIGNED)
    source = models.CharField(max_length=12, choices=EvaluationSource.choices)
    sampling_rule = models.ForeignKey(SamplingRule, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="evaluations")
    period_start = models.DateField(null=True, blank=True, help_text="The sampling period it was drawn for.")
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                help_text="Empty: nothing applicable (no score), never 0.")
    passed = models.BooleanField(null=True, blank=True)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="replaced_by", help_text="The evaluation this re-score replaces.")
    reason = models.TextField(blank=True, help_text="Why it was re-scored.")
    dispute_comment = models.TextField(blank=True, help_text="The agent's overall objection.")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+",
                                    help_text="Who upheld or re-scored it (a quality lead or the agent's supervisor).")
    rework_item = models.OneToOneField("allocation.WorkItem", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="rework_of_evaluation")
    calibration = models.ForeignKey("CalibrationSession", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="evaluations")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("resolve_dispute", "Can uphold or re-score disputed evaluations")]
        constraints = [
            models.CheckConstraint(condition=~Q(evaluator=F("agent")), name="evaluation_not_own_work"),
            models.CheckConstraint(condition=Q(status__in=EvaluationStatus.values), name="evaluation_status_valid"),
            # Sampling draws an item once per rule and period, however often the job runs.
            models.UniqueConstraint(
                fields=["sampling_rule", "period_start", "item"], condition=Q(source=EvaluationSource.SAMPLING),
                name="evaluation_sampled_once",
            ),
        ]
        indexes = [
            models.Index(fields=["evaluator", "status"], name="evaluation_evaluator_status"),
            models.Index(fields=["agent", "-created_at"], name="evaluation_agent_newest"),
            # The report rollup finds evaluations submitted since its last run.
            models.Index(fields=["submitted_at"], name="evaluation_submitted_at"),
        ]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk} of #{self.item_id}"

    @property
    def is_calibration(self) -> bool:
        return self.source == EvaluationSource.CALIBRATION


class CalibrationSession(models.Model):
    """Several evaluators score the same item blind; the result shows how far they agree."""

    item = models.ForeignKey("allocation.WorkItem", on_delete=models.PROTECT, related_name="calibrations")
    version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="calibrations")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Calibration on #{self.item_id} ({self.version})"


class Answer(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value = models.CharField(max_length=10, help_text='"yes", "no", "na", or the scale value.')
    comment = models.TextField(blank=True)
    dispute_comment = models.TextField(blank=True, help_text="The agent's objection to this answer.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["evaluation", "question"], name="answer_once_per_question")]

    def __str__(self) -> str:
        return f"{self.question}: {self.value}"
