"""Today's open work, created through the real services: the card platform's intake, then
agents setting their presence and pulling, starting, pending and completing items.

Going through the services means the live backlog is in exactly the state the product
would leave it in, with the events and locks the services write.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from allocation import selectors, services
from allocation.models import Presence
from demo.catalog import QUEUES, SOURCE
from demo.content import PRIORITIES, item_content
from demo.people import People

BACKLOG_SHARE = 0.12
# The share of today's backlog the agents pull; the rest is left waiting, whatever the hour.
# Which items a pull takes depends on the hour and the day (start by is counted in each
# queue's working time), so the number of pulls must not: planned by the agents' capacities
# alone, it came to about the whole backlog at the demo's smallest size, and on some days
# and hours the agents' eligibility then met every item and nothing was left queued.
PULLED_SHARE = 0.6


def _planned_presence(index: int) -> str:
    if index % 10 == 9:
        return Presence.OFFLINE
    if index % 7 == 3:
        return Presence.AWAY
    return Presence.AVAILABLE


def backlog_seed(*, rng, now, count, queues, specs, customers, people: People, first_number: int) -> None:
    """Today's open work, through the services: intake, then agents log in and pull work."""
    codes = [spec.code for spec in QUEUES]
    # Long-SLA queues keep more work waiting.
    weights = [spec.volume * (1 + spec.sla_hours / 48) for spec in QUEUES]
    arrivals = []
    for _ in range(count):
        code = rng.choices(codes, weights)[0]
        sla_hours = specs[code].sla_hours
        hours_ago = min(rng.expovariate(1 / min(14, sla_hours / 2)), 72, sla_hours * 1.3)
        arrivals.append((now - timedelta(hours=hours_ago), code))
    arrivals.sort()
    drafts = []
    for number, (received_at, code) in enumerate(arrivals, start=first_number):
        customer_ref = rng.choices(*customers)[0]
        title, payload = item_content(code, rng, customer_ref, received_at)
        priority = rng.choices(*PRIORITIES)[0]
        drafts.append(services.ItemDraft(
            queue=queues[code], source=SOURCE, external_id=f"{specs[code].id_prefix}-{number:07d}",
            customer_ref=customer_ref, title=title, payload=payload, priority=priority, received_at=received_at,
        ))
    for start in range(0, len(drafts), 1000):
        services.items_intake(actor=people.integration, drafts=drafts[start:start + 1000])

    reasons = {presence: list(selectors.presence_reasons_offered(presence)) for presence in (Presence.AWAY,
                                                                                         Presence.OFFLINE)}
    for index, agent in enumerate(people.agents):
        presence = _planned_presence(index)
        # Most who stepped away said why (lunch, a meeting…); supervisors see it.
        offered = reasons.get(presence) or [None]
        reason = offered[index % len(offered)] if index % 3 else None
        if presence != agent.presence:
            services.agent_set_presence(agent_id=agent.pk, presence=presence, actor=agent.user,
                                        reason_id=reason.pk if reason else None)
    working = [agent for index, agent in enumerate(people.agents) if _planned_presence(index) == Presence.AVAILABLE]
    rng.shuffle(working)
    pulls_left = round(count * PULLED_SHARE)
    for agent in working:
        for _ in range(rng.randint(0, agent.capacity)):
            if pulls_left == 0:
                return
            pulls_left -= 1
            item = services.item_get_next(agent_id=agent.pk)
            if item is None:
                break
            if rng.random() < 0.45:
                continue  # reserved, not started yet
            services.item_start(item_id=item.pk, actor=agent.user)
            roll = rng.random()
            if roll < 0.2:
                spec = specs[item.queue.code]
                services.item_pend(item_id=item.pk, actor=agent.user, reason=rng.choice(spec.pend_reasons),
                                   until=timezone.now() + timedelta(hours=rng.randint(2, 72)))
            elif roll < 0.35:
                services.item_complete(item_id=item.pk, actor=agent.user, outcome=rng.choice(item.queue.outcomes))
