"""Form plumbing shared by every page."""

from __future__ import annotations

from django import forms

from core.exceptions import InvalidInput


def form_errors_from(form: forms.Form, error: InvalidInput) -> None:
    """Show a service's refusal on the form that sent the input: each message on its field
    when the form has one, else at the top of the form."""
    for field, messages in error.fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
