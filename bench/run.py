#!/usr/bin/env python3
"""WFO Portal allocation and API benchmark (see bench/README.md).

    .venv/bin/python bench/run.py            # full run, about 5 minutes + the load test (6) + the SLA scan
    .venv/bin/python bench/run.py --quick    # smoke run, about 3 minutes
    make bench BENCH_ARGS="--skip-api"
    make bench BENCH_ARGS="--sla-only"       # only the SLA alert scan (bench/sla_scan.py)
    make bench BENCH_ARGS="--reports-only"   # only the reporting section (bench/reports.py)
    make bench BENCH_ARGS="--load-only"      # only the load test: 200 agents for 5 min (bench/load.py)
    make bench BENCH_ARGS="--steps-only"     # only the allocation rate with routing steps vs without
    make bench BENCH_ARGS="--routing-only"   # only the routing pass at 1M open items (bench/routing.py)
    make bench BENCH_ARGS="--webhooks-only"  # only the webhooks section (bench/webhooks.py)

Seeds a dedicated database (200 queues, 50 agents each eligible for about 40 queues),
then per backlog size measures get-next + start through the services from 8 processes;
runs ../shared/bench/pg_dequeue_ceiling.py against the same server and prints our rate
as a ratio of it; compares the rate at the largest backlog with the smallest; measures
POST /api/v1/agent/next/ latency under gunicorn with 50 clients; measures the rate with 3
routing steps on every queue against the rate without, alternately (bench/steps.py;
--skip-steps); the rate with one webhook subscription and with a trigger outbox against
none, and webhook delivery's delay and rate on a database of its own (bench/webhooks.py;
--skip-webhooks); runs the load test, 200 locust agents doing next → start → complete for 5
minutes against gunicorn, checking for errors and items handed out twice (bench/load.py;
--skip-load); then, on a database of its own, times the SLA alert scan over 1M open items
as completed history grows from 1M to 5M (bench/sla_scan.py; --skip-sla leaves it out);
on another, the routing pass over 1M open items as closed history grows from 1M to 3M
(bench/routing.py; --skip-routing); rebalancing (bench/rebalance.py); and the reports: 5M
items of history with their events, the rollup rebuild and incremental run, the
wallboard's and the history page's server time (bench/reports.py; --skip-reports).
Writes every figure to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import agent_hour  # noqa: E402
import alloc  # noqa: E402
import api  # noqa: E402
import db  # noqa: E402
import intake as intake_bench  # noqa: E402
import load as load_bench  # noqa: E402
import rebalance as rebalance_bench  # noqa: E402
import reports as reports_bench  # noqa: E402
import routing as routing_bench  # noqa: E402
import sla_scan  # noqa: E402
import steps as steps_bench  # noqa: E402
import webhooks as webhooks_bench  # noqa: E402

REPO = BENCH.parent
CEILING = REPO.parent / "shared" / "bench" / "pg_dequeue_ceiling.py"
RATIO_TARGET = 0.4
SAME_WORK_TARGET = 0.8   # issue 24: the services' rate ÷ their own statements sent alone
SCALING_TARGET = 0.5
DEFAULT_GUNICORN = "--workers 4"   # sync workers: best throughput and tail here (see README)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backlog", type=int, nargs="+", metavar="N",
                   help="backlog sizes to measure (default: 10000 200000 1000000; --quick: 5000 50000)")
    p.add_argument("--ratio-backlog", type=int, default=200_000,
                   help="the backlog the ceiling ratio is taken at (the nearest measured size at or below it)")
    p.add_argument("--allocations", type=int, default=None,
                   help="timed allocations per backlog size, at most half the backlog (default 20000; --quick 2000)")
    p.add_argument("--workers", type=int, default=8, help="concurrent worker processes (default 8)")
    p.add_argument("--round-size", type=int, default=100,
                   help="allocations per worker between two (untimed) bulk completions (default 100)")
    p.add_argument("--ceiling-items", type=int, default=None, help="items for the ceiling run (default 20000)")
    p.add_argument("--ceiling-script", type=Path, default=CEILING)
    p.add_argument("--skip-api", action="store_true", help="do not run the gunicorn latency test")
    p.add_argument("--skip-load", action="store_true", help="do not run the locust load test")
    p.add_argument("--load-only", action="store_true", help="run only the locust load test (bench/load.py)")
    load_bench.add_arguments(p)   # --load-users, --load-seconds, --load-backlog, --load-gunicorn-args, …
    p.add_argument("--skip-hour", action="store_true", help="do not run the agent-hour section")
    p.add_argument("--hour-only", action="store_true", help="run only the agent-hour section (bench/agent_hour.py)")
    agent_hour.add_arguments(p)   # --hour-compression, --hour-hours, --hour-agents, --hour-repo, …
    p.add_argument("--skip-sla", action="store_true", help="do not run the SLA alert scan section")
    p.add_argument("--sla-only", action="store_true", help="run only the SLA alert scan section")
    sla_scan.add_arguments(p)   # --sla-open, --sla-crossing, --sla-history, --sla-passes, --sla-dbname
    steps_bench.add_arguments(p)   # --skip-steps, --steps-only, --steps-backlog, --steps-allocations, --steps-pairs
    webhooks_bench.add_arguments(p)   # --skip-webhooks, --webhooks-only, --webhooks-backlog, --webhooks-rate, …
    p.add_argument("--skip-routing", action="store_true", help="do not run the routing pass section")
    p.add_argument("--routing-only", action="store_true", help="run only the routing pass section (bench/routing.py)")
    routing_bench.add_arguments(p)   # --routing-open, --routing-history, --routing-passes, --routing-span-hours, …
    p.add_argument("--skip-intake", action="store_true", help="do not run the intake section")
    p.add_argument("--intake-only", action="store_true", help="run only the intake section (bench/intake.py)")
    intake_bench.add_arguments(p)   # --intake-batch, --intake-batches, --intake-singles, --intake-repeat
    p.add_argument("--skip-rebalance", action="store_true", help="do not run the rebalancing section")
    p.add_argument("--rebalance-only", action="store_true", help="run only the rebalancing section")
    p.add_argument("--skip-reports", action="store_true", help="do not run the reporting section")
    p.add_argument("--reports-only", action="store_true", help="run only the reporting section")
    reports_bench.add_arguments(p)   # --reports-items, --reports-days, --reports-open, --reports-requests, …
    p.add_argument("--api-clients", type=int, default=50)
    p.add_argument("--api-duration", type=float, default=None, help="recorded seconds (default 20; --quick 5)")
    p.add_argument("--api-warmup", type=float, default=3.0, help="unrecorded seconds before that")
    p.add_argument("--api-client-procs", type=int, default=2, help="client processes sharing the clients")
    p.add_argument("--gunicorn-args", default=DEFAULT_GUNICORN, help=f"default: {DEFAULT_GUNICORN!r}")
    p.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    p.add_argument("--dsn", help="server to use (postgres:// URL); default DATABASE_URL, else 127.0.0.1:5432, "
                                 "else the embedded server. The bench always works in its own database.")
    p.add_argument("--dbname", default="wfo_bench", help="the bench's own database, created and dropped")
    p.add_argument("--keep-db", action="store_true", help="leave the bench database in place at the end")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of get-next's SQL per backlog")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    p.add_argument("--json", type=Path, help="results file (default bench/results/<timestamp>.json)")
    a = p.parse_args(argv)
    a.backlog = a.backlog or ([5_000, 50_000] if a.quick else [10_000, 200_000, 1_000_000])
    a.allocations = a.allocations or (2_000 if a.quick else 20_000)
    a.ceiling_items = a.ceiling_items or (5_000 if a.quick else 20_000)
    a.api_duration = a.api_duration or (5.0 if a.quick else 20.0)
    if a.quick:
        a.api_warmup = min(a.api_warmup, 2.0)
    return a


def say(msg: str = "") -> None:
    print(msg, flush=True)


def run_ceiling(args, target: db.Target) -> dict:
    script = args.ceiling_script
    if not script.exists():
        return {"skipped": f"{script} not found"}
    cmd = [sys.executable, str(script), "--dsn", target.url, "--items", str(args.ceiling_items),
           "--connections", str(args.workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    m = re.search(r"ceiling_items_per_s=([\d.]+)", proc.stdout)
    if proc.returncode != 0 or not m:
        return {"skipped": f"ceiling run failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}"}
    return {"rate_per_s": float(m.group(1)), "line": proc.stdout.strip(), "script": str(script),
            "items": args.ceiling_items, "connections": args.workers}


def describe(m: dict, check: dict) -> str:
    lat, split, cpu = m["latency_ms"], m["per_allocation_ms"], m["cpu_ms_per_allocation"]
    text = (f"{m['allocations']:,} in {m['seconds']:.1f} s = {fmt(m['rate_per_s'])} allocations/s | get-next "
            f"p50/p95/p99 {lat['get_next']['p50']}/{lat['get_next']['p95']}/{lat['get_next']['p99']} ms, start p50 "
            f"{lat['start']['p50']} ms | {split['statements']} statements+commits per allocation")
    if cpu["machine_total"] is not None and cpu["postgres_backends"] is not None:
        text += (f" | CPU ms per allocation: workers {cpu['workers_python']} + postgres {cpu['postgres_backends']}"
                 f" + other {cpu['other']} = {cpu['machine_total']} on {cpu['cores']} cores")
    ok = "OK" if check["ok"] else "FAILED: " + "; ".join(check["problems"])
    return text + f" | exactly once {ok}"


def fmt(n: float) -> str:
    return f"{n:,.0f}" if n >= 100 else f"{n:,.2f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def intake_section(args, report: dict, failed_checks: list[str]) -> None:
    """Intake through the service: batches, single items, replays (bench/intake.py), on its own database."""
    options = argparse.Namespace(dsn=args.dsn, intake_dbname="wfo_bench_intake", keep_db=args.keep_db, repo=None,
                                 intake_batch=args.intake_batch, intake_batches=args.intake_batches,
                                 intake_singles=args.intake_singles, intake_repeat=args.intake_repeat)
    say("intake")
    try:
        report["intake"] = intake_bench.run(options, say=say)
    except Exception as exc:  # report and go on: the other sections' figures still count
        report["intake"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append(f"intake: {exc}")


def rebalance_section(args, report: dict, failed_checks: list[str]) -> None:
    """Rebalancing after 200 of 1,000 agents go offline (bench/rebalance.py), on its own database."""
    options = argparse.Namespace(dsn=args.dsn, dbname="wfo_bench_rebalance", keep_db=args.keep_db, quick=args.quick,
                                 agents=None, offline=None, held=None, queued=None, capacity=None, max_calls=None)
    try:
        rep = rebalance_bench.run(options, say=say)
    except Exception as exc:  # report and go on: the other sections' figures still count
        report["rebalance"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append(f"rebalance: {exc}")
        return
    report["rebalance"] = rep
    if not rep["ok"]:
        failed_checks.append("rebalance checks")


def load_section(args, target: db.Target, report: dict, failed_checks: list[str], stamp: str) -> None:
    """Simulated agents under locust against gunicorn (bench/load.py), on its own database."""
    users, seconds, backlog, spawn_rate = load_bench.resolve(args)
    load_target = db.Target(url=db._with_dbname(target.url, args.load_dbname), admin_url=target.admin_url,
                            dbname=args.load_dbname, how=target.how, keeper=target.keeper)
    try:
        rep = load_bench.run(load_target, users=users, seconds=seconds, backlog=backlog, spawn_rate=spawn_rate,
                             gunicorn_args=args.load_gunicorn_args, user_class=args.load_user_class,
                             keep_db=args.keep_db, log_dir=BENCH / "results", stamp=stamp, say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["load"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("load test did not complete")
        say(f"  load test failed: {type(exc).__name__}: {exc}")
        return
    report["load"] = rep
    failed_checks.extend(rep.get("failed_checks", []))


def hour_section(args, target: db.Target, report: dict, failed_checks: list[str]) -> None:
    """Agents per server core: the server's CPU for an agent-hour (bench/agent_hour.py)."""
    hour_target = db.Target(url=db._with_dbname(target.url, args.hour_dbname), admin_url=target.admin_url,
                            dbname=args.hour_dbname, how=target.how, keeper=target.keeper)
    repo = Path(args.hour_repo).resolve() if args.hour_repo else db.REPO
    try:
        rep = agent_hour.run(hour_target, repo=repo, options=agent_hour.options_from(args), keep_db=args.keep_db,
                             say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["hour"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("agent-hour section did not complete")
        say(f"  agent-hour section failed: {type(exc).__name__}: {exc}")
        return
    report["hour"] = rep
    failed_checks.extend(rep.get("failed_checks", []))


def sla_section(args, target: db.Target, report: dict, failed_checks: list[str]) -> None:
    """The SLA alert scan (bench/sla_scan.py) on its own database on the same server."""
    open_n, crossing, history = sla_scan.resolve(args)
    sla_target = db.Target(url=db._with_dbname(target.url, args.sla_dbname), admin_url=target.admin_url,
                           dbname=args.sla_dbname, how=target.how, keeper=target.keeper)
    before = db.noise(target)
    try:
        rep = sla_scan.run(sla_target, open_n=open_n, crossing=crossing, history=history,
                           passes=args.sla_passes, keep_db=args.keep_db, explain=args.explain, say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["sla_scan"] = {"error": f"{type(exc).__name__}: {exc}", "noise_before": before}
        failed_checks.append("SLA scan did not complete")
        say(f"  SLA scan failed: {type(exc).__name__}: {exc}")
        return
    rep["noise_before"] = before
    report["sla_scan"] = rep
    failed_checks.extend(rep["failed_checks"])
    say(f"  SLA scan section took {rep['wall_s']} s")


def reports_section(args, target: db.Target, report: dict, failed_checks: list[str]) -> None:
    """History generation, rollups and report pages (bench/reports.py) on their own database."""
    items, days, open_n = reports_bench.resolve(args)
    rep_target = db.Target(url=db._with_dbname(target.url, args.reports_dbname), admin_url=target.admin_url,
                           dbname=args.reports_dbname, how=target.how, keeper=target.keeper)
    try:
        rep = reports_bench.run(rep_target, items=items, days=days, open_n=open_n, requests=args.reports_requests,
                                keep_db=args.keep_db, explain=args.explain, say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["reports"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("reports section did not complete")
        say(f"  reports section failed: {type(exc).__name__}: {exc}")
        return
    report["reports"] = rep
    failed_checks.extend(rep["failed_checks"])
    say(f"  reports section took {rep['wall_s']} s")


def steps_section(args, target: db.Target, env: dict, agent_ids: list[int], report: dict,
                  failed_checks: list[str]) -> None:
    """The allocation rate with routing steps on every queue vs without (bench/steps.py), on
    the allocation bench's database."""
    backlog, allocations = steps_bench.resolve(args)
    try:
        rep = steps_bench.run(target, env=env, agent_ids=agent_ids, backlog=backlog, allocations=allocations,
                              pairs=args.steps_pairs, workers=args.workers, round_size=args.round_size,
                              explain=args.explain, say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["steps"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("allocation with routing steps did not complete")
        say(f"  allocation with routing steps failed: {type(exc).__name__}: {exc}")
        return
    report["steps"] = rep
    failed_checks.extend(rep["failed_checks"])
    say(f"  allocation with routing steps took {rep['wall_s']} s")


def webhooks_allocation_section(args, target: db.Target, env: dict, agent_ids: list[int], report: dict,
                                failed_checks: list[str]) -> None:
    """Allocation with no subscription, one, and the trigger-outbox design (bench/webhooks.py)."""
    backlog, allocations = webhooks_bench.resolve(args)
    try:
        rep = webhooks_bench.allocation_run(target, env=env, agent_ids=agent_ids, backlog=backlog,
                                            allocations=allocations, pairs=args.webhooks_pairs, workers=args.workers,
                                            round_size=args.round_size, say=say)
    except (Exception, SystemExit) as exc:
        report.setdefault("webhooks", {})["allocation"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("allocation with webhooks did not complete")
        say(f"  allocation with webhooks failed: {type(exc).__name__}: {exc}")
        return
    report.setdefault("webhooks", {})["allocation"] = rep
    failed_checks.extend(rep["failed_checks"])


def webhooks_delivery_section(args, report: dict, failed_checks: list[str]) -> None:
    """Webhook delivery under a steady intake and from a backlog, on a database of its own."""
    target = db.choose_server(args.dsn, f"{args.dbname}_hooks")
    say(f"webhooks: delivery to a receiver on loopback, the job every second; steady intake {args.webhooks_rate:g} "
        f"items/s for {args.webhooks_seconds:g} s, then a backlog of {args.webhooks_burst:,}")
    db.create_database(target)
    try:
        db.migrate(target)
        rep = webhooks_bench.delivery_run(target, rate=args.webhooks_rate, seconds=args.webhooks_seconds,
                                          burst=args.webhooks_burst, say=say)
        report.setdefault("webhooks", {})["delivery"] = rep
        for part in ("steady", "backlog"):
            if rep[part]["delivered"] != rep[part]["expected"]:
                failed_checks.append(f"webhooks: {part} delivered {rep[part]['delivered']} of {rep[part]['expected']}")
    except (Exception, SystemExit) as exc:
        report.setdefault("webhooks", {})["delivery"] = {"error": f"{type(exc).__name__}: {exc}"}
        failed_checks.append("webhook delivery did not complete")
        say(f"  webhook delivery failed: {type(exc).__name__}: {exc}")
    finally:
        if not args.keep_db:
            db.drop_database(target)


def routing_section(args, target: db.Target, report: dict, failed_checks: list[str]) -> None:
    """The routing pass (bench/routing.py) on its own database on the same server."""
    open_n, history = routing_bench.resolve(args)
    rt_target = db.Target(url=db._with_dbname(target.url, args.routing_dbname), admin_url=target.admin_url,
                          dbname=args.routing_dbname, how=target.how, keeper=target.keeper)
    before = db.noise(target)
    try:
        rep = routing_bench.run(rt_target, open_n=open_n, history=history, passes=args.routing_passes,
                                span_hours=args.routing_span_hours, keep_db=args.keep_db, explain=args.explain,
                                say=say)
    except (Exception, SystemExit) as exc:   # the other sections' figures are still written
        report["routing"] = {"error": f"{type(exc).__name__}: {exc}", "noise_before": before}
        failed_checks.append("routing pass did not complete")
        say(f"  routing pass failed: {type(exc).__name__}: {exc}")
        return
    rep["noise_before"] = before
    report["routing"] = rep
    failed_checks.extend(rep["failed_checks"])
    say(f"  routing pass section took {rep['wall_s']} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    only = [name for name in ("sla_only", "rebalance_only", "reports_only", "load_only", "intake_only", "steps_only",
                              "routing_only", "webhooks_only", "hour_only")
            if getattr(args, name)]
    if len(only) > 1:
        raise SystemExit("bench: give at most one of --sla-only, --rebalance-only, --reports-only, --load-only, "
                         "--intake-only, --steps-only, --routing-only, --webhooks-only, --hour-only")
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    out_path = args.json or results_dir / f"bench-{stamp}.json"

    target = db.choose_server(args.dsn, args.dbname)
    env = db.django_env(target)
    report: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    with db.connect(target.admin_url) as c:
        server_version = c.execute("SHOW server_version").fetchone()[0]
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "postgresql": server_version, "server": target.how, "database": target.dbname}
    say(f"WFO allocation benchmark — PostgreSQL {server_version} ({target.how}), database {target.dbname}, "
        f"{os.cpu_count()} CPUs")

    failed_checks: list[str] = []
    report["runs"] = []
    if not only or only in (["steps_only"], ["webhooks_only"]):
        db.create_database(target)
        try:
            t = time.perf_counter()
            db.migrate(target)
            org = db.seed_org(target)
            agents = db.agents(target)
            eligible = [n for _, _, n in agents]
            org.update(migrate_and_seed_s=round(time.perf_counter() - t, 1),
                       eligible_queues_per_agent={"min": min(eligible), "max": max(eligible),
                                                  "mean": round(sum(eligible) / len(eligible), 1)})
            report["organisation"] = org
            say(f"organisation: {org['queues']} queues, {org['agents']} agents in {org['teams']} teams, eligible "
                f"queues per agent {min(eligible)}–{max(eligible)} (mean {org['eligible_queues_per_agent']['mean']})")
            agent_ids = [a for a, _, _ in agents]
            tokens = [k for _, k, _ in agents]

            sizes = [] if args.steps_only or args.webhooks_only else sorted(set(args.backlog))
            below = [s for s in sizes if s <= args.ratio_backlog]
            ratio_size = below[-1] if below else sizes[0] if sizes else None
            report["runs"] = []
            if sizes:
                say(f"allocation: get next + start through the services, {args.workers} processes "
                    f"(ratio at backlog {ratio_size:,})")
            for size in sizes:
                seeded = db.reset_items(target, size)
                count = min(args.allocations, size // 2)
                before = db.noise(target)
                m = alloc.measure(env=env, db_url=target.url, agent_ids=agent_ids, workers=args.workers,
                                  allocations=count, round_size=args.round_size)
                with db.psycopg.connect(target.url) as vc:
                    check = alloc.verify(vc, m.pop("taken"))
                run = {"backlog": size, "seed": seeded, "noise_before": before, **m, "exactly_once": check}
                if args.explain or size in (ratio_size, sizes[-1]):
                    plans = alloc.explain(env, agent_ids[0])
                    run["explain"] = plans
                    run["get_next_sql_ms"] = alloc.execution_ms(plans.get("_ASSIGN_NEXT", ""))
                report["runs"].append(run)
                say(f"  backlog {size:>9,}: " + describe(m, check)
                    + f" | seeded in {seeded['total_s']} s, load {before['loadavg_1m']}")
                if args.explain and "explain" in run:
                    for name, plan in run["explain"].items():
                        say(f"    --- EXPLAIN ANALYZE {name} (backlog {size:,})")
                        say("\n".join("    " + line for line in plan.splitlines()))
                if not check["ok"]:
                    failed_checks.append(f"exactly-once at backlog {size}")

                if size == ratio_size:
                    remaining = size - check["items_moved"]
                    before = db.noise(target)
                    ceiling = run_ceiling(args, target)
                    ceiling["noise_before"] = before
                    report["ceiling"] = ceiling
                    if "rate_per_s" in ceiling:
                        ratio = m["rate_per_s"] / ceiling["rate_per_s"]
                        report["ratio"] = {"backlog": size, "ours_per_s": m["rate_per_s"],
                                           "ceiling_per_s": ceiling["rate_per_s"], "ratio": round(ratio, 3),
                                           "target": RATIO_TARGET, "pass": ratio >= RATIO_TARGET}
                        say(f"  ceiling (pg_dequeue_ceiling.py, {args.ceiling_items:,} items, {args.workers} "
                            f"connections): {fmt(ceiling['rate_per_s'])} items/s")
                    else:
                        say(f"  ceiling: skipped — {ceiling['skipped']}")
                    # The same work without the services: get-next's and start's statements
                    # sent by psycopg alone, on a backlog seeded the same way.
                    db.reset_items(target, size)
                    raw = alloc.measure(env=env, db_url=target.url, agent_ids=agent_ids, workers=args.workers,
                                        allocations=count, round_size=args.round_size, same_work=True)
                    with db.psycopg.connect(target.url) as vc:
                        raw_check = alloc.verify(vc, raw.pop("taken"))
                    same = m["rate_per_s"] / raw["rate_per_s"]
                    report["same_work"] = {"backlog": size, "ours_per_s": m["rate_per_s"],
                                           "statements_per_s": raw["rate_per_s"], "ratio": round(same, 3),
                                           "target": SAME_WORK_TARGET, "pass": same >= SAME_WORK_TARGET,
                                           "run": raw, "exactly_once": raw_check}
                    say("  same work without the services (their statements through psycopg): "
                        + describe(raw, raw_check))
                    if not raw_check["ok"]:
                        failed_checks.append("exactly-once in the same-work run")
                    if not args.skip_api:
                        say(f"api: POST /api/v1/agent/next/ under gunicorn ({args.gunicorn_args}), "
                            f"{args.api_clients} clients, {args.api_duration:g} s recorded")
                        before = db.noise(target)
                        res = api.measure(
                            env=env, tokens=tokens[: args.api_clients] if args.api_clients <= len(tokens) else tokens,
                            gunicorn_args=shlex.split(args.gunicorn_args), duration=args.api_duration,
                            warmup=args.api_warmup, client_procs=args.api_client_procs,
                            log_path=results_dir / f"gunicorn-{stamp}.log")
                        res["backlog_at_start"] = remaining
                        res["noise_before"] = before
                        report["api"] = res
                        if "skipped" in res:
                            say(f"  skipped — {res['skipped']}")
                        else:
                            q = res["next_latency_ms"]
                            say(f"  next/: p50 {q.get('p50')} ms, p95 {q.get('p95')} ms, p99 {q.get('p99')} ms "
                                f"(max {q.get('max')}) | {fmt(res['next_per_s'])} next/s, "
                                f"{fmt(res['cycles_per_s'])} next+start+complete/s | errors {res['errors']}"
                                f" | statuses {res['statuses']} | one client alone: p50 "
                                f"{res['one_client_next_latency_ms'].get('p50')} ms")
                            for e in res["error_samples"]:
                                say(f"    error: {e}")
                            if res["errors"]:
                                failed_checks.append(f"{res['errors']} API errors")
            if not args.skip_steps and not args.webhooks_only:
                steps_section(args, target, env, agent_ids, report, failed_checks)
            if not args.skip_webhooks and not args.steps_only:
                webhooks_allocation_section(args, target, env, agent_ids, report, failed_checks)
        finally:
            if args.keep_db:
                say(f"(kept database {target.dbname})")
            else:
                db.drop_database(target)

    if not args.skip_webhooks and only in ([], ["webhooks_only"]):
        webhooks_delivery_section(args, report, failed_checks)
    if not args.skip_intake and only in ([], ["intake_only"]):
        intake_section(args, report, failed_checks)
    if not args.skip_load and only in ([], ["load_only"]):
        load_section(args, target, report, failed_checks, stamp)
    if not args.skip_hour and only in ([], ["hour_only"]):
        hour_section(args, target, report, failed_checks)
    if not args.skip_sla and only in ([], ["sla_only"]):
        sla_section(args, target, report, failed_checks)
    if not args.skip_routing and only in ([], ["routing_only"]):
        routing_section(args, target, report, failed_checks)
    if not args.skip_rebalance and only in ([], ["rebalance_only"]):
        rebalance_section(args, report, failed_checks)
    if not args.skip_reports and only in ([], ["reports_only"]):
        reports_section(args, target, report, failed_checks)

    say("summary")
    verdicts = []
    if "ratio" in report:
        r = report["ratio"]
        say(f"  RATIO     ours {fmt(r['ours_per_s'])}/s ÷ ceiling {fmt(r['ceiling_per_s'])}/s = {r['ratio']:.2f} "
            f"(backlog {r['backlog']:,}; target ≥ {RATIO_TARGET}) {verdict(r['pass'])}")
        verdicts.append(r["pass"])
    if "same_work" in report:
        r = report["same_work"]
        say(f"  SAME-WORK ours {fmt(r['ours_per_s'])}/s ÷ the same statements alone {fmt(r['statements_per_s'])}/s "
            f"= {r['ratio']:.2f} (target ≥ {SAME_WORK_TARGET}) {verdict(r['pass'])}")
        verdicts.append(r["pass"])
    runs = report["runs"]
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        scale = large["rate_per_s"] / small["rate_per_s"] if small["rate_per_s"] else 0.0
        ok = scale >= SCALING_TARGET
        report["scaling"] = {"small_backlog": small["backlog"], "small_per_s": small["rate_per_s"],
                             "large_backlog": large["backlog"], "large_per_s": large["rate_per_s"],
                             "ratio": round(scale, 3), "target": SCALING_TARGET, "pass": ok}
        say(f"  SCALING   backlog {large['backlog']:,}: {fmt(large['rate_per_s'])}/s vs {small['backlog']:,}: "
            f"{fmt(small['rate_per_s'])}/s = {scale:.2f} (target ≥ {SCALING_TARGET}, i.e. within 2×) {verdict(ok)}")
        verdicts.append(ok)
    if report.get("steps", {}).get("ratio"):
        for line in steps_bench.summary_lines(report["steps"]):
            say("  " + line)
        verdicts.append(report["steps"]["ratio"]["pass"])
    if report.get("webhooks"):
        for line in webhooks_bench.summary_lines(report["webhooks"]):
            say("  " + line)
        if "pass" in report["webhooks"].get("allocation", {}):
            verdicts.append(report["webhooks"]["allocation"]["pass"])
    if report.get("api") and "next_latency_ms" in report["api"]:
        q = report["api"]["next_latency_ms"]
        say(f"  API       next/ p50 {q.get('p50')} / p95 {q.get('p95')} / p99 {q.get('p99')} ms, "
            f"{fmt(report['api']['next_per_s'])} next/s, errors {report['api']['errors']} "
            f"[{report['api']['gunicorn']}]")
    if report.get("load", {}).get("figures"):
        say("  " + load_bench.report_lines(report["load"])[-1])
        verdicts.append(report["load"]["pass"])
    if report.get("sla_scan", {}).get("time"):
        for line in sla_scan.summary_lines(report["sla_scan"]):
            say("  " + line)
        verdicts.append(report["sla_scan"]["time"]["pass"])
        if "flat" in report["sla_scan"]:
            verdicts.append(report["sla_scan"]["flat"]["pass"])
    if report.get("routing", {}).get("time"):
        for line in routing_bench.summary_lines(report["routing"]):
            say("  " + line)
        verdicts.append(report["routing"]["time"]["pass"])
        if "flat" in report["routing"]:
            verdicts.append(report["routing"]["flat"]["pass"])
    if report.get("intake", {}).get("items_per_s"):
        say("  " + intake_bench.report_lines(report["intake"])[-1])
    if report.get("rebalance", {}).get("rebalance_s") is not None:
        say("  " + rebalance_bench.report_lines(report["rebalance"])[-1])
        verdicts.append(report["rebalance"]["pass"])
    if report.get("reports", {}).get("pages"):
        for line in reports_bench.summary_lines(report["reports"]):
            say("  " + line)
        verdicts.extend(reports_bench.verdicts(report["reports"]))
    if failed_checks:
        say(f"  CHECKS    FAILED: {', '.join(failed_checks)}")
    report["failed_checks"] = failed_checks
    report["wall_s"] = round(time.perf_counter() - started, 1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2, default=str))
    shown = out_path.relative_to(REPO) if out_path.is_relative_to(REPO) else out_path
    say(f"  wall time {report['wall_s']} s; results in {shown}")
    if failed_checks:
        return 1
    if args.strict and not all(verdicts):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
