"""A believable card-issuer back office to click through: `demo_seed` loads it, `logins_table`
says how to sign in. `manage.py seed_demo` is the way in; `run_portal` calls that.

Idempotent. Skills, queues, teams and users are created when missing (and the demo
users' roles and password restored, so the printed logins always work); work items are
seeded once, inside the same transaction, so a second run finds them and changes nothing.

Today's backlog goes through the real services (`backlog`); the past three weeks cannot,
so they are written in bulk (`history`) by agents working their shifts (`shifts`), on
items whose content comes from `content`, all shaped by the data in `catalog`.
A fixed random seed makes every run produce the same data relative to its start time.
"""

from __future__ import annotations

import random

from django.contrib.auth.password_validation import validate_password
from django.db import connection, transaction
from django.utils import timezone

from allocation.models import Queue, WorkItem
from demo.backlog import BACKLOG_SHARE, backlog_seed
from demo.catalog import (
    AGENT_NAMES,
    QUALITY_EVALUATOR_USER,
    QUALITY_LEAD_USER,
    QUEUES,
    SEED,
    SOURCE,
    configuration_ensure,
)
from demo.content import customers_draw
from demo.history import ItemHistory
from demo.people import DEMO_PASSWORD, PORTAL_URL, People, logins_table, people_ensure
from demo.quality import quality_demo_ensure
from demo.shifts import agent_plans, presence_history_write

__all__ = [
    "AGENT_NAMES",
    "DEMO_PASSWORD",
    "PORTAL_URL",
    "QUALITY_EVALUATOR_USER",
    "QUALITY_LEAD_USER",
    "SOURCE",
    "demo_item_count",
    "demo_seed",
    "logins_table",
]

ADVISORY_LOCK_KEY = 0x5EED_DE30  # serialises concurrent runs


def demo_seed(*, items: int) -> bool:
    """Ensure the demo configuration and people; seed `items` work items unless the demo
    already has some. True when this run seeded them."""
    validate_password(DEMO_PASSWORD)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        queues = configuration_ensure()
        people = people_ensure()
        seeded = not WorkItem.objects.filter(source=SOURCE).exists()
        if seeded:
            _work_seed(items=items, queues=queues, people=people)
        quality_demo_ensure(queues=queues)
    if seeded:  # reports read rollups: sum the history just written
        from reporting.rollups import rollups_rebuild

        rollups_rebuild()
    return seeded


def demo_item_count() -> int:
    return WorkItem.objects.filter(source=SOURCE).count()


def _work_seed(*, items: int, queues: dict[str, Queue], people: People) -> None:
    rng = random.Random(SEED + 1)
    now = timezone.now()
    backlog = max(10, round(items * BACKLOG_SHARE))
    customers = customers_draw(rng, items)
    plans = agent_plans(rng, people.agents, now)
    specs = {spec.code: spec for spec in QUEUES}
    history = ItemHistory(rng=rng, now=now, queues=queues, specs=specs, plans=plans,
                          integration_id=people.integration.pk, customers=customers)
    history.generate(items - backlog)
    history.write()
    presence_history_write(plans, people.agents)
    backlog_seed(rng=rng, now=now, count=backlog, queues=queues, specs=specs, customers=customers,
                 people=people, first_number=history.next_number)
