"""Admin for the SLA engine: calendars with windows and holidays, the preview, loading
public holidays, and the policies' validation."""

import pytest
from django.urls import reverse

from allocation.models import BusinessCalendar, Holiday, SlaPolicy, WorkingWindow
from core import roles
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    client.force_login(user)
    return client


def calendar_form(name="Office", zone="Europe/London", windows=(), holidays=()):
    data = {
        "name": name, "time_zone": zone, "description": "",
        "windows-TOTAL_FORMS": len(windows), "windows-INITIAL_FORMS": 0,
        "holidays-TOTAL_FORMS": len(holidays), "holidays-INITIAL_FORMS": 0,
    }
    for n, (weekday, start, end) in enumerate(windows):
        data |= {f"windows-{n}-weekday": weekday, f"windows-{n}-start": start, f"windows-{n}-end": end}
    for n, (day, name_) in enumerate(holidays):
        data |= {f"holidays-{n}-date": day, f"holidays-{n}-name": name_}
    return data


def test_admin_creates_a_calendar_and_previews_its_next_windows(admin_client):
    data = calendar_form(windows=[(day, "09:00", "12:30") for day in range(5)] + [(0, "13:30", "17:30")],
                         holidays=[("2030-12-25", "Christmas Day")])
    response = admin_client.post(reverse("admin:allocation_businesscalendar_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar = BusinessCalendar.objects.get(name="Office")
    assert calendar.windows.count() == 6 and calendar.holidays.get().name == "Christmas Day"
    page = admin_client.get(reverse("admin:allocation_businesscalendar_change", args=[calendar.pk])).content.decode()
    assert "Next working windows" in page and page.count("<li>") >= 10 and "09:00" in page
    assert "Load public holidays" in page


@pytest.mark.parametrize(
    ("windows", "field_error"),
    [
        ([(0, "09:00", "12:00"), (0, "11:00", "15:00")], "Overlaps another window of the same day."),
        ([(0, "22:00", "06:00"), (0, "23:00", "23:30")], "Overlaps another window of the same day."),
    ],
)
def test_overlapping_windows_are_refused(admin_client, windows, field_error):
    response = admin_client.post(reverse("admin:allocation_businesscalendar_add"), calendar_form(windows=windows))
    assert response.status_code == 200 and field_error in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_an_unknown_time_zone_is_refused(admin_client):
    response = admin_client.post(reverse("admin:allocation_businesscalendar_add"),
                                 calendar_form(zone="Mars/Olympus_Mons", windows=[(0, "09:00", "17:00")]))
    assert "is not an IANA time zone" in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_load_public_holidays(admin_client):
    calendar = BusinessCalendar.objects.create(name="London", time_zone="Europe/London")
    WorkingWindow.objects.create(calendar=calendar, weekday=0, start="09:00", end="17:00")
    Holiday.objects.create(calendar=calendar, date="2026-12-25", name="Our own Christmas")
    url = reverse("admin:allocation_businesscalendar_load_holidays", args=[calendar.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"country": "GB", "subdivision": "ENG", "first_year": 2026, "last_year": 2027})
    assert response.status_code == 302
    loaded = Holiday.objects.filter(calendar=calendar, source="holidays:GB-ENG")
    assert 14 <= loaded.count() <= 20  # England: 8 bank holidays a year (one date kept as entered)
    assert Holiday.objects.get(calendar=calendar, date="2026-12-25").name == "Our own Christmas"
    again = admin_client.post(url, {"country": "GB", "subdivision": "ENG", "first_year": 2026, "last_year": 2027})
    assert again.status_code == 302 and loaded.count() == Holiday.objects.filter(source="holidays:GB-ENG").count()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"country": "GB", "subdivision": "XX", "first_year": 2026, "last_year": 2026}, "Choose one of"),
        ({"country": "GB", "subdivision": "", "first_year": 2026, "last_year": 2040}, "at most 10 years"),
        ({"country": "ZZ", "subdivision": "", "first_year": 2026, "last_year": 2026}, "Select a valid choice"),
    ],
)
def test_load_holidays_refuses_bad_input(admin_client, data, message):
    calendar = BusinessCalendar.objects.create(name="London", time_zone="Europe/London")
    url = reverse("admin:allocation_businesscalendar_load_holidays", args=[calendar.pk])
    response = admin_client.post(url, data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Holiday.objects.exists()


def test_policy_thresholds_are_percentages_given_once(admin_client):
    queue = factories.QueueFactory()
    url = reverse("admin:allocation_slapolicy_add")
    base = {"queue": queue.pk, "priority": "", "target_0": "1", "target_1": "00:00:00", "target": "1 00:00:00",
            "pause_when_pended": "on"}
    bad = admin_client.post(url, base | {"warning_thresholds": "50,150"})
    assert "Each threshold is a percent between 1 and 99." in bad.content.decode()
    twice = admin_client.post(url, base | {"warning_thresholds": "50,50"})
    assert "Give each threshold once." in twice.content.decode()
    assert not SlaPolicy.objects.exists()
    ok = admin_client.post(url, base | {"warning_thresholds": "90,60"})
    assert ok.status_code == 302
    assert SlaPolicy.objects.get().warning_thresholds == [60, 90]


def test_a_policy_target_of_centuries_is_refused(admin_client):
    queue = factories.QueueFactory()
    url = reverse("admin:allocation_slapolicy_add")
    base = {"queue": queue.pk, "priority": "", "warning_thresholds": "50,75,90", "pause_when_pended": "on"}

    typo = admin_client.post(url, base | {"target": "3000000 00:00:00"})

    assert typo.status_code == 200 and "At most 366 days of working time." in typo.content.decode()
    assert not SlaPolicy.objects.exists()
    assert admin_client.post(url, base | {"target": "366 00:00:00"}).status_code == 302
