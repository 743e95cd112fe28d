"""What people read: every code has its words, every date the portal's format, every person
their display name — on the item page's timeline, the customer journey and after an action."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from allocation import services
from allocation.events import ORDER_DESCRIPTION
from allocation.models import (
    AllocationMode,
    EventKind,
    ItemStatus,
    NotifyWhom,
    Presence,
    SlaAction,
    SlaActionKind,
    SlaPolicy,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import push, rebalancing, reservations, routing, sla_actions, sla_alerts
from allocation.templatetags.work import RULES
from tests import factories
from tests.helpers import assigned_item, queued_item, started_item, supervisor_for

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A Wednesday morning: the SLA clocks run around the clock, so no calendar is in the way.
MOMENT = datetime(2031, 3, 12, 9, 0, tzinfo=UTC)


def _person(team, first: str, last: str):
    return factories.AgentFactory(team=team, user__username=f"{first}.{last}".lower(), user__first_name=first,
                                  user__last_name=last, capacity=5)


def _text(page) -> str:
    """The page's main content as a person reads it: tags out, entities decoded."""
    body = page.content.decode()
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", body[body.index("<main"):], flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


@pytest.fixture
def lives(team):
    """Items taken through every kind of event the services write, by people with names."""
    with time_machine.travel(MOMENT, tick=False) as clock:
        disputes = factories.QueueFactory(teams=[team], name="Disputes", code="disputes", reservation_timeout=5 * MIN,
                                          outcomes=["resolved-for-cardholder", "need-info"])
        refunds = factories.QueueFactory(teams=[factories.TeamFactory()], name="Refunds", code="refunds")
        # The queue's plain target as a policy, so its breach can act (below).
        policy = SlaPolicy.objects.create(queue=disputes, target=disputes.sla_target)
        amelia, lucas = _person(team, "Amelia", "Hart"), _person(team, "Lucas", "Moreau")
        lead = supervisor_for(disputes, refunds)
        lead.first_name, lead.last_name = "Dana", "Morgan"
        lead.save()
        step = lambda minutes=1: clock.shift(minutes * MIN)  # noqa: E731 — events in time order
        ref = {"customer_ref": "CUST-1"}

        # Worked, paused, resumed, reprioritised, handed to a colleague and completed.
        worked = started_item(amelia, disputes, payload={"respond_by": "2031-04-01", "seen_at": "2031-03-01T10:15:00Z"},
                              **ref)
        step()
        services.item_pend(item_id=worked.pk, actor=amelia.user, until=MOMENT + 3 * 60 * MIN, reason="Waiting")
        step()
        services.item_resume(item_id=worked.pk, actor=amelia.user)
        step()
        services.item_change_priority(item_id=worked.pk, actor=lead, priority=5, reason="Network deadline")
        step()
        services.item_transfer(item_id=worked.pk, actor=lead, to_agent_id=lucas.pk, reason="Lucas knows the merchant")
        step()
        services.item_start(item_id=worked.pk, actor=lucas.user)
        step()
        # Released, moved to another queue, cancelled.
        moved = assigned_item(amelia, disputes, **ref)
        step()
        services.item_release(item_id=moved.pk, actor=amelia.user, reason="Conflict of interest")
        step()
        services.item_transfer(item_id=moved.pk, actor=lead, to_queue_id=refunds.pk, reason="A refund after all")
        step()
        services.item_cancel(item_id=moved.pk, actor=lead, reason="Duplicate")
        step()
        # A reservation that expired.
        expired = assigned_item(amelia, disputes, **ref)
        step(6)
        reservations.reservations_expire()
        services.item_cancel(item_id=expired.pk, actor=lead, reason="Sent twice")
        step()
        # A follow-up that came due, and work moved off an absent holder.
        followed = started_item(amelia, disputes, **ref)
        step()
        services.item_pend(item_id=followed.pk, actor=amelia.user, until=MOMENT + 30 * MIN, reason="Callback")
        left = started_item(amelia, disputes, **ref)
        step(30)
        services.agent_set_presence(agent_id=amelia.pk, presence=Presence.OFFLINE, actor=amelia.user)
        step(60)
        rebalancing.rebalance()
        step()
        # Waited, so its net widened; then it overflowed to another queue.
        factories.RoutingStepFactory(queue=disputes, minutes=5, added_teams=[factories.TeamFactory(name="Night")])
        factories.RoutingStepFactory(queue=disputes, position=3, minutes=5, overflow_queue=refunds)
        routed = queued_item(disputes, **ref)
        step(6)
        routing.routing_advance()
        step(6)
        routing.routing_advance()
        step()
        services.item_cancel(item_id=routed.pk, actor=lead, reason="Sent twice")
        disputes.routing_enabled = False
        disputes.save()
        # Pushed, and turned down.
        disputes.allocation_mode = AllocationMode.PUSH
        disputes.save()
        pushed = queued_item(disputes, **ref)
        push.push_assign()
        step()
        holder = WorkItem.objects.get(pk=pushed.pk).assignee
        services.item_reject(item_id=pushed.pk, actor=holder, reason="Not my market")
        step()
        # A day later the items still open have passed their SLA warnings and breached; at
        # the breach, Disputes' policy tells its supervisors, and would give the item to
        # Amelia, who is offline.
        SlaAction.objects.create(policy=policy, threshold=100, kind=SlaActionKind.NOTIFY,
                                 notify=NotifyWhom.SUPERVISORS)
        SlaAction.objects.create(policy=policy, threshold=100, position=2, kind=SlaActionKind.ASSIGN_AGENT,
                                 agent=amelia)
        step(24 * 60)
        sla_alerts.sla_alerts_raise()
        sla_actions.sla_actions_run()
    items = [worked, moved, expired, followed, left, pushed, routed]
    return items, lucas, lead, [amelia.user, lucas.user, lead]


