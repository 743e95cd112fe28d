"""factory_boy factories. Multi-step state (an item in progress, pended …, an evaluation
scored or disputed) is built by calling the real services, see tests.helpers."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Max
from django.utils import timezone

from allocation import sla
from allocation.models import (
    AgentProfile,
    AgentSkill,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStep,
    Skill,
    SourceBinding,
    StepAction,
    StepCondition,
    StepSkill,
    Team,
    WorkItem,
)
from core import roles
from quality.models import (
    Answer,
    CalibrationSession,
    Evaluation,
    EvaluationForm,
    EvaluationSource,
    FormSection,
    FormVersion,
    Question,
    QuestionKind,
    SamplingRule,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class SourceSystemFactory(UserFactory):
    """An integration user (the Source system role) bound to `sources` (default: its username)."""

    @factory.post_generation
    def sources(self, create, extracted, **kwargs):
        if create:
            self.groups.add(*Group.objects.filter(name=roles.SOURCE_SYSTEM))
            for source in extracted or [self.username]:
                SourceBinding.objects.get_or_create(user=self, source=source)


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill

    name = factory.Sequence(lambda n: f"Skill {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"queue-{n}")
    name = factory.Sequence(lambda n: f"Queue {n}")
    sla_target = timedelta(hours=24)
    standard_handle_time = timedelta(minutes=15)

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.teams.add(*extracted)


class QueueSkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueSkill

    queue = factory.SubFactory(QueueFactory)
    skill = factory.SubFactory(SkillFactory)
    min_proficiency = 3


class RoutingStepFactory(factory.django.DjangoModelFactory):
    """Step 2 of a new queue, entered after 30 minutes' wait, widening to nobody yet: give
    `added_teams` (and StepSkillFactory rows), or `action=OVERFLOW` with `overflow_queue`.
    Its queue's routing is turned on unless `routing_on=False`."""

    class Meta:
        model = RoutingStep
        skip_postgeneration_save = True

    queue = factory.SubFactory(QueueFactory)
    position = 2
    condition = StepCondition.WAITED
    minutes = factory.LazyAttribute(lambda o: None if o.condition == StepCondition.BACKLOG else 30)
    backlog_over = factory.LazyAttribute(lambda o: 10 if o.condition == StepCondition.BACKLOG else None)
    action = factory.LazyAttribute(lambda o: StepAction.OVERFLOW if o.overflow_queue else StepAction.WIDEN)
    overflow_queue = None

    @factory.post_generation
    def added_teams(self, create, extracted, **kwargs):
        if create and extracted:
            self.added_teams.add(*extracted)

    @factory.post_generation
    def routing_on(self, create, extracted, **kwargs):
        if create and extracted is not False and not self.queue.routing_enabled:
            self.queue.routing_enabled = True
            self.queue.save(update_fields=["routing_enabled"])


class StepSkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StepSkill

    step = factory.SubFactory(RoutingStepFactory)
    skill = factory.SubFactory(SkillFactory)
    min_proficiency = 2


class AgentFactory(factory.django.DjangoModelFactory):
    """An available agent in the Agent role."""

    class Meta:
        model = AgentProfile

    user = factory.SubFactory(UserFactory, roles=[roles.AGENT])
    team = factory.SubFactory(TeamFactory)
    capacity = 3
    presence = Presence.AVAILABLE


class AgentSkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentSkill

    agent = factory.SubFactory(AgentFactory)
    skill = factory.SubFactory(SkillFactory)
    proficiency = 3


class WorkItemFactory(factory.django.DjangoModelFactory):
    """A queued item with no SLA clock (intake starts clocks: use tests.helpers for those).
    Deadlines follow the queue's plain 24×7 target unless given."""

    class Meta:
        model = WorkItem

    queue = factory.SubFactory(QueueFactory)
    source = "tests"
    external_id = factory.Sequence(lambda n: f"EXT-{n:06d}")
    customer_ref = factory.Sequence(lambda n: f"CUST-{n % 50:04d}")
    title = factory.Sequence(lambda n: f"Item {n}")
    payload = factory.LazyFunction(lambda: {"amount": "10.00"})
    status = ItemStatus.QUEUED
    priority = 3
    received_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(
        lambda o: sla.deadlines(
            policy=sla.PolicyBook().policy_for(o.queue, o.priority), calendar=None, received_at=o.received_at,
            handle_time=o.queue.standard_handle_time,
        ).due_at
    )
    start_by = factory.LazyAttribute(lambda o: o.due_at - o.queue.standard_handle_time)
    step_entered_at = factory.LazyAttribute(lambda o: o.received_at)  # at step 1 since receipt, as intake says


