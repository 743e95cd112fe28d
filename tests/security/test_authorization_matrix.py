"""Who may open or do what: every URL of the portal (pages, API, exports, the admin site)
× every role, with the status each must get, generated from the URL conf so that a new URL
without an entry here fails.

Roles (tests/security/world.py, core/roles.py): anonymous; an agent of team A who holds the
item; an agent of team B; team A's supervisor; team B's supervisor; a quality evaluator,
assigned the (draft) evaluation; a quality lead (staff, for sampling rules in the admin);
an admin; a source system bound to the items' sources; another source system bound to a
source of its own (pages ignore tokens).

Codes: the status; "L" — a redirect to a login page; "*" — the request changed the world
(items, events, the evaluation). A code without "*" must change nothing: every request runs
in a savepoint, compared before and after, and rolled back. A 302 without "*" on a page
action is a refusal shown on the next page ("Nothing was done").

Decisions the table records (README's role table): supervisors see and act on — transfer,
reprioritize, cancel, reassign — the queues their teams serve, and see the reports; admins
everywhere; agents only on what they hold; an agent sees a customer's journey but opens
only its own items; a quality evaluator reaches only its evaluations (no items, journeys or
reports); a quality lead the forms, calibration and dispute decisions (a supervisor those
of its teams' agents; the world's evaluation is a draft, so none is waiting); a source system
creates under, reads and cancels only its own sources (another source's item: 404), and
reaches nothing else. Evaluations are visible to their evaluator, to quality leads, to the
agent and its team's supervisors once submitted (a calibration's to its evaluators and
quality leads only).
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.security.bodies import bodies
from tests.security.matrix_client import status_as, url_for, url_names
from tests.security.world import ROLES, world_build

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("role_groups")]

# anonymous agent other_agent supervisor other_supervisor evaluator quality_lead admin source other_source
EXPECTED = {
    ("agent-next", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("agent-next", "POST"): "401 204 204 403 403 403 403 403 403 403",
    ("agent-presence", "GET"): "401 200 200 403 403 403 403 403 403 403",
    ("agent-presence", "POST"): "401 405 405 403 403 403 403 403 403 403",
    ("agent-presence", "PUT"): "401 200* 200 403 403 403 403 403 403 403",
    ("api-docs", "GET"): "200 200 200 200 200 200 200 200 200 200",
    # A source system's webhook subscriptions: its own (another's is not there for it).
    ("webhook-list", "GET"): "401 403 403 403 403 403 403 403 200 200",
    ("webhook-list", "POST"): "401 403 403 403 403 403 403 403 201* 201*",
    ("webhook-detail", "GET"): "401 403 403 403 403 403 403 403 200 404",
    ("webhook-detail", "PATCH"): "401 403 403 403 403 403 403 403 200* 404",
    ("webhook-detail", "DELETE"): "401 403 403 403 403 403 403 403 204* 404",
    ("webhook-deliveries", "GET"): "401 403 403 403 403 403 403 403 200 404",
    ("webhook-redeliver", "POST"): "401 403 403 403 403 403 403 403 200 404",
    ("api-schema", "GET"): "200 200 200 200 200 200 200 200 200 200",
    ("customer-items", "GET"): "401 200 200 200 200 403 403 200 200 200",
    ("customer-items", "POST"): "401 405 405 405 405 403 403 405 405 405",
    ("health", "GET"): "200 200 200 200 200 200 200 200 200 200",
    ("metrics", "GET"): "200 200 200 200 200 200 200 200 200 200",
    ("home", "GET"): "302L 302 302 302 302 302 302 302 302L 302L",
    ("item-cancel", "GET"): "401 405 405 405 405 405 405 405 405 405",
    ("item-cancel", "POST"): "401 403 403 200* 403 403 403 200* 200* 404",
    ("item-complete", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-complete", "POST"): "401 200* 403 403 403 403 403 403 403 403",
    ("item-detail", "GET"): "401 200 404 200 404 403 403 200 200 404",
    ("item-detail", "POST"): "401 405 405 405 405 403 403 405 405 405",
    ("item-list", "GET"): "401 200 200 200 200 403 403 200 200 200",
    ("item-list", "POST"): "401 403 403 403 403 403 403 201* 201* 403",
    ("item-pend", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-pend", "POST"): "401 200* 403 403 403 403 403 403 403 403",
    ("item-priority", "GET"): "401 405 405 405 405 405 405 405 405 405",
    ("item-priority", "POST"): "401 403 403 200* 403 403 403 200* 403 403",
    ("item-reject", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-reject", "POST"): "401 409 403 403 403 403 403 403 403 403",
    ("item-release", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-release", "POST"): "401 200* 403 403 403 403 403 403 403 403",
    ("item-resume", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-resume", "POST"): "401 409 403 403 403 403 403 403 403 403",
    ("item-start", "GET"): "401 405 405 403 403 403 403 403 403 403",
    ("item-start", "POST"): "401 409 403 403 403 403 403 403 403 403",
    ("item-transfer", "GET"): "401 405 405 405 405 405 405 405 405 405",
    ("item-transfer", "POST"): "401 200* 403 200* 403 403 403 200* 403 403",
    ("items-reassign", "GET"): "401 405 405 405 405 405 405 405 405 405",
    ("items-reassign", "POST"): "401 403 403 200* 200 403 403 200* 403 403",
    ("login", "GET"): "200 302 302 302 302 302 302 302 200 200",
    ("login", "POST"): "200 302 302 302 302 302 302 302 200 200",
    ("logout", "POST"): "302L 302L 302L 302L 302L 302L 302L 302L 302L 302L",
    ("notifications", "GET"): "302L 200 200 200 200 200 200 200 302L 302L",
    ("notifications-read", "POST"): "302L 302 302 302 302 302 302 302 302L 302L",
    ("quality-acknowledge", "GET"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-acknowledge", "POST"): "401 409 403 403 403 403 403 403 403 403",
    ("quality-dispute", "GET"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-dispute", "POST"): "401 409 403 403 403 403 403 403 403 403",
    ("quality-evaluation", "GET"): "401 403 403 403 403 200 200 200 403 403",
    ("quality-evaluation", "POST"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-evaluations", "GET"): "401 200 200 200 200 200 200 200 403 403",
    ("quality-evaluations", "POST"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-forms", "GET"): "401 200 200 200 200 200 200 200 403 403",
    ("quality-forms", "POST"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-submit", "GET"): "401 405 405 405 405 405 405 405 403 403",
    ("quality-submit", "POST"): "401 403 403 403 403 200* 403 403 403 403",
    ("quality:calibration", "GET"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:calibration-new", "GET"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:calibration-new", "POST"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:evaluation", "GET"): "302L 403 403 403 403 200 200 200 302L 302L",
    ("quality:evaluation", "POST"): "302L 403 403 403 403 302* 302 302 302L 302L",
    ("quality:form", "GET"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:form", "POST"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:forms", "GET"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:forms", "POST"): "302L 403 403 403 403 403 200 200 302L 302L",
    ("quality:home", "GET"): "302L 200 200 200 200 200 200 200 302L 302L",
    ("report-backlog", "GET"): "401 403 403 200 200 403 403 200 403 403",
    ("report-backlog", "POST"): "401 403 403 405 405 403 403 405 403 403",
    ("report-history", "GET"): "401 403 403 200 200 403 403 200 403 403",
    ("report-history", "POST"): "401 403 403 405 405 403 403 405 403 403",
    ("report-sla", "GET"): "401 403 403 200 200 403 403 200 403 403",
    ("report-sla", "POST"): "401 403 403 405 405 403 403 405 403 403",
    ("reports:home", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:home-live", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:agents", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:agents-live", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    # Setting an agent (of team A) away from the live view: its team's supervisor, admins.
    ("reports:agent-presence", "GET"): "302L 403 403 200 404 403 403 200 302L 302L",
    ("reports:agent-presence", "POST"): "302L 403 403 302* 403 403 403 302* 302L 302L",
    ("reports:capacity", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:capacity", "GET?format=xlsx"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:customer-journey", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:history", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:history", "GET?format=csv&table=sla"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:history", "GET?format=xlsx&table=volume"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:scorecard", "GET"): "302L 200 403 200 403 403 403 200 302L 302L",
    ("reports:scorecards", "GET"): "302L 302 302 200 200 403 403 200 302L 302L",
    ("reports:wallboard", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:wallboard", "GET?format=csv"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:wallboard-live", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    # A queue's amber/red thresholds: its teams' supervisors (the other supervisor gets its own,
    # empty, list: nothing to save), admins.
    ("reports:wallboard-thresholds", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("reports:wallboard-thresholds", "POST"): "302L 403 403 302 302 403 403 302 302L 302L",
    ("work:customer", "GET"): "302L 200 403 200 200 403 403 200 302L 302L",
    ("work:inbox", "GET"): "302L 200 200 403 403 403 403 403 302L 302L",
    ("work:inbox-list", "GET"): "302L 200 200 403 403 403 403 403 302L 302L",
    ("work:item", "GET"): "302L 200 403 200 403 403 403 200 302L 302L",
    # An action's form, fetched as its section of the item page opens: whoever may open the page.
    ("work:item-action-form", "GET"): "302L 200 403 200 403 403 403 200 302L 302L",
    ("work:item-action-form", "POST"): "405 405 405 405 405 405 405 405 405 405",
    ("work:item-cancel", "POST"): "302L 302 302 302* 302 302 302 302* 302L 302L",
    ("work:item-complete", "POST"): "302L 302* 302 302 302 302 302 302 302L 302L",
    ("work:item-pend", "POST"): "302L 302* 302 302 302 302 302 302 302L 302L",
    ("work:item-priority", "POST"): "302L 302 302 302* 302 302 302 302* 302L 302L",
    ("work:item-reject", "POST"): "302L 302 302 302 302 302 302 302 302L 302L",
    ("work:item-release", "POST"): "302L 302* 302 302 302 302 302 302 302L 302L",
    ("work:item-resume", "POST"): "302L 302 302 302 302 302 302 302 302L 302L",
    ("work:item-start", "POST"): "302L 302 302 302 302 302 302 302 302L 302L",
    ("work:item-transfer", "POST"): "302L 302* 302 302* 302 302 302 302* 302L 302L",
    ("work:items", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("work:next", "POST"): "302L 302 302 403 403 403 403 403 302L 302L",
    ("work:presence", "POST"): "302L 302* 302 403 403 403 403 403 302L 302L",
    ("work:reassign", "GET"): "302L 403 403 200 200 403 403 200 302L 302L",
    ("work:reassign", "POST"): "302L 403 403 302* 400 403 403 302* 302L 302L",
}

# Methods no role may use on a URL (405 for everyone) need no row; the URL still needs one.
# Every named URL of the project has at least one row.

# The admin site: admins (staff in the Admin role) get in everywhere; add pages of what is
# written only by the portal itself (append-only history, alerts, evaluations, versions)
# refuse them too. A quality lead (staff) reaches the quality configuration only.
ADMIN_MODELS = {
    "allocation.AgentProfile", "allocation.BusinessCalendar", "allocation.ItemActionReason",
    "allocation.PresenceChange", "allocation.PresenceReason", "allocation.Queue", "allocation.RoutingStep",
    "allocation.Skill", "allocation.SlaActionRun", "allocation.SlaAlert", "allocation.SlaPolicy",
    "allocation.SourceBinding", "allocation.Team",
    "allocation.WebhookDelivery", "allocation.WebhookSubscription", "allocation.WorkItem",
    "auth.Group", "auth.User", "authtoken.TokenProxy", "axes.AccessAttempt", "axes.AccessFailureLog",
    "axes.AccessLog", "django_celery_beat.ClockedSchedule", "django_celery_beat.CrontabSchedule",
    "django_celery_beat.IntervalSchedule", "django_celery_beat.PeriodicTask", "django_celery_beat.SolarSchedule",
    "quality.Evaluation", "quality.EvaluationForm", "quality.FormSection", "quality.FormVersion",
    "quality.SamplingRule", "wfo.ChangeRecord", "wfo.WorkerHeartbeat",
}
ADMIN_ADD_REFUSED = {
    "allocation.PresenceChange", "allocation.SlaAlert", "allocation.WorkItem", "auth.Group", "quality.Evaluation",
    "allocation.RoutingStep",  # added on its queue's page
    "allocation.WebhookDelivery",  # written by the outbox
    "allocation.SlaActionRun",  # written by the SLA alert job
    "axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog",
    "quality.FormSection", "quality.FormVersion", "wfo.ChangeRecord", "wfo.WorkerHeartbeat",
}


def code(status: int, location: str, changed: bool) -> str:
    to_login = location.startswith(("/login", "/admin/login"))
    return f"{status}{'L' if to_login else ''}{'*' if changed else ''}"


def test_every_url_has_an_entry():
    covered = {name for name, _ in EXPECTED}
    assert set(url_names()) - covered == set(), "add the new URL to EXPECTED"
    assert covered - set(url_names()) == set(), "an entry names a URL that no longer exists"
    registered = {model._meta.label for model in admin.site._registry}
    assert registered == ADMIN_MODELS, "add the new admin page to ADMIN_MODELS"


def test_every_role_gets_the_expected_status_everywhere():
    world = world_build()
    payloads = bodies(world)
    wrong = []
    for (name, request), expected in EXPECTED.items():
        method, _, query = request.partition("?")
        url = url_for(name, world) + (f"?{query}" if query else "")
        data = payloads.get(name) if method not in ("GET", "DELETE") else None  # a DELETE sends no body
        got = [code(*status_as(role, world, method, url, data)) for role in ROLES]
        for role, want, have in zip(ROLES, expected.split(), got, strict=True):
            if want != have:
                wrong.append(f"{method} {url} as {role}: expected {want}, got {have}")
    assert wrong == []


# What a quality lead may open in the admin site: changelist and add page (None: refused).
QUALITY_LEAD_ADMIN = {
    "quality.EvaluationForm": ("200", "200"), "quality.SamplingRule": ("200", "200"),
    "quality.FormVersion": ("200", "403"), "quality.FormSection": ("200", "403"), "quality.Evaluation": ("200", "403"),
    "allocation.Queue": ("200", "403"),  # read-only: the sampling rule's queue
}


def test_only_admins_and_quality_leads_get_into_the_admin_site():
    world = world_build()
    wrong = []
    for model in admin.site._registry:
        label = model._meta.label
        for index, page in enumerate(("changelist", "add")):
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}")
            admin_code = "403" if page == "add" and label in ADMIN_ADD_REFUSED else "200"
            lead_code = QUALITY_LEAD_ADMIN[label][index] if label in QUALITY_LEAD_ADMIN else "403"
            for role in ROLES:
                want = {"admin": admin_code, "quality_lead": lead_code}.get(role, "302L")
                have = code(*status_as(role, world, "GET", url))
                if want != have:
                    wrong.append(f"GET {url} as {role}: expected {want}, got {have}")
    assert wrong == []
