"""A supervisor's directed assignment is a decision, not an offer: the agent is told (in the
portal and by e-mail, who and why), the item shows who gave it, and the reservation expiry
leaves it with the agent; it still moves on if the agent goes away, as any held work does."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from allocation import services
from allocation.exceptions import AgentNotEligible
from allocation.models import Presence, WorkItem
from allocation.services import bulk
from allocation.services.rebalancing import rebalance
from allocation.services.reservations import reservations_expire
from core.models import Notification
from core.services import notification_emails_send
from tests import factories
from tests.helpers import queued_item, supervisor_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(queue):
    lead = supervisor_for(queue)
    lead.first_name, lead.last_name = "Dana", "Morgan"
    lead.save()
    return lead


@pytest.fixture
def receiver(team):
    agent = factories.AgentFactory(team=team, user__email="amelia@example.com")
    agent.user.first_name, agent.user.last_name = "Amelia", "Hart"
    agent.user.save()
    return agent


def _past_the_reservation(queue):
    return time_machine.travel(timezone.now() + queue.reservation_timeout + timedelta(minutes=1))


def test_a_transfer_to_an_agent_is_told_and_not_expired(queue, lead, receiver, client):
    item = queued_item(queue)

    services.item_transfer(item_id=item.pk, actor=lead, to_agent_id=receiver.pk, reason="You know this merchant")

    item.refresh_from_db()
    assert item.assigned_by == lead
    notice = Notification.objects.get(user=receiver.user)
    assert notice.title == f"Dana Morgan gave you #{item.pk} {item.title}"
    assert "Reason: You know this merchant." in notice.body and notice.email
    assert notice.url == reverse("work:item", args=[item.pk])
    with _past_the_reservation(queue):
        assert reservations_expire().moved == 0
    assert WorkItem.objects.get(pk=item.pk).assignee_id == receiver.pk

    assert notification_emails_send() == 1 and notification_emails_send() == 0  # once
    sent = mail.outbox[0]
    assert sent.to == ["amelia@example.com"] and sent.subject == notice.title
    assert reverse("work:item", args=[item.pk]) in sent.body
    assert sent.extra_headers["Message-ID"] == f"<notification-{notice.pk}@127.0.0.1>"

    client.force_login(receiver.user)
    assert "given to you by Dana Morgan" in client.get(reverse("work:inbox")).content.decode()
    assert "given by Dana Morgan (stays until started or handed back)" in client.get(
        reverse("work:item", args=[item.pk])).content.decode()


def test_a_bulk_reassignment_to_an_agent_is_directed_too(queue, lead, receiver):
    items = [queued_item(queue) for _ in range(3)]

    bulk.items_reassign(actor=lead, item_ids=[item.pk for item in items], to_agent_id=receiver.pk, reason="Cover")

    assert set(WorkItem.objects.values_list("assigned_by", flat=True)) == {lead.pk}
    assert Notification.objects.filter(user=receiver.user, kind="assignment").count() == 3
    with _past_the_reservation(queue):
        assert reservations_expire().moved == 0


def test_offered_work_still_expires_and_clears_the_giver(queue, lead, receiver, team):
    """get-next's offer expires as before; and an item once given, handed back and taken
    by get-next is an offer again."""
    given = queued_item(queue)
    services.item_transfer(item_id=given.pk, actor=lead, to_agent_id=receiver.pk, reason="r")
    services.item_release(item_id=given.pk, actor=receiver.user, reason="Not for me")
    colleague = factories.AgentFactory(team=team)
    taken = services.item_get_next(agent_id=colleague.pk)
    assert taken.pk == given.pk and taken.assigned_by is None
    assert WorkItem.objects.get(pk=given.pk).assigned_by_id is None

    with _past_the_reservation(queue):
        assert reservations_expire().moved == 1


def test_directed_work_of_an_agent_gone_away_still_moves(queue, lead, receiver, settings):
    item = queued_item(queue)
    services.item_transfer(item_id=item.pk, actor=lead, to_agent_id=receiver.pk, reason="r")
    services.agent_set_presence(agent_id=receiver.pk, presence=Presence.OFFLINE, actor=receiver.user)

    with time_machine.travel(timezone.now() + settings.WFO_REBALANCE_GRACE + timedelta(minutes=1)):
        rebalance()

    item.refresh_from_db()
    assert item.assignee_id is None and item.assigned_by_id is None


def test_a_rolled_back_transfer_tells_nobody(queue, lead, team):
    stranger = factories.AgentFactory(team=factories.TeamFactory())
    item = queued_item(queue)
    with pytest.raises(AgentNotEligible):
        services.item_transfer(item_id=item.pk, actor=lead, to_agent_id=stranger.pk, reason="r")
    assert not Notification.objects.exists()
