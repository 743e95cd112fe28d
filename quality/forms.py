"""Quality page forms (shape only; the services hold the rules)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from quality.models import EvaluationForm


class CalibrationForm(forms.Form):
    item = forms.IntegerField(label="Completed work item (number)", min_value=1)
    form = forms.ModelChoiceField(label="Evaluation form", queryset=EvaluationForm.objects.filter(is_active=True))
    evaluators = forms.ModelMultipleChoiceField(
        label="Evaluators (at least two)", queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True, groups__name__in=["Supervisor", "Admin"])
        self.fields["evaluators"].queryset = users.distinct().order_by("username")
