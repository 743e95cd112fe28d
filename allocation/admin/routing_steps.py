"""Admin for a queue's routing steps (allocation/routing.py states the rule): the steps as
an inline of the queue, checked as a whole before anything is written — numbered 2, 3, …
without gaps, an overflow only last and never leading back to the queue, each condition
with its measure —, a step's own page for its skill changes, and the preview of what
turning routing on (or the next pass) would move: routing.preview, the job's own plan."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from allocation import routing
from allocation.admin.forms import RoutingWaitField
from allocation.models import FIRST_STEP, LAST_STEP, Queue, RoutingStep, StepAction, StepCondition, StepSkill

MEASURED_IN_MINUTES = {StepCondition.WAITED, StepCondition.NO_AGENT}


class RoutingStepForm(forms.ModelForm):
    """One step on its own: its condition with its measure, its action with its target."""

    minutes = RoutingWaitField()

    class Meta:
        model = RoutingStep
        fields = ["position", "condition", "minutes", "backlog_over", "action", "overflow_queue", "added_teams"]

    def clean(self):
        data = super().clean()
        condition = data.get("condition")
        if condition in MEASURED_IN_MINUTES:
            if data.get("minutes") is None and "minutes" not in self.errors:
                self.add_error("minutes", "How long? At least 1 min.")
            if data.get("backlog_over") is not None:
                self.add_error("backlog_over", "Only a backlog step counts waiting items: leave this empty.")
        elif condition == StepCondition.BACKLOG:
            if data.get("backlog_over") is None and "backlog_over" not in self.errors:
                self.add_error("backlog_over", "How many items may wait before the rest enter this step? 0 or more.")
            if data.get("minutes") is not None:
                self.add_error("minutes", "A backlog step counts waiting items, not time: leave this empty.")
        target = data.get("overflow_queue")
        if data.get("action") == StepAction.OVERFLOW:
            if target is None and "overflow_queue" not in self.errors:
                self.add_error("overflow_queue", "Which queue do the items move to?")
            elif target is not None and target.pk == self.instance.queue_id:
                self.add_error("overflow_queue", "A queue cannot overflow to itself.")
            if data.get("added_teams"):
                self.add_error("added_teams", "An overflow step moves the items to another queue; it adds no teams.")
        elif target is not None:
            self.add_error("overflow_queue", "Only an overflow step moves items to another queue: leave this empty.")
        return data


class RoutingStepFormSet(BaseInlineFormSet):
    """A queue's steps as a whole: numbered 2, 3, … without gaps, an overflow only last and
    not leading back round to the queue. Saved steps may be renumbered (a step inserted
    before them): `save` gives them their new numbers in an order where each is free."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moves: list[forms.ModelForm] = []  # saved steps taking another number, in an order they can

    def clean(self):
        self.moves = []
        if any(form.errors for form in self._kept()):
            return  # each row right first: the checks below read whole rows
        steps = [form for form in self._kept() if form.cleaned_data]
        if steps:
            self._check_numbers(steps)
        if not any(form.errors for form in steps) and steps:
            self._check_overflow(steps)
        if not any(form.errors for form in steps):
            self.moves = self._move_order(steps)
        if not any(form.errors for form in steps):
            super().clean()

    def _kept(self) -> list[forms.ModelForm]:
        return [form for form in self.forms if not self._should_delete_form(form)]

    def _check_numbers(self, steps: list[forms.ModelForm]) -> None:
        if len(steps) > LAST_STEP - FIRST_STEP:
            raise ValidationError(f"At most {LAST_STEP - FIRST_STEP} steps after step 1 (steps 2 to {LAST_STEP}).")
        numbers = [form.cleaned_data["position"] for form in steps]
        expected = list(range(FIRST_STEP + 1, FIRST_STEP + 1 + len(steps)))
        if sorted(numbers) == expected:
            return
        range_words = f"{expected[0]}" if len(expected) == 1 else f"{expected[0]} to {expected[-1]}"
        for form in steps:
            number = form.cleaned_data["position"]
            if numbers.count(number) > 1:
                form.add_error("position", f"Step {number} is given twice: number the steps {range_words}, each once.")
            elif number not in expected:
                form.add_error("position", f"Number the steps 2, 3, … without gaps: these are steps {range_words}.")

    def _check_overflow(self, steps: list[forms.ModelForm]) -> None:
        last = max(form.cleaned_data["position"] for form in steps)
        overflows = [form for form in steps if form.cleaned_data["action"] == StepAction.OVERFLOW]
        for form in overflows:
            if form.cleaned_data["position"] != last:
                form.add_error("action", f"An overflow step is the last step (here step {last}): nothing comes "
                                         "after an item leaves the queue.")
        queue = self.instance
        if queue.pk is None or not overflows:
            return  # a queue being added: no other queue overflows to it yet
        targets = routing.overflow_targets(excluding_queue=queue.pk)
        targets[queue.pk] = {form.cleaned_data["overflow_queue"].pk for form in overflows}
        for form in overflows:
            loop = routing.overflow_cycle(queue.pk, form.cleaned_data["overflow_queue"].pk, targets=targets)
            if loop:
                names = {pk: other.name for pk, other in Queue.objects.in_bulk(loop).items()} | {queue.pk: queue.name}
                form.add_error("overflow_queue", "Overflow would loop: " + " → ".join(names[pk] for pk in loop))

    def _move_order(self, steps: list[forms.ModelForm]) -> list[forms.ModelForm]:
        """The saved steps that take another number, each after the step holding that number
        has left it (a queue's numbers are unique at every moment). Steps trading places
        have no such order: refused."""
        moving = [form for form in steps
                  if form.instance.pk is not None and form.cleaned_data["position"] != form.initial["position"]]
        held = {form.initial["position"] for form in steps if form.instance.pk is not None}
        order = []
        while moving:
            free = next((form for form in moving if form.cleaned_data["position"] not in held), None)
            if free is None:
                for form in moving:
                    form.add_error("position", "Saved steps cannot trade places in one save: delete one and add "
                                               "it again at its new number.")
                return []
            held.remove(free.initial["position"])
            held.add(free.cleaned_data["position"])
            moving.remove(free)
            order.append(free)
        return order

    def save(self, commit=True):
        if commit:
            # The deleted steps go first and the moved ones take their numbers in order;
            # the rows are then saved one by one as usual, each onto a free number.
            deleted = [form.instance.pk for form in self.deleted_forms if form.instance.pk is not None]
            RoutingStep.objects.filter(pk__in=deleted).delete()
            for form in self.moves:
                RoutingStep.objects.filter(pk=form.instance.pk).update(position=form.cleaned_data["position"])
        return super().save(commit=commit)


