"""The supervisor's home (README, "Supervisor home"): the attention list in order against a
hand-built floor, the projection worked by hand, today beside yesterday, an empty list that
says so, and who lands where."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from allocation import services
from allocation.models import BusinessCalendar, Presence, SlaPolicy, WorkingWindow
from allocation.services.sla_alerts import sla_alerts_raise
from core import roles
from core.models import Notification
from reporting import rollups
from reporting.attention import BAD, INFO, WARN, attention, projections, today_and_yesterday
from tests import factories
from tests.helpers import evaluation_in_state, queued_item, supervisor_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("role_groups", "presence_reasons")]

HOUR = timedelta(hours=1)
# Wednesday 25 November 2026, 14:00 in London (UTC in winter).
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def office_calendar() -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="Europe/London")
    for weekday in range(5):
        WorkingWindow.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    return calendar


def complete(item, agent, lead) -> None:
    services.item_transfer(item_id=item.pk, actor=lead, to_agent_id=agent.pk)
    services.item_start(item_id=item.pk, actor=agent.user)
    services.item_complete(item_id=item.pk, actor=agent.user)


@pytest.fixture
def floor(team):
    """Queue Refunds (office hours 9–17, target 8 h): 2 breached, 1 at risk, and 10 waiting
    against 8 completed since 09:00 — 1.6 an hour over 5 working hours; 3 hours left: about 4
    more get done, 10 will not clear. Queue Address (around the clock, 1 waiting, 5 completed
    today: clears). Queue Other, another team's: breached, not this supervisor's. Ann away for
    40 min holding an item; Ben away 5 min holding one (within the grace)."""
    lead = supervisor_for()
    lead.first_name = "Dana"
    lead.save()
    team.supervisors.add(lead)
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    address = factories.QueueFactory(teams=[team], name="Address", code="address")
    other = factories.QueueFactory(teams=[factories.TeamFactory()], name="Other", code="other")
    SlaPolicy.objects.create(queue=refunds, target=8 * HOUR, calendar=office_calendar())
    SlaPolicy.objects.create(queue=address, target=24 * HOUR)
    SlaPolicy.objects.create(queue=other, target=HOUR)
    ann, ben, worker = (factories.AgentFactory(team=team, capacity=20, user__first_name=name, user__last_name="Test",
                                               user__username=name.lower()) for name in ("Ann", "Ben", "Worker"))
    with time_machine.travel(NOW - 5 * HOUR, tick=False) as clock:  # 09:00
        for n in range(8):
            clock.move_to(NOW - 5 * HOUR + n * 30 * timedelta(minutes=1))
            complete(queued_item(refunds), worker, lead)
        for _ in range(5):
            complete(queued_item(address), worker, lead)
        clock.move_to(NOW - timedelta(minutes=40))
        services.item_transfer(item_id=queued_item(refunds).pk, actor=lead, to_agent_id=ann.pk)
        services.agent_set_presence(agent_id=ann.pk, presence=Presence.AWAY, actor=ann.user)
        clock.move_to(NOW - timedelta(minutes=5))
        services.item_transfer(item_id=queued_item(address).pk, actor=lead, to_agent_id=ben.pk)
        services.agent_set_presence(agent_id=ben.pk, presence=Presence.AWAY, actor=ben.user)
    with time_machine.travel(NOW, tick=False):
        # Received on Monday and Tuesday morning: 8 working hours are long gone (breached) or
        # 6 of them used (at risk: past 75 %, due at 16:00 today).
        for received in (datetime(2026, 11, 23, 9, tzinfo=UTC), datetime(2026, 11, 23, 10, tzinfo=UTC)):
            queued_item(refunds, received_at=received)
        queued_item(refunds, received_at=datetime(2026, 11, 24, 16, tzinfo=UTC))
        for _ in range(7):
            queued_item(refunds)
        queued_item(address)
        queued_item(other, received_at=NOW - 2 * HOUR)
        sla_alerts_raise()
    return {"lead": lead, "refunds": refunds, "address": address, "ann": ann}


def test_the_attention_list_in_order(floor):
    Notification.objects.filter(user=floor["lead"]).update(read_at=NOW)  # the alerts' own, read
    Notification.objects.create(user=floor["lead"], kind="note", title="Hello", created_at=NOW)
    with time_machine.travel(NOW, tick=False):
        lines = attention(floor["lead"], now=NOW)
    assert [(line.severity, line.text) for line in lines] == [
        (BAD, "Refunds: 2 items breached"),
        (WARN, "Refunds: 1 item at risk"),
        (WARN, "Refunds: 10 waiting will not clear today — at today's pace (1.6 an hour) about 4 more get done by "
               "17:00"),
        (WARN, "Ann Test has been away for 40 min and still holds 1 item"),
        (INFO, "1 unread notification"),
    ]
    assert lines[0].url == "/work/items/?queue=refunds&sla=breached"
    assert lines[2].projection and lines[2].url == "/work/items/?queue=refunds&status=queued"
    assert lines[3].url == "/work/reassign/?assignee=ann&select=all"


def test_the_projection_by_hand(floor):
    with time_machine.travel(NOW, tick=False):
        by_queue = {p.queue.code: p for p in projections([floor["refunds"], floor["address"]], now=NOW)}
    refunds, address = by_queue["refunds"], by_queue["address"]
    assert (refunds.waiting, refunds.completed_today, refunds.worked_hours, refunds.left_hours) == (10, 8, 5.0, 3.0)
    assert (refunds.pace, refunds.clears_by, refunds.clears) == (1.6, 4, False)
    # Around the clock: 14 hours worked since midnight, 10 left; 5 done: about 3 more; 1 waits.
    assert (address.worked_hours, address.left_hours, address.clears_by, address.clears) == (14.0, 10.0, 3, True)
    # After hours no projection: nothing clears today anywhere, and every queue would say so.
    evening = NOW + 4 * HOUR
    with time_machine.travel(evening, tick=False):
        assert [p.queue.code for p in projections([floor["refunds"]], now=evening)] == []


def test_a_dispute_waiting_for_the_supervisor(floor, team):
    _, version, questions = factories.form_with_questions()
    agent = factories.AgentFactory(team=team)
    evaluation = factories.EvaluationFactory(item__queue=floor["refunds"], item__completed_by=agent.user,
                                             version=version)
    evaluation_in_state("disputed", evaluation=evaluation,
                        answers={q.pk: "yes" if q.kind == "yes_no" else "4" for q in questions}, decider=None)
    with time_machine.travel(NOW, tick=False):
        texts = [line.text for line in attention(floor["lead"], now=NOW)]
    assert "1 disputed evaluation waits for your decision" in texts


def test_today_beside_yesterday(floor):
    with time_machine.travel(NOW, tick=False):
        rollups.rollups_update()
        days = today_and_yesterday(floor["lead"], now=NOW)
    assert (days.today.completed, days.yesterday.completed) == (13, 0)
    assert days.today.arrivals == 8 + 5 + 1 + 1 + 3 + 7 + 1  # this supervisor's queues only


def test_the_page_and_who_lands_where(floor, client):
    client.force_login(floor["lead"])
    with time_machine.travel(NOW, tick=False):
        assert client.get("/").url == reverse("reports:home")
        page = client.get(reverse("reports:home")).content.decode()
    assert "Refunds: 2 items breached" in page and ">projection</span>" in page
    assert "Other" not in page  # another team's queue
    quiet = factories.UserFactory(roles=[roles.SUPERVISOR])
    client.force_login(quiet)
    page = client.get(reverse("reports:home")).content.decode()
    assert "Nothing needs your attention right now" in page
    client.force_login(floor["ann"].user)
    assert client.get("/").url == reverse("work:inbox")
    assert client.get(reverse("reports:home")).status_code == 403
    client.force_login(factories.UserFactory(roles=[roles.QUALITY_EVALUATOR]))
    assert client.get("/").url == reverse("quality:home")
