"""Admin for the SLA engine: calendars with windows and holidays, the preview, loading
public holidays, and the policies' validation."""

import pytest
from django.urls import reverse

from allocation.models import BusinessCalendar, Holiday, SlaPolicy, WorkingWindow
from core import roles
from tests import factories

pytestmark = pytest.mark.django_db
NO_ACTIONS = {"actions-TOTAL_FORMS": 0, "actions-INITIAL_FORMS": 0}  # the policy page's inline of threshold actions


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
        ({"country": "ZZ", "subdivision": "", "first_year": 2026, "last_year": 2026},
         "No public holiday data for “ZZ”: choose a country from the list"),
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
    base = {"queue": queue.pk, "priority": "", "target_hours": "24", "target_minutes": "0",
            "pause_when_pended": "on"} | NO_ACTIONS
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
    base = {"queue": queue.pk, "priority": "", "warning_thresholds": "50,75,90", "pause_when_pended": "on"} | NO_ACTIONS

    typo = admin_client.post(url, base | {"target_hours": "3000000", "target_minutes": "0"})

    assert typo.status_code == 200 and "At most 8784 h (366 days)." in typo.content.decode()
    assert not SlaPolicy.objects.exists()
    assert admin_client.post(url, base | {"target_hours": str(366 * 24), "target_minutes": "0"}).status_code == 302


def _policy_form(policy, actions):
    data = {"queue": policy.queue_id, "priority": "", "target": "1 00:00:00", "warning_thresholds": "50,75,90",
            "pause_when_pended": "on", "actions-TOTAL_FORMS": len(actions), "actions-INITIAL_FORMS": 0}
    for n, action in enumerate(actions):
        fields = {"position": 1, "is_enabled": "on"} | action
        data |= {f"actions-{n}-{field}": value for field, value in fields.items()}
    return data


def test_threshold_actions_are_set_on_the_policy_and_validated(admin_client):
    from allocation.models import SlaAction

    queue, escalation = factories.QueueFactory(name="Disputes"), factories.QueueFactory(name="Escalations")
    other_step = factories.RoutingStepFactory()
    policy = SlaPolicy.objects.create(queue=queue, target="1 00:00:00")
    url = reverse("admin:allocation_slapolicy_change", args=[policy.pk])

    bad = admin_client.post(url, _policy_form(policy, [
        {"threshold": 60, "kind": "raise_priority"},
        {"threshold": 100, "kind": "move_queue", "queue": queue.pk},
        {"threshold": 100, "kind": "enter_step", "step": other_step.pk},
        {"threshold": 75, "kind": "notify", "notify": "team_channel", "by_email": "on"},
        {"threshold": 90, "kind": "assign_agent"},
    ]))
    page = bad.content.decode()
    assert bad.status_code == 200
    assert "Choose one of the policy&#x27;s thresholds: 50%, 75%, 90% or 100 (the breach)." in page
    assert "Choose another queue than the policy&#x27;s own." in page
    assert "Select a valid choice." in page  # another queue's step is not offered
    assert "Choose the team whose chat channel hears of it." in page
    assert "A chat channel is not e-mailed" in page and "Choose the agent to give the item to." in page
    assert not SlaAction.objects.exists()

    ok = admin_client.post(url, _policy_form(policy, [
        {"threshold": 75, "kind": "raise_priority", "priority": 5},
        {"threshold": 100, "kind": "move_queue", "queue": escalation.pk},
    ]))
    assert ok.status_code == 302, ok.content.decode()[:3000]
    assert [(a.threshold, a.kind) for a in policy.actions.all()] == [(75, "raise_priority"), (100, "move_queue")]
    urgent = SlaPolicy.objects.create(queue=queue, priority=5, target="04:00:00")
    pointless = admin_client.post(reverse("admin:allocation_slapolicy_change", args=[urgent.pk]),
                                  _policy_form(urgent, [{"threshold": 75, "kind": "raise_priority"}]) | {"priority": 5})
    assert "This policy&#x27;s items are Urgent already" in pointless.content.decode()
    assert not urgent.actions.exists()
    listing = admin_client.get(reverse("admin:allocation_slapolicy_changelist")).content.decode()
    assert "threshold actions" in listing.lower()


@pytest.mark.parametrize(
    ("action", "field_error"),
    [
        ({"threshold": 99999, "kind": "notify", "notify": "supervisors"}, "less than or equal to 32767"),
        ({"threshold": -5, "kind": "notify", "notify": "supervisors"}, "greater than or equal to 0"),
        ({"threshold": 75, "position": "1e9", "kind": "notify", "notify": "supervisors"}, "Enter a whole number."),
        ({"threshold": 75, "kind": "fire_everyone"}, "Select a valid choice."),
        ({"threshold": 75, "kind": "raise_priority", "priority": 9}, "Select a valid choice."),
        ({"threshold": 75, "kind": "assign_agent", "agent": 10**12}, "Select a valid choice."),
    ],
)
def test_hostile_threshold_actions_are_refused_field_by_field(admin_client, action, field_error):
    policy = SlaPolicy.objects.create(queue=factories.QueueFactory(), target="1 00:00:00")
    response = admin_client.post(reverse("admin:allocation_slapolicy_change", args=[policy.pk]),
                                 _policy_form(policy, [action]))
    assert response.status_code == 200 and field_error in response.content.decode()
    assert not policy.actions.exists()