class RoutingStepInline(admin.TabularInline):
    model = RoutingStep
    fk_name = "queue"
    form = RoutingStepForm
    formset = RoutingStepFormSet
    fields = RoutingStepForm.Meta.fields
    # Not autocomplete: its widget re-renders a refused value by querying it, and a crafted
    # id ("x") would fail there rather than show the form's error.
    filter_horizontal = ["added_teams"]
    extra = 0
    max_num = LAST_STEP - FIRST_STEP
    show_change_link = True
    verbose_name = "routing step"
    verbose_name_plural = (f"routing steps (2 to {LAST_STEP}; step 1 is this queue's own teams and skills; "
                           "a step's skill changes are on its own page)")


class StepSkillFormSet(BaseInlineFormSet):
    """A widening step's skill changes: one per skill, each a change to make."""

    def clean(self):
        changes = [form for form in self.forms
                   if form.cleaned_data.get("skill") and not self._should_delete_form(form)]
        step = self.instance
        if changes and step.action == StepAction.OVERFLOW:
            raise ValidationError("An overflow step moves the items to another queue: it changes no skills.")
        required = set(step.queue.required_skills.values_list("pk", flat=True)) if changes else set()
        seen = set()
        for form in changes:
            skill = form.cleaned_data["skill"]
            if skill.pk in seen:
                form.add_error("skill", f"{skill} is given twice: one change per skill.")
            elif form.cleaned_data.get("min_proficiency") is None and skill.pk not in required:
                form.add_error("min_proficiency", f"The queue does not require {skill}: give the level this step "
                                                  "requires, or leave the skill out.")
            seen.add(skill.pk)
        if not any(form.errors for form in changes):
            super().clean()


class StepSkillInline(admin.TabularInline):
    model = StepSkill
    formset = StepSkillFormSet
    fields = ["skill", "min_proficiency"]
    extra = 1
    verbose_name = "skill change"
    verbose_name_plural = ("skill changes (stated against step 1, the queue's own requirements; an empty level: "
                           "the skill is not required from this step on)")


@admin.register(RoutingStep)
class RoutingStepAdmin(admin.ModelAdmin):
    """A step's own page, reached from its row on the queue's page: its skill changes. The
    step's number, condition and action are edited on the queue's page, where the steps
    are checked as a whole; steps are added and deleted there too."""

    inlines = [StepSkillInline]
    fields = ["queue_link", "sentence"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("queue", "overflow_queue")

    def has_module_permission(self, request) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def response_post_save_change(self, request, obj):
        return HttpResponseRedirect(reverse("admin:allocation_queue_change", args=[obj.queue_id]))

    @admin.display(description="queue")
    def queue_link(self, step: RoutingStep):
        return format_html('<a href="{}">{}</a>', reverse("admin:allocation_queue_change", args=[step.queue_id]),
                           step.queue.name)

    @admin.display(description="step")
    def sentence(self, step: RoutingStep) -> str:
        positions = step.queue.routing_steps.values_list("position", flat=True)
        return routing.step_sentence(step, previous=routing.previous_position(step, positions))


def routing_preview(queue: Queue) -> str:
    """What turning the queue's routing on now (or, when it is on, the next pass) would move,
    step by step: the items entering and the agents who would start seeing them."""
    if queue.pk is None:
        return "Save the queue with its steps to preview them."
    if not queue.is_active:
        return "The queue is inactive: its steps move no item until it is active again."
    previews = routing.preview(queue, now=timezone.now())
    if not previews:
        return "No routing steps: step 1 (this queue's own teams and skills) alone admits agents."
    steps = [
        {
            "sentence": entry.due.reason,
            "position": entry.due.step.position,
            "total": entry.due.total,
            "this_pass": len(entry.due.item_ids),
            "blocked": entry.due.blocked,
            "items": [(item.pk, item.title, reverse("work:item", args=[item.pk])) for item in entry.items],
            "more": entry.due.total - len(entry.items),
            "agents": [str(agent) for agent in entry.new_agents],
        }
        for entry in previews
    ]
    return render_to_string("admin/allocation/queue/routing_preview.html",
                            {"steps": steps, "routing_on": queue.routing_enabled})
