"""Webhook subscriptions (any kind, any source, any address: admins are trusted) and their
delivery log, with redelivery, pause and resume. Writes go through services/webhooks.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from allocation import webhooks
from allocation.models import (
    CHANNEL_KINDS,
    DeliveryStatus,
    EventKind,
    WebhookDelivery,
    WebhookFormat,
    WebhookSubscription,
)
from allocation.services import webhooks as outbound
from core.admin import TamperProofAutocomplete


def _deliveries(count: int) -> str:
    return f"{count} {'delivery' if count == 1 else 'deliveries'}"


def _subscriptions(count: int) -> str:
    return f"{count} {'subscription' if count == 1 else 'subscriptions'}"


class SubscriptionForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        choices=EventKind.choices, widget=forms.CheckboxSelectMultiple,
        help_text="The kinds of item event it receives.",
    )
    sources = SimpleArrayField(
        forms.CharField(max_length=50), required=False,
        help_text="Sources separated by commas, e.g. card-platform,claims (empty: every source).",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "format", "team", "kinds", "queues", "sources", "is_active", "max_attempts", "owner"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("format", WebhookFormat.JSON) != WebhookFormat.JSON:
            if not cleaned.get("team"):
                self.add_error("team", "A chat channel belongs to a team: choose it.")
            others = [EventKind(kind).label for kind in cleaned.get("kinds", []) if kind not in CHANNEL_KINDS]
            if others:
                self.add_error("kinds", "A chat channel hears of SLA warnings and breaches, directed assignments "
                                        "(transferred), routing steps and SLA actions that notify its team; "
                                        f"not: {', '.join(others)}.")
        return cleaned

    def clean_url(self):
        url = self.cleaned_data["url"]
        public_only = self.instance.public_addresses_only  # a source system's, edited here
        if (problem := webhooks.webhook_url_problem(url, public_only=public_only)) is not None:
            raise forms.ValidationError(problem)
        return url


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(TamperProofAutocomplete, admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "format", "team", "kinds_words", "active_words", "failing_since", "delivery_log",
                    "created_at"]
    list_filter = ["is_active", "format", "team"]
    search_fields = ["name", "url"]
    filter_horizontal = ["queues"]
    autocomplete_fields = ["owner", "team"]
    readonly_fields = ["secret", "integration", "paused_reason", "failing_since", "created_at"]
    actions = ["pause", "resume", "redeliver_dead"]
    fieldsets = [
        (None, {"fields": ["name", "url", "format", "team", "kinds", "queues", "sources"],
                "description": "A system's endpoint gets each event as signed JSON. A team's Slack or Microsoft "
                               "Teams channel (its incoming-webhook URL) gets SLA alerts, directed assignments "
                               "and routing-step escalations of the team's work as messages."}),
        ("Delivery", {"fields": ["is_active", "paused_reason", "failing_since", "max_attempts", "owner", "secret",
                                 "integration", "created_at"],
                      "description": "Each request is signed with the secret (the WFO-Signature header; README, "
                                     "Webhooks). Owners are told when a subscription is paused for failing."}),
    ]

    def get_fieldsets(self, request, obj=None):
        """On the add page, none of what the subscription gets once saved (its secret is made
        then: a value shown before would not be the one kept)."""
        if obj is not None:
            return self.fieldsets
        made_on_save = {"paused_reason", "failing_since", "secret", "integration", "created_at"}
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in made_on_save]})
                for name, options in self.fieldsets]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
        )

    @admin.display(description="kinds")
    def kinds_words(self, subscription: WebhookSubscription) -> str:
        return ", ".join(EventKind(kind).label for kind in subscription.kinds)

    @admin.display(description="active", boolean=False)
    def active_words(self, subscription: WebhookSubscription) -> str:
        return "Active" if subscription.is_active else f"Paused. {subscription.paused_reason}".strip()

    @admin.display(description="delivery log")
    def delivery_log(self, subscription: WebhookSubscription):
        url = reverse("admin:allocation_webhookdelivery_changelist")
        return format_html('<a href="{}?{}">{} waiting, {} dead-lettered</a>', url,
                           urlencode({"subscription__id__exact": subscription.pk}), subscription.pending,
                           subscription.dead)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = obj.owner or request.user
        resumed = change and "is_active" in form.changed_data and obj.is_active
        super().save_model(request, obj, form, change)
        if resumed:
            outbound.webhook_subscription_resume(obj)

    @admin.action(description="Pause selected subscriptions (their events are kept)", permissions=["change"])
    def pause(self, request, queryset: QuerySet[WebhookSubscription]):
        for subscription in queryset:
            outbound.webhook_subscription_update(subscription, is_active=False,
                                                 paused_reason=f"Paused by {request.user.get_username()}.")
        self.message_user(request, f"{_subscriptions(len(queryset))} paused; their events are kept.", messages.SUCCESS)

    @admin.action(description="Resume selected subscriptions (send what they kept, in order)", permissions=["change"])
    def resume(self, request, queryset: QuerySet[WebhookSubscription]):
        for subscription in queryset:
            outbound.webhook_subscription_update(subscription, is_active=True)
        self.message_user(request, f"{_subscriptions(len(queryset))} active; what they kept goes out now.",
                          messages.SUCCESS)

    @admin.action(description="Redeliver every dead-lettered delivery of selected subscriptions",
                  permissions=["change"])
    def redeliver_dead(self, request, queryset: QuerySet[WebhookSubscription]):
        count = sum(outbound.webhook_deliveries_redeliver(subscription) for subscription in queryset)
        self.message_user(request, f"{_deliveries(count)} will be sent again.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, with redelivery."""

    list_display = ["event_words", "subscription", "item_link", "status", "attempts", "response_status",
                    "latency", "last_attempt_at", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "subscription"]
    list_select_related = ["subscription", "event"]
    search_fields = ["=item__id", "=event__id"]
    actions = ["redeliver"]
    readonly_fields = ["subscription", "event_words", "item_link", "status", "attempts", "next_attempt_at",
                       "created_at", "last_attempt_at", "delivered_at", "response_status", "latency_ms",
                       "response_excerpt", "error"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("allocation.view_webhookdelivery") or request.user.has_perm(
            "allocation.change_webhooksubscription")

    @admin.display(description="event", ordering="event_id")
    def event_words(self, delivery: WebhookDelivery) -> str:
        return f"{webhooks.event_id(delivery.event_id)} · {EventKind(delivery.event.kind).label}"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, delivery: WebhookDelivery) -> str:
        return f"{delivery.latency_ms} ms" if delivery.latency_ms is not None else "—"

    @admin.display(description="item", ordering="item_id")
    def item_link(self, delivery: WebhookDelivery):
        return format_html('<a href="{}">#{}</a>', reverse("work:item", args=[delivery.item_id]), delivery.item_id)

    @admin.action(description="Redeliver selected deliveries (a fresh round of tries)", permissions=["view"])
    def redeliver(self, request, queryset: QuerySet[WebhookDelivery]):
        count = 0
        for subscription_id in set(queryset.values_list("subscription_id", flat=True)):
            subscription = WebhookSubscription.objects.get(pk=subscription_id)
            ids = queryset.filter(subscription_id=subscription_id).values_list("pk", flat=True)
            count += outbound.webhook_deliveries_redeliver(subscription, delivery_ids=list(ids))
        skipped = len(queryset) - count
        note = f" ({skipped} still waiting to be sent were left as they are)" if skipped else ""
        self.message_user(request, f"{_deliveries(count)} will be sent again{note}.", messages.SUCCESS)
