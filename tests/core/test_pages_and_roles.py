"""Login, logout, the landing page, and the role groups made by the data migration."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from core import roles
from tests import factories

pytestmark = pytest.mark.django_db


def test_login_page_renders_with_labelled_fields(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html and '<label for="id_password">' in html


def test_login_lands_an_agent_on_my_work_then_logout(client, agent):
    response = client.post(reverse("login"), {"username": agent.user.username, "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("home")
    home = client.get(reverse("home"), follow=True)
    assert home.redirect_chain == [(reverse("work:inbox"), 302)]
    html = home.content.decode()
    assert "<h1>My work</h1>" in html
    assert "Agent" in html
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_shows_an_error(client, agent):
    response = client.post(reverse("login"), {"username": agent.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_supervisor_home_is_what_needs_attention_with_the_items_section(client):
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR])
    client.force_login(supervisor)
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain == [(reverse("reports:home"), 302)]
    html = response.content.decode()
    assert "Needs attention now" in html and "Work items" in html and "My work" not in html


def test_role_groups_exist_with_their_permissions():
    def perms(role):
        group = Group.objects.get(name=role)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    assert "allocation.view_workitem" not in perms(roles.AGENT)  # agents see only their own items
    assert {"allocation.view_workitem", "allocation.cancel_workitem", "allocation.reassign_workitem"} <= perms(
        roles.SUPERVISOR
    )
    assert {"allocation.add_workitem", "allocation.cancel_workitem"} <= perms(roles.SOURCE_SYSTEM)
    assert "allocation.reassign_workitem" not in perms(roles.SOURCE_SYSTEM)
    admin = perms(roles.ADMIN)
    assert {"allocation.change_queue", "authtoken.add_token", "django_celery_beat.change_periodictask"} <= admin


def test_role_sync_refuses_unknown_permissions(monkeypatch):
    from django.apps import apps

    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.AGENT, ["allocation.fly_workitem"])
    with pytest.raises(LookupError, match="fly_workitem"):
        roles.role_groups_sync(apps)


def test_heartbeat_is_scheduled_by_migration():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="wfo.worker_heartbeat")
    assert task.enabled and task.interval.every == 60
