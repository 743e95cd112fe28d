"""Abuse: login lockout after repeated failures, request size limits, CSRF on every form,
security headers, and `check --deploy` with the production settings."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from tests import factories
from tests.security.matrix_client import url_for, url_names
from tests.security.world import world_build

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def attempt(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR="10.0.0.7")


def test_repeated_failures_lock_the_username_from_that_address(settings):
    factories.UserFactory(username="amelia")  # password "pw"
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "amelia", "wrong").status_code == 200  # the form again, with its error
    locked = attempt(client, "amelia", "wrong")
    assert locked.status_code == 429 and "Too many failed log-ins" in locked.content.decode()
    assert attempt(client, "amelia", "pw").status_code == 429  # even the right password, until the cool-off
    other_address = client.post(reverse("login"), {"username": "amelia", "password": "pw"}, REMOTE_ADDR="10.0.0.8")
    assert other_address.status_code == 302  # the lock is for that username from that address


def test_a_success_resets_the_count(settings):
    factories.UserFactory(username="ben")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "ben", "wrong")
    assert attempt(client, "ben", "pw").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "ben", "wrong").status_code == 200  # counting from zero again


@override_settings(WFO_MAX_REQUEST_BYTES=1000)
def test_an_oversized_body_is_refused_with_413_before_it_is_read(api_client):
    user = factories.UserFactory(roles=["Source system"])
    api_client.force_authenticate(user)
    body = json.dumps({"title": "x" * 2000})
    response = api_client.post(reverse("item-list"), body, content_type="application/json")
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert api_client.post(reverse("item-list"), {}, format="json").status_code == 400  # small: read and judged


def test_every_page_form_that_posts_carries_a_csrf_token(role_groups):
    """Every GET page of the portal, as a supervisor and as the agent: each form that posts
    has Django's CSRF token (and the pages are served with CSRF checks on)."""
    world = world_build()
    checked = 0
    for role in ("agent", "supervisor", "evaluator"):
        client = Client(enforce_csrf_checks=True)
        client.force_login(world.users[role])
        for name in url_names():
            url = url_for(name, world)
            if url.startswith(("/api/", "/admin/")):
                continue
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            for form in re.findall(r"<form\b[^>]*>.*?</form>", response.content.decode(), flags=re.S | re.I):
                if re.search(r'method="post"', form, flags=re.I):
                    assert "csrfmiddlewaretoken" in form, f"{url} as {role}: {form[:200]}"
                    checked += 1
    assert checked > 20
    refused = Client(enforce_csrf_checks=True)
    refused.force_login(world.users["agent"])
    assert refused.post(reverse("work:presence"), {"presence": "away"}).status_code == 403  # no token


def test_security_headers_on_pages_and_the_api(client, agent):
    client.force_login(agent.user)
    page = client.get(reverse("work:inbox"))
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert "<script>" not in page.content.decode()  # no inline script would run under the policy
    assert client.get(reverse("item-list"))["Content-Security-Policy"] == policy


def test_check_deploy_with_the_production_settings_reports_nothing():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "wfo.settings.production",
           "DJANGO_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
           "DJANGO_ALLOWED_HOSTS": "wfo.example.com", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wfo")}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_admin_and_the_api_docs_carry_no_content_security_policy(client, agent):
    """Third-party pages with inline scripts: the policy would break them (settings'
    CONTENT_SECURITY_POLICY excludes them); every page of the portal carries it."""
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    assert "Content-Security-Policy" not in client.get("/admin/")
    assert "Content-Security-Policy" not in client.get("/api/docs/")
    assert "frame-ancestors 'none'" in client.get(reverse("reports:wallboard"))["Content-Security-Policy"]


def test_the_policy_text_is_django_csps_and_follows_the_setting(client, agent, rf, settings):
    """The header's text is built once per policy (core.middleware): the same text
    django-csp builds, on pages and API answers alike; a changed setting is a new text; a
    response with a policy of its own, or a nonce, is built per response as django-csp does."""
    from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE
    from csp.decorators import csp_update
    from csp.utils import build_policy
    from django.http import HttpResponse
    from rest_framework.authtoken.models import Token

    from core.middleware import ContentSecurityPolicyMiddleware

    client.force_login(agent.user)
    page = client.get(reverse("work:inbox"))
    api = client.get("/api/v1/agent/presence/", HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent.user)}")
    assert page[HEADER] == api[HEADER] == build_policy()
    assert HEADER_REPORT_ONLY not in page

    settings.CONTENT_SECURITY_POLICY = {**settings.CONTENT_SECURITY_POLICY, "DIRECTIVES": {
        **settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "img-src": ["'self'", "https://cdn.example.com"]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    page = client.get(reverse("work:inbox"))
    assert "img-src 'self' https://cdn.example.com" in page[HEADER]
    assert page[HEADER_REPORT_ONLY] == "default-src 'none'"

    middleware = ContentSecurityPolicyMiddleware(lambda request: HttpResponse())
    own = middleware.process_response(rf.get("/work/"), csp_update({"img-src": ["https://maps.example.com"]})(
        lambda request: HttpResponse())(rf.get("/work/")))
    assert "https://maps.example.com" in own[HEADER] and "https://cdn.example.com" in own[HEADER]
    settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"] = ["'self'", NONCE]
    request = rf.get("/work/")
    middleware.process_request(request)
    nonce = str(request.csp_nonce)  # a template asks for one
    assert f"script-src 'self' 'nonce-{nonce}'" in middleware.process_response(request, HttpResponse())[HEADER]
