"""Report parameters (shape only)."""

from django import forms


class CapacityForm(forms.Form):
    days = forms.IntegerField(label="Working days ahead", min_value=1, max_value=30, initial=5)
    weeks = forms.IntegerField(label="Weeks of history for the forecast", min_value=1, max_value=12, initial=4)
    hours = forms.FloatField(label="Productive hours per FTE per day", min_value=1, max_value=12, initial=7.5)
    shrinkage = forms.IntegerField(label="Shrinkage (%)", min_value=0, max_value=90, initial=30,
                                   help_text="Leave, training, meetings: time an FTE is paid but not on work items.")
