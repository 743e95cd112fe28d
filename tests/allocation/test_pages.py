"""The agent inbox, item page, customer view and supervisors' item list, through Django's
test client: every state and role, bad input, stale pages, and pinned query counts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocation import services, transitions
from allocation.models import EventKind, ItemStatus, Presence, PresenceChange, WorkItem
from core import roles
from tests import factories
from tests.helpers import (
    ITEM_STATES,
    assigned_item,
    item_in_state,
    pended_item,
    queued_item,
    service_accepts,
    started_item,
    supervisor_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent.user)
    return client


@pytest.fixture
def supervisor(team):
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    return lead


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


def item_url(item, action=""):
    return reverse(f"work:item-{action}" if action else "work:item", args=[item.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def follow_messages(client, response) -> list[str]:
    page = client.get(response.url)
    return messages_of(page)


def reload(item) -> WorkItem:
    return WorkItem.objects.get(pk=item.pk)


# Who reaches which page ----------------------------------------------------------------

def test_pages_need_a_login(client, queue):
    for url in (reverse("work:inbox"), reverse("work:items"), reverse("work:customer", args=["C-1"])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_inbox_is_for_agents_only(supervisor_client):
    response = supervisor_client.get(reverse("work:inbox"))
    assert response.status_code == 403
    assert "This page is for agents" in response.content.decode()


def test_agents_cannot_browse_all_items(agent_client):
    response = agent_client.get(reverse("work:items"))
    assert response.status_code == 403
    assert "Only supervisors and admins" in response.content.decode()


def test_navigation_shows_each_role_its_pages(agent_client, client, supervisor):
    html = agent_client.get(reverse("work:inbox")).content.decode()
    assert reverse("work:inbox") in html and reverse("work:items") not in html
    client.force_login(supervisor)
    html = client.get(reverse("home"), follow=True).content.decode()
    assert reverse("work:items") in html and 'href="/work/"' not in html


def test_an_agent_cannot_open_another_agents_item(agent_client, queue, team):
    other = factories.AgentFactory(team=team)
    theirs = started_item(other, queue)
    response = agent_client.get(item_url(theirs))
    assert response.status_code == 403
    assert f"Work item #{theirs.pk} is not yours" in response.content.decode()
    assert theirs.title not in response.content.decode()


def test_an_agent_cannot_act_on_another_agents_item(agent_client, queue, team):
    other = factories.AgentFactory(team=team)
    theirs = started_item(other, queue)
    response = agent_client.post(item_url(theirs, "complete"), {"complete-outcome": "done"})
    assert response.status_code == 302 and response.url == reverse("work:inbox")
    assert any("not yours" in m for m in follow_messages(agent_client, response))
    assert reload(theirs).status == ItemStatus.IN_PROGRESS


def test_unknown_item_is_a_404(agent_client):
    response = agent_client.get(reverse("work:item", args=[999_999]))
    assert response.status_code == 404
    assert "Work item #999999 does not exist" in response.content.decode()


# The inbox -----------------------------------------------------------------------------

def test_empty_inbox_says_so(agent_client):
    html = agent_client.get(reverse("work:inbox")).content.decode()
    assert "You hold no items" in html
    assert 'id="get-next-form"' in html and 'aria-keyshortcuts="n"' in html


def test_inbox_lists_only_what_the_agent_holds_with_sla_state(agent_client, agent, queue, team):
    mine = started_item(agent, queue, title="Mine in progress")
    late = assigned_item(agent, queue, title="Mine and late")
    received = timezone.now() - queue.sla_target - timedelta(minutes=5)  # a 24×7 clock 5 minutes past due
    WorkItem.objects.filter(pk=late.pk).update(
        received_at=received, due_at=received + queue.sla_target, start_by=received + queue.sla_target
    )
    other = factories.AgentFactory(team=team)
    assigned_item(other, queue, title="Someone else's")
    queued_item(queue, title="Still queued")

    html = agent_client.get(reverse("work:inbox")).content.decode()
    assert "Mine in progress" in html and "Mine and late" in html
    assert "Someone else&#x27;s" not in html and "Still queued" not in html
    assert f'href="{item_url(mine)}"' in html
    assert 'class="sla sla-breached"' in html and "overdue by 5 min" in html and "100% used" in html
    assert 'class="sla sla-on_track"' in html
    assert "2 of 3 active" in html


def test_inbox_list_fragment_refreshes_alone(agent_client, agent, queue):
    assigned_item(agent, queue, title="Fresh one")
    response = agent_client.get(reverse("work:inbox-list"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="inbox-list"') and "<html" not in html
    assert "Fresh one" in html and 'hx-trigger="every 30s"' in html  # WFO_INBOX_REFRESH_SECONDS


def test_pended_item_shows_its_follow_up(agent_client, agent, queue):
    item = pended_item(agent, queue, minutes=30)
    html = agent_client.get(reverse("work:inbox")).content.decode()
    assert "Pended" in html and "until" in html and "follow-up due" not in html
    WorkItem.objects.filter(pk=item.pk).update(pended_until=timezone.now() - timedelta(minutes=1))
    assert "follow-up due" in agent_client.get(reverse("work:inbox")).content.decode()


# Presence ------------------------------------------------------------------------------

def test_presence_as_a_plain_form(agent_client, agent):
    response = agent_client.post(reverse("work:presence"), {"presence": "away"})
    assert response.status_code == 302 and response.url == reverse("work:inbox")
    agent.refresh_from_db()
    assert agent.presence == Presence.AWAY
    assert PresenceChange.objects.filter(agent=agent, presence=Presence.AWAY, actor=agent.user).exists()
    assert "You are now away." in follow_messages(agent_client, response)


def test_presence_through_htmx_returns_the_fragment(agent_client, agent):
    response = agent_client.post(reverse("work:presence"), {"presence": "offline"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="presence"')
    assert "Saved: you are offline." in html
    agent.refresh_from_db()
    assert agent.presence == Presence.OFFLINE


def test_unknown_presence_is_refused_and_changes_nothing(agent_client, agent):
    response = agent_client.post(reverse("work:presence"), {"presence": "asleep"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    agent.refresh_from_db()
    assert agent.presence == Presence.AVAILABLE


# Get next work -------------------------------------------------------------------------

def test_get_next_opens_the_item(agent_client, agent, queue):
    item = queued_item(queue)
    response = agent_client.post(reverse("work:next"))
    assert response.status_code == 302 and response.url == item_url(item)
    assert reload(item).assignee_id == agent.pk
    page = agent_client.get(response.url)
    assert f"You got #{item.pk} from {queue.name}" in messages_of(page)[0]


def test_get_next_with_nothing_waiting_says_so(agent_client):
    response = agent_client.post(reverse("work:next"))
    assert response.url == reverse("work:inbox")
    assert "Nothing is waiting for you right now" in follow_messages(agent_client, response)[0]


def test_get_next_while_away_explains_and_assigns_nothing(agent_client, agent, queue):
    item = queued_item(queue)
    services.agent_set_presence(agent_id=agent.pk, presence=Presence.AWAY, actor=agent.user)
    response = agent_client.post(reverse("work:next"))
    assert "You are away: set yourself available" in follow_messages(agent_client, response)[0]
    assert reload(item).status == ItemStatus.QUEUED


def test_get_next_needs_post(agent_client):
    assert agent_client.get(reverse("work:next")).status_code == 405


# The item page in every state ----------------------------------------------------------

def offered(html: str, item) -> set[str]:
    """The actions the page offers: its form, or the section that fetches the form when opened."""
    return {action for action in transitions.ACTIONS if f'action="{item_url(item, action)}"' in html
            or f'hx-get="{form_url(item, action)}"' in html}


def form_url(item, action):
    return reverse("work:item-action-form", args=[item.pk, action])


def test_item_page_shows_details_payload_and_timeline(agent_client, agent, queue):
    item = started_item(agent, queue, payload={"card": {"last4": "4242", "network": "Visa"}, "amount": "12.50",
                                               "disputed_lines": ["fee", "interest"], "arn": "7400"})
    html = agent_client.get(item_url(item)).content.decode()
    assert item.title in html and queue.name in html and item.customer_ref in html
    assert "Card › Last4" in html and "4242" in html and "Disputed lines" in html and "fee, interest" in html
    assert "ARN" in html
    assert "{&quot;" not in html and '{"card"' not in html  # not raw JSON
    assert html.index("Created") < html.index("Assigned") < html.index("Started")
    assert "Picked as next best item from 1 eligible queue" in html
    assert f'href="{reverse("work:customer", args=[item.customer_ref])}"' in html


def test_timeline_names_who_got_the_item_and_who_held_it_before(supervisor_client, supervisor, agent, queue,
                                                                settings):
    settings.WFO_RELEASE_COOLDOWN = timedelta(0)  # the released item may come straight back here
    agent.user.first_name, agent.user.last_name = "Amelia", "Hart"
    agent.user.save()
    item = assigned_item(agent, queue)
    services.item_release(item_id=item.pk, actor=agent.user, reason="Shift ending")
    services.item_get_next(agent_id=agent.pk)
    services.item_cancel(item_id=item.pk, actor=supervisor, reason="Duplicate")

    html = supervisor_client.get(item_url(item)).content.decode()

    assert html.count("Assigned to Amelia Hart by get next work. Picked as next best item") == 2
    assert "Released by Amelia Hart" in html
    assert "Cancelled while held by Amelia Hart" in html


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (assigned_item, {"start", "release", "transfer"}),
        (started_item, {"pend", "complete", "release", "transfer"}),
        (pended_item, {"resume", "transfer"}),
    ],
)
def test_holder_is_offered_exactly_the_allowed_actions(agent_client, agent, queue, build, expected):
    item = build(agent, queue)
    assert offered(agent_client.get(item_url(item)).content.decode(), item) == expected


def test_a_completed_item_offers_nothing(agent_client, agent, queue):
    item = started_item(agent, queue)
    services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
    html = agent_client.get(item_url(item)).content.decode()
    assert offered(html, item) == set()
    assert "nothing more to do" in html


def _service_accepts(action: str, item: WorkItem, actor, other_queue) -> bool:
    """Whether the service takes `action` now (tried in a transaction rolled back)."""
    calls = {
        "start": lambda: services.item_start(item_id=item.pk, actor=actor),
        "pend": lambda: services.item_pend(item_id=item.pk, actor=actor, until=timezone.now() + timedelta(hours=1),
                                           reason="r"),
        "complete": lambda: services.item_complete(item_id=item.pk, actor=actor, outcome="done"),
        "release": lambda: services.item_release(item_id=item.pk, actor=actor, reason="r"),
        "transfer": lambda: services.item_transfer(
            item_id=item.pk, actor=actor, to_queue_id=other_queue.pk, reason="r"
        ),
        "cancel": lambda: services.item_cancel(item_id=item.pk, actor=actor, reason="r"),
        "reject": lambda: services.item_reject(item_id=item.pk, actor=actor, reason="r"),
        "resume": lambda: services.item_resume(item_id=item.pk, actor=actor),
        "priority": lambda: services.item_change_priority(
            item_id=item.pk, actor=actor, priority=5 if item.priority != 5 else 1
        ),
    }
    return service_accepts(calls[action])


@pytest.mark.parametrize("state", ITEM_STATES)
def test_pages_offer_what_the_services_accept(client, agent, queue, team, supervisor, state):
    """For every state, the holder and a supervisor are offered exactly the actions the
    services would accept — the pages re-implement no rule."""
    other_queue = factories.QueueFactory(teams=[team])
    item = item_in_state(state, agent=agent, queue=queue, canceller=supervisor)
    viewers = [supervisor] + ([agent.user] if item.assignee_id == agent.pk or item.completed_by_id == agent.pk else [])
    for viewer in viewers:
        client.force_login(viewer)
        html = client.get(item_url(item)).content.decode()
        accepted = {a for a in transitions.ACTIONS if _service_accepts(a, reload(item), viewer, other_queue)}
        assert offered(html, item) == accepted, (state, viewer.username)


# Acting on an item ---------------------------------------------------------------------

def test_start_keeps_the_agent_on_the_item(agent_client, agent, queue):
    item = assigned_item(agent, queue)
    response = agent_client.post(item_url(item, "start"))
    assert response.status_code == 302 and response.url == item_url(item)
    assert reload(item).status == ItemStatus.IN_PROGRESS


def test_pend_with_a_reason_from_the_list(agent_client, agent, queue):
    item = started_item(agent, queue)
    until = (timezone.localtime() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = agent_client.post(item_url(item, "pend"), {
        "pend-until": until.strftime("%Y-%m-%dT%H:%M"), "pend-reason": "Waiting for the customer",
        "pend-details": "Asked for the receipt",
    })
    assert response.status_code == 302 and response.url == reverse("work:inbox")
    item = reload(item)
    assert item.status == ItemStatus.PENDED and item.pended_until == until
    event = item.events.get(kind=EventKind.PENDED)
    assert event.reason == "Waiting for the customer: Asked for the receipt"
    assert "comes back to you first" in follow_messages(agent_client, response)[0]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"pend-reason": "Callback scheduled"}, "until", "This field is required."),
        ({"pend-until": "tomorrow-ish", "pend-reason": "Callback scheduled"}, "until", "Enter a valid date/time."),
        ({"pend-until": "2020-01-01T09:00", "pend-reason": "Callback scheduled"}, "until", "Must be in the future."),
        ({"pend-until": "2099-01-01T09:00", "pend-reason": "Callback scheduled"}, "until", "Must be within"),
        ({"pend-until": "2099-01-01T09:00"}, "reason", "This field is required."),
        ({"pend-until": "2099-01-01T09:00", "pend-reason": "Because"}, "reason", "Select a valid choice"),
        ({"pend-until": "2099-01-01T09:00", "pend-reason": "Other"}, "details", "Say what the reason is."),
    ],
)
def test_bad_pend_input_is_a_400_on_the_form_and_changes_nothing(agent_client, agent, queue, data, field, message):
    item = started_item(agent, queue)
    response = agent_client.post(item_url(item, "pend"), data)
    assert response.status_code == 400
    form = response.context["action_forms"]["pend"]
    assert any(message in error for error in form.errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert reload(item).status == ItemStatus.IN_PROGRESS
    assert not item.events.filter(kind=EventKind.PENDED).exists()


def test_complete_with_an_outcome_from_the_queue(agent_client, agent, team):
    queue = factories.QueueFactory(teams=[team], outcomes=["approved", "declined"])
    item = started_item(agent, queue)
    html = agent_client.get(item_url(item)).content.decode()
    assert '<option value="approved">Approved</option>' in html  # the code is sent, its label shown
    response = agent_client.post(item_url(item, "complete"), {"complete-outcome": "approved", "complete-note": "ok"})
    assert response.url == reverse("work:inbox")
    item = reload(item)
    assert item.status == ItemStatus.COMPLETED and item.outcome == "approved" and item.completed_by_id == agent.pk
    assert "Press n for your next item" in follow_messages(agent_client, response)[0]


def test_complete_with_an_outcome_not_in_the_list_is_refused(agent_client, agent, team):
    queue = factories.QueueFactory(teams=[team], outcomes=["approved", "declined"])
    item = started_item(agent, queue)
    response = agent_client.post(item_url(item, "complete"), {"complete-outcome": "maybe"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert reload(item).status == ItemStatus.IN_PROGRESS


def test_release_puts_the_item_back_in_its_queue(agent_client, agent, queue):
    item = started_item(agent, queue)
    response = agent_client.post(item_url(item, "release"), {"release-reason": "Going off shift"})
    assert response.url == reverse("work:inbox")
    item = reload(item)
    assert item.status == ItemStatus.QUEUED and item.assignee_id is None
    assert item.events.get(kind=EventKind.RELEASED).reason == "Going off shift"


def test_transfer_offers_queues_and_only_eligible_agents(agent_client, agent, queue, team):
    eligible = factories.AgentFactory(team=team, user__first_name="Ela", user__last_name="Gible")
    away = factories.AgentFactory(team=team, presence=Presence.AWAY, user__first_name="Al", user__last_name="Way")
    elsewhere = factories.AgentFactory(user__first_name="Else", user__last_name="Where")
    item = started_item(agent, queue)
    html = agent_client.get(form_url(item, "transfer"), headers={"HX-Request": "true"}).content.decode()
    assert f'value="agent:{eligible.pk}"' in html
    for ineligible in (away, elsewhere, agent):
        assert f'value="agent:{ineligible.pk}"' not in html
    assert f'value="queue:{queue.pk}"' in html

    response = agent_client.post(item_url(item, "transfer"), {
        "transfer-target": f"agent:{eligible.pk}", "transfer-reason": "Spanish speaker",
    })
    assert response.url == reverse("work:inbox")
    item = reload(item)
    assert item.assignee_id == eligible.pk and item.status == ItemStatus.ASSIGNED
    page = agent_client.get(response.url)
    assert f"#{item.pk} transferred to {eligible.user.get_full_name()}." in messages_of(page)  # by display name


def test_transfer_to_another_queue(agent_client, agent, queue, team):
    target = factories.QueueFactory(teams=[team], name="Refunds desk")
    item = started_item(agent, queue)
    agent_client.post(item_url(item, "transfer"), {"transfer-target": f"queue:{target.pk}", "transfer-reason": "x"})
    item = reload(item)
    assert item.queue_id == target.pk and item.status == ItemStatus.QUEUED


def test_transfer_to_an_agent_who_became_ineligible_says_why(agent_client, agent, queue, team):
    target = factories.AgentFactory(team=team)
    item = started_item(agent, queue)
    services.agent_set_presence(agent_id=target.pk, presence=Presence.OFFLINE, actor=target.user)
    response = agent_client.post(item_url(item, "transfer"), {
        "transfer-target": f"agent:{target.pk}", "transfer-reason": "x",
    })
    # The list was built before the agent left: the form no longer offers it.
    assert response.status_code == 400
    assert reload(item).assignee_id == agent.pk


def test_stale_page_after_someone_else_moved_the_item(agent_client, agent, queue, supervisor):
    item = started_item(agent, queue)
    agent_client.get(item_url(item))  # the agent has the page open…
    other_queue = factories.QueueFactory()
    services.item_transfer(item_id=item.pk, actor=supervisor, to_queue_id=other_queue.pk, reason="rebalance")
    response = agent_client.post(item_url(item, "complete"), {"complete-outcome": "done"})  # …and completes
    assert response.status_code == 302 and response.url == reverse("work:inbox")
    message = follow_messages(agent_client, response)[0]
    assert f"Work item #{item.pk} is not yours" in message and "Nothing was done." in message
    assert reload(item).status == ItemStatus.QUEUED


def test_stale_page_after_the_state_changed(agent_client, agent, queue):
    item = started_item(agent, queue)
    services.item_pend(item_id=item.pk, actor=agent.user, until=timezone.now() + timedelta(hours=1), reason="r")
    response = agent_client.post(item_url(item, "start"))  # a tab left open on the assigned item
    assert response.url == item_url(item)
    message = follow_messages(agent_client, response)[0]
    assert "is pended now, so it cannot be started by you" in message and "Nothing was done." in message


def test_supervisor_cancels_only_with_confirmation(supervisor_client, queue):
    item = queued_item(queue)
    response = supervisor_client.post(item_url(item, "cancel"), {"cancel-reason": "Duplicate"})
    assert response.status_code == 400
    assert "Tick this box to confirm the cancellation." in response.content.decode()
    assert reload(item).status == ItemStatus.QUEUED
    response = supervisor_client.post(item_url(item, "cancel"), {"cancel-reason": "Duplicate", "cancel-confirm": "on"})
    assert response.status_code == 302 and response.url == item_url(item)
    assert reload(item).status == ItemStatus.CANCELLED


def test_agents_are_not_offered_cancel_and_cannot_post_it(agent_client, agent, queue):
    item = started_item(agent, queue)
    assert "cancel" not in offered(agent_client.get(item_url(item)).content.decode(), item)
    response = agent_client.post(item_url(item, "cancel"), {"cancel-reason": "x", "cancel-confirm": "on"})
    assert "cannot be cancelled by you" in follow_messages(agent_client, response)[0]
    assert reload(item).status == ItemStatus.IN_PROGRESS


# The customer view ---------------------------------------------------------------------

def test_customer_view_for_an_agent_working_that_customer(agent_client, agent, queue, team):
    mine = started_item(agent, queue, customer_ref="CUST-77", title="My case")
    other = factories.AgentFactory(team=team)
    theirs = assigned_item(other, queue, customer_ref="CUST-77", title="Their case")
    waiting = queued_item(factories.QueueFactory(name="Address changes"), customer_ref="CUST-77", title="Waiting")
    queued_item(queue, customer_ref="CUST-78", title="Another customer")

    html = agent_client.get(reverse("work:customer", args=["CUST-77"])).content.decode()
    for item in (mine, theirs, waiting):
        assert item.title in html
    assert "Another customer" not in html and "Address changes" in html
    assert f'href="{item_url(mine)}"' in html
    assert f'href="{item_url(theirs)}"' not in html and f'href="{item_url(waiting)}"' not in html
    assert html.index("My case") < html.index("Their case") < html.index("Waiting")  # oldest first


def test_customer_view_needs_a_link_to_the_customer(agent_client, queue):
    queued_item(queue, customer_ref="CUST-99")
    response = agent_client.get(reverse("work:customer", args=["CUST-99"]))
    assert response.status_code == 403
    assert "only while you work on one of them" in response.content.decode()


def test_supervisor_sees_any_customer_and_unknown_ones_are_404(supervisor_client, queue):
    item = queued_item(queue, customer_ref="CUST-55")
    html = supervisor_client.get(reverse("work:customer", args=["CUST-55"])).content.decode()
    assert f'href="{item_url(item)}"' in html
    assert supervisor_client.get(reverse("work:customer", args=["NOPE"])).status_code == 404


# The supervisors' item list ------------------------------------------------------------

def test_item_list_filters_and_pages(supervisor_client, agent, queue, team):
    other_queue = factories.QueueFactory(teams=[team])
    started = started_item(agent, queue, title="Being worked")
    for _ in range(3):
        queued_item(other_queue)
    html = supervisor_client.get(reverse("work:items"), {"status": "in_progress"}).content.decode()
    assert "Being worked" in html and "1 item," in html
    html = supervisor_client.get(reverse("work:items"), {"queue": other_queue.code}).content.decode()
    assert "3 items," in html and "Being worked" not in html
    html = supervisor_client.get(reverse("work:items"), {"assignee": agent.user.username}).content.decode()
    assert f'href="{item_url(started)}"' in html


def test_item_list_pages_keep_the_filters(supervisor_client, queue, monkeypatch):
    monkeypatch.setattr("allocation.views.ITEMS_PER_PAGE", 2)
    for _ in range(5):
        queued_item(queue)
    html = supervisor_client.get(reverse("work:items"), {"queue": queue.code}).content.decode()
    assert "Page 1 of 3" in html and f"?queue={queue.code}&amp;page=2" in html


def test_item_list_bad_filter_is_a_400(supervisor_client):
    response = supervisor_client.get(reverse("work:items"), {"queue": "no-such-queue"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


# Query counts --------------------------------------------------------------------------

def _queries(client, url) -> int:
    client.get(url)  # the session's once-a-minute "last seen" write happens here, not in what is counted
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_inbox_queries_do_not_grow_with_items(agent_client, agent, team):
    agent.capacity = 20
    agent.save()
    queue = factories.QueueFactory(teams=[team])
    assigned_item(agent, queue)
    few = _queries(agent_client, reverse("work:inbox"))
    for _ in range(6):
        assigned_item(agent, queue)
    pended_item(agent, queue)
    assert _queries(agent_client, reverse("work:inbox")) == few
    assert few <= 8


def test_item_page_queries_do_not_grow_with_events(agent_client, agent, queue, team, settings):
    settings.WFO_RELEASE_COOLDOWN = timedelta(0)  # the released item may come straight back here
    def work_it_again():  # three more events, one naming the agent who released it
        services.item_release(item_id=item.pk, actor=agent.user, reason="r")
        services.item_get_next(agent_id=agent.pk)
        services.item_start(item_id=item.pk, actor=agent.user)

    item = started_item(agent, queue)
    work_it_again()
    few = _queries(agent_client, item_url(item))
    for _ in range(2):
        work_it_again()
    many = _queries(agent_client, item_url(item))
    assert reload(item).events.count() >= 10
    assert many == few
    assert few <= 13  # 13th: the pend and release reasons admins keep, both lists in one query


def test_a_supervisors_item_page_looks_up_its_reach_once(client, agent, queue):
    """The actions offered come from one reach look-up, not one per permitted action."""
    item = started_item(agent, queue)
    client.force_login(supervisor_for(queue))
    with CaptureQueriesContext(connection) as captured:
        assert client.get(item_url(item)).status_code == 200
    # (Not the statement reading who is signed in, which reads the teams it supervises along.)
    reach_lookups = [q["sql"] for q in captured.captured_queries
                     if "supervisors" in q["sql"] and 'FROM "auth_user" u' not in q["sql"]]
    assert len(reach_lookups) == 2  # seeing the item (items_visible_to), then the actions offered


# Time zones ----------------------------------------------------------------------------

def test_times_show_in_the_browsers_zone(agent_client, agent, queue):
    item = started_item(agent, queue)
    due = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    WorkItem.objects.filter(pk=item.pk).update(due_at=due, start_by=due - timedelta(hours=1))
    agent_client.cookies["wfo_tz"] = "Asia/Tokyo"
    assert "Tue 15 Jan 2030, 21:00" in agent_client.get(item_url(item)).content.decode()
    agent_client.cookies["wfo_tz"] = "Not/AZone"
    assert "Tue 15 Jan 2030, 12:00" in agent_client.get(item_url(item)).content.decode()


def test_the_item_page_takes_every_action_of_the_lifecycle_and_each_has_its_url():
    from django.urls import reverse

    from allocation import transitions, views

    assert set(views.ITEM_ACTIONS) == set(transitions.ACTIONS)
    for action in transitions.ACTIONS:
        assert reverse(f"work:item-{action}", args=[7]) == f"/work/items/7/{action}/"


def test_the_item_page_carries_only_the_complete_form_and_fetches_the_others_when_opened(agent_client, agent, queue,
                                                                                       team):
    eligible = factories.AgentFactory(team=team)
    item = started_item(agent, queue)
    html = agent_client.get(item_url(item)).content.decode()
    # Complete is there to fill in; transfer, pend and release come when their section opens.
    assert f'action="{item_url(item, "complete")}"' in html
    for action in ("transfer", "pend", "release"):
        assert f'action="{item_url(item, action)}"' not in html
        assert f'hx-get="{form_url(item, action)}" hx-trigger="toggle from:closest details once"' in html
        assert f'href="?open={action}#actions-h"' in html  # without scripts, the page with that form open
    assert f'value="agent:{eligible.pk}"' not in html  # nobody's eligibility read for a form not opened

    fragment = agent_client.get(form_url(item, "pend"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert f'action="{item_url(item, "pend")}"' in fragment.content.decode()
    assert "Callback scheduled" in fragment.content.decode()  # the reasons offered

    opened = agent_client.get(item_url(item) + "?open=transfer").content.decode()
    assert f'value="agent:{eligible.pk}"' in opened
    assert '<details class="action" open><summary>Transfer</summary>' in opened


def test_a_form_fetched_after_the_item_changed_says_so_and_others_cannot_fetch_one(agent_client, agent, queue, client):
    item = started_item(agent, queue)
    services.item_complete(item_id=item.pk, actor=agent.user, outcome="done")
    gone = agent_client.get(form_url(item, "pend"), headers={"HX-Request": "true"})
    assert gone.status_code == 409
    assert f"Work item #{item.pk} is completed now, so it cannot be pended by you" in gone.content.decode()
    assert agent_client.get(form_url(item, "start")).status_code == 404  # one click: no form
    assert agent_client.get(form_url(item, "explode")).status_code == 404
    assert agent_client.post(form_url(item, "pend")).status_code == 405

    other = factories.AgentFactory()
    client.force_login(other.user)
    mine = started_item(agent, queue)
    refused = client.get(form_url(mine, "transfer"))
    assert refused.status_code == 403 and "is not yours" in refused.content.decode()
