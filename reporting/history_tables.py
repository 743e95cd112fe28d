"""The history report's tables and charts, declared once: the page draws each chart with
its table beside it, and CSV/XLSX exports write the same columns as numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reporting.history import History, Period


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[Period], float | int | None]
    kind: str = "count"  # count, percent (a share shown × 100), minutes, hours, rate, score
    chart: str | None = None  # "bar" or "line" to plot this column
    axis: str = "y"  # "y" (left) or "y1" (right)

    def number(self, period: Period) -> float | int | None:
        """The exported number: shares as percentages, rounded as the page shows them."""
        value = self.value(period)
        if value is None:
            return None
        if self.kind == "percent":
            return round(value * 100, 1)
        if self.kind == "count":
            return value
        return round(value, 2)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    needs_queue_flows: bool = False  # arrivals and backlog: not for one agent's report
    note: str = ""


def _hours(seconds: int) -> float | None:
    return seconds / 3600 if seconds else 0.0


TABLES: tuple[Table, ...] = (
    Table("volume", "Arrivals, completions and backlog", (
        Column("Arrivals", lambda p: p.arrivals, chart="bar"),
        Column("Completions", lambda p: p.completed, chart="bar"),
        Column("End backlog", lambda p: p.backlog_end, chart="line", axis="y1"),
    ), needs_queue_flows=True, note="End backlog: items open at the end of the period's last day."),
    Table("completions", "Completions", (
        Column("Completions", lambda p: p.completed, chart="bar"),
    ), note="Completions of the agents in scope (arrivals and backlog belong to queues)."),
    Table("sla", "SLA attainment", (
        Column("Completed", lambda p: p.completed),
        Column("Met", lambda p: p.met),
        Column("Attainment %", lambda p: p.sla_attainment, kind="percent", chart="line"),
    ), note="Completed at or before their due time."),
    Table("handle", "Handle time", (
        Column("Items handled", lambda p: p.handled),
        Column("Average (min)", lambda p: p.handle_minutes_avg, kind="minutes", chart="line"),
        Column("p90 (min)", lambda p: p.handle_minutes_p90, kind="minutes", chart="line"),
    ), note="Time in progress, summed over each start; p90 is exact to the bin (30 s under 10 minutes)."),
    Table("productivity", "Throughput, productivity and utilization", (
        Column("Hours logged in", lambda p: _hours(p.logged_in_seconds), kind="hours"),
        Column("Hours available", lambda p: _hours(p.available_seconds), kind="hours"),
        Column("Throughput per hour", lambda p: p.throughput_per_hour, kind="rate", chart="line", axis="y1"),
        Column("Productivity %", lambda p: p.productivity, kind="percent", chart="line"),
        Column("Utilization %", lambda p: p.utilization, kind="percent", chart="line"),
    ), note="Throughput: completions per hour logged in. Productivity: standard minutes earned per minute "
            "available. Utilization: handle time per time logged in."),
    Table("quality", "First-pass yield, rework and QA", (
        Column("Originals completed", lambda p: p.originals),
        Column("Sent back", lambda p: p.reworked),
        Column("First-pass yield %", lambda p: p.first_pass_yield, kind="percent", chart="line"),
        Column("Rework rate %", lambda p: p.rework_rate, kind="percent", chart="line"),
        Column("Evaluations", lambda p: p.qa_count),
        Column("Average QA score", lambda p: p.qa_average, kind="score", chart="line"),
    ), note="First-pass yield: originals not sent back as rework. Rework rate: the share of completed items "
            "that were rework."),
)
TABLE_KEYS = [table.key for table in TABLES] + ["hourly"]


def tables_for(report: History) -> list[Table]:
    """The tables that apply to a report: an agent's has no queue flows (its completions
    table stands in for the volume chart)."""
    if report.shows_queue_flows:
        return [t for t in TABLES if t.key != "completions"]
    return [t for t in TABLES if not t.needs_queue_flows]


def table_rows(table: Table, report: History) -> list[list]:
    """One row per period, then the total; numbers as exported."""
    return [[period.label, *(column.number(period) for column in table.columns)]
            for period in [*report.periods, report.total]]


def table_headers(table: Table) -> list[str]:
    return ["Period", *(column.label for column in table.columns)]


def hourly_rows(report: History) -> list[list]:
    return [[f"{hour:02d}:00", round(arrivals, 2), round(completed, 2)] for hour, arrivals, completed in report.hours]


HOURLY_HEADERS = ["Hour", "Arrivals a day", "Completions a day"]


def chart_data(table: Table, report: History) -> dict:
    """Chart.js data: labels are the periods; one dataset per charted column."""
    return {
        "labels": [period.label for period in report.periods],
        "datasets": [
            {"label": column.label, "type": column.chart, "yAxisID": column.axis,
             "data": [column.number(period) for period in report.periods]}
            for column in table.columns if column.chart
        ],
        "percent": any(c.kind == "percent" and c.chart and c.axis == "y" for c in table.columns),
    }


def hourly_chart(report: History) -> dict:
    return {
        "labels": [f"{hour:02d}" for hour, _, _ in report.hours],
        "datasets": [
            {"label": "Arrivals a day", "type": "bar", "yAxisID": "y",
             "data": [round(a, 2) for _, a, _ in report.hours]},
            {"label": "Completions a day", "type": "bar", "yAxisID": "y",
             "data": [round(c, 2) for _, _, c in report.hours]},
        ],
        "percent": False,
    }
