"""Seed a private database for a load: one team and queue, agents with API tokens, and a
backlog. Run in a process whose DATABASE_URL is that database:

    python -m tests.faults.api_world AGENTS ITEMS      # prints {"tokens": [...]} as JSON
"""

import json
import sys


def seed(agents: int, items: int) -> dict:
    from rest_framework.authtoken.models import Token

    from allocation import services
    from core.actors import SystemActor
    from tests import factories

    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    profiles = [factories.AgentFactory(team=team, capacity=10) for _ in range(agents)]
    for start in range(0, items, 1000):
        drafts = [
            services.ItemDraft(queue=queue, source="load", external_id=f"L-{n}", customer_ref=f"C-{n % 97}",
                               title=f"Case {n}")
            for n in range(start, min(start + 1000, items))
        ]
        services.items_intake(actor=SystemActor("tests"), drafts=drafts)
    return {"tokens": [Token.objects.create(user=profile.user).key for profile in profiles]}


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(seed(int(sys.argv[1]), int(sys.argv[2]))))
