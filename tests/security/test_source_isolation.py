"""Source systems kept apart: each integration user (its token) is bound to the source
names it may use (allocation.models.SourceBinding). It creates, reads, lists and cancels
only items of its own sources; another source's items do not exist for it (404), and it
cannot create, replay or claim an item under a source it is not bound to (403)."""

import importlib

import pytest
from django.apps import apps

from allocation.models import EventKind, ItemStatus, SourceBinding, WorkItem, WorkItemEvent
from core import roles
from tests import factories
from tests.helpers import token_client

pytestmark = pytest.mark.django_db

ITEMS = "/api/v1/items/"


@pytest.fixture
def cards():
    return token_client(factories.SourceSystemFactory(username="card-platform", sources=["cards"]))


@pytest.fixture
def claims():
    return token_client(factories.SourceSystemFactory(username="claims-system", sources=["claims"]))


def _row(queue, **overrides) -> dict:
    return {"queue": queue.code, "source": "cards", "external_id": "CB-1", "customer_ref": "CUST-1",
            "title": "Chargeback 1", **overrides}


def _counts() -> tuple[int, int]:
    return WorkItem.objects.count(), WorkItemEvent.objects.count()


def test_another_source_system_cannot_replay_or_claim_an_item(cards, claims, queue):
    created = cards.post(ITEMS, _row(queue), format="json")
    assert created.status_code == 201
    before = _counts()

    replayed = claims.post(ITEMS, _row(queue, title="Mine now"), format="json")

    assert replayed.status_code == 403
    body = replayed.json()
    assert body["code"] == "permission_denied" and "'cards'" in body["detail"] and "claims" in body["detail"]
    assert body["errors"] == {"source": ["Not one of this integration's sources: cards."]}
    assert "id" not in body  # the first source's item is not handed out
    assert _counts() == before
    assert WorkItem.objects.get().title == "Chargeback 1"


def test_a_batch_with_one_row_under_another_source_writes_nothing(cards, queue):
    rows = [_row(queue, external_id="CB-1"), _row(queue, source="claims", external_id="CL-1")]

    response = cards.post(ITEMS, rows, format="json")

    assert response.status_code == 403 and response.json()["errors"]["source"] == [
        "Not one of this integration's sources: claims."
    ]
    assert _counts() == (0, 0)


def test_another_sources_items_do_not_exist_for_a_source_system(cards, claims, queue):
    item_id = cards.post(ITEMS, _row(queue), format="json").json()["id"]
    own_id = claims.post(ITEMS, _row(queue, source="claims", external_id="CL-1"), format="json").json()["id"]
    before = _counts()

    assert claims.get(f"{ITEMS}{item_id}/").status_code == 404
    cancel = claims.post(f"{ITEMS}{item_id}/cancel/", {"reason": "Withdrawn"}, format="json")
    assert cancel.status_code == 404 and cancel.json()["detail"] == f"Work item #{item_id} does not exist."
    assert [i["id"] for i in claims.get(ITEMS).json()["results"]] == [own_id]
    assert claims.get(ITEMS, {"source": "cards"}).json()["results"] == []
    assert [i["id"] for i in claims.get("/api/v1/customers/CUST-1/items/").json()] == [own_id]
    assert _counts() == before
    assert WorkItem.objects.get(pk=item_id).status == ItemStatus.QUEUED

    # Its own items it reads and cancels.
    assert claims.get(f"{ITEMS}{own_id}/").status_code == 200
    assert claims.post(f"{ITEMS}{own_id}/cancel/", {"reason": "Withdrawn"}, format="json").status_code == 200
    assert WorkItem.objects.get(pk=own_id).events.order_by("-id").first().kind == EventKind.CANCELLED


def test_a_source_system_bound_to_nothing_creates_nothing(queue):
    unbound = factories.UserFactory(roles=[roles.SOURCE_SYSTEM])

    response = token_client(unbound).post(ITEMS, _row(queue), format="json")

    assert response.status_code == 403
    assert "no source yet (ask an admin to bind one)" in response.json()["detail"]
    assert _counts() == (0, 0)


@pytest.mark.parametrize("report", ["backlog", "history", "sla"])
def test_source_systems_do_not_read_the_supervisors_reports(cards, report):
    response = cards.get(f"/api/v1/reports/{report}/")

    assert response.status_code == 403
    assert response.json()["detail"] == "This is for supervisors and admins."


def test_the_migration_binds_each_integration_to_the_sources_it_used(queue):
    migration = importlib.import_module("allocation.migrations.0008_bind_integrations_to_their_sources")
    cards_user = factories.UserFactory(username="cards-user", roles=[roles.SOURCE_SYSTEM])
    claims_user = factories.UserFactory(username="claims-user", roles=[roles.SOURCE_SYSTEM])
    idle_user = factories.UserFactory(username="idle-user", roles=[roles.SOURCE_SYSTEM])
    admin = factories.UserFactory(username="an-admin", roles=[roles.ADMIN])
    from allocation import services

    def intake(actor, source, external_id):
        # Items taken in before bindings existed: system-made here, then credited to the user,
        # as intake's created event credits the integration that sent it.
        item = services.item_intake(actor=admin, draft=services.ItemDraft(
            queue=queue, source=source, external_id=external_id, customer_ref="C", title="T",
        )).item
        item.events.filter(kind=EventKind.CREATED).update(actor=actor)

    intake(cards_user, "cards", "1")
    intake(cards_user, "cards", "2")
    intake(cards_user, "cards-eu", "3")
    intake(claims_user, "claims", "4")
    intake(admin, "manual", "5")

    migration.bind_integrations(apps, None)

    bindings = set(SourceBinding.objects.values_list("user__username", "source"))
    assert bindings == {("cards-user", "cards"), ("cards-user", "cards-eu"), ("claims-user", "claims")}
    assert not SourceBinding.objects.filter(user=idle_user).exists()
    migration.bind_integrations(apps, None)  # again: nothing more
    assert SourceBinding.objects.count() == 3
