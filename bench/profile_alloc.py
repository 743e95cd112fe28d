#!/usr/bin/env python3
"""Profile get-next + start in one process against a database seeded by the bench.

    .venv/bin/python bench/run.py --backlog 200000 --skip-api --keep-db   # leaves wfo_bench
    .venv/bin/python bench/profile_alloc.py [--dsn URL] [-n 500] [--top 40]

Prints the per-allocation time uncontended, cProfile's top functions by cumulative and by
own time, and the share spent inside the database driver. Moves `n` items (they stay in
progress; re-seed with run.py for clean figures).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", default="postgres://postgres@127.0.0.1:5432/wfo_bench")
    p.add_argument("-n", type=int, default=500)
    p.add_argument("--top", type=int, default=35)
    p.add_argument("--sort", default="cumulative")
    a = p.parse_args()
    os.environ.update({"DJANGO_SETTINGS_MODULE": "wfo.settings.local", "DJANGO_DEBUG": "false",
                       "DATABASE_URL": a.dsn, "WFO_LOG_LEVEL": "WARNING"})
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from allocation.models import AgentProfile
    from allocation.services import item_get_next, item_start

    agent_ids = list(AgentProfile.objects.order_by("pk").values_list("pk", flat=True))
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=agent_ids)}

    def cycle(i: int) -> None:
        agent = agent_ids[i % len(agent_ids)]
        item = item_get_next(agent_id=agent)
        item_start(item_id=item.pk, actor=users[agent])

    for i in range(20):
        cycle(i)
    t = time.perf_counter()
    for i in range(a.n):
        cycle(i)
    plain = (time.perf_counter() - t) / a.n
    prof = cProfile.Profile()
    prof.enable()
    for i in range(a.n):
        cycle(i)
    prof.disable()
    print(f"uncontended, one process: {plain * 1000:.3f} ms per get-next + start ({1 / plain:.0f}/s)")
    for key in (a.sort, "tottime"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(key).print_stats(a.top)
        print(s.getvalue())


if __name__ == "__main__":
    main()
