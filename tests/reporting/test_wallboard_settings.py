"""The wallboard for the wall (README, "Wallboard"): a team and queue filter remembered per
user, the full-screen wall mode in the chosen theme, and amber/red thresholds per queue set
by the queue's supervisors — refused field by field when wrong, nothing saved."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core import roles
from reporting.models import QueueThresholds, WallboardChoice
from reporting.selectors import wallboard, wallboard_scope, with_levels
from tests import factories
from tests.helpers import queued_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(team):
    other_team = factories.TeamFactory(name="Other")
    refunds = factories.QueueFactory(teams=[team], name="Refunds", code="refunds")
    disputes = factories.QueueFactory(teams=[other_team], name="Disputes", code="disputes")
    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    team.supervisors.add(lead)
    return {"team": team, "other_team": other_team, "refunds": refunds, "disputes": disputes, "lead": lead}


def test_the_filter_is_remembered_per_user(office, client):
    lead, refunds, disputes = office["lead"], office["refunds"], office["disputes"]
    client.force_login(lead)
    response = client.get(reverse("reports:wallboard"), {"filter": "1", "teams": office["team"].pk, "theme": "dark"})
    assert response.status_code == 302 and response.url == reverse("reports:wallboard")
    page = client.get(response.url).content.decode()
    row = '<th scope="row" data-label="Queue">{}'
    assert row.format("Refunds") in page and row.format("Disputes") not in page
    assert f"The queues of {office['team'].name}" in page
    scope = wallboard_scope(lead)
    assert (scope.queue_ids, scope.team_ids, scope.theme) == ([refunds.pk], [office["team"].pk], "dark")
    # Queues chosen narrow further than teams; another user's board is untouched.
    client.get(reverse("reports:wallboard"), {"filter": "1", "queues": [disputes.pk]})
    assert wallboard_scope(lead).queue_ids == [disputes.pk]
    assert wallboard_scope(factories.UserFactory(roles=[roles.SUPERVISOR])).queue_ids is None
    # Hostile: unknown ids, text, an unknown theme — refused, the choice kept.
    for params in ({"teams": "abc"}, {"queues": 10**30}, {"theme": "neon"}, {"queues": -1}):
        response = client.get(reverse("reports:wallboard"), {"filter": "1", **params})
        assert response.status_code == 400, params
    assert wallboard_scope(lead).queue_ids == [disputes.pk]
    assert WallboardChoice.objects.count() == 1


def test_the_wall_mode_is_full_screen_in_the_chosen_theme(office, client):
    client.force_login(office["lead"])
    client.get(reverse("reports:wallboard"), {"filter": "1", "theme": "dark", "wall": "1"})
    page = client.get(reverse("reports:wallboard"), {"wall": "1"}).content.decode()
    assert '<html lang="en" data-theme="dark">' in page and 'class="wall"' in page
    assert reverse("work:items") not in page  # no navigation
    assert "Leave wall mode" in page and "wall.css" in page
    live = client.get(reverse("reports:wallboard-live"), {"wall": "1"}).content.decode()
    assert 'id="wall-board"' in live and "<html" not in live


def test_cells_turn_amber_and_red_at_their_thresholds(office):
    refunds = office["refunds"]
    QueueThresholds.objects.create(queue=refunds, waiting_amber=3, waiting_red=5, oldest_minutes_amber=30,
                                   oldest_minutes_red=120, breached_red=1)
    now = timezone.now()
    queued_item(refunds, received_at=now - timedelta(minutes=45))
    for _ in range(2):
        queued_item(refunds)

    def levels():
        board = with_levels(wallboard(now=now, queue_ids=[refunds.pk]))
        return board.queues[0].levels

    assert levels() == {"waiting": "amber", "oldest_minutes": "amber", "at_risk": "", "breached": ""}
    for _ in range(2):
        queued_item(refunds)
    assert levels()["waiting"] == "red"
    assert with_levels(wallboard(now=now, queue_ids=[office["disputes"].pk])).queues[0].levels == {}


def test_supervisors_set_their_queues_thresholds_and_bad_values_are_refused_field_by_field(office, client):
    refunds, disputes = office["refunds"], office["disputes"]
    client.force_login(office["lead"])
    url = reverse("reports:wallboard-thresholds")
    page = client.get(url).content.decode()
    assert "Refunds" in page and "Disputes" not in page  # another team's queue
    prefix = f"q{refunds.pk}-"
    response = client.post(url, {f"{prefix}waiting_amber": "10", f"{prefix}waiting_red": "25",
                                 f"{prefix}breached_red": "1"})
    assert response.status_code == 302
    saved = QueueThresholds.objects.get(queue=refunds)
    assert (saved.waiting_amber, saved.waiting_red, saved.breached_red, saved.updated_by) == (
        10, 25, 1, office["lead"])
    for bad, message in [
        ({f"{prefix}waiting_amber": "30", f"{prefix}waiting_red": "25"}, "Amber must be below red (25)."),
        ({f"{prefix}at_risk_red": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({f"{prefix}oldest_minutes_red": "9999999"}, "Ensure this value is less than or equal to 525600."),
        ({f"{prefix}breached_amber": "lots"}, "Enter a whole number."),
    ]:
        response = client.post(url, bad)
        assert response.status_code == 400, bad
        assert message in response.content.decode()
        assert "Nothing was saved" in response.content.decode()
    assert QueueThresholds.objects.get(queue=refunds).waiting_amber == 10
    # Another team's queue: not offered, and a post naming it sets nothing.
    client.post(url, {f"q{disputes.pk}-waiting_red": "1"})
    assert not QueueThresholds.objects.filter(queue=disputes).exists()
    client.force_login(factories.AgentFactory(team=office["team"]).user)
    assert client.get(url).status_code == 403
