"""factory_boy factories. Multi-step state (an item in progress, pended …) is built by
calling the real services, see tests.helpers."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from allocation import sla
from allocation.models import (
    AgentProfile,
    AgentSkill,
    ItemStatus,
    Presence,
    Queue,
    QueueSkill,
    Skill,
    SourceBinding,
    Team,
    WorkItem,
)
from core import roles


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
