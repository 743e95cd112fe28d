"""Business calendar upkeep: loading public holidays from the `holidays` package."""

from __future__ import annotations

import re
from functools import cache

import holidays as holiday_data
from django.db import transaction
from holidays.registry import COUNTRIES

from allocation.models import BusinessCalendar, Holiday
from core.exceptions import InvalidInput

MAX_YEARS = 10


def supported_countries() -> dict[str, list[str]]:
    """Country codes the `holidays` package knows, with their subdivision codes."""
    return {code: list(subdivisions) for code, subdivisions in holiday_data.list_supported_countries().items()}


# The registry names countries by class ("UnitedKingdom", "DRCongo", "IsleOfMan"): a capital
# after a lower-case letter, or before one, starts a new word of the name.
WORD_START = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
SMALL_WORDS = {"And", "Of", "The", "Da"}


@cache
def holiday_countries() -> dict[str, str]:
    """The countries with holiday data, by name as people read it ('United Kingdom', 'Isle
    of Man'), keyed by ISO code ('GB'), in alphabetical order of name."""
    names = {}
    for class_name, code, *_ in COUNTRIES.values():
        words = WORD_START.sub(" ", class_name).split(" ")
        name = " ".join(word.lower() if word in SMALL_WORDS else word for word in words)
        names[code] = name.replace("Mc Donald", "McDonald")
    return dict(sorted(names.items(), key=lambda pair: pair[1]))


@transaction.atomic
def calendar_holidays_load(
    *, calendar: BusinessCalendar, country: str, subdivision: str = "", first_year: int, last_year: int
) -> int:
    """Add the public holidays of a country (and subdivision) for a range of years. Dates the
    calendar already has (entered by hand or loaded before) are kept as they are. Returns
    how many were added."""
    country, subdivision = country.strip().upper(), subdivision.strip().upper()
    known = supported_countries()
    if country not in known:
        raise InvalidInput(f"No holiday data for country {country!r}.", fields={"country": ["Unknown country."]})
    if subdivision and subdivision not in known[country]:
        raise InvalidInput(
            f"{country} has no subdivision {subdivision!r}.",
            fields={"subdivision": [f"Choose one of: {', '.join(known[country]) or 'none'}."]},
        )
    if last_year < first_year or last_year - first_year >= MAX_YEARS:
        raise InvalidInput(
            f"Load between 1 and {MAX_YEARS} years at a time.",
            fields={"last_year": [f"From the first year, at most {MAX_YEARS} years."]},
        )
    dates = holiday_data.country_holidays(
        country, subdiv=subdivision or None, years=range(first_year, last_year + 1)
    )
    source = f"holidays:{country}{'-' + subdivision if subdivision else ''}"
    before = calendar.holidays.count()
    Holiday.objects.bulk_create(
        [Holiday(calendar=calendar, date=day, name=name[:200], source=source) for day, name in sorted(dates.items())],
        ignore_conflicts=True,  # holiday_once_per_date keeps what the calendar already has
    )
    return calendar.holidays.count() - before