class CompletedItemFactory(WorkItemFactory):
    """An item completed by `completed_by` at `closed_at` (as it stands, without events: use
    tests.helpers for one that lived through the services)."""

    status = ItemStatus.COMPLETED
    completed_by = factory.SubFactory(UserFactory, roles=[roles.AGENT])
    closed_at = factory.LazyFunction(timezone.now)
    outcome = "done"


# Quality ---------------------------------------------------------------------------------

class EvaluationFormFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationForm

    name = factory.Sequence(lambda n: f"Form {n}")
    pass_mark = Decimal("80")


class FormVersionFactory(factory.django.DjangoModelFactory):
    """The next version of its form (1 for a new form)."""

    class Meta:
        model = FormVersion

    form = factory.SubFactory(EvaluationFormFactory)
    number = factory.LazyAttribute(lambda o: (o.form.versions.aggregate(last=Max("number"))["last"] or 0) + 1)


class FormSectionFactory(factory.django.DjangoModelFactory):
    """The last section of its version."""

    class Meta:
        model = FormSection

    version = factory.SubFactory(FormVersionFactory)
    title = factory.Sequence(lambda n: f"Section {n}")
    position = factory.LazyAttribute(lambda o: o.version.sections.count())


class QuestionFactory(factory.django.DjangoModelFactory):
    """A yes/no question of weight 1, the last of its section; `scale=True` for a 1–5 scale."""

    class Meta:
        model = Question

    class Params:
        scale = factory.Trait(kind=QuestionKind.SCALE, scale_min=1, scale_max=5)

    section = factory.SubFactory(FormSectionFactory)
    text = factory.Sequence(lambda n: f"Question {n}?")
    kind = QuestionKind.YES_NO
    weight = Decimal("1")
    position = factory.LazyAttribute(lambda o: o.section.questions.count())


def form_with_questions(name: str = "Chargeback handling"):
    """A form (pass mark 80) whose version 1 has one section, "Accuracy", of three questions:
    "Right reason code?" (yes/no, weight 2), "Evidence attached?" (yes/no, weight 1, N/A
    allowed) and "Letter tone" (scale 1–5, weight 1). Returns (form, version, questions)."""
    section = FormSectionFactory(version__form__name=name, title="Accuracy")
    questions = (
        QuestionFactory(section=section, text="Right reason code?", weight=Decimal("2")),
        QuestionFactory(section=section, text="Evidence attached?", allow_na=True),
        QuestionFactory(section=section, text="Letter tone", scale=True),
    )
    return section.version.form, section.version, questions


class SamplingRuleFactory(factory.django.DjangoModelFactory):
    """10 % of each agent's completed items a day; `evaluators=[...]` who score them."""

    class Meta:
        model = SamplingRule
        skip_postgeneration_save = True

    queue = factory.SubFactory(QueueFactory)
    form = factory.SubFactory(EvaluationFormFactory)
    share_percent = factory.LazyAttribute(lambda o: None if o.count is not None else 10)
    count = None

    @factory.post_generation
    def evaluators(self, create, extracted, **kwargs):
        if create and extracted:
            self.evaluators.set(extracted)


class EvaluationFactory(factory.django.DjangoModelFactory):
    """An evaluation assigned to a quality evaluator, of the work of the item's completer.
    Scored, disputed … ones are made through the services; reports' tests write final
    states directly (status, score, passed, submitted_at)."""

    class Meta:
        model = Evaluation

    item = factory.SubFactory(CompletedItemFactory)
    agent = factory.LazyAttribute(lambda o: o.item.completed_by)
    evaluator = factory.SubFactory(UserFactory, roles=[roles.QUALITY_EVALUATOR])
    version = factory.SubFactory(FormVersionFactory)
    source = EvaluationSource.MANUAL


class CalibrationSessionFactory(factory.django.DjangoModelFactory):
    """A session with no evaluations yet (services.calibration_start makes a real one)."""

    class Meta:
        model = CalibrationSession

    item = factory.SubFactory(CompletedItemFactory)
    version = factory.SubFactory(FormVersionFactory)
    created_by = factory.SubFactory(UserFactory, roles=[roles.QUALITY_LEAD])


class AnswerFactory(factory.django.DjangoModelFactory):
    """An answer to a question of the evaluation's own version: "yes" unless given."""

    class Meta:
        model = Answer

    evaluation = factory.SubFactory(EvaluationFactory)
    question = factory.SubFactory(QuestionFactory, section__version=factory.SelfAttribute("...evaluation.version"))
    value = "yes"
