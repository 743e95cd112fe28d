"""An integrator's day, through the API with tokens only (no browser): the promises a source
system relies on, across intake, allocation, the SLA clock and isolation from other
sources. Each step asserts what the integrator sees.

1. A batch with an external deadline is taken in; the deadline governs where it is earlier.
2. The same batch again (a retry after a timeout): the same items, no duplicates.
3. An agent works one item through the API; its answers carry the network's deadline, a
   wrong outcome is refused by name, and the integrator reads what the agent was answered:
   the outcome and the met SLA.
4. It cancels one of its own items: no SLA outcome, and cancelling again is refused.
5. Another source's item does not exist for it (404), and its own token cannot reach
   another source's; an unknown field is refused by name (400) and writes nothing.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from allocation.models import WorkItem, WorkItemEvent
from tests import factories
from tests.helpers import token_client

pytestmark = pytest.mark.django_db

ITEMS = "/api/v1/items/"


def test_an_integrators_day(role_groups, team):
    queue = factories.QueueFactory(teams=[team], code="chargebacks", sla_target=timedelta(hours=48),
                                   outcomes=["won", "lost"])
    cards = token_client(factories.SourceSystemFactory(username="card-platform", sources=["card-platform"]))
    claims = token_client(factories.SourceSystemFactory(username="claims-system", sources=["claims-system"]))
    agent = factories.AgentFactory(team=team)
    agent_api = APIClient()
    agent_api.force_authenticate(agent.user)
    respond_by = (timezone.now() + timedelta(hours=6)).replace(microsecond=0)
    batch = [
        {"queue": "chargebacks", "source": "card-platform", "external_id": f"CB-{n}", "customer_ref": "CUST-42",
         "title": f"Chargeback {n}", "payload": {"amount": "120.00"},
         **({"external_deadline": respond_by.isoformat()} if n == 1 else {})}
        for n in (1, 2, 3)
    ]

    # 1. The batch is taken in; the network's deadline governs the first item.
    created = cards.post(ITEMS, batch, format="json")
    assert created.status_code == 201, created.json()
    first, second, third = created.json()
    assert first["due_at"] == first["external_deadline"]
    assert second["external_deadline"] is None
    assert second["due_at"] > first["due_at"]  # the policy's 48 hours
    detail = cards.get(f"{ITEMS}{first['id']}/").json()
    assert detail["sla"]["governed_by"] == "external_deadline"
    assert detail["events"][0]["data"]["governed_by"] == "external_deadline"

    # 2. A retry of the same batch: the same items, nothing new.
    counts = WorkItem.objects.count(), WorkItemEvent.objects.count()
    again = cards.post(ITEMS, batch, format="json")
    assert again.status_code == 200
    assert [item["id"] for item in again.json()] == [first["id"], second["id"], third["id"]]
    assert (WorkItem.objects.count(), WorkItemEvent.objects.count()) == counts

    # 3. An agent works the most urgent item (the network's); each answer it gets carries the
    #    network's deadline, an outcome the queue does not offer is refused by name and
    #    changes nothing, and what the agent was last answered is what the integrator reads.
    agent_api.put("/api/v1/agent/presence/", {"presence": "available"}, format="json")
    got = agent_api.post("/api/v1/agent/next/")
    assert got.status_code == 200 and got.json()["id"] == first["id"]
    started = agent_api.post(f"{ITEMS}{first['id']}/start/")
    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    assert got.json()["external_deadline"] == started.json()["external_deadline"] == first["external_deadline"]
    refused = agent_api.post(f"{ITEMS}{first['id']}/complete/", {"outcome": "maybe"}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"] == {"outcome": ["Choose one of: won, lost."]}
    assert WorkItem.objects.get(pk=first["id"]).status == "in_progress"
    outcome = queue.outcomes[0]
    completed = agent_api.post(f"{ITEMS}{first['id']}/complete/", {"outcome": outcome}, format="json")
    assert completed.status_code == 200
    done = cards.get(f"{ITEMS}{first['id']}/").json()
    assert (done["status"], done["outcome"], done["sla"]["state"]) == ("completed", outcome, "met")
    assert completed.json() == {field: done[field] for field in completed.json()}

    # 4. It withdraws one of its own items; withdrawing twice is refused.
    cancelled = cards.post(f"{ITEMS}{third['id']}/cancel/", {"reason": "Cardholder withdrew"}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cards.post(f"{ITEMS}{third['id']}/cancel/", {"reason": "again"}, format="json").status_code == 409

    # 5. Another source: its items do not exist for the card platform, and the reverse.
    own = claims.post(ITEMS, {"queue": "chargebacks", "source": "claims-system", "external_id": "CL-1",
                              "customer_ref": "CUST-42", "title": "Claim"}, format="json").json()
    assert cards.get(f"{ITEMS}{own['id']}/").status_code == 404
    assert cards.post(f"{ITEMS}{own['id']}/cancel/", {"reason": "x"}, format="json").status_code == 404
    assert claims.get(f"{ITEMS}{second['id']}/").status_code == 404
    assert {i["id"] for i in cards.get("/api/v1/customers/CUST-42/items/").json()} == {
        first["id"], second["id"], third["id"]}
    stolen = claims.post(ITEMS, batch[1], format="json")
    assert stolen.status_code == 403 and "card-platform" in stolen.json()["detail"]
    counts = WorkItem.objects.count(), WorkItemEvent.objects.count()
    misspelt = cards.post(ITEMS, {**batch[1], "external_id": "CB-9", "due_at": "yesterday"}, format="json")
    assert misspelt.status_code == 400
    assert misspelt.json()["errors"] == {"due_at": ["Unknown field: due_at."]}
    assert (WorkItem.objects.count(), WorkItemEvent.objects.count()) == counts
