"""Django admin: admins configure skills, teams, queues and agents here, and look up work
items. Items are never edited here: every change of an item or of an agent's presence
goes through `allocation.services`, with the admin user as actor."""

from __future__ import annotations

import json
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import capfirst

from allocation import selectors, services
from allocation.admin.forms import ItemActionReasonForm, QueueForm, SlaPolicyForm
from allocation.admin.routing_steps import RoutingStepInline, routing_preview
from allocation.models import (
    AgentProfile,
    AgentSkill,
    ItemActionReason,
    ItemStatus,
    Presence,
    PresenceChange,
    PresenceReason,
    Queue,
    QueueSkill,
    Skill,
    SlaPolicy,
    SourceBinding,
    Team,
    WorkItem,
    WorkItemEvent,
)
from allocation.transitions import CANCEL_PERMISSION, REASSIGN_PERMISSION
from core.admin import TamperProofAutocomplete
from core.durations import hours_minutes_words
from core.exceptions import DomainError
from core.pagination import EstimatedCountPaginator

User = get_user_model()

# Item actions run one service call (one transaction) per item; past this, use filters
# to narrow the selection rather than hold the page open for minutes.


def _count_per_row(rows: QuerySet, field: str) -> Coalesce:
    """Count of `rows` whose `field` points at the outer row, as one correlated subquery:
    a changelist stays one query however many rows it shows."""
    counted = rows.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ReadOnlyAdminMixin:
    """For records written only by services (items, events, presence history): admin may
    look, never add, edit or delete."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "agent_count", "queue_count"]
    search_fields = ["name"]
    filter_horizontal = ["supervisors"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            agent_count=_count_per_row(AgentProfile.objects.all(), "team"),
            queue_count=_count_per_row(Queue.teams.through.objects.all(), "team"),
        )

    @admin.display(description="agents", ordering="agent_count")
    def agent_count(self, team: Team) -> int:
        return team.agent_count

    @admin.display(description="queues served", ordering="queue_count")
    def queue_count(self, team: Team) -> int:
        return team.queue_count


class QueueSkillInline(TamperProofAutocomplete, admin.TabularInline):
    model = QueueSkill
    extra = 1
    autocomplete_fields = ["skill"]
    verbose_name = "required skill"
    verbose_name_plural = "required skills"


class SlaPolicyInline(admin.TabularInline):
    model = SlaPolicy
    form = SlaPolicyForm
    extra = 0
    fields = ["priority", "target", "calendar", "warning_thresholds", "pause_when_pended"]
    show_change_link = True  # its threshold actions are on its own page
    verbose_name = "SLA policy"
    verbose_name_plural = "SLA policies (one without a priority is the default)"


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    form = QueueForm
    list_display = [
        "code", "name", "allocation_mode", "is_active", "sla_target_words", "handle_time_words", "queued_count",
    ]
    list_filter = ["is_active", "allocation_mode", "starts_on_pull"]
    search_fields = ["code", "name"]
    filter_horizontal = ["teams"]
    inlines = [QueueSkillInline, SlaPolicyInline, RoutingStepInline]
    readonly_fields = ["routing_preview"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_active", "outcomes"]}),
        ("Allocation", {"fields": ["allocation_mode", "teams", "starts_on_pull", "reservation_timeout"]}),
        ("SLA", {
            "fields": ["sla_target", "standard_handle_time"],
            "description": "The SLA policies below set the target per priority on a business calendar; the plain "
                           "target here (around the clock) applies only while the queue has no policy. Changes apply "
                           "to items received from now on; items already in the queue keep their due times.",
        }),
        ("Routing", {
            "fields": ["routing_enabled", "routing_preview"],
            "description": "The routing steps below widen whom a waiting item reaches, or move it to another queue. "
                           "The preview shows what turning routing on now would move — or, while it is on, what the "
                           "next pass will: the routing job's own plan.",
        }),
    ]

    def get_queryset(self, request):
        queued = WorkItem.objects.filter(status=ItemStatus.QUEUED)
        return super().get_queryset(request).annotate(queued_count=_count_per_row(queued, "queue"))

    def get_actions(self, request):
        # Bulk delete would list every item of every selected queue; deactivate queues instead.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        # Items protect their queue: the confirmation page would list all of them.
        if obj is not None and obj.items.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="preview")
    def routing_preview(self, queue: Queue):
        return routing_preview(queue)

    @admin.display(description="SLA target", ordering="sla_target")
    def sla_target_words(self, queue: Queue) -> str:
        return hours_minutes_words(queue.sla_target)

    @admin.display(description="handle time", ordering="standard_handle_time")
    def handle_time_words(self, queue: Queue) -> str:
        return hours_minutes_words(queue.standard_handle_time)

    @admin.display(description="queued", ordering="queued_count")
    def queued_count(self, queue: Queue):
        url = reverse("admin:allocation_workitem_changelist")
        return format_html(
            '<a href="{}?queue__id__exact={}&amp;status__exact={}">{}</a>',
            url, queue.pk, ItemStatus.QUEUED, queue.queued_count,
        )


class AgentSkillInline(TamperProofAutocomplete, admin.TabularInline):
    model = AgentSkill
    extra = 1
    autocomplete_fields = ["skill"]
    verbose_name = "skill"
    verbose_name_plural = "skills"


def _presence_action(presence: Presence) -> Callable:
    @admin.action(description=f"Set selected agents {presence.label.lower()}", permissions=["change"])
    def set_presence(modeladmin: AgentProfileAdmin, request, queryset: QuerySet[AgentProfile]) -> None:
        changed = 0
        for agent_id in queryset.values_list("pk", flat=True):
            try:
                services.agent_set_presence(agent_id=agent_id, presence=presence, actor=request.user)
            except DomainError as refused:
                modeladmin.message_user(request, f"Agent #{agent_id}: {refused.message}", messages.ERROR)
            else:
                changed += 1
        if changed:
            modeladmin.message_user(
                request, f"{changed} agent(s) set {presence.label.lower()}.", messages.SUCCESS
            )

    set_presence.__name__ = f"set_{presence.value}"
    return set_presence


@admin.register(AgentProfile)
class AgentProfileAdmin(TamperProofAutocomplete, admin.ModelAdmin):
    """Team, capacity and skills are configuration. Presence is state with a history, so
    it changes only through the service (the actions below), never through the form."""

    list_display = ["user", "team", "presence", "presence_reason", "presence_since", "capacity", "last_assigned_at"]
    list_select_related = ["user", "team", "presence_reason"]
    list_filter = ["team", "presence"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
    inlines = [AgentSkillInline]
    actions = [_presence_action(presence) for presence in Presence]

    def save_model(self, request, obj, form, change):
        # What the agent had before this save, for the change log (save_related notes it).
        request._agent_configuration_before = selectors.agent_configuration(obj.pk) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the skills
        services.agent_configuration_record(agent_id=form.instance.pk, actor=request.user,
                                            before=request._agent_configuration_before)

    def get_readonly_fields(self, request, obj=None):
        # State the portal keeps (presence through its service; last seen from each request
        # the agent makes): shown, never typed over.
        readonly = ["presence", "presence_reason", "presence_since", "last_assigned_at", "last_seen_at"]
        # The user is the profile's primary key: changing it would copy the profile.
        return ["user", *readonly] if obj is not None else readonly


@admin.register(PresenceReason)
class PresenceReasonAdmin(admin.ModelAdmin):
    """The reasons agents may give for being away or offline. A reason given once stays on
    its changes: retire it (untick active) rather than delete it."""

    list_display = ["label", "presence", "active", "position"]
    list_editable = ["active", "position"]
    list_filter = ["presence", "active"]
    search_fields = ["label"]


@admin.register(ItemActionReason)
class ItemActionReasonAdmin(admin.ModelAdmin):
    """The reasons agents pick from when they pend or release an item ("Other", with details,
    is always offered last). Events keep the label as given: retire a reason (untick active)
    or rename it freely."""

    form = ItemActionReasonForm
    list_display = ["label", "action", "active", "position"]
    list_editable = ["active", "position"]
    list_filter = ["action", "active"]
    search_fields = ["label"]


@admin.register(PresenceChange)
class PresenceChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["agent", "presence", "reason", "at", "actor_label"]
    list_select_related = ["agent__user", "actor", "reason"]
    list_filter = ["presence"]
    search_fields = ["agent__user__username__exact"]
    search_help_text = "Exact username."
    ordering = ["-id"]  # time-ordered and indexed, unlike "at" alone
    paginator = EstimatedCountPaginator
    show_full_result_count = False


    @admin.display(description="set by")
    def actor_label(self, change: PresenceChange) -> str:
        return change.actor_label


class WorkItemEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The item's audit trail, oldest first. Events are append-only."""

    model = WorkItemEvent
    fields = ["at", "actor_label", "kind", "transition", "reason", "data_json"]
    readonly_fields = fields
    ordering = ["at", "id"]
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


    @admin.display(description="actor")
    def actor_label(self, event: WorkItemEvent) -> str:
        return event.actor_label

    @admin.display(description="from → to")
    def transition(self, event: WorkItemEvent) -> str:
        return f"{event.get_from_status_display() or '—'} → {event.get_to_status_display()}"

    @admin.display(description="data")
    def data_json(self, event: WorkItemEvent) -> str:
        return json.dumps(event.data, sort_keys=True, ensure_ascii=False) if event.data else ""


