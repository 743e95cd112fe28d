"""Allocation rate with routing steps on every queue against the rate without, measured
alternately in the same run on the same database (bench/README.md, "Allocation with
routing steps"); a section of bench/run.py (--steps-only, --skip-steps).

Issue 20: "get-next and push honour steps without scanning the backlog. `make bench`
reports the allocation rate with 3 steps on every queue and a third of the backlog past
step 1, within 15 % of the rate without steps, in the same run."

On the allocation bench's database (bench/db.py: 200 queues, 50 agents each admitted by
step 1 to about 40 queues) every queue gets steps 2 and 3 (db.SEED_STEPS: each adds a team
that does not serve the queue at step 1, so every agent is admitted to about 13 more queues
only from step 2 and 13 more only from step 3). Each measurement reseeds the same backlog
(db.reset_items with past_step_one: the oldest third at step 2 or 3), turns every queue's
routing on or off — the product's switch; with it off the same steps and items are there
and only step 1 admits — and times get-next + start from 8 processes as the allocation
rate does (alloc.measure). The two variants alternate (off, on, on, off, …), so machine
noise falls on both alike; the ratio is the mean rate with steps ÷ the mean rate without.

Checked per measurement (a failure makes run.py exit 1): exactly once (alloc.verify), and,
in SQL restating the rule from the seeded tables rather than the product's views, that
every item went to an agent some step the item had reached admits — and how many went to
agents admitted only from step 2 or 3, so the widening is seen to be exercised.
"""

from __future__ import annotations

import statistics
import time

import alloc
import db

RATIO_TARGET = 0.85
DEFAULT_BACKLOG, QUICK_BACKLOG = 200_000, 50_000
DEFAULT_ALLOCATIONS, QUICK_ALLOCATIONS = 5_000, 1_000
DEFAULT_PAIRS = 2

# Whom each item went to, judged from the seeded tables: the agent's team serves the queue
# (step 1) or is added by a step at or below the item's (only while routing is on), and it
# holds every skill the queue requires (the steps change no skill).
ADMISSION = """
WITH given AS (
    SELECT e.item_id, (e.data ->> 'to_agent')::int AS agent_id, w.queue_id, w.routing_step, a.team_id
      FROM allocation_workitemevent e
      JOIN allocation_workitem w ON w.id = e.item_id
      JOIN allocation_agentprofile a ON a.user_id = (e.data ->> 'to_agent')::int
     WHERE e.kind = 'assigned'
),
judged AS (
    SELECT g.routing_step,
           EXISTS (SELECT 1 FROM allocation_queue_teams qt
                    WHERE qt.queue_id = g.queue_id AND qt.team_id = g.team_id) AS serving,
           (SELECT min(s.position) FROM allocation_routingstep s
              JOIN allocation_routingstep_added_teams x ON x.routingstep_id = s.id
             WHERE s.queue_id = g.queue_id AND x.team_id = g.team_id) AS added_at,
           NOT EXISTS (SELECT 1 FROM allocation_queueskill r
                        WHERE r.queue_id = g.queue_id AND NOT EXISTS (
                              SELECT 1 FROM allocation_agentskill k
                               WHERE k.agent_id = g.agent_id AND k.skill_id = r.skill_id
                                 AND k.proficiency >= r.min_proficiency)) AS skilled
      FROM given g
)
SELECT count(*),
       count(*) FILTER (WHERE NOT skilled OR NOT (serving OR (%(on)s AND added_at <= routing_step))),
       count(*) FILTER (WHERE NOT serving AND added_at = 2),
       count(*) FILTER (WHERE NOT serving AND added_at = 3),
       count(*) FILTER (WHERE routing_step > 1)
  FROM judged
"""

