"""Quality page forms (shape only; the services hold the rules)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from quality.models import EvaluationForm
from quality.selectors import evaluators


class CalibrationForm(forms.Form):
    item = forms.IntegerField(label="Completed work item (number)", min_value=1)
    form = forms.ModelChoiceField(label="Evaluation form", queryset=EvaluationForm.objects.filter(is_active=True))
    evaluators = forms.ModelMultipleChoiceField(
        label="Evaluators (at least two)", queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evaluators"].queryset = evaluators()


class NewFormForm(forms.Form):
    name = forms.CharField(label="Form name", max_length=150)
    pass_mark = forms.DecimalField(label="Pass mark (0–100)", min_value=0, max_value=100, initial=80)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2}))


# A scale wider than this is a typing mistake (and past what the question's columns hold).
SCALE_BOUND = 100


class QuestionForm(forms.Form):
    """A question to add, or a question's new wording (the builder's edit form, prefixed with
    the question's number so that every question's form on the page has its own fields)."""

    section = forms.CharField(label="Section", max_length=200, help_text="An existing section's title, or a new one.")
    text = forms.CharField(label="Question", max_length=300)
    kind = forms.ChoiceField(label="Kind", choices=[("yes_no", "Yes / no"), ("scale", "Numeric scale")])
    scale_min = forms.IntegerField(label="Scale from", required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    scale_max = forms.IntegerField(label="Scale to", required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    weight = forms.DecimalField(label="Weight", min_value=0, initial=1, decimal_places=2, max_digits=6)
    allow_na = forms.BooleanField(label="N/A allowed", required=False)
    critical = forms.BooleanField(label="Critical (failing it scores 0)", required=False)
    guidance = forms.CharField(label="Guidance for evaluators", required=False, max_length=2000,
                               widget=forms.Textarea(attrs={"rows": 2}))

    @classmethod
    def for_question(cls, question, data=None) -> QuestionForm:
        initial = {"section": question.section.title, "text": question.text, "kind": question.kind,
                   "scale_min": question.scale_min, "scale_max": question.scale_max, "weight": question.weight,
                   "allow_na": question.allow_na, "critical": question.critical, "guidance": question.guidance}
        return cls(data, initial=initial, prefix=f"q{question.pk}")
