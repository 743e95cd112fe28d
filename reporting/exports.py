"""Every report table as CSV or XLSX: the same rows the page shows, as numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from django.http import HttpResponse
from openpyxl import Workbook

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def table_response(*, name: str, headers: Sequence[str], rows: Sequence[Sequence], fmt: str) -> HttpResponse:
    """`name`.csv or `name`.xlsx with one header row; numbers stay numbers in XLSX."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        body = out.getvalue().encode()
    else:
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = name[:31]
        sheet.append(list(headers))
        for row in rows:
            sheet.append(list(row))
        out = io.BytesIO()
        workbook.save(out)
        body = out.getvalue()
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