# Per agent: queues admitted by step 1, only from step 2, only from step 3 (pull queues).
REACH = """
WITH skilled AS (
    SELECT p.user_id, p.team_id, q.id AS queue_id
      FROM allocation_agentprofile p CROSS JOIN allocation_queue q
     WHERE q.is_active AND q.allocation_mode = 'pull' AND NOT EXISTS (
           SELECT 1 FROM allocation_queueskill r
            WHERE r.queue_id = q.id AND NOT EXISTS (
                  SELECT 1 FROM allocation_agentskill k
                   WHERE k.agent_id = p.user_id AND k.skill_id = r.skill_id AND k.proficiency >= r.min_proficiency))
),
first AS (
    SELECT k.user_id, k.queue_id,
           CASE WHEN EXISTS (SELECT 1 FROM allocation_queue_teams qt
                              WHERE qt.queue_id = k.queue_id AND qt.team_id = k.team_id) THEN 1
                ELSE (SELECT min(s.position) FROM allocation_routingstep s
                        JOIN allocation_routingstep_added_teams x ON x.routingstep_id = s.id
                       WHERE s.queue_id = k.queue_id AND x.team_id = k.team_id) END AS step
      FROM skilled k
)
SELECT step, min(n), max(n), round(avg(n), 1)
  FROM (SELECT user_id, step, count(*) AS n FROM first WHERE step IS NOT NULL GROUP BY 1, 2) per_agent
 GROUP BY step ORDER BY step
"""


def admission_check(t: db.Target, *, on: bool) -> dict:
    with db.connect(t.url) as c:
        given, not_admitted, via_2, via_3, past_one = c.execute(ADMISSION, {"on": on}).fetchone()
    problems = [f"{not_admitted} items went to agents no step they had reached admits"] if not_admitted else []
    return {"ok": not problems, "problems": problems, "assigned": given, "to_agents_admitted_from_step_2": via_2,
            "to_agents_admitted_from_step_3": via_3, "items_past_step_one": past_one}


def reach(t: db.Target) -> dict:
    with db.connect(t.url) as c:
        return {step: {"min": lo, "max": hi, "mean": float(mean)} for step, lo, hi, mean in c.execute(REACH)}


def order(pairs: int) -> list[bool]:
    """Routing off/on for each measurement: off, on, on, off, off, on, … (each pair swaps
    which goes first, so a drift in the machine's load favours neither)."""
    out: list[bool] = []
    for i in range(pairs):
        out += [False, True] if i % 2 == 0 else [True, False]
    return out


