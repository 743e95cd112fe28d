"""Admin of the quality domain: forms and their versions (a version in use is read-only:
"Edit as a new version" copies it), sampling rules, evaluations (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse

from quality import services
from quality.models import Evaluation, EvaluationForm, FormSection, FormVersion, Question, SamplingRule
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


class QuestionInline(admin.StackedInline):
    model = Question
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


@admin.register(SamplingRule)
class SamplingRuleAdmin(admin.ModelAdmin):
    list_display = ["queue", "form", "period", "share_percent", "count", "new_agent_days", "extra_after_fail",
                    "is_active"]
    list_filter = ["period", "is_active", "form"]
    filter_horizontal = ["evaluators"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "evaluators":
            kwargs["queryset"] = evaluators()  # quality evaluators and leads only
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
