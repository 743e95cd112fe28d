"""How Django writes dates and times in English when not told how — admin's lists, its
read-only fields, its date filters — as the portal does (allocation/labels.py). Input
formats, what forms read, are left as Django has them; the API writes ISO 8601 (DRF)."""

from allocation.labels import DAY_FORMAT, MOMENT_FORMAT

DATETIME_FORMAT = MOMENT_FORMAT  # Thu 3 Dec 2026, 17:19
DATE_FORMAT = DAY_FORMAT  # Thu 3 Dec 2026
TIME_FORMAT = "H:i"  # 17:19
SHORT_DATETIME_FORMAT = "j M Y, H:i"  # 3 Dec 2026, 17:19
SHORT_DATE_FORMAT = "j M Y"  # 3 Dec 2026
MONTH_DAY_FORMAT = "j F"  # 3 December
YEAR_MONTH_FORMAT = "F Y"  # December 2026
FIRST_DAY_OF_WEEK = 1  # Monday, as the calendars' weeks run
