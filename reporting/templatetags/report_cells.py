"""Report table cells: one column's value for one period, formatted by the column's kind."""

from django import template

register = template.Library()

SUFFIX = {"percent": " %"}


@register.simple_tag
def cell(column, period) -> str:
    value = column.number(period)
    if value is None:
        return "—"
    if column.kind == "count":
        return f"{value:,}"
    return f"{value:,.1f}{SUFFIX.get(column.kind, '')}" if column.kind in ("percent", "minutes", "hours", "score") \
        else f"{value:,.2f}"
