"""Admin of the quality domain: forms and their versions (a version in use is read-only:
"Edit as a new version" copies it), sampling rules, evaluations (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse

from allocation.labels import display_name
from quality import services
from quality.forms import SCALE_BOUND
from quality.models import (
    Evaluation,
    EvaluationForm,
    FormSection,
    FormVersion,
    Question,
    QuestionKind,
    SamplingRule,
)
from quality.selectors import evaluators


class VersionInline(admin.TabularInline):
    model = FormVersion
    extra = 0
    fields = ["number", "note", "created_at", "created_by"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EvaluationForm)
class EvaluationFormAdmin(admin.ModelAdmin):
    list_display = ["name", "pass_mark", "is_active"]
    search_fields = ["name"]
    inlines = [VersionInline]
    actions = ["edit_as_new_version"]

    @admin.action(description="Open the version to edit (a new one if the current is in use)")
    def edit_as_new_version(self, request, queryset):
        form = queryset.first()
        version = services.form_version_for_editing(form=form, actor=request.user, note="Edited in admin")
        messages.info(request, f"Editing {version}.")
        return redirect(reverse("admin:quality_formversion_change", args=[version.pk]))


class SectionInline(admin.TabularInline):
    model = FormSection
    extra = 0
    fields = ["title", "position"]
    show_change_link = True  # a section's page edits its questions


class QuestionAdminForm(forms.ModelForm):
    """A question of a section, said wrong field by field: a scale's bounds on a yes/no
    question, a scale without them or upside down, a weight of 0 (the database's constraints
    would only say which rule broke)."""

    scale_min = forms.IntegerField(label="Scale from", required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    scale_max = forms.IntegerField(label="Scale to", required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    weight = forms.DecimalField(label="Weight", min_value=0, max_digits=6, decimal_places=2)

    class Meta:
        model = Question
        fields = ["position", "text", "guidance", "kind", "scale_min", "scale_max", "weight", "allow_na", "critical"]
        error_messages = {"text": {"required": "Write the question."}}

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        low, high = data.get("scale_min"), data.get("scale_max")
        if kind == QuestionKind.YES_NO:
            for name in ("scale_min", "scale_max"):
                if data.get(name) is not None:
                    self.add_error(name, "A yes/no question has no scale: leave this empty.")
        elif kind == QuestionKind.SCALE:
            if low is None and "scale_min" not in self.errors:
                self.add_error("scale_min", "Give the lowest value of the scale.")
            if high is None and "scale_max" not in self.errors:
                self.add_error("scale_max", "Give the highest value of the scale.")
            elif high is not None and low is not None and high <= low:
                self.add_error("scale_max", "The highest value is above the lowest.")
        if data.get("weight") is not None and data["weight"] <= 0:
            self.add_error("weight", "A weight above 0.")
        return data


class QuestionInline(admin.StackedInline):
    """The section's questions in order (position, smallest first): edit a question in place,
    renumber the positions to reorder them."""

    model = Question
    form = QuestionAdminForm
    extra = 0
    fields = ["position", "text", "guidance", ("kind", "scale_min", "scale_max"), ("weight", "allow_na", "critical")]


@admin.register(FormSection)
class FormSectionAdmin(admin.ModelAdmin):
    list_display = ["title", "version", "position"]
    list_filter = ["version__form"]
    fields = ["version", "title", "position"]
    readonly_fields = ["version"]
    inlines = [QuestionInline]

    def has_add_permission(self, request) -> bool:
        return False  # sections are added on their version's page

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and services.form_version_in_use(obj.version):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)


@admin.register(FormVersion)
class FormVersionAdmin(admin.ModelAdmin):
    list_display = ["form", "number", "note", "created_at"]
    list_filter = ["form"]
    fields = ["form", "number", "note", "created_at"]
    readonly_fields = ["form", "number", "created_at"]

    inlines = [SectionInline]

    def has_add_permission(self, request) -> bool:
        return False  # versions come from the form's "Open the version to edit" action

    def has_change_permission(self, request, obj=None) -> bool:
        # A version that evaluations were scored on is never changed in place.
        if obj is not None and services.form_version_in_use(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and services.form_version_in_use(obj):
            return False
        return super().has_delete_permission(request, obj)


class EvaluatorsField(forms.ModelMultipleChoiceField):
    """Offers the active quality evaluators and quality leads; anyone else sent (a crafted
    post, or a user who lost the role while the page was open) is refused by name."""

    def _check_values(self, value):
        try:
            return super()._check_values(value)
        except ValidationError as refused:
            if refused.code != "invalid_choice":
                raise
            chosen = {str(pk) for pk in value}
            offered = {str(pk) for pk in self.queryset.values_list("pk", flat=True)}
            others = [pk for pk in chosen - offered if pk.isdigit() and len(pk) <= 18]
            names = sorted(display_name(user) for user in get_user_model().objects.filter(pk__in=others))
            if not names:
                raise
            raise ValidationError(
                "%(names)s %(verb)s not a quality evaluator or quality lead: give the role first (Admin › Users), "
                "or choose someone else.", code="not_an_evaluator",
                params={"names": ", ".join(names), "verb": "is" if len(names) == 1 else "are"},
            ) from None


@admin.register(SamplingRule)
class SamplingRuleAdmin(admin.ModelAdmin):
    list_display = ["queue", "form", "period", "share_percent", "count", "new_agent_days", "extra_after_fail",
                    "is_active"]
    list_filter = ["period", "is_active", "form"]
    filter_horizontal = ["evaluators"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "evaluators":
            kwargs["queryset"] = evaluators()  # quality evaluators and leads only
            kwargs["form_class"] = EvaluatorsField
            kwargs["help_text"] = "Quality evaluators and quality leads (Admin › Users › Groups)."
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "agent", "evaluator", "version", "status", "score", "passed", "created_at"]
    list_filter = ["status", "source", "version__form"]
    list_select_related = ["item", "agent", "evaluator", "version__form"]
    search_fields = ["item__external_id", "agent__username", "evaluator__username"]
    readonly_fields = [f.name for f in Evaluation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
