"""An agent is told when someone else changed her presence (README, "Working in the portal").

Amelia works with her inbox open. Dana, her supervisor, sets her offline from Live agents:
Amelia's page, without a reload, turns her switch to Offline, says who did it, and disables
"Get next work" — before, the button said she was offline while the switch still said
available. She sets herself available again. Later she leaves without a word; past the idle
time the sweep sets her offline, and when she comes back her inbox says why: no page or
API request came from her. Screenshots at 1280×800 and 390×844.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from allocation.models import Presence
from allocation.services.rebalancing import agents_idle_set_offline
from core import roles
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser,
              pytest.mark.usefixtures("role_groups", "presence_reasons")]

# A Thursday morning, years ahead of the wall clock.
THURSDAY = datetime(2031, 3, 13, 9, 0, tzinfo=UTC)


def test_an_agent_sees_who_set_her_offline_without_reloading(open_page, screenshot, team, settings):
    settings.TIME_ZONE = "UTC"
    amelia = factories.AgentFactory(team=team, capacity=3, user__username="amelia.hart",
                                    user__first_name="Amelia", user__last_name="Hart")
    dana = factories.UserFactory(roles=[roles.SUPERVISOR], first_name="Dana", last_name="Morgan")
    team.supervisors.add(dana)

    with time_machine.travel(THURSDAY, tick=True) as clock:
        inbox = open_page(amelia.user)
        inbox.goto("/work/")
        expect(inbox.get_by_role("radio", name="Available", exact=True)).to_be_checked()
        expect(inbox.get_by_role("button", name=re.compile("Get next work"))).to_be_enabled()

        # Dana sets her offline from her row in Live agents.
        live = open_page(dana)
        live.goto("/reports/agents/")
        row = live.get_by_role("row", name=re.compile("Amelia Hart"))
        row.get_by_role("link", name="Set away or offline…").click()
        row.get_by_label("Set Amelia Hart to").select_option(label="Offline (no reason)")
        row.get_by_role("button", name="Set").click()
        expect(live.get_by_text(re.compile("Amelia Hart is now offline."))).to_be_visible()

        # Amelia's open page follows with its next refresh: the switch, who, and the button.
        told = inbox.locator(".presence-set-by")
        expect(told).to_have_text(re.compile(r"^Set offline by Dana Morgan at 09:0\d\.$"))
        expect(inbox.get_by_role("radio", name="Offline", exact=True)).to_be_checked()
        expect(inbox.locator("#presence-h")).to_contain_text("Offline since")
        expect(inbox.get_by_role("button", name=re.compile("Get next work"))).to_be_disabled()
        screenshot(inbox, "journey-presence-told-1-by-supervisor-1280")
        inbox.set_viewport_size({"width": 390, "height": 844})
        screenshot(inbox, "journey-presence-told-1-by-supervisor-390")
        inbox.set_viewport_size({"width": 1280, "height": 800})

        # Her own choice again: nothing to explain any more.
        inbox.get_by_role("radio", name="Available", exact=True).check()
        expect(inbox.get_by_role("status").filter(has_text="Saved: you are available.")).to_be_visible()
        expect(told).to_have_count(0)
        expect(inbox.get_by_role("button", name=re.compile("Get next work"))).to_be_enabled()
        inbox.wait_for_timeout(2500)  # refreshes that find her own presence leave the switch alone
        expect(inbox.get_by_role("radio", name="Available", exact=True)).to_be_checked()
        inbox.close()

        # She leaves without setting herself offline; the sweep runs every minute.
        clock.move_to(THURSDAY + timedelta(minutes=29))
        assert agents_idle_set_offline() == 0
        clock.move_to(THURSDAY + timedelta(minutes=31))
        assert agents_idle_set_offline() == 1
        amelia.refresh_from_db()
        assert amelia.presence == Presence.OFFLINE

        back = open_page(amelia.user, width=390, height=844)
        back.goto("/work/")
        expect(back.locator(".presence-set-by")).to_have_text(re.compile(
            r"^Set offline automatically at 09:3\d: no page or API request came from you for 30 minutes\.$"))
        expect(back.get_by_role("button", name=re.compile("Get next work"))).to_be_disabled()
        screenshot(back, "journey-presence-told-2-idle-390")
        back.set_viewport_size({"width": 1280, "height": 800})
        screenshot(back, "journey-presence-told-2-idle-1280")
