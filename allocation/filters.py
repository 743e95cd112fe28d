"""Item filters, shared by the API's item list and the supervisors' item page."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils import timezone

from allocation import selectors
from allocation.eligibility import queues_eligible_for
from allocation.forms import DateTimeLocalInput
from allocation.models import OPEN_STATUSES, ItemStatus, Queue, WorkItem
from allocation.selectors import SLA_STANDINGS, sla_standing_q


class ItemFilter(django_filters.FilterSet):
    queue = django_filters.CharFilter(field_name="queue__code", help_text="Queue code.")
    status = django_filters.MultipleChoiceFilter(choices=ItemStatus.choices)
    assignee = django_filters.CharFilter(
        method="filter_held_by", max_length=150,
        help_text="Who holds the items: part of a username or of a first, last or full name, in any case. "
                  "Items of every agent that matches.",
    )
    customer_ref = django_filters.CharFilter(
        method="filter_customer", max_length=WorkItem._meta.get_field("customer_ref").max_length,
        help_text="Customer reference, in any case.",
    )
    source = django_filters.CharFilter()
    external_id = django_filters.CharFilter()
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lte")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")

    class Meta:
        model = WorkItem
        fields = ["queue", "status", "assignee", "customer_ref", "source", "external_id"]

    def filter_held_by(self, queryset, name, value):
        return queryset.filter(selectors.held_by(value))

    def filter_customer(self, queryset, name, value):
        return queryset.filter(selectors.customer_is(value))


def _queue_choices():
    return [(code, name) for code, name in Queue.objects.order_by("name").values_list("code", "name")]


class AgentUserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.get_full_name() or user.get_username()


class AgentChoiceFilter(django_filters.ModelChoiceFilter):
    """An agent chosen by name (not id) from a list of the agents."""

    field_class = AgentUserChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", lambda request: get_user_model().objects.filter(agent_profile__isnull=False)
                          .order_by("first_name", "last_name", "username"))
        kwargs.setdefault("empty_label", "Anyone")
        super().__init__(*args, **kwargs)


class ItemPageFilter(ItemFilter):
    """The same filters with controls a person picks from (queue list, status boxes)."""

    queue = django_filters.ChoiceFilter(
        field_name="queue__code", choices=_queue_choices, empty_label="Any queue", label="Queue"
    )
    status = django_filters.MultipleChoiceFilter(choices=ItemStatus.choices, widget=forms.CheckboxSelectMultiple)
    assignee = django_filters.CharFilter(method="filter_held_by", max_length=150, label="Held by (name or username)")
    customer_ref = django_filters.CharFilter(
        method="filter_customer", max_length=WorkItem._meta.get_field("customer_ref").max_length,
        label="Customer reference",
    )
    external_id = django_filters.CharFilter(label="External id")
    source = django_filters.CharFilter(label="Source system")
    due_after = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="gte", label="Due after", widget=DateTimeLocalInput()
    )
    due_before = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lte", label="Due before", widget=DateTimeLocalInput()
    )
    # The wallboard's numbers link here: the same definitions it counts by.
    sla = django_filters.ChoiceFilter(choices=SLA_STANDINGS, method="filter_sla", label="SLA", empty_label="Any")
    # Today's arrivals (created) and completions (closed), as the wallboard counts them.
    arrived_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Arrived after", widget=DateTimeLocalInput()
    )
    closed_after = django_filters.IsoDateTimeFilter(
        field_name="closed_at", lookup_expr="gte", label="Closed after", widget=DateTimeLocalInput()
    )
    # The live agents view's numbers link here: an agent's completions (on time or not),
    # and the work waiting that an agent could take.
    completed_by = AgentChoiceFilter(label="Completed by")
    on_time = django_filters.ChoiceFilter(
        choices=[("yes", "By its due time"), ("no", "After its due time")], method="filter_on_time",
        label="Completed", empty_label="On time or not",
    )
    waiting_for = AgentChoiceFilter(
        method="filter_waiting_for", label="Waiting for",
        help_text="Waiting in the queues whose teams and skills admit this agent.",
    )

    class Meta(ItemFilter.Meta):
        fields = ["queue", "status", "assignee", "customer_ref", "external_id", "source"]

    def filter_sla(self, queryset, name, value):
        return queryset.filter(sla_standing_q(value, now=timezone.now()))

    def filter_on_time(self, queryset, name, value):
        met = Q(status=ItemStatus.COMPLETED, closed_at__lte=F("due_at"))
        return queryset.filter(met) if value == "yes" else queryset.filter(status=ItemStatus.COMPLETED).exclude(met)

    def filter_waiting_for(self, queryset, name, value):
        agent = getattr(value, "agent_profile", None)
        if agent is None:
            return queryset.none()
        admitting = queues_eligible_for(agent_id=agent.pk, team_id=agent.team_id, pull_only=False)
        return queryset.filter(status=ItemStatus.QUEUED, queue__in=admitting)



class ReassignFilter(django_filters.FilterSet):
    """Which open items a supervisor looks at for a bulk move: the queues in its reach
    (`queues`), who holds them, and how old or urgent they are."""

    queue = django_filters.ModelChoiceFilter(queryset=Queue.objects.none(), empty_label="Any queue", label="Queue")
    status = django_filters.MultipleChoiceFilter(
        choices=[(status, label) for status, label in ItemStatus.choices if status in OPEN_STATUSES],
        widget=forms.CheckboxSelectMultiple, label="Status",
    )
    assignee = django_filters.CharFilter(method="filter_held_by", max_length=150, label="Held by (name or username)")
    received_before = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", label="Received before", widget=DateTimeLocalInput()
    )
    due_before = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lt", label="Due before", widget=DateTimeLocalInput()
    )

    class Meta:
        model = WorkItem
        fields = ["queue", "status", "assignee"]

    def __init__(self, *args, queues, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["queue"].queryset = queues

    def filter_held_by(self, queryset, name, value):
        return queryset.filter(selectors.held_by(value))