def run(t: db.Target, *, env: dict, agent_ids: list[int], backlog: int, allocations: int, pairs: int,
        workers: int, round_size: int, explain: bool = False, say=print) -> dict:
    started = time.perf_counter()
    allocations = min(allocations, backlog // 2)
    rep: dict = {"backlog": backlog, "allocations": allocations, "pairs": pairs, "workers": workers,
                 "steps": db.steps_seed(t), "measurements": [], "failed_checks": []}
    rep["queues_per_agent_by_first_step"] = r = reach(t)
    say(f"allocation with routing steps: {rep['steps']['steps']} steps on {db.QUEUES} queues; queues per agent "
        f"admitted by step 1 {r[1]['mean']:g}, only from step 2 {r.get(2, {}).get('mean', 0):g}, only from step 3 "
        f"{r.get(3, {}).get('mean', 0):g}; backlog {backlog:,} (a third past step 1), {allocations:,} allocations per "
        f"measurement, routing off/on alternately × {pairs}")
    plans: dict[str, str] = {}
    for on in order(pairs):
        seeded = db.reset_items(t, backlog, past_step_one=True)
        db.routing_set(t, on=on)
        before = db.noise(t)
        m = alloc.measure(env=env, db_url=t.url, agent_ids=agent_ids, workers=workers, allocations=allocations,
                          round_size=round_size)
        with db.psycopg.connect(t.url) as vc:
            once = alloc.verify(vc, m.pop("taken"))
        admitted = admission_check(t, on=on)
        name = "on" if on else "off"
        if name not in plans:
            plans[name] = alloc.explain(env, agent_ids[0]).get("_ASSIGN_NEXT", "")
        m.update(routing=name, seed=seeded, noise_before=before, exactly_once=once, admission=admitted)
        rep["measurements"].append(m)
        cpu = m["cpu_ms_per_allocation"]
        lat = m["latency_ms"]["get_next"]
        say(f"  routing {name:>3}: {alloc_rate(m)} allocations/s | get-next p50/p95 {lat['p50']}/{lat['p95']} ms | "
            f"{m['per_allocation_ms']['statements']} statements+commits per allocation | CPU ms per allocation: "
            f"workers {cpu['workers_python']} + postgres {cpu['postgres_backends']} + other {cpu['other']} | to agents "
            f"admitted only from step 2/3: {admitted['to_agents_admitted_from_step_2']:,}/"
            f"{admitted['to_agents_admitted_from_step_3']:,} | exactly once "
            + ("OK" if once["ok"] else "FAILED: " + "; ".join(once["problems"])) + " | admission "
            + ("OK" if admitted["ok"] else "FAILED: " + "; ".join(admitted["problems"]))
            + f" | seeded in {seeded['total_s']} s, load {before['loadavg_1m']}")
        if not once["ok"]:
            rep["failed_checks"].append(f"exactly-once with routing {name}")
        if not admitted["ok"]:
            rep["failed_checks"].append(f"admission with routing {name}")
    db.routing_set(t, on=False)
    rep["explain"] = plans
    rep["get_next_sql_ms"] = {k: alloc.execution_ms(v) for k, v in plans.items()}
    say("  get-next statement (EXPLAIN ANALYZE, one agent): " + ", ".join(
        f"routing {k} {v} ms" for k, v in rep["get_next_sql_ms"].items()))
    if explain:
        for name, plan in plans.items():
            say(f"    --- EXPLAIN ANALYZE get-next, routing {name}")
            say("\n".join("    " + line for line in plan.splitlines()))
    rates = {name: [m["rate_per_s"] for m in rep["measurements"] if m["routing"] == name] for name in ("off", "on")}
    off, on = statistics.fmean(rates["off"]), statistics.fmean(rates["on"])
    ratio = on / off if off else 0.0
    rep["ratio"] = {"off_per_s": round(off, 1), "on_per_s": round(on, 1), "off_rates": rates["off"],
                    "on_rates": rates["on"], "ratio": round(ratio, 3), "target": RATIO_TARGET,
                    "pass": ratio >= RATIO_TARGET}
    rep["wall_s"] = round(time.perf_counter() - started, 1)
    return rep


def alloc_rate(m: dict) -> str:
    return f"{m['allocations']:,} in {m['seconds']:.1f} s = {m['rate_per_s']:,.0f}"


def summary_lines(rep: dict) -> list[str]:
    r = rep["ratio"]
    each = lambda rates: "/".join(f"{x:,.0f}" for x in rates)  # noqa: E731
    return [f"STEPS     get-next + start at backlog {rep['backlog']:,}: with 3 steps on every queue (a third past "
            f"step 1) {r['on_per_s']:,.0f}/s ({each(r['on_rates'])}) ÷ without {r['off_per_s']:,.0f}/s "
            f"({each(r['off_rates'])}) = {r['ratio']:.2f} (target ≥ {r['target']}) "
            + ("PASS" if r["pass"] else "FAIL")]


def add_arguments(p) -> None:
    p.add_argument("--skip-steps", action="store_true", help="do not measure allocation with routing steps")
    p.add_argument("--steps-only", action="store_true",
                   help="only the allocation rate with routing steps vs without (bench/steps.py)")
    p.add_argument("--steps-backlog", type=int,
                   help=f"backlog for it (default {DEFAULT_BACKLOG}; --quick {QUICK_BACKLOG})")
    p.add_argument("--steps-allocations", type=int,
                   help=f"timed allocations per measurement (default {DEFAULT_ALLOCATIONS}; "
                        f"--quick {QUICK_ALLOCATIONS})")
    p.add_argument("--steps-pairs", type=int, default=DEFAULT_PAIRS,
                   help=f"measurements without and with steps, alternately (default {DEFAULT_PAIRS} pairs)")


def resolve(args) -> tuple[int, int]:
    return (args.steps_backlog or (QUICK_BACKLOG if args.quick else DEFAULT_BACKLOG),
            args.steps_allocations or (QUICK_ALLOCATIONS if args.quick else DEFAULT_ALLOCATIONS))