def test_every_event_kind_reads_in_words_on_the_timeline(client, lives):
    items, lucas, lead, people = lives
    events = WorkItemEvent.objects.filter(item__in=items)
    assert set(events.values_list("kind", flat=True)) >= set(EventKind.values) - {EventKind.COMPLETED}
    with time_machine.travel(MOMENT + 3 * 60 * MIN, tick=False):
        client.force_login(lucas.user)
        page = client.post(reverse("work:item-complete", args=[items[0].pk]),
                           {"complete-outcome": "resolved-for-cardholder", "complete-note": ""}, follow=True)
    assert f"#{items[0].pk} completed (Resolved for cardholder)" in _text(page)  # the message after it
    assert set(events.values_list("kind", flat=True)) == set(EventKind.values)  # every kind, once completed

    # Codes that are not words of their own (a plain "assigned" is its own label).
    codes = {code for code in (*EventKind.values, *ItemStatus.values, *RULES) if "_" in code}
    codes |= {"resolved-for-cardholder", ORDER_DESCRIPTION, "system:", *(person.get_username() for person in people)}
    client.force_login(lead)
    shown = [_text(client.get(reverse("work:item", args=[item.pk]))) for item in items]
    shown.append(_text(client.get(reverse("reports:customer-journey"), {"ref": "CUST-1"})))
    for text in shown:
        assert not ISO_DATE.search(text), ISO_DATE.search(text).group()
        leaked = [code for code in codes if re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text)]
        assert leaked == [], (leaked, text)
    worked = shown[0]
    assert "Outcome: Resolved for cardholder" in worked and "Resolved for cardholder" in worked.split("Timeline")[0]
    assert "Respond by Tue 1 Apr 2031" in worked  # a date the source sent, in the portal's words
    assert "by Amelia Hart" in worked and "To Lucas Moreau" in worked and "by Dana Morgan" in worked
    assert "From Disputes to Refunds" in shown[1]
    assert "by reservation expiry (automatic)" in shown[2]
    assert "by rebalancing (automatic)" in shown[3] and "by rebalancing (automatic)" in shown[4]
    assert "From routing step 1 to step 2" in shown[6] and "by the routing job (automatic)" in shown[6]
    assert "SLA action by SLA actions (automatic) At the breach: notify — Told the queue's supervisors (Dana Morgan)." \
        in shown[3]
    assert "At the breach: assign to a named agent could not be done — Amelia Hart is offline." in shown[3]
    assert "Step 2 — waited 5 min at step 1: also offered to Night." in shown[6]
    assert "Overflowed from Disputes (step 2) to Refunds" in shown[6]
    assert "SLA breached by SLA alerts (automatic)" in shown[4] and "Was due Thu 13 Mar" in shown[4]
    assert re.search(r"SLA warning by SLA alerts \(automatic\) \d+% of the SLA target used; due Thu 13 Mar", shown[4])


def test_the_order_get_next_followed_reads_in_words(client, team):
    with time_machine.travel(MOMENT, tick=False):
        queue = factories.QueueFactory(teams=[team])
        agent = _person(team, "Grace", "Okoye")
        item = assigned_item(agent, queue)
        client.force_login(supervisor_for(queue))
        text = _text(client.get(reverse("work:item", args=[item.pk])))
    assert WorkItemEvent.objects.filter(item=item, data__order=ORDER_DESCRIPTION).exists()
    assert "Order: by start-by time (earliest first), then priority (highest first), then oldest first." in text
    assert ORDER_DESCRIPTION not in text and "grace.okoye" not in text
