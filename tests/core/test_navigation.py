"""The main navigation (core/navigation.py): each role sees the areas it may open, every link
it sees opens, the page's own area is marked current, the unread count rides on
Notifications, and the links follow the prefix the portal is served under."""

import re

import pytest
from django.urls import clear_script_prefix, reverse, set_script_prefix

from core import navigation as navigation_module
from core import roles
from core.models import Notification
from tests import factories

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)(?:<span class="count"[^>]*>(\d+)</span>)?</a>')


def navigation(client, path: str, **extra) -> list[tuple[str, str, bool, str | None]]:
    """(label, href, current, count) of each link in the page's main navigation."""
    response = client.get(path, **extra)
    assert response.status_code == 200, path
    bar = NAV.search(response.content.decode())
    assert bar, f"{path} has no main navigation"
    return [(label.strip(), href, bool(current), count) for href, current, label, count in LINK.findall(bar.group(1))]


def labels(links) -> list[str]:
    return [label for label, *_ in links]


def current(links) -> list[str]:
    return [label for label, _, is_current, _ in links if is_current]


def test_an_agent_sees_its_work_scorecard_and_quality_and_its_inbox_is_current(client, agent):
    client.force_login(agent.user)
    links = navigation(client, reverse("work:inbox"))
    assert labels(links) == ["My work", "Scorecard", "Quality", "API docs", "Notifications"]
    assert current(links) == ["My work"]
    assert dict((label, href) for label, href, *_ in links)["My work"] == reverse("work:inbox")


def test_a_supervisor_sees_the_oversight_areas_and_its_scorecards_are_not_reports(client):
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    client.force_login(supervisor)
    links = navigation(client, reverse("reports:wallboard"))
    assert labels(links) == ["Work items", "Reports", "Reassign", "Scorecard", "Quality", "API docs",
                             "Notifications"]
    assert current(links) == ["Reports"]
    assert current(navigation(client, reverse("reports:scorecards"))) == ["Scorecard"]
    assert current(navigation(client, reverse("work:items"))) == ["Work items"]
    assert current(navigation(client, reverse("work:reassign"))) == ["Reassign"]
    assert current(navigation(client, reverse("notifications"))) == ["Notifications"]


def test_an_evaluator_sees_quality_only_and_a_staff_admin_sees_the_admin(client):
    evaluator = factories.UserFactory(roles=[roles.QUALITY_EVALUATOR])
    client.force_login(evaluator)
    links = navigation(client, reverse("quality:home"))
    assert labels(links) == ["Quality", "API docs", "Notifications"] and current(links) == ["Quality"]
    admin = factories.UserFactory(roles=[roles.ADMIN], is_staff=True)
    client.force_login(admin)
    assert "Admin" in labels(navigation(client, reverse("notifications")))


@pytest.mark.parametrize("role", [roles.AGENT, roles.SUPERVISOR, roles.QUALITY_EVALUATOR, roles.QUALITY_LEAD,
                                  roles.ADMIN])
def test_every_link_a_role_sees_opens(client, team, role):
    user = (factories.AgentFactory(team=team).user if role == roles.AGENT
            else factories.UserFactory(roles=[role], is_staff=role == roles.ADMIN))
    client.force_login(user)
    for label, href, _, _ in navigation(client, reverse("notifications")):
        response = client.get(href, follow=True)
        assert response.status_code == 200, (role, label, href)


def test_the_unread_count_rides_on_notifications_and_goes_with_reading(client, agent):
    Notification.objects.create(user=agent.user, kind="note", title="One")
    Notification.objects.create(user=agent.user, kind="note", title="Two")
    Notification.objects.create(user=factories.UserFactory(), kind="note", title="Another's")
    Notification.objects.create(user=agent.user, kind="note", title="Read", read_at="2026-01-01T00:00:00Z")
    client.force_login(agent.user)
    links = navigation(client, reverse("work:inbox"))
    assert links[-1][0] == "Notifications" and links[-1][3] == "2"
    Notification.objects.filter(user=agent.user).update(read_at="2026-01-01T00:00:00Z")
    assert navigation(client, reverse("work:inbox"))[-1][3] == ""


def test_the_links_follow_the_prefix_the_portal_is_served_under(agent):
    at_root = [link.href for link in navigation_links(agent.user)]
    set_script_prefix("/portal/")  # as a request under SCRIPT_NAME /portal sets it
    try:
        under_prefix = [link.href for link in navigation_links(agent.user)]
    finally:
        clear_script_prefix()
    assert at_root[0] == "/work/" and under_prefix == ["/portal" + href for href in at_root]
    assert [link.href for link in navigation_links(agent.user)] == at_root


def navigation_links(user):
    return navigation_module.links_for(user, None, unread=0)
