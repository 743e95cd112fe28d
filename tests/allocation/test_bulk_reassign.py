"""Supervisor bulk reassign: preview equals apply, refusals with reasons, scope by the
teams a supervisor leads, the page and the API."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from allocation import services
from allocation.models import EventKind, ItemStatus, Presence, WorkItem
from allocation.services import bulk
from tests import factories
from tests.helpers import queued_item, started_item
from wfo import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(team, queue):
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR], username="lead")
    team.supervisors.add(supervisor)
    other_queue = factories.QueueFactory(teams=[factories.TeamFactory()])  # not this supervisor's
    return supervisor, other_queue


def test_preview_equals_apply_and_says_why_items_are_refused(desk, team, queue, agent):
    supervisor, other_queue = desk
    target = factories.AgentFactory(team=team, capacity=2, user__username="target")
    done = started_item(agent, queue)
    services.item_complete(item_id=done.pk, actor=agent.user)
    waiting = [queued_item(queue) for _ in range(3)]
    foreign = queued_item(other_queue)
    ids = [item.pk for item in (*waiting, done, foreign)]

    preview = bulk.items_reassign_preview(actor=supervisor, item_ids=ids, to_agent_id=target.pk)
    reasons = {v.item_id: " ".join(v.reasons) for v in preview.refused}
    assert [v.item_id for v in preview.moving] == [waiting[0].pk, waiting[1].pk]
    assert "more than its capacity of 2" in reasons[waiting[2].pk]
    assert "completed" in reasons[done.pk]
    assert "Not in a queue served by a team you supervise" in reasons[foreign.pk]

    applied = bulk.items_reassign(actor=supervisor, item_ids=ids, to_agent_id=target.pk, reason="Cover")
    assert [v.item_id for v in applied.moving] == [v.item_id for v in preview.moving]
    assert {v.item_id for v in applied.refused} == {v.item_id for v in preview.refused}
    assert set(WorkItem.objects.filter(assignee_id=target.pk).values_list("pk", flat=True)) == {
        waiting[0].pk, waiting[1].pk
    }
    event = WorkItem.objects.get(pk=waiting[0].pk).events.get(kind=EventKind.TRANSFERRED)
    assert event.actor_id == supervisor.pk and event.reason == "Cover"


def test_move_all_items_of_an_absent_agent_to_the_queue(desk, agent, queue):
    supervisor, _ = desk
    agent.capacity = 5
    agent.save()
    held = [started_item(agent, queue) for _ in range(3)]
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.OFFLINE, actor=agent.user)
    result = bulk.items_reassign(actor=supervisor, item_ids=[i.pk for i in held], to_queue_id=queue.pk)
    assert len(result.moving) == 3
    assert set(WorkItem.objects.filter(pk__in=[i.pk for i in held]).values_list("status", flat=True)) == {
        ItemStatus.QUEUED
    }


def test_an_ineligible_target_is_refused_with_the_reasons(desk, queue):
    supervisor, _ = desk
    outsider = factories.AgentFactory(presence=Presence.AWAY)
    item = queued_item(queue)
    preview = bulk.items_reassign_preview(actor=supervisor, item_ids=[item.pk], to_agent_id=outsider.pk)
    why = " ".join(preview.refused[0].reasons)
    assert "not in a team serving" in why and "is away" in why


def test_admins_reach_every_queue_and_agents_none(desk, queue, agent):
    _, other_queue = desk
    admin = factories.UserFactory(roles=[roles.ADMIN])
    item = queued_item(other_queue)
    assert bulk.items_reassign_preview(actor=admin, item_ids=[item.pk], to_queue_id=queue.pk).moving
    with pytest.raises(services.lifecycle.PermissionDenied):
        bulk.items_reassign_preview(actor=agent.user, item_ids=[item.pk], to_queue_id=queue.pk)


def test_bad_requests_change_nothing(desk, queue, agent):
    supervisor, _ = desk
    item = queued_item(queue)
    with pytest.raises(services.lifecycle.InvalidInput, match="either an agent or a queue"):
        bulk.items_reassign(actor=supervisor, item_ids=[item.pk], to_queue_id=queue.pk, to_agent_id=agent.pk)
    with pytest.raises(services.lifecycle.InvalidInput, match="at least one"):
        bulk.items_reassign(actor=supervisor, item_ids=[], to_queue_id=queue.pk)
    unknown = bulk.items_reassign_preview(actor=supervisor, item_ids=[999999], to_agent_id=agent.pk)
    assert unknown.refused[0].reasons == ("No such item.",)


def test_the_page_previews_then_applies(client, desk, team, queue, agent):
    supervisor, _ = desk
    target = factories.AgentFactory(team=team, capacity=5, user__username="target")
    agent.capacity = 5
    agent.save()
    held = [started_item(agent, queue) for _ in range(2)]
    client.force_login(supervisor)
    page = client.get(reverse("work:reassign"), {"assignee": agent.user.username, "select": "all"})
    html = page.content.decode()
    assert page.status_code == 200 and all(f'value="{i.pk}"' in html and "checked" in html for i in held)
    data = {"items": [i.pk for i in held], "target": f"agent:{target.pk}", "reason": "Absence", "step": "preview"}
    preview = client.post(reverse("work:reassign"), data).content.decode()
    assert "Preview: 2 would move, 0 refused" in preview and "Apply: move 2 items" in preview
    assert WorkItem.objects.filter(assignee_id=agent.pk).count() == 2  # nothing moved yet
    done = client.post(reverse("work:reassign"), data | {"step": "apply"}).content.decode()
    assert "Done: 2 moved, 0 refused" in done
    assert WorkItem.objects.filter(assignee_id=target.pk).count() == 2
    bad = client.post(reverse("work:reassign"), {"items": [held[0].pk], "step": "preview"})
    assert bad.status_code == 400 and "This field is required." in bad.content.decode()


def test_the_page_is_for_supervisors_and_admins(client, agent):
    client.force_login(agent.user)
    assert client.get(reverse("work:reassign")).status_code == 403


def test_the_api_previews_and_applies(desk, queue, team):
    supervisor, _ = desk
    target = factories.AgentFactory(team=team, capacity=1, user__username="target")
    items = [queued_item(queue) for _ in range(2)]
    api = APIClient()
    api.force_authenticate(supervisor)
    body = {"items": [i.pk for i in items], "agent": "target", "preview": True}
    preview = api.post(reverse("items-reassign"), body, format="json").json()
    assert preview["moved"] == [items[0].pk] and preview["refused"][0]["item"] == items[1].pk
    assert WorkItem.objects.filter(assignee_id=target.pk).count() == 0
    applied = api.post(reverse("items-reassign"), body | {"preview": False}, format="json").json()
    assert applied["moved"] == preview["moved"] and applied["refused"] == preview["refused"]
    bad = api.post(reverse("items-reassign"), {"items": [], "queue": queue.code}, format="json")
    assert bad.status_code == 400 and "items" in bad.json()["errors"]
    both = api.post(reverse("items-reassign"), {"items": [1], "queue": queue.code, "agent": "target"}, format="json")
    assert both.status_code == 400