class AssigneeFilter(admin.SimpleListFilter):
    """Lists agents, not the distinct assignees of the item table: that would scan
    millions of items on every changelist view."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        agents = AgentProfile.objects.select_related("user").order_by("user__username")
        return [(agent.pk, agent.user.get_username()) for agent in agents]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(assignee_id=self.value())
        return queryset


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
            help_text="Recorded in the history of each item.",
            **kwargs,
        )


class CancelItemsForm(forms.Form):
    reason = ReasonField()


class TransferItemsForm(forms.Form):
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.filter(is_active=True),
        help_text="The items wait there for the next agent, keeping their due times.",
    )
    reason = ReasonField()


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: items arrive through intake and change only through the services,
    which the actions below call. Sized for millions of rows: exact-match search on
    indexed columns, newest first by primary key, estimated count when unfiltered."""

    list_display = [
        "id", "title", "queue", "status", "priority", "assignee", "customer_ref", "due_at", "received_at",
    ]
    list_select_related = ["queue", "assignee"]
    list_filter = ["queue", "status", AssigneeFilter, "priority"]
    # `=field` would be iexact, i.e. UPPER(column): no index could serve it. A customer
    # reference is matched through its indexed key (get_search_results), in any case.
    search_fields = ["external_id__exact", "source__exact"]
    search_help_text = "Exact external id or source, or a customer reference in any case."
    ordering = ["-id"]
    sortable_by = ["id", "due_at"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = [WorkItemEventInline]
    actions = ["cancel_items", "transfer_items"]
    fieldsets = [
        (None, {"fields": [
            "title", "queue", "status", "priority", "assignee", "outcome", "completed_by",
        ]}),
        ("Origin", {"fields": ["source", "external_id", "customer_ref", "customer_items"]}),
        ("Times", {"fields": [
            "received_at", "due_at", "start_by", "assigned_at", "started_at", "pended_until", "closed_at",
            "created_at", "updated_at",
        ]}),
        ("Payload", {"fields": ["payload_json"]}),
    ]
    readonly_fields = [
        *(field.name for field in WorkItem._meta.concrete_fields), "customer_items", "payload_json",
    ]


    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found |= queryset.filter(selectors.customer_is(search_term))
        return found, may_have_duplicates

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    def has_reassign_permission(self, request) -> bool:
        return request.user.has_perm(REASSIGN_PERMISSION)

    @admin.display(description="customer's items")
    def customer_items(self, item: WorkItem):
        url = reverse("admin:allocation_workitem_changelist")
        query = urlencode({"customer_key": item.customer_key})
        return format_html('<a href="{}?{}">Every item of {}</a>', url, query, item.customer_ref)

    @admin.display(description="payload")
    def payload_json(self, item: WorkItem):
        return format_html("<pre>{}</pre>", json.dumps(item.payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.action(description="Cancel selected items", permissions=["cancel"])
    def cancel_items(self, request, queryset: QuerySet[WorkItem]):
        return self._confirm_then_apply(
            request, queryset, action="cancel_items", form_class=CancelItemsForm,
            title="Cancel work items", submit_label="Cancel these items", done="cancelled",
            apply=lambda item_id, data: services.item_cancel(
                item_id=item_id, actor=request.user, reason=data["reason"],
            ),
        )

    @admin.action(description="Transfer selected items to a queue", permissions=["reassign"])
    def transfer_items(self, request, queryset: QuerySet[WorkItem]):
        return self._confirm_then_apply(
            request, queryset, action="transfer_items", form_class=TransferItemsForm,
            title="Transfer work items to a queue", submit_label="Transfer these items", done="transferred",
            apply=lambda item_id, data: services.item_transfer(
                item_id=item_id, actor=request.user, to_queue_id=data["queue"].pk, reason=data["reason"],
            ),
        )

    def _confirm_then_apply(
        self,
        request,
        queryset: QuerySet[WorkItem],
        *,
        action: str,
        form_class: type[forms.Form],
        title: str,
        submit_label: str,
        done: str,
        apply: Callable[[int, dict], WorkItem],
    ) -> TemplateResponse | None:
        """First request: a page listing the items and asking for the action's input.
        Confirmed: one service call per item; refusals are reported item by item."""
        limit = settings.WFO_MAX_BULK_ITEMS
        item_ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: limit + 1])
        if len(item_ids) > limit:
            self.message_user(
                request,
                f"Select at most {limit} items at a time; use the filters to narrow the list.",
                messages.ERROR,
            )
            return None

        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            succeeded = 0
            for item_id in item_ids:
                try:
                    apply(item_id, form.cleaned_data)
                except DomainError as refused:
                    self.message_user(request, f"#{item_id} not {done}: {refused.message}", messages.ERROR)
                else:
                    succeeded += 1
            if succeeded:
                self.message_user(request, f"{succeeded} work item(s) {done}.", messages.SUCCESS)
            return None

        items = WorkItem.objects.filter(pk__in=item_ids).select_related("queue", "assignee").order_by("pk")
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "verbose_name_plural": capfirst(self.opts.verbose_name_plural),
            "items": items,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "submit_label": submit_label,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/allocation/workitem/action_confirmation.html", context)


class AgentProfileInline(admin.StackedInline):
    """Make a user an agent from the user's page; skills are set on the agent's page."""

    model = AgentProfile
    fields = ["team", "capacity", "presence", "presence_since"]
    readonly_fields = ["presence", "presence_since"]
    can_delete = False
    verbose_name_plural = "agent profile"


class SourceBindingInline(admin.TabularInline):
    """The sources an integration user (a source system's token) may use; see SourceBinding."""

    model = SourceBinding
    extra = 0
    verbose_name = "source this integration may use"
    verbose_name_plural = "sources this integration may use (source systems only)"


@admin.register(SourceBinding)
class SourceBindingAdmin(TamperProofAutocomplete, admin.ModelAdmin):
    list_display = ["source", "user"]
    list_select_related = ["user"]
    search_fields = ["source", "user__username"]
    autocomplete_fields = ["user"]


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    inlines = [AgentProfileInline, SourceBindingInline]
