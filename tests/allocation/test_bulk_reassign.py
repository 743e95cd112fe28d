"""Supervisor bulk reassign: preview equals apply, refusals with reasons, scope by the
teams a supervisor leads, the page and the API."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from allocation import services
from allocation.models import EventKind, ItemStatus, Presence, WorkItem
from allocation.services import bulk
from core import roles
from tests import factories
from tests.helpers import assigned_item, queued_item, started_item

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
    done = client.post(reverse("work:reassign"), data | {"step": "apply"}, follow=True)
    assert done.redirect_chain == [(reverse("work:reassign"), 302)]
    assert f"Moved 2 items to target: #{held[0].pk}, #{held[1].pk}." in done.content.decode()
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


def _options(html: str) -> dict[str, list[str]]:
    """The target list's groups, in order, each with its options' labels."""
    select = re.search(r'<select name="target".*?</select>', html, re.S).group(0)
    return {label: re.findall(r"<option [^>]*>([^<]*)</option>", body)
            for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select, re.S)}


def test_after_apply_the_page_shows_the_items_as_they_now_are(client, desk, team, queue, agent):
    supervisor, _ = desk
    target = factories.AgentFactory(team=team, capacity=2, user__username="target", user__first_name="Ines",
                                    user__last_name="Walker")
    agent.capacity = 5
    agent.save()
    held = [started_item(agent, queue) for _ in range(3)]
    client.force_login(supervisor)
    filtered = f"{reverse('work:reassign')}?assignee={agent.user.username}"
    ticked = client.get(f"{filtered}&select=all").content.decode()
    assert all(f'aria-label="Select #{item.pk}" checked' in ticked for item in held)

    data = {"items": [item.pk for item in held], "target": f"agent:{target.pk}", "reason": "Absence", "step": "apply"}
    done = client.post(f"{filtered}&select=all", data, follow=True)
    html = done.content.decode()
    assert done.redirect_chain == [(filtered, 302)]  # the same filters, nothing selected: a reload moves nothing
    assert f"Moved 2 items to Ines Walker (target): #{held[0].pk}, #{held[1].pk}." in html
    assert f"Not moved (1): #{held[2].pk}: Ines Walker would hold more than its capacity of 2." in html
    # Listed by the old holder: only what it still holds, not ticked.
    assert f'id="pick-{held[0].pk}"' not in html and f'id="pick-{held[1].pk}"' not in html
    assert f'aria-label="Select #{held[2].pk}">' in html and " checked" not in html
    everything = client.get(reverse("work:reassign")).content.decode()
    row = re.search(rf'id="pick-{held[0].pk}".*?</tr>', everything, re.S).group(0)
    assert '<td data-label="Held by">Ines Walker</td>' in row


def test_the_target_list_offers_the_eligible_agents_first_and_says_why_the_others_are_not(client, desk, team):
    supervisor, _ = desk
    chargebacks = factories.QueueFactory(name="Chargebacks", teams=[team])
    claims_team = factories.TeamFactory(name="Claims team")
    claims_team.supervisors.add(supervisor)
    claims = factories.QueueFactory(name="Claims", teams=[claims_team])
    full = factories.AgentFactory(team=team, capacity=1, user__first_name="Fay", user__last_name="Full")
    assigned_item(full, chargebacks)
    ready = factories.AgentFactory(team=team, user__first_name="Ines", user__last_name="Walker")
    factories.AgentFactory(team=team, presence=Presence.OFFLINE, user__first_name="Otto", user__last_name="Off")
    factories.AgentFactory(team=claims_team, user__first_name="Cleo", user__last_name="Claims")
    waiting, claim = queued_item(chargebacks), queued_item(claims)
    client.force_login(supervisor)

    groups = _options(client.get(reverse("work:reassign"), {"queue": chargebacks.pk}).content.decode())
    assert list(groups) == ["Queues", "Agents who may take these items now", "Agents who may not take them now"]
    assert groups["Agents who may take these items now"] == [f"Ines Walker ({team})"]
    assert sorted(groups["Agents who may not take them now"]) == [
        "Cleo Claims (Claims team) — not in a team serving Chargebacks",
        f"Fay Full ({team}) — at capacity 1/1",
        f"Otto Off ({team}) — offline",
    ]

    # Eligible for what is selected: a Claims item makes the Claims agent the one who may.
    data = {"items": [claim.pk], "target": f"agent:{ready.pk}", "step": "preview"}
    groups = _options(client.post(reverse("work:reassign"), data).content.decode())
    assert groups["Agents who may take these items now"] == ["Cleo Claims (Claims team)"]
    assert f"Ines Walker ({team}) — not in a team serving Claims" in groups["Agents who may not take them now"]
    assert WorkItem.objects.get(pk=waiting.pk).status == ItemStatus.QUEUED


@pytest.mark.parametrize("hostile", [
    {"target": "agent:abc"},
    {"target": "agent:99999999999999999999"},
    {"items": ["1\x00"]},
    {"step": "apply\x00", "target": "queue:\x00"},
])
def test_hostile_posts_are_a_400_and_change_nothing(client, desk, queue, hostile):
    supervisor, _ = desk
    item = queued_item(queue)
    client.force_login(supervisor)
    data = {"items": [item.pk], "target": f"queue:{queue.pk}", "reason": "x", "step": "apply"} | hostile
    response = client.post(reverse("work:reassign"), data)
    assert response.status_code == 400
    assert WorkItem.objects.get(pk=item.pk).events.count() == 1


def test_an_item_id_no_item_has_is_refused_by_name(client, desk, queue):
    supervisor, _ = desk
    queued_item(queue)
    client.force_login(supervisor)
    data = {"items": ["99999999999999999999"], "target": f"queue:{queue.pk}", "step": "apply"}
    done = client.post(reverse("work:reassign"), data, follow=True)
    assert done.status_code == 200
    assert f"Nothing moved to the {queue.name} queue. Not moved (1): #99999999999999999999: No such item." in (
        done.content.decode())


@pytest.mark.parametrize("query", [{"assignee": "walk\x00"}, {"assignee": "w" * 151}, {"queue": "abc"}])
def test_a_hostile_filter_is_a_400(client, desk, query):
    supervisor, _ = desk
    client.force_login(supervisor)
    assert client.get(reverse("work:reassign"), query).status_code == 400
    assert client.get(reverse("work:items"), query).status_code == 400


def test_the_page_queries_do_not_grow_with_the_candidates(client, desk, team, queue):
    """Every candidate is listed with its reasons, read for all of them at once."""
    supervisor, _ = desk
    skill = factories.SkillFactory()
    factories.QueueSkillFactory(queue=queue, skill=skill, min_proficiency=2)
    queued_item(queue)
    client.force_login(supervisor)

    def queries() -> int:
        client.get(reverse("work:reassign"))  # the session's "last seen" write happens here
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("work:reassign"), {"assignee": "a"}).status_code == 200
        return len(captured)

    factories.AgentFactory(team=team)
    few = queries()
    for presence in (Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE):
        factories.AgentSkillFactory(agent=factories.AgentFactory(team=team, presence=presence), skill=skill)
    factories.AgentFactory(team=factories.TeamFactory())
    assert queries() == few


def test_one_setting_limits_a_bulk_move(desk, queue, agent, settings):
    """WFO_MAX_BULK_ITEMS is the one limit of a bulk move: over it, nothing moves and the
    items field says the limit."""
    from core.exceptions import InvalidInput

    supervisor, _ = desk
    settings.WFO_MAX_BULK_ITEMS = 2
    items = [queued_item(queue).pk for _ in range(3)]
    with pytest.raises(InvalidInput) as refused:
        bulk.items_reassign(actor=supervisor, item_ids=items, to_agent_id=agent.pk, reason="r")
    assert refused.value.fields == {"items": ["At most 2."]}
    assert not WorkItem.objects.filter(pk__in=items, assignee_id=agent.pk).exists()
    bulk.items_reassign(actor=supervisor, item_ids=items[:2], to_agent_id=agent.pk, reason="r")
    assert WorkItem.objects.filter(pk__in=items, assignee_id=agent.pk).count() == 2
