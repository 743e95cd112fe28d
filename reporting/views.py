"""Report pages. The wallboard refreshes itself in place (htmx) and every number leads to
the items behind it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from allocation.selectors import SEE_ALL_ITEMS_PERMISSION
from reporting import selectors
from wfo.exceptions import PermissionDenied


def _require_supervisor(user) -> None:
    if not user.has_perm(SEE_ALL_ITEMS_PERMISSION):
        raise PermissionDenied("Reports are for supervisors and admins.")


def _context(request: HttpRequest) -> dict:
    board = selectors.wallboard()
    peak = max([n for _, _, n in board.aging] + [1])
    return {"board": board, "totals": board.totals, "peak": peak,
            "refresh_seconds": settings.WFO_WALLBOARD_REFRESH_SECONDS}


@require_GET
@login_required
def wallboard(request: HttpRequest) -> HttpResponse:
    _require_supervisor(request.user)
    return render(request, "reporting/wallboard.html", _context(request))


@require_GET
@login_required
def wallboard_live(request: HttpRequest) -> HttpResponse:
    """The board alone, for htmx to swap in place."""
    _require_supervisor(request.user)
    return render(request, "reporting/_board.html", _context(request))


@require_GET
@login_required
def customer_journey(request: HttpRequest) -> HttpResponse:
    """Search a customer reference: every item across queues with its timeline, SLA outcome
    and quality results — what the front office needs to answer "where is my case?"."""
    _require_supervisor(request.user)
    ref = request.GET.get("ref", "").strip()
    items = selectors.customer_journey_report(customer_ref=ref) if ref else []
    return render(request, "reporting/customer_journey.html", {"ref": ref, "items": items})
