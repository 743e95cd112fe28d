"""Configuration people can fill in (admin): durations in hours and minutes, a queue's
outcomes one a line, a calendar's time zone and holiday country searched by name, the pend
and release reasons as lists admins keep, an agent's last seen shown, not typed; the
portal's date format, icon, way back and colours on the admin pages. Every form refuses bad
input with a message on the field at fault, and saves nothing."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django import forms as django_forms
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from allocation import services
from allocation.forms import PendForm, ReleaseForm
from allocation.models import (
    AgentProfile,
    BusinessCalendar,
    EventKind,
    Holiday,
    ItemActionReason,
    Queue,
    ReasonAction,
    SlaPolicy,
)
from core import roles
from core.forms import HoursMinutesField
from tests import factories
from tests.helpers import started_item

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 4, 10, 14, 5, tzinfo=UTC)  # a Thursday


@pytest.fixture
def admin_user():
    return factories.UserFactory(roles=[roles.ADMIN], is_staff=True, username="ada")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def errors_of(response) -> dict[str, list[str]]:
    """The admin form's errors, field by field, as the page shows them."""
    return {field: list(messages) for field, messages in response.context["adminform"].form.errors.items()}


# Queues: durations and outcomes ------------------------------------------------------------------

def queue_form(**changes) -> dict:
    """A new queue's page as a browser posts it: durations in hours and minutes, outcomes one
    a line, no skills, policies or steps."""
    data = {
        "code": "refunds", "name": "Refunds", "description": "", "is_active": "on", "allocation_mode": "pull",
        "outcomes": "approved\ndeclined",
        "reservation_timeout_hours": "0", "reservation_timeout_minutes": "10",
        "sla_target_hours": "40", "sla_target_minutes": "30",
        "standard_handle_time_hours": "0", "standard_handle_time_minutes": "15",
    }
    for prefix in ("skill_requirements", "sla_policies", "routing_steps"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | changes


def test_a_queue_is_configured_in_hours_and_minutes_and_outcomes_one_a_line(admin_client, agent, team):
    response = admin_client.post(reverse("admin:allocation_queue_add"), queue_form(
        outcomes="  resolved-for-cardholder \n\nresolved-for-merchant\r\nneed-info\n", teams=[team.pk],
    ))

    assert response.status_code == 302, errors_of(response)
    queue = Queue.objects.get(code="refunds")
    assert queue.sla_target == timedelta(hours=40, minutes=30)
    assert queue.standard_handle_time == timedelta(minutes=15)
    assert queue.reservation_timeout == timedelta(minutes=10)
    # The API and the completion rule read the same list of strings as before.
    assert queue.outcomes == ["resolved-for-cardholder", "resolved-for-merchant", "need-info"]
    item = started_item(agent, queue)
    done = services.item_complete(item_id=item.pk, actor=agent.user, outcome="need-info")
    assert done.outcome == "need-info"

    page = admin_client.get(reverse("admin:allocation_queue_change", args=[queue.pk])).content.decode()
    assert 'name="sla_target_hours" value="40"' in page and 'name="sla_target_minutes" value="30"' in page
    assert "resolved-for-cardholder\nresolved-for-merchant\nneed-info</textarea>" in page
    listed = admin_client.get(reverse("admin:allocation_queue_changelist")).content.decode()
    assert "40 h 30 min" in listed and "15 min" in listed


@pytest.mark.parametrize(("changes", "field", "messages"), [
    ({"sla_target_hours": "forty"}, "sla_target", ["Hours: write a whole number, e.g. 8."]),
    ({"sla_target_hours": "-3"}, "sla_target", ["Hours cannot be negative."]),
    ({"sla_target_minutes": "60"}, "sla_target", ["Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]),
    ({"sla_target_minutes": "7.5"}, "sla_target", ["Minutes: write a whole number from 0 to 59."]),
    ({"sla_target_hours": "9" * 40}, "sla_target", ["At most 8784 h (366 days)."]),
    ({"sla_target_hours": "0", "sla_target_minutes": "0"}, "sla_target", ["At least 1 min."]),
    ({"reservation_timeout_hours": "", "reservation_timeout_minutes": ""}, "reservation_timeout",
     ["Give the hours and minutes."]),
    ({"reservation_timeout_hours": "0", "reservation_timeout_minutes": "0"}, "reservation_timeout",
     ["At least 1 min."]),
    ({"standard_handle_time_minutes": "-1"}, "standard_handle_time", ["Minutes cannot be negative."]),
    ({"standard_handle_time_hours": "8785"}, "standard_handle_time", ["At most 8784 h (366 days)."]),
    ({"outcomes": "approved\nApproved"}, "outcomes", ["“Approved” is listed twice: give each outcome once."]),
    ({"outcomes": "approved\n" + "x" * 101}, "outcomes", ["Line 2 is 101 characters long: at most 100."]),
    ({"outcomes": "approved\nde\x00clined"}, "outcomes",
     ["Line 2 holds a control character: type it again without it."]),
    ({"outcomes": "\n".join(f"outcome-{n}" for n in range(51))}, "outcomes", ["At most 50 outcomes."]),
])
def test_a_queue_with_a_bad_duration_or_outcome_is_refused_on_that_field(admin_client, changes, field, messages):
    response = admin_client.post(reverse("admin:allocation_queue_add"), queue_form(**changes))

    assert response.status_code == 200
    assert errors_of(response) == {field: messages}
    assert not Queue.objects.exists()


def test_a_new_queue_starts_from_the_default_durations(admin_client):
    page = admin_client.get(reverse("admin:allocation_queue_add")).content.decode()
    assert 'name="sla_target_hours" value="24"' in page and 'name="sla_target_minutes" value="0"' in page
    assert 'name="standard_handle_time_hours" value="0"' in page
    assert 'name="standard_handle_time_minutes" value="15"' in page
    assert 'name="reservation_timeout_minutes" value="10"' in page


def test_a_saved_queue_refuses_a_bad_duration_and_keeps_its_own(admin_client):
    queue = factories.QueueFactory(code="refunds", name="Refunds", sla_target=timedelta(hours=8))
    url = reverse("admin:allocation_queue_change", args=[queue.pk])

    response = admin_client.post(url, queue_form(sla_target_hours="8", sla_target_minutes="90"))

    assert errors_of(response) == {"sla_target": ["Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]}
    queue.refresh_from_db()
    assert queue.sla_target == timedelta(hours=8)
    page = response.content.decode()
    assert 'name="sla_target_minutes" value="90"' in page  # what was typed, back to be corrected


def test_every_duration_in_admin_is_typed_in_hours_and_minutes(admin_user):
    """No admin form, nor inline, falls back to Django's one-box duration ("1 00:00:00"): a
    duration added to a model shown in admin needs HoursMinutesField too."""
    request = RequestFactory().get("/admin/")
    request.user, request.resolver_match = admin_user, SimpleNamespace(kwargs={})
    admin_user.is_superuser = True  # every page, whatever the role's permissions
    checked = set()
    for model_admin in admin.site._registry.values():
        inlines = model_admin.get_inline_instances(request)
        forms = [(model_admin.model, model_admin.get_form(request))]
        forms += [(inline.model, inline.get_formset(request).form) for inline in inlines]
        for model, form_class in forms:
            durations = {f.name for f in model._meta.get_fields() if isinstance(f, models.DurationField)}
            for name, field in form_class.base_fields.items():
                assert not isinstance(field, django_forms.DurationField), f"{model.__name__}.{name}"
                if name in durations:
                    assert isinstance(field, HoursMinutesField), f"{model.__name__}.{name}"
                    checked.add(f"{model.__name__}.{name}")
    assert checked == {"Queue.sla_target", "Queue.standard_handle_time", "Queue.reservation_timeout",
                       "SlaPolicy.target"}


# SLA policies -----------------------------------------------------------------------------------

def policy_form(queue, **changes) -> dict:
    return {"queue": queue.pk, "priority": "", "target_hours": "40", "target_minutes": "0", "calendar": "",
            "warning_thresholds": "50,75,90", "pause_when_pended": "on",
            "actions-TOTAL_FORMS": "0", "actions-INITIAL_FORMS": "0"} | changes


def test_a_policy_target_is_hours_and_minutes_and_listed_in_words(admin_client):
    queue = factories.QueueFactory()
    response = admin_client.post(reverse("admin:allocation_slapolicy_add"), policy_form(queue))
    assert response.status_code == 302, errors_of(response)
    assert SlaPolicy.objects.get().target == timedelta(hours=40)
    listed = admin_client.get(reverse("admin:allocation_slapolicy_changelist")).content.decode()
    assert "40 h" in listed and "1 day, 16:00:00" not in listed


@pytest.mark.parametrize(("changes", "messages"), [
    ({"target_hours": "x"}, ["Hours: write a whole number, e.g. 8."]),
    ({"target_hours": "-40"}, ["Hours cannot be negative."]),
    ({"target_minutes": "75"}, ["Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]),
    ({"target_hours": "0"}, ["At least 1 min."]),
    ({"target_hours": "100000"}, ["At most 8784 h (366 days)."]),
])
def test_a_policy_with_a_bad_target_is_refused_on_its_target(admin_client, changes, messages):
    queue = factories.QueueFactory()
    response = admin_client.post(reverse("admin:allocation_slapolicy_add"), policy_form(queue, **changes))
    assert errors_of(response) == {"target": messages}
    assert not SlaPolicy.objects.exists()


def test_a_queues_policies_take_their_targets_in_hours_and_minutes_on_the_queues_page(admin_client):
    data = queue_form() | {
        "sla_policies-TOTAL_FORMS": "2",
        "sla_policies-0-priority": "", "sla_policies-0-target_hours": "16", "sla_policies-0-target_minutes": "0",
        "sla_policies-0-warning_thresholds": "50,75,90", "sla_policies-0-pause_when_pended": "on",
        "sla_policies-1-priority": "5", "sla_policies-1-target_hours": "4", "sla_policies-1-target_minutes": "99",
        "sla_policies-1-warning_thresholds": "50,75,90",
    }
    refused = admin_client.post(reverse("admin:allocation_queue_add"), data)
    formset = next(f.formset for f in refused.context["inline_admin_formsets"] if f.formset.prefix == "sla_policies")
    assert formset.forms[1].errors == {"target": ["Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."]}
    assert not Queue.objects.exists() and not SlaPolicy.objects.exists()

    saved = admin_client.post(reverse("admin:allocation_queue_add"), data | {"sla_policies-1-target_minutes": "30"})
    assert saved.status_code == 302
    assert sorted(SlaPolicy.objects.values_list("target", flat=True)) == [
        timedelta(hours=4, minutes=30), timedelta(hours=16)]


# Business calendars: time zone and holiday country ----------------------------------------------------

def calendar_form(**changes) -> dict:
    return {"name": "London office", "time_zone": "Europe/London", "description": "",
            "windows-TOTAL_FORMS": "0", "windows-INITIAL_FORMS": "0",
            "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0"} | changes


def test_a_calendars_time_zone_is_searched_from_the_list_and_taken_in_its_spelling(admin_client):
    page = admin_client.get(reverse("admin:allocation_businesscalendar_add")).content.decode()
    assert 'list="id_time_zone_list"' in page and '<option value="Europe/London">' in page

    response = admin_client.post(reverse("admin:allocation_businesscalendar_add"),
                                 calendar_form(time_zone=" europe/london "))

    assert response.status_code == 302, errors_of(response)
    assert BusinessCalendar.objects.get().time_zone == "Europe/London"


@pytest.mark.parametrize(("zone", "message"), [
    ("Mars/Olympus_Mons", "“Mars/Olympus_Mons” is not an IANA time zone: choose one from the list, "
                          "e.g. Europe/London."),
    ("London", "“London” is not an IANA time zone: choose one from the list, e.g. Europe/London."),
    ("", "This field is required."),
    ("x" * 65, "Ensure this value has at most 64 characters (it has 65)."),
])
def test_an_unknown_time_zone_is_refused_on_its_field(admin_client, zone, message):
    response = admin_client.post(reverse("admin:allocation_businesscalendar_add"), calendar_form(time_zone=zone))
    assert errors_of(response) == {"time_zone": [message]}
    assert not BusinessCalendar.objects.exists()


@pytest.fixture
def calendar():
    return BusinessCalendar.objects.create(name="London office", time_zone="Europe/London")


def load_holidays(client, calendar, **changes):
    url = reverse("admin:allocation_businesscalendar_load_holidays", args=[calendar.pk])
    return client.post(url, {"country": "United Kingdom (GB)", "subdivision": "ENG", "first_year": "2031",
                             "last_year": "2031"} | changes)


def test_holiday_countries_are_offered_by_name(admin_client, calendar):
    page = admin_client.get(reverse("admin:allocation_businesscalendar_load_holidays", args=[calendar.pk]))
    html = page.content.decode()
    assert '<option value="United Kingdom (GB)">' in html and '<option value="Isle of Man (IM)">' in html
    assert '<option value="Germany (DE)">' in html and 'list="id_country_list"' in html


@pytest.mark.parametrize("typed", ["United Kingdom (GB)", "united kingdom", "gb", "GBR", "  United Kingdom  "])
def test_a_holiday_country_is_taken_by_name_or_code(admin_client, calendar, typed):
    response = load_holidays(admin_client, calendar, country=typed)
    assert response.status_code == 302
    assert calendar.holidays.filter(name="Good Friday").exists()
    assert set(calendar.holidays.values_list("source", flat=True)) <= {"holidays:GB-ENG", "holidays:GBR-ENG"}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"country": "Narnia"}, "country",
     "No public holiday data for “Narnia”: choose a country from the list, e.g. United Kingdom (GB)."),
    ({"country": "Atlantis (AT2)"}, "country",
     "No public holiday data for “Atlantis (AT2)”: choose a country from the list, e.g. United Kingdom (GB)."),
    ({"country": ""}, "country", "This field is required."),
    ({"subdivision": "XX"}, "subdivision", "Choose one of: ENG, NIR, SCT, WLS."),
    ({"first_year": "twenty"}, "first_year", "Enter a whole number."),
    ({"last_year": "99999"}, "last_year", "Ensure this value is less than or equal to 2100."),
])
def test_bad_holiday_input_is_refused_on_its_field(admin_client, calendar, changes, field, message):
    response = load_holidays(admin_client, calendar, **changes)
    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert not Holiday.objects.exists()


# Pend and release reasons ------------------------------------------------------------------------

def reason_form(**changes) -> dict:
    return {"action": "pend", "label": "Waiting for documents", "active": "on", "position": "1"} | changes


def test_the_pend_and_release_lists_are_the_admins_with_other_last(admin_client):
    assert [label for label, _ in PendForm().fields["reason"].choices][1:] == [
        "Waiting for the customer", "Waiting for the merchant or a third party", "Waiting for another team",
        "Callback scheduled", "Other",
    ]
    assert [label for label, _ in ReleaseForm().fields["reason"].choices][-1] == "Other"

    response = admin_client.post(reverse("admin:allocation_itemactionreason_add"), reason_form())
    assert response.status_code == 302, errors_of(response)
    ItemActionReason.objects.filter(label="Callback scheduled").update(active=False)  # retired

    offered = [label for label, _ in PendForm().fields["reason"].choices]
    assert offered == ["", "Waiting for the customer", "Waiting for documents",
                       "Waiting for the merchant or a third party", "Waiting for another team", "Other"]
    assert "Waiting for documents" not in [label for label, _ in ReleaseForm().fields["reason"].choices]


def test_an_agent_pends_with_a_reason_the_admins_added(client, agent, queue):
    ItemActionReason.objects.create(action=ReasonAction.PEND, label="Waiting for documents", position=0)
    item = started_item(agent, queue)
    client.force_login(agent.user)
    form = client.get(reverse("work:item-action-form", args=[item.pk, "pend"])).content.decode()
    assert '<option value="Waiting for documents">' in form

    until = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("work:item-pend", args=[item.pk]), {
        "pend-until": until, "pend-reason": "Waiting for documents", "pend-details": "",
    })

    assert response.status_code == 302
    assert item.events.get(kind=EventKind.PENDED).reason == "Waiting for documents"


def test_a_retired_reason_is_refused_and_other_still_asks_for_details(client, agent, queue):
    ItemActionReason.objects.filter(label="Going off shift").update(active=False)
    item = started_item(agent, queue)
    client.force_login(agent.user)
    retired = client.post(reverse("work:item-release", args=[item.pk]), {"release-reason": "Going off shift"})
    assert retired.status_code == 400 and "Select a valid choice" in retired.content.decode()
    other = client.post(reverse("work:item-release", args=[item.pk]), {"release-reason": "Other"})
    assert other.status_code == 400 and "Say what the reason is." in other.content.decode()


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"label": ""}, "label", "Write the reason as agents will read it in the list."),
    ({"label": "   "}, "label", "Write the reason as agents will read it in the list."),
    ({"label": "other"}, "label", "“Other” is always offered last, asking for details: no need to add it."),
    ({"label": "waiting for the CUSTOMER"}, "label",
     "“waiting for the CUSTOMER” is a pend reason already: edit that one instead."),
    ({"label": "x" * 101}, "label", "Ensure this value has at most 100 characters (it has 101)."),
    ({"action": "later"}, "action", "Select a valid choice. later is not one of the available choices."),
    ({"position": "-1"}, "position", "Ensure this value is greater than or equal to 0."),
    ({"position": "first"}, "position", "Enter a whole number."),
    ({"position": "9" * 30}, "position", "Ensure this value is less than or equal to 32767."),
])
def test_a_bad_reason_is_refused_on_its_field(admin_client, changes, field, message):
    before = ItemActionReason.objects.count()
    response = admin_client.post(reverse("admin:allocation_itemactionreason_add"), reason_form(**changes))
    assert errors_of(response) == {field: [message]}
    assert ItemActionReason.objects.count() == before


