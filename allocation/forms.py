"""The inbox's forms: the shape of what an agent types. Rules (who may, from which state,
which outcome, how far ahead a follow-up may be) stay in the services."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django import forms
from django.utils import timezone

from allocation import selectors
from allocation.labels import outcome_label
from allocation.models import (
    OTHER_REASON,
    AgentProfile,
    Presence,
    PresenceReason,
    Priority,
    Queue,
    ReasonAction,
    WorkItem,
)

DATETIME_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def target_ids(data: dict) -> dict:
    """A target chosen as "queue:<id>" or "agent:<id>" (the choices' values) as the
    to_queue_id / to_agent_id the transfer services take."""
    kind, _, pk = (data.get("target") or "").partition(":")
    data["to_queue_id"] = int(pk) if kind == "queue" else None
    data["to_agent_id"] = int(pk) if kind == "agent" else None
    return data


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class ReasonFields(forms.Form):
    """A reason picked from the list admins keep for the action (Admin › Pend and release
    reasons), then "Other", whose free text is required."""

    reason_action = ""
    # Each action's fields are named for it ("Pend reason"), so that the item page, which
    # shows several forms at once, never has two controls with the same label.
    action_label = ""
    reason = forms.ChoiceField(label="Reason")
    details = forms.CharField(
        label="Details", required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admins' list, read when first needed — or handed over by reason_lists_load, which
        # reads a page's lists (pend and release) in one query.
        self.offered: list[str] | None = None
        self.fields["reason"].choices = self._reason_choices
        self.fields["reason"].label = f"{self.action_label} reason"
        self.fields["details"].label = f"{self.action_label} details"

    def _reason_choices(self) -> list[tuple[str, str]]:
        if self.offered is None:
            self.offered = selectors.item_action_reasons(self.reason_action)
        return [("", "Choose a reason…"), *((label, label) for label in [*self.offered, OTHER_REASON])]

    def clean(self):
        data = super().clean()
        reason, details = data.get("reason"), (data.get("details") or "").strip()
        if reason == OTHER_REASON and not details:
            self.add_error("details", "Say what the reason is.")
        data["reason_text"] = f"{reason}: {details}" if reason and details else reason
        return data


def reason_lists_load(page_forms: Iterable[forms.Form]) -> None:
    """Give a page's reason forms (the item page's pend and release) their lists from one query."""
    reason_forms = [form for form in page_forms if isinstance(form, ReasonFields)]
    if reason_forms:
        lists = selectors.item_action_reasons_by_action()
        for form in reason_forms:
            form.offered = lists.get(form.reason_action, [])


class PendForm(ReasonFields):
    reason_action = ReasonAction.PEND
    action_label = "Pend"
    until = forms.DateTimeField(
        label="Follow up at", input_formats=DATETIME_LOCAL_FORMATS, widget=DateTimeLocalInput(),
    )
    field_order = ["until", "reason", "details"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        now = timezone.localtime()
        tomorrow_nine = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        self.fields["until"].initial = tomorrow_nine
        self.fields["until"].widget.attrs["min"] = now.strftime("%Y-%m-%dT%H:%M")
        self.fields["until"].help_text = (
            f"Your time ({timezone.get_current_timezone_name()}). The item comes back to you first then."
        )


class ReleaseForm(ReasonFields):
    reason_action = ReasonAction.RELEASE
    action_label = "Release"


class CompleteForm(forms.Form):
    outcome = forms.CharField(label="Outcome", max_length=100, required=False)
    note = forms.CharField(label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, queue: Queue, **kwargs):
        super().__init__(*args, **kwargs)
        if queue.outcomes:
            self.fields["outcome"] = forms.ChoiceField(
                label="Outcome", choices=[("", "Choose an outcome…"), *((o, outcome_label(o)) for o in queue.outcomes)],
            )


class TransferForm(forms.Form):
    """One list of targets: the active queues, then the agents eligible right now."""

    target = forms.ChoiceField(label="Transfer to")
    reason = forms.CharField(label="Transfer reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, item: WorkItem, queues: list[Queue], agents: list[AgentProfile], **kwargs):
        super().__init__(*args, **kwargs)
        queue_choices = [
            (f"queue:{queue.pk}", f"{queue.name}{' (back to this queue)' if queue.pk == item.queue_id else ''}")
            for queue in queues
        ]
        agent_choices = [
            (f"agent:{agent.pk}", f"{agent.user.get_full_name() or agent.user.get_username()} ({agent.team})")
            for agent in agents
        ]
        choices = [("", "Choose a queue or an agent…"), ("Queues", queue_choices)]
        if agent_choices:
            choices.append((f"Agents eligible for {item.queue.name} now", agent_choices))
        self.fields["target"].choices = choices

    def clean(self):
        return target_ids(super().clean())


class RejectForm(forms.Form):
    reason = forms.CharField(label="Reject reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(label="New priority", choices=Priority.choices, coerce=int)
    reason = forms.CharField(label="Priority reason", max_length=500, required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))


class CancelForm(forms.Form):
    reason = forms.CharField(label="Cancel reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(
        label="Yes, cancel this item: it closes for good and nobody works it.",
        error_messages={"required": "Tick this box to confirm the cancellation."},
    )


class PresenceForm(forms.Form):
    presence = forms.ChoiceField(label="Presence", choices=Presence.choices, widget=forms.RadioSelect)
    reason = forms.ModelChoiceField(
        label="Why?", queryset=PresenceReason.objects.none(), required=False, empty_label="No reason given",
    )

    def __init__(self, *args, current: str, **kwargs):
        """`current`: the agent's presence now. The reason list offers that presence's reasons."""
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = selectors.presence_reasons_offered(current)
        self.fields["reason"].label_from_instance = lambda reason: reason.label
        self.offers_reasons = current != Presence.AVAILABLE and self.fields["reason"].queryset.exists()

    def clean(self):
        cleaned = super().clean()
        # The list shows the reasons of the presence the agent is leaving: a switch to
        # another presence starts without one (it picks a new one from the new list).
        reason = cleaned.get("reason")
        if reason is not None and reason.presence != cleaned.get("presence"):
            cleaned["reason"] = None
        return cleaned


def _agent_name(agent: AgentProfile) -> str:
    return agent.user.get_full_name() or agent.user.get_username()


class ReassignForm(forms.Form):
    """The selected items and where they go."""

    items = forms.TypedMultipleChoiceField(label="Items", coerce=int, choices=[])
    target = forms.ChoiceField(label="Move to")
    reason = forms.CharField(label="Reassign reason", max_length=500, required=False)

    def __init__(
        self, *args, item_ids: list[int], queues: list[Queue], eligible: list[AgentProfile],
        ineligible: list[tuple[AgentProfile, list[str]]], **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(pk, pk) for pk in item_ids]
        choices = [("", "Choose a queue or an agent…"), ("Queues", [(f"queue:{q.pk}", q.name) for q in queues])]
        if eligible:
            choices.append(("Agents who may take these items now", [
                (f"agent:{a.pk}", f"{_agent_name(a)} ({a.team})") for a in eligible
            ]))
        if ineligible:
            # Still a choice: the preview says, item by item, what would be refused.
            choices.append(("Agents who may not take them now", [
                (f"agent:{a.pk}", f"{_agent_name(a)} ({a.team}) — {'; '.join(why)}") for a, why in ineligible
            ]))
        self.fields["target"].choices = choices

    def clean(self):
        return target_ids(super().clean())
