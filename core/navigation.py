"""The portal's main navigation: which areas a user may reach, where each is, and which one
the page belongs to — the one place these are decided (templates/base.html only draws the
links). Every page an agent opens carries it, so its addresses are reversed once per
process, not on every page (nine `{% url %}` and the template's current-page comparisons
were 0.16 of the layout's 1.32 ms of CPU in process; the unread count's compiling most of
the rest: core.selectors)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.urls import ResolverMatch, get_script_prefix, reverse

from core import roles


@dataclass(frozen=True)
class Area:
    label: str
    url_name: str
    shown_to: Callable[[object], bool]
    is_current: Callable[[ResolverMatch], bool]


def _always(_user) -> bool:
    return True


def _never(_match) -> bool:
    return False


def _page(*url_names: str) -> Callable[[ResolverMatch], bool]:
    return lambda match: match.url_name in url_names


def _area(namespace: str, *, but: tuple[str, ...] = ()) -> Callable[[ResolverMatch], bool]:
    return lambda match: match.namespace == namespace and match.url_name not in but


SCORECARD_PAGES = ("scorecard", "scorecards")

# In the order the bar shows them. Each view checks the same role and answers 403: a link
# shown is a page the user may open, a link hidden one it may not.
AREAS: tuple[Area, ...] = (
    Area("My work", "work:inbox", roles.is_agent, _page("inbox")),
    Area("Work items", "work:items", roles.oversees_work, _page("items")),
    Area("Reports", "reports:wallboard", roles.oversees_work, _area("reports", but=SCORECARD_PAGES)),
    Area("Reassign", "work:reassign", roles.oversees_work, _page("reassign")),
    Area("Scorecard", "reports:scorecards", roles.sees_scorecards, _page(*SCORECARD_PAGES)),
    Area("Quality", "quality:home", roles.takes_part_in_quality, _area("quality")),
    Area("Admin", "admin:index", lambda user: user.is_staff, _never),
    Area("API docs", "api-docs", _always, _never),
)
NOTIFICATIONS = Area("Notifications", "notifications", _always, _page("notifications"))


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    current: bool
    count: int = 0  # shown beside the label when not zero (unread notifications)


@functools.cache
def _hrefs(script_prefix: str) -> dict[str, str]:
    """Every area's address under the script prefix the portal is served at (reverse()
    reads the prefix the request set: a cache per prefix keeps that)."""
    return {area.url_name: reverse(area.url_name) for area in (*AREAS, NOTIFICATIONS)}


def links_for(user, match: ResolverMatch | None, *, unread: int) -> list[Link]:
    """The links `user` sees on a page (`match`: the page's resolved URL; None on an error
    page, where no link is current), ending with Notifications and its `unread` count."""
    hrefs = _hrefs(get_script_prefix())

    def link(area: Area, **extra) -> Link:
        current = match is not None and area.is_current(match)
        return Link(area.label, hrefs[area.url_name], current, **extra)

    shown = [link(area) for area in AREAS if area.shown_to(user)]
    return [*shown, link(NOTIFICATIONS, count=unread)]
