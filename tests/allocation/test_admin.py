"""Django admin: configuration pages render, work items are read-only, and every admin
action goes through the services with the admin user as actor."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from allocation import selectors, services
from allocation.admin import core as allocation_admin
from allocation.models import (
    AgentProfile,
    EventKind,
    ItemStatus,
    Presence,
    PresenceChange,
    WorkItem,
)
from core import roles
from core.actors import SystemActor
from core.models import ChangeRecord, WorkerHeartbeat
from core.services import worker_heartbeat_record
from tests import factories

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor("tests")
CHANGELIST = "admin:allocation_workitem_changelist"


def _url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def _hold(item: WorkItem, agent: AgentProfile) -> WorkItem:
    return services.item_transfer(item_id=item.pk, actor=SYSTEM, to_agent_id=agent.pk)


def _complete(item: WorkItem, agent: AgentProfile) -> WorkItem:
    _hold(item, agent)
    services.item_start(item_id=item.pk, actor=agent.user)
    return services.item_complete(item_id=item.pk, actor=agent.user)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _results(response) -> list:
    return list(response.context["cl"].result_list)


def _action_names(response) -> set[str]:
    action_form = response.context["action_form"]
    return {name for name, _ in action_form.fields["action"].choices if name} if action_form else set()


@pytest.fixture(params=["superuser", "admin_role"])
def staff(request, client):
    if request.param == "superuser":
        user = factories.UserFactory(is_staff=True, is_superuser=True)
    else:
        user = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    client.force_login(user)
    return SimpleNamespace(client=client, user=user)


@pytest.fixture
def world(db):
    skill = factories.SkillFactory(name="Chargebacks — Visa")
    team = factories.TeamFactory()
    team.supervisors.add(factories.UserFactory(roles=[roles.SUPERVISOR]))
    queue = factories.QueueFactory(teams=[team])
    factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=2)
    other_queue = factories.QueueFactory(teams=[team])
    agent = factories.AgentFactory(team=team)
    factories.AgentSkillFactory(agent=agent, skill=skill, proficiency=3)
    queued = factories.WorkItemFactory(queue=queue, external_id="CB-1001", customer_ref="CUST-4242", priority=5)
    held = _hold(factories.WorkItemFactory(queue=queue), agent)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY, actor=agent.user)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AVAILABLE, actor=agent.user)
    heartbeat = worker_heartbeat_record(hostname="worker-1")
    return SimpleNamespace(
        skill=skill, team=team, queue=queue, other_queue=other_queue, agent=agent, queued=queued, held=held,
        heartbeat=heartbeat,
    )


def _pages(world) -> list[str]:
    return [
        _url("index"),
        *(_url(f"{model}_changelist") for model in [
            "allocation_skill", "allocation_team", "allocation_queue", "allocation_agentprofile",
            "allocation_workitem", "allocation_presencechange", "wfo_workerheartbeat",
            "authtoken_tokenproxy", "auth_user",
        ]),
        *(_url(f"{model}_add") for model in [
            "allocation_skill", "allocation_team", "allocation_queue", "allocation_agentprofile",
            "authtoken_tokenproxy", "auth_user",
        ]),
        _url("allocation_skill_change", world.skill.pk),
        _url("allocation_team_change", world.team.pk),
        _url("allocation_queue_change", world.queue.pk),
        _url("allocation_agentprofile_change", world.agent.pk),
        _url("allocation_workitem_change", world.held.pk),
        _url("auth_user_change", world.agent.pk),
        _url("wfo_workerheartbeat_change", world.heartbeat.pk),
    ]


def test_every_page_renders(staff, world):
    for url in _pages(world):
        response = staff.client.get(url)
        assert response.status_code == 200, url


def test_site_is_titled(staff):
    response = staff.client.get(_url("index"))
    assert b"WFO Portal administration" in response.content


def test_team_and_queue_lists_count_by_annotation(staff, world):
    teams = _results(staff.client.get(_url("allocation_team_changelist")))
    assert [(t.agent_count, t.queue_count) for t in teams] == [(1, 2)]

    factories.WorkItemFactory(queue=world.queue)
    queues = {q.pk: q.queued_count for q in _results(staff.client.get(_url("allocation_queue_changelist")))}
    assert queues == {world.queue.pk: 2, world.other_queue.pk: 0}


def test_queue_with_items_cannot_be_deleted(staff, world):
    assert staff.client.get(_url("allocation_queue_delete", world.queue.pk)).status_code == 403
    empty = factories.QueueFactory()
    assert staff.client.get(_url("allocation_queue_delete", empty.pk)).status_code == 200


def test_agent_profile_is_created_with_skills(staff, world):
    user = factories.UserFactory()
    response = staff.client.post(_url("allocation_agentprofile_add"), {
        "user": user.pk, "team": world.team.pk, "capacity": 4,
        "skill_levels-TOTAL_FORMS": 1, "skill_levels-INITIAL_FORMS": 0,
        "skill_levels-0-skill": world.skill.pk, "skill_levels-0-proficiency": 4,
    })

    assert response.status_code == 302, response.context["adminform"].form.errors
    profile = AgentProfile.objects.get(pk=user.pk)
    assert (profile.team, profile.capacity, profile.presence) == (world.team, 4, Presence.OFFLINE)
    assert profile.skill_levels.get().proficiency == 4


def test_an_admins_change_to_an_agents_team_capacity_and_skills_is_in_the_change_log(staff, world):
    agent = world.agent
    other_team = factories.TeamFactory(name="Night shift")
    before = selectors.agent_configuration(agent.pk)
    skill_row = agent.skill_levels.get()
    response = staff.client.post(_url("allocation_agentprofile_change", agent.pk), {
        "team": other_team.pk, "capacity": agent.capacity + 2,
        "skill_levels-TOTAL_FORMS": 1, "skill_levels-INITIAL_FORMS": 1,
        "skill_levels-0-id": skill_row.pk, "skill_levels-0-agent": agent.pk,
        "skill_levels-0-skill": skill_row.skill_id, "skill_levels-0-proficiency": 5,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors

    record = ChangeRecord.objects.get(action="agent.configured")
    assert (record.actor_id, record.subject_type, record.subject_id) == (staff.user.pk, "allocation.agentprofile",
                                                                         str(agent.pk))
    assert record.before == {"team": before["team"], "capacity": agent.capacity, "skills": before["skills"]}
    assert record.after == {"team": "Night shift", "capacity": agent.capacity + 2,
                            "skills": {skill_row.skill.name: 5}}
    # Saved again unchanged: nothing more to note.
    staff.client.post(_url("allocation_agentprofile_change", agent.pk), {
        "team": other_team.pk, "capacity": agent.capacity + 2,
        "skill_levels-TOTAL_FORMS": 1, "skill_levels-INITIAL_FORMS": 1,
        "skill_levels-0-id": skill_row.pk, "skill_levels-0-agent": agent.pk,
        "skill_levels-0-skill": skill_row.skill_id, "skill_levels-0-proficiency": 5,
    })
    assert ChangeRecord.objects.count() == 1
    listed = staff.client.get(_url("wfo_changerecord_changelist"))
    assert listed.status_code == 200 and "agent.configured" in listed.content.decode()


def test_agent_presence_is_not_editable_in_the_form(staff, world):
    response = staff.client.get(_url("allocation_agentprofile_change", world.agent.pk))
    form_fields = response.context["adminform"].form.fields
    assert "presence" not in form_fields
    assert "user" not in form_fields
    assert "capacity" in form_fields


@pytest.mark.parametrize("presence", list(Presence))
def test_presence_actions_go_through_the_service(staff, world, presence):
    start = Presence.OFFLINE if presence != Presence.OFFLINE else Presence.AWAY
    agents = factories.AgentFactory.create_batch(2, presence=start)

    response = staff.client.post(_url("allocation_agentprofile_changelist"), {
        "action": f"set_{presence.value}", "_selected_action": [agent.pk for agent in agents], "index": 0,
    }, follow=True)

    assert "2 agent(s) set" in _messages(response)[0]
    for agent in agents:
        agent.refresh_from_db()
        assert agent.presence == presence
    changes = PresenceChange.objects.filter(agent__in=agents)
    assert {(c.agent_id, c.presence, c.actor_id) for c in changes} == {
        (agent.pk, presence, staff.user.pk) for agent in agents
    }


@pytest.mark.parametrize("field", ["external_id", "customer_ref"])
def test_search_finds_the_item_by_exact_reference(staff, world, field):
    factories.WorkItemFactory.create_batch(3, queue=world.queue)
    value = getattr(world.queued, field)

    response = staff.client.get(_url("allocation_workitem_changelist"), {"q": value})
    assert _results(response) == [world.queued]

    response = staff.client.get(_url("allocation_workitem_changelist"), {"q": value[:-1]})
    assert _results(response) == []


def test_filters_narrow_the_items(staff, world):
    other = factories.WorkItemFactory(queue=world.other_queue, priority=1)
    changelist = _url("allocation_workitem_changelist")

    def found(**params):
        return {item.pk for item in _results(staff.client.get(changelist, params))}

    assert found() == {world.queued.pk, world.held.pk, other.pk}
    assert found(queue__id__exact=world.other_queue.pk) == {other.pk}
    assert found(status__exact=ItemStatus.ASSIGNED) == {world.held.pk}
    assert found(assignee=world.agent.pk) == {world.held.pk}
    assert found(priority__exact=5) == {world.queued.pk}
    assert found(customer_ref=world.queued.customer_ref) == {world.queued.pk}


def test_items_are_never_added_changed_or_deleted(staff, world):
    item = world.queued
    assert staff.client.get(_url("allocation_workitem_add")).status_code == 403
    assert staff.client.get(_url("allocation_workitem_delete", item.pk)).status_code == 403
    assert staff.client.post(_url("allocation_workitem_change", item.pk), {"title": "Edited"}).status_code == 403

    response = staff.client.get(_url("allocation_workitem_change", item.pk))
    assert response.context["has_change_permission"] is False
    assert not response.context["adminform"].form.fields
    changelist = staff.client.get(_url("allocation_workitem_changelist"))
    assert _action_names(changelist) == {"cancel_items", "transfer_items"}
    item.refresh_from_db()
    assert item.title != "Edited"


def test_item_page_shows_the_events_in_order(staff, world):
    response = staff.client.get(_url("allocation_workitem_change", world.held.pk))
    inline = response.context["inline_admin_formsets"][0]
    events = [form.original for form in inline]
    assert [e.kind for e in events] == [EventKind.TRANSFERRED]
    assert "system: tests" in response.content.decode()
    assert "Queued → Assigned" in response.content.decode()


def test_cancel_asks_for_confirmation_then_cancels_through_the_service(staff, world):
    changelist = reverse(CHANGELIST)
    selected = [world.queued.pk, world.held.pk]

    response = staff.client.post(changelist, {"action": "cancel_items", "_selected_action": selected, "index": 0})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/allocation/workitem/action_confirmation.html"
    assert [item.pk for item in response.context["items"]] == sorted(selected)
    assert WorkItem.objects.filter(status=ItemStatus.CANCELLED).count() == 0

    response = staff.client.post(changelist, {
        "action": "cancel_items", "_selected_action": selected, "apply": "yes", "reason": "Withdrawn by the bank",
    }, follow=True)

    assert response.status_code == 200
    assert "2 work item(s) cancelled." in _messages(response)
    for item in WorkItem.objects.filter(pk__in=selected):
        assert (item.status, item.assignee_id) == (ItemStatus.CANCELLED, None)
        event = item.events.latest("id")
        assert (event.kind, event.actor_id, event.reason) == (
            EventKind.CANCELLED, staff.user.pk, "Withdrawn by the bank",
        )


def test_cancel_without_a_reason_changes_nothing(staff, world):
    response = staff.client.post(reverse(CHANGELIST), {
        "action": "cancel_items", "_selected_action": [world.queued.pk], "apply": "yes", "reason": " ",
    })

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    world.queued.refresh_from_db()
    assert world.queued.status == ItemStatus.QUEUED


def test_cancel_refuses_a_completed_item_and_cancels_the_others(staff, world):
    completed = _complete(factories.WorkItemFactory(queue=world.queue), world.agent)

    response = staff.client.post(reverse(CHANGELIST), {
        "action": "cancel_items", "_selected_action": [world.queued.pk, completed.pk, world.held.pk],
        "apply": "yes", "reason": "Duplicate",
    }, follow=True)

    messages = _messages(response)
    assert "2 work item(s) cancelled." in messages
    [refusal] = [m for m in messages if m.startswith(f"#{completed.pk} not cancelled:")]
    assert "is completed, so it cannot be cancelled" in refusal
    completed.refresh_from_db()
    assert completed.status == ItemStatus.COMPLETED
    assert set(WorkItem.objects.filter(status=ItemStatus.CANCELLED).values_list("pk", flat=True)) == {
        world.queued.pk, world.held.pk,
    }


def test_transfer_moves_the_items_to_the_chosen_queue(staff, world):
    changelist = reverse(CHANGELIST)
    selected = [world.queued.pk, world.held.pk]

    response = staff.client.post(changelist, {"action": "transfer_items", "_selected_action": selected, "index": 0})
    assert response.status_code == 200
    assert "queue" in response.context["form"].fields
    assert not WorkItem.objects.filter(queue=world.other_queue).exists()

    response = staff.client.post(changelist, {
        "action": "transfer_items", "_selected_action": selected, "apply": "yes",
        "queue": world.other_queue.pk, "reason": "Wrong work type",
    }, follow=True)

    assert "2 work item(s) transferred." in _messages(response)
    for item in WorkItem.objects.filter(pk__in=selected):
        assert (item.queue_id, item.status, item.assignee_id) == (world.other_queue.pk, ItemStatus.QUEUED, None)
        event = item.events.latest("id")
        assert (event.kind, event.actor_id, event.reason) == (EventKind.TRANSFERRED, staff.user.pk, "Wrong work type")
        assert event.data["to_queue"] == world.other_queue.code


def test_transfer_reports_items_already_waiting_in_that_queue(staff, world):
    response = staff.client.post(reverse(CHANGELIST), {
        "action": "transfer_items", "_selected_action": [world.queued.pk], "apply": "yes",
        "queue": world.queue.pk, "reason": "Requeue",
    }, follow=True)

    assert _messages(response) == [
        f"#{world.queued.pk} not transferred: Work item #{world.queued.pk} is already waiting in {world.queue.name}."
    ]


def test_actions_refuse_oversized_selections(staff, world, settings):
    settings.WFO_MAX_BULK_ITEMS = 1

    response = staff.client.post(reverse(CHANGELIST), {
        "action": "cancel_items", "_selected_action": [world.queued.pk, world.held.pk], "index": 0,
    }, follow=True)

    assert _messages(response) == ["Select at most 1 items at a time; use the filters to narrow the list."]
    assert not WorkItem.objects.filter(status=ItemStatus.CANCELLED).exists()


def test_supervisor_sees_items_and_both_actions(client, world):
    client.force_login(factories.UserFactory(roles=[roles.SUPERVISOR], is_staff=True))

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert _action_names(response) == {"cancel_items", "transfer_items"}
    assert client.get(_url("allocation_workitem_change", world.held.pk)).status_code == 200


def test_staff_without_cancel_permission_gets_no_cancel_action(client, world):
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="allocation",
        codename__in=["view_workitem", "view_workitemevent", "reassign_workitem"],
    ))
    client.force_login(user)

    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert _action_names(response) == {"transfer_items"}

    response = client.post(reverse(CHANGELIST), {
        "action": "cancel_items", "_selected_action": [world.queued.pk], "apply": "yes", "reason": "Duplicate",
    }, follow=True)
    assert response.status_code == 200
    world.queued.refresh_from_db()
    assert world.queued.status == ItemStatus.QUEUED


def test_item_changelist_queries_do_not_grow_with_rows(staff, world):
    agents = [factories.AgentFactory(team=world.team, capacity=10) for _ in range(3)]
    for agent in agents:
        factories.AgentSkillFactory(agent=agent, skill=world.skill)

    def add_items(count):
        for index in range(count):
            item = factories.WorkItemFactory(queue=world.queue)
            if index % 2:
                _hold(item, agents[index % len(agents)])

    def changelist_queries() -> int:
        staff.client.get(reverse(CHANGELIST))  # the session's once-a-minute "last seen" write happens here
        with CaptureQueriesContext(connection) as queries:
            response = staff.client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        return len(queries)

    add_items(3)
    few = changelist_queries()
    add_items(15)
    assert WorkItem.objects.count() == 20
    many = changelist_queries()

    assert many == few
    assert many <= 10


def test_paginator_estimates_only_unfiltered_large_tables(world, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {WorkItem._meta.db_table}")
    monkeypatch.setattr(allocation_admin.EstimatedCountPaginator, "exact_below", 1)
    factories.WorkItemFactory(queue=world.queue)  # not in the statistics yet

    assert allocation_admin.EstimatedCountPaginator(WorkItem.objects.all(), 10).count == 2
    filtered = WorkItem.objects.filter(queue=world.queue)
    assert allocation_admin.EstimatedCountPaginator(filtered, 10).count == 3


def test_heartbeat_alive_column():
    heartbeat_admin = django_admin.site._registry[WorkerHeartbeat]
    fresh = WorkerHeartbeat.objects.create(hostname="fresh", last_seen=timezone.now(), beats=3)
    stale = WorkerHeartbeat.objects.create(hostname="stale", last_seen=timezone.now() - timedelta(hours=1), beats=9)

    assert heartbeat_admin.is_alive(fresh) is True
    assert heartbeat_admin.is_alive(stale) is False


def test_admin_creates_a_token_for_an_integration_user(staff):
    integration = factories.UserFactory(roles=[roles.SOURCE_SYSTEM])

    response = staff.client.post(_url("authtoken_tokenproxy_add"), {"user": integration.pk})

    assert response.status_code == 302
    token = Token.objects.get(user=integration)
    changelist = staff.client.get(_url("authtoken_tokenproxy_changelist"))
    assert token.key in changelist.content.decode()


def test_every_admin_with_autocomplete_fields_uses_the_tamper_proof_widget():
    """The test below sends crafted values to the autocomplete fields there are today; this
    one makes a new admin or inline with autocomplete fields take the same widget."""
    from core.admin import TamperProofAutocomplete

    admins = [*django_admin.site._registry.values()]
    admins += [inline for model_admin in list(admins) for inline in model_admin.inlines]
    lacking = [admin for admin in admins if getattr(admin, "autocomplete_fields", ())
               and not isinstance(admin, TamperProofAutocomplete)
               and not (isinstance(admin, type) and issubclass(admin, TamperProofAutocomplete))]
    assert lacking == []


@pytest.mark.parametrize(("page", "field"), [
    ("allocation_queue_change", "skill_requirements-0-skill"),
    ("allocation_agentprofile_change", "skill_levels-0-skill"),
    ("allocation_agentprofile_add", "user"),
    ("allocation_sourcebinding_add", "user"),
    ("allocation_slapolicy_add", "queue"),
])
@pytest.mark.parametrize("crafted", ["x", "1.5", "-", "9" * 30])
def test_a_crafted_autocomplete_value_is_refused_on_the_form_not_a_500(staff, world, page, field, crafted):
    """Every autocomplete field of the admin, main form and inline, sent what no id is."""
    objects = {"allocation_queue_change": world.queue, "allocation_agentprofile_change": world.agent}
    url = _url(page, *([objects[page].pk] if page in objects else []))
    shown = staff.client.get(url)
    data = {}
    for inline in shown.context["inline_admin_formsets"]:
        formset = inline.formset
        saved = formset.initial_form_count()
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(saved + int(field.startswith(formset.prefix)))
        data[f"{formset.prefix}-INITIAL_FORMS"] = str(saved)
        for form in formset.initial_forms:
            data |= {form.add_prefix(name): value for name, value in form.initial.items() if value is not None}
            data[form.add_prefix(formset.model._meta.pk.name)] = form.instance.pk
    data |= {name: value for name, value in shown.context["adminform"].form.initial.items()
             if value is not None and not isinstance(value, list | dict)}
    data[field] = crafted

    answer = staff.client.post(url, data)

    assert answer.status_code == 200
    errors = dict(answer.context["adminform"].form.errors)
    for inline in answer.context["inline_admin_formsets"]:
        for form in inline.formset.forms:
            errors |= {form.add_prefix(name): messages for name, messages in form.errors.items()}
    assert "Select a valid choice" in " ".join(errors.get(field, [])), errors
