#!/usr/bin/env python3
"""Intake benchmark: how fast source systems' items are taken in, through the service.

    .venv/bin/python bench/intake.py                      # about 1 minute on 2 cores
    .venv/bin/python bench/intake.py --repo ../other      # the same measurement of another checkout (A/B)
    make bench BENCH_ARGS="--intake-only"

Where: the server bench/db.py chooses (--dsn, DATABASE_URL, 127.0.0.1:5432, else the
embedded one); on it the bench creates its own database (`wfo_bench_intake`, --dbname),
migrates it with the measured checkout's migrations and drops it at the end (--keep-db).

What is measured, in a Django process of the measured checkout (DEBUG off), on 20 queues
whose SLA policy counts 8 working hours on a Monday-to-Friday calendar (so every due time
goes through the working-time arithmetic), acting as a system job (the actor every
checkout accepts):

- batches: `items_intake` of --batch new items (default 100) per call, --batches calls;
- singles: `item_intake` of one new item per call, --singles calls;
- replays: the first batches sent again (every item exists: the idempotent path);
- and, where the checkout has them, batches whose items carry an external deadline.

Each figure is items per second over the summed call times, the best of --repeat rounds
(each round on new keys). Intake is one transaction per call, as the API makes it.
`run(args) -> dict` does the whole thing for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import db  # noqa: E402

QUEUES = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--intake-batch", type=int, default=100, help="items per batch (default 100)")
    p.add_argument("--intake-batches", type=int, default=60, help="batches per round (default 60)")
    p.add_argument("--intake-singles", type=int, default=1000, help="single-item calls per round (default 1000)")
    p.add_argument("--intake-repeat", type=int, default=3, help="rounds; the best counts (default 3)")


def run(args, say=print) -> dict:
    target = db.choose_server(args.dsn, args.intake_dbname)
    repo = Path(args.repo).resolve() if args.repo else db.REPO
    db.create_database(target)
    try:
        env = db.django_env(target, PYTHONPATH=str(repo))
        subprocess.run([db.PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=repo, env=env, check=True)
        options = {"batch": args.intake_batch, "batches": args.intake_batches, "singles": args.intake_singles,
                   "repeat": args.intake_repeat}
        done = subprocess.run([db.PY, __file__, "--measure", json.dumps(options)], cwd=repo, env=env, check=True,
                              capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if args.keep_db:
            say(f"(kept database {target.dbname})")
        else:
            db.drop_database(target)
    result["checkout"] = str(repo)
    result["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                                      text=True).stdout.strip()
    for line in report_lines(result):
        say("  " + line)
    return result


def report_lines(result: dict) -> list[str]:
    figures = ", ".join(f"{name} {rate:,.0f} items/s" for name, rate in result["items_per_s"].items())
    return [f"INTAKE    {result['commit']}: {figures} (batch {result['batch']}, {QUEUES} queues on a calendar)"]


# The measuring process ------------------------------------------------------------------

def _measure(options: dict) -> dict:
    import django

    django.setup()
    from datetime import time as clock_time
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from allocation import services
    from allocation.models import BusinessCalendar, Queue, SlaPolicy, WorkingWindow
    from core.actors import SystemActor

    calendar = BusinessCalendar.objects.create(name="Bench office", time_zone="Europe/London")
    WorkingWindow.objects.bulk_create(WorkingWindow(calendar=calendar, weekday=day, start=clock_time(9),
                                                    end=clock_time(17)) for day in range(5))
    queues = [Queue.objects.create(code=f"intake-{n:02d}", name=f"Intake {n}", sla_target=timedelta(hours=8))
              for n in range(QUEUES)]
    SlaPolicy.objects.bulk_create(SlaPolicy(queue=queue, target=timedelta(hours=8), calendar=calendar)
                                  for queue in queues)
    actor = SystemActor("bench-intake")
    has_deadlines = "external_deadline" in services.ItemDraft.__dataclass_fields__

    def draft(key: str, n: int, **extra):
        return services.ItemDraft(queue=queues[n % QUEUES], source="bench", external_id=key,
                                  customer_ref=f"CUST-{n % 997}", title=f"Case {key}",
                                  payload={"amount": f"{n % 500}.00", "reason": "10.4"}, **extra)

    def timed(calls) -> float:
        spent = 0.0
        for call in calls:
            started = time.perf_counter()
            call()
            spent += time.perf_counter() - started
        return spent

    batch, batches, singles = options["batch"], options["batches"], options["singles"]
    best: dict[str, float] = {}
    for round_number in range(options["repeat"]):
        prefix = f"r{round_number}"
        drafts = [[draft(f"{prefix}-b{b}-{i}", b * batch + i) for i in range(batch)] for b in range(batches)]
        rates = {"batches": batch * batches / timed(
            lambda d=d: services.items_intake(actor=actor, drafts=d) for d in drafts)}
        rates["replays"] = batch * batches / timed(
            lambda d=d: services.items_intake(actor=actor, drafts=d) for d in drafts)
        single_drafts = [draft(f"{prefix}-s{n}", n) for n in range(singles)]
        rates["singles"] = singles / timed(
            lambda one=one: services.item_intake(actor=actor, draft=one) for one in single_drafts)
        if has_deadlines:
            deadline = timezone.now() + timedelta(hours=6)
            with_deadlines = [[draft(f"{prefix}-d{b}-{i}", i, external_deadline=deadline) for i in range(batch)]
                              for b in range(batches)]
            rates["batches with external deadlines"] = batch * batches / timed(
                lambda d=d: services.items_intake(actor=actor, drafts=d) for d in with_deadlines)
        for name, rate in rates.items():
            best[name] = max(best.get(name, 0.0), rate)
        with connection.cursor() as cursor:  # autocommit: each round starts from fresh statistics
            cursor.execute("VACUUM ANALYZE")
    return {"items_per_s": {name: round(rate, 1) for name, rate in best.items()}, "batch": batch,
            "batches": batches, "singles": singles, "repeat": options["repeat"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", default=None)
    p.add_argument("--dbname", dest="intake_dbname", default="wfo_bench_intake")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--repo", default=None, help="measure this checkout's code (default: this one)")
    p.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # the measuring process
    add_arguments(p)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(json.loads(args.measure))))
        return 0
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfo.settings.local")
    raise SystemExit(main())
