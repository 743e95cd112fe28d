"""The agent scorecard against hand-computed figures; who may open whose."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from allocation.models import ItemStatus, Presence, PresenceChange
from quality.models import Evaluation, EvaluationSource
from reporting.selectors import scorecard, team_average
from tests import factories
from tests.quality.test_services import form_with_questions
from wfo import roles

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


def done(agent, queue, *, started, closed, due):
    return factories.WorkItemFactory(
        queue=queue, status=ItemStatus.COMPLETED, completed_by=agent.user, started_at=started, closed_at=closed,
        received_at=started - MIN, due_at=due, start_by=due - queue.standard_handle_time, outcome="done",
    )


def test_scorecard_figures(team, agent):
    """Window: the last 4 hours. Two items of a queue with a 15-minute standard time: one
    worked 20 min and met, one worked 40 min and closed 5 min after due. Available 3 h of it."""
    queue = factories.QueueFactory(teams=[team])
    now = timezone.now()
    since = now - timedelta(hours=4)
    met = done(agent, queue, started=now - 3 * 60 * MIN, closed=now - 160 * MIN, due=now - 100 * MIN)
    done(agent, queue, started=now - 90 * MIN, closed=now - 50 * MIN, due=now - 55 * MIN)
    done(agent, queue, started=now - 10 * 60 * MIN, closed=now - 9 * 60 * MIN, due=now)  # before the window
    PresenceChange.objects.create(agent=agent, presence=Presence.AVAILABLE, at=now - 5 * 60 * MIN)
    PresenceChange.objects.create(agent=agent, presence=Presence.AWAY, at=now - 2 * 60 * MIN)  # 2 h of the window
    PresenceChange.objects.create(agent=agent, presence=Presence.AVAILABLE, at=now - 60 * MIN)  # + 1 h to now
    _, version, _ = form_with_questions()
    Evaluation.objects.create(item=met, agent=agent.user, evaluator=factories.UserFactory(), version=version,
                              source=EvaluationSource.MANUAL, status="submitted", score=Decimal("80"), passed=True,
                              submitted_at=now)
    card = scorecard(agent_id=agent.pk, since=since, until=now)
    assert (card.completed, card.met_sla, card.sla_attainment) == (2, 1, 0.5)
    assert card.handle_minutes_avg == pytest.approx(30)  # (20 + 40) / 2
    assert card.standard_minutes == pytest.approx(30)  # 2 × 15
    assert card.available_minutes == pytest.approx(180, abs=0.1)  # 4 h window: available 3 h of it
    assert card.productivity == pytest.approx(30 / 180, abs=0.001)
    assert (card.qa_average, card.qa_count) == (80.0, 1)
    other = scorecard(agent_id=factories.AgentFactory(team=team).pk, since=since, until=now)
    assert other.completed == 0 and other.sla_attainment is None and other.productivity is None
    assert team_average([card, other])["sla_attainment"] == 0.5  # members without a value are left out


def test_who_opens_which_scorecard(client, team, agent):
    colleague = factories.AgentFactory(team=team)
    client.force_login(agent.user)
    assert client.get(reverse("reports:scorecards")).url == reverse("reports:scorecard", args=[agent.pk])
    assert client.get(reverse("reports:scorecard", args=[agent.pk])).status_code == 200
    assert client.get(reverse("reports:scorecard", args=[colleague.pk])).status_code == 403
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    stranger = factories.AgentFactory()
    client.force_login(lead)
    html = client.get(reverse("reports:scorecards")).content.decode()
    assert reverse("reports:scorecard", args=[colleague.pk]) in html
    assert reverse("reports:scorecard", args=[stranger.pk]) not in html
    page = client.get(reverse("reports:scorecard", args=[colleague.pk]))
    assert page.status_code == 200 and "Team average" in page.content.decode()
    assert client.get(reverse("reports:scorecard", args=[stranger.pk])).status_code == 403
