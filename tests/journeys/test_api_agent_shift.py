"""An agent's shift through an API client (a desktop or CRM integration), with real tokens,
across presence, allocation and the idle sweep that runs beside them:

1. Amelia last used the pages yesterday. This morning her client says she is available and
   polls her presence every 30 seconds.
2. She pulls, starts and completes work through the API for an hour while the rebalancer
   runs every minute, as beat runs it: she stays available, and each item is completed by her.
3. Her client stops (she closed it without signing off). Past the idle time the sweep sets
   her offline, and her client, opened again, reads why get-next would refuse.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from allocation.models import AgentProfile, ItemStatus, Presence, WorkItem
from allocation.services import rebalancing
from tests import factories
from tests.helpers import queued_item, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("role_groups", "presence_reasons")]

MONDAY = datetime(2031, 3, 10, 8, 0, tzinfo=UTC)
PRESENCE, NEXT = "/api/v1/agent/presence/", "/api/v1/agent/next/"


def test_an_agent_working_through_the_api_all_hour_stays_available_until_her_client_stops(team, settings):
    settings.WFO_PRESENCE_IDLE = timedelta(minutes=30)
    queue = factories.QueueFactory(teams=[team], code="refunds", outcomes=["refunded", "declined"])
    amelia = factories.AgentFactory(team=team, capacity=2, presence=Presence.OFFLINE, user__username="amelia.hart")
    AgentProfile.objects.filter(pk=amelia.pk).update(last_seen_at=MONDAY - timedelta(days=1))
    for n in range(12):
        queued_item(queue, title=f"Refund {n}")
    client = token_client(amelia.user)

    with time_machine.travel(MONDAY, tick=False) as clock:
        # 1. Available, said through the API.
        said = client.put(PRESENCE, {"presence": "available"}, format="json")
        assert said.status_code == 200 and said.json()["get_next_refusal"] is None

        # 2. An hour of work: a poll every 30 s, an item every 5 minutes, the sweep every minute.
        completed = []
        for second in range(0, 3600, 30):
            if second % 300 == 0:
                pulled = client.post(NEXT, {}, format="json")
                assert pulled.status_code == 200, (second, pulled.content)
                item_id = pulled.json()["id"]
                assert client.post(f"/api/v1/items/{item_id}/start/", {}, format="json").status_code == 200
                done = client.post(f"/api/v1/items/{item_id}/complete/", {"outcome": "refunded"}, format="json")
                assert done.status_code == 200 and done.json()["status"] == ItemStatus.COMPLETED
                completed.append(item_id)
            poll = client.get(PRESENCE)
            assert poll.status_code == 200
            assert poll.json()["presence"] == Presence.AVAILABLE, f"set {poll.json()['presence']} after {second} s"
            if second % 60 == 0:
                assert rebalancing.rebalance().set_offline == 0
            clock.shift(timedelta(seconds=30))
        assert len(completed) == 12
        assert WorkItem.objects.filter(pk__in=completed, completed_by=amelia.user).count() == 12

        # 3. The client stops. Within the idle time she is still shown available; past it, offline.
        clock.shift(timedelta(minutes=29))
        assert rebalancing.rebalance().set_offline == 0
        clock.shift(timedelta(minutes=2))
        assert rebalancing.rebalance().set_offline == 1
        reopened = client.get(PRESENCE).json()
        assert reopened["presence"] == Presence.OFFLINE
        assert reopened["get_next_refusal"] and "offline" in reopened["get_next_refusal"].lower()
        assert client.post(NEXT, {}, format="json").status_code == 409