def test_the_same_label_may_be_a_pend_and_a_release_reason(admin_client):
    response = admin_client.post(reverse("admin:allocation_itemactionreason_add"),
                                 reason_form(action="release", label="Waiting for the customer"))
    assert response.status_code == 302
    assert ItemActionReason.objects.filter(label="Waiting for the customer").count() == 2


# Agents' last seen ------------------------------------------------------------------------------------

def test_an_agents_last_seen_is_shown_not_typed(admin_client, agent):
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=NOW)
    url = reverse("admin:allocation_agentprofile_change", args=[agent.pk])
    page = admin_client.get(url)
    assert "last_seen_at" not in page.context["adminform"].form.fields
    assert "Thu 10 Apr 2031, 14:05" in page.content.decode()

    admin_client.post(url, {"team": agent.team_id, "capacity": "3", "last_seen_at_0": "2000-01-01",
                            "last_seen_at_1": "00:00", "last_seen_at": "2000-01-01 00:00",
                            "skill_levels-TOTAL_FORMS": "0", "skill_levels-INITIAL_FORMS": "0"})
    agent.refresh_from_db()
    assert agent.last_seen_at == NOW


# The portal's date format, icon, way back and look on admin pages -----------------------------------

def test_admin_writes_moments_as_the_portal_does_and_the_api_keeps_iso(admin_client, queue, settings):
    settings.TIME_ZONE = "Europe/London"
    item = factories.WorkItemFactory(queue=queue, received_at=NOW)
    page = admin_client.get(reverse("admin:allocation_workitem_change", args=[item.pk])).content.decode()
    api = admin_client.get(reverse("item-detail", args=[item.pk])).json()
    assert "Thu 10 Apr 2031, 15:05" in page  # 14:05 UTC is 15:05 in London (BST)
    assert api["received_at"] == "2031-04-10T15:05:00+01:00"


def test_admin_pages_have_the_portals_icon_colours_and_a_way_back(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert 'href="/static/css/admin.css"' in page
    assert '<a href="/" class="back-to-portal">Back to the portal</a>' in page
    assert "View site" not in page
    for url in (reverse("admin:allocation_queue_changelist"), reverse("admin:allocation_queue_add")):
        assert 'href="/static/css/admin.css"' in admin_client.get(url).content.decode()


def test_the_api_docs_have_the_portals_icon_and_a_way_back(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("api-docs")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert "favicon-32x32.png" not in page  # Swagger's own icon is not linked as well
    assert '<a class="portal-back" href="/">← Back to the portal</a>' in page
    assert 'id="swagger-ui"' in page
