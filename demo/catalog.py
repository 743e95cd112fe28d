"""The demo back office as data: the skills, the queues with their service levels and
outcomes, the teams that serve them, and the people (admin, supervisors, agents) by name.

Everything else in the package reads from here, so the shape of the demo is changed in
one place; `configuration_ensure` is the one writer, making the database hold the
skills, queues and teams listed here (creating only what is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from allocation.models import (
    BusinessCalendar,
    Priority,
    Queue,
    QueueSkill,
    RoutingStep,
    Skill,
    SlaPolicy,
    StepAction,
    StepCondition,
    StepSkill,
    Team,
    WorkingWindow,
)
from allocation.services.calendars import calendar_holidays_load

SOURCE = "card-platform"  # the integration user's name, and the source of every demo item
SEED = 2026  # fixed, so every run produces the same data relative to its start time
HISTORY_DAYS = 21

SKILLS = {
    "Chargebacks — Visa": "Visa Resolve Online: reason codes, representment, pre-arbitration.",
    "Chargebacks — Mastercard": "Mastercom: reason codes, second presentment, arbitration.",
    "Disputes": "Cardholder disputes before they become chargebacks.",
    "Fraud screening": "Reviewing transactions flagged by the fraud engine.",
    "KYC review": "Identity and document checks for new accounts.",
    "Credit underwriting": "Credit line decisions within delegated authority.",
    "Refunds": "Goodwill refunds, fee reversals and merchant credits.",
    "Address changes": "Verified changes of a cardholder's address.",
    "Account servicing": "Card replacements, limits, statements, payment plans.",
    "Complaints": "Formal complaints under the regulator's handling rules.",
    "Spanish": "Written Spanish at business level.",
    "French": "Written French at business level.",
}


@dataclass(frozen=True)
class QueueSpec:
    code: str
    name: str
    description: str
    skills: dict[str, int]  # skill name → minimum proficiency
    handle_minutes: int
    sla_hours: int
    reservation_minutes: int
    outcomes: tuple[str, ...]
    volume: float  # relative share of arrivals
    id_prefix: str
    pend_reasons: tuple[str, ...]


QUEUES = [
    QueueSpec("chargebacks", "Chargebacks — Visa", "Visa chargebacks received from the network.",
              {"Chargebacks — Visa": 3}, 25, 72, 15, ("represented", "accepted", "need-info"), 13, "CBV",
              ("Waiting for the merchant's compelling evidence", "Requested transaction receipt")),
    QueueSpec("chargebacks-mastercard", "Chargebacks — Mastercard", "Mastercard chargebacks from Mastercom.",
              {"Chargebacks — Mastercard": 3}, 25, 72, 15, ("represented", "accepted", "need-info"), 9, "CBM",
              ("Waiting for the merchant's compelling evidence", "Requested transaction receipt")),
    QueueSpec("disputes", "Disputes", "Cardholder disputes raised in the app, by phone or by letter.",
              {"Disputes": 2}, 15, 48, 10,
              ("resolved-for-cardholder", "resolved-for-merchant", "raised-chargeback", "need-info"), 14, "DSP",
              ("Asked the cardholder for proof of return", "Waiting for the merchant to reply")),
    QueueSpec("fraud-screening", "Fraud screening", "Transactions held by the fraud engine for review.",
              {"Fraud screening": 3}, 6, 4, 5, ("confirmed-fraud", "false-positive", "escalated"), 12, "FRD",
              ("Waiting for the cardholder to confirm by SMS",)),
    QueueSpec("new-accounts", "New accounts", "Card applications that need identity checks.",
              {"KYC review": 2}, 12, 24, 10, ("approved", "declined", "need-documents"), 12, "APP",
              ("Requested proof of address", "Requested a clearer ID photo")),
    QueueSpec("credit-decisions", "Credit decisions", "Credit lines and limit increases referred by scoring.",
              {"Credit underwriting": 3}, 30, 48, 15,
              ("approved", "approved-lower-limit", "declined", "referred"), 8, "CRD",
              ("Waiting for payslips", "Awaiting the bureau's full report")),
    QueueSpec("refunds", "Refunds", "Fee reversals, goodwill credits and merchant refunds to post.",
              {"Refunds": 1}, 5, 24, 10, ("refunded", "partially-refunded", "rejected"), 12, "RFD",
              ("Waiting for the merchant's credit to settle",)),
    QueueSpec("address-changes", "Address changes", "Address changes that failed automatic verification.",
              {"Address changes": 1}, 4, 24, 5, ("updated", "verification-failed"), 10, "ADR",
              ("Sent a verification letter",)),
    QueueSpec("account-servicing", "Account servicing", "Card replacements, limits, statements, payment plans.",
              {"Account servicing": 2}, 8, 48, 10, ("done", "customer-contacted", "no-action-needed"), 8, "SRV",
              ("Waiting for the customer to call back",)),
    QueueSpec("complaints", "Complaints", "Formal complaints; the final response is due within 5 days.",
              {"Complaints": 3}, 40, 120, 20, ("upheld", "partially-upheld", "not-upheld"), 5, "CMP",
              ("Waiting for the call recording", "Asked the branch for its notes")),
    QueueSpec("servicing-es", "Servicing — Spanish", "Servicing requests written in Spanish.",
              {"Account servicing": 2, "Spanish": 3}, 10, 48, 10,
              ("done", "customer-contacted", "no-action-needed"), 3, "SES",
              ("Esperando la llamada del cliente",)),
    QueueSpec("complaints-fr", "Complaints — French", "Formal complaints written in French.",
              {"Complaints": 3, "French": 3}, 45, 120, 20, ("upheld", "partially-upheld", "not-upheld"), 1.5, "CFR",
              ("En attente des relevés du client",)),
]

TEAMS = {
    "Disputes & Chargebacks": ["chargebacks", "chargebacks-mastercard", "disputes", "fraud-screening", "refunds"],
    "Onboarding & Credit": ["new-accounts", "credit-decisions", "fraud-screening", "address-changes"],
    "Customer Servicing": ["disputes", "refunds", "address-changes", "account-servicing", "complaints",
                           "servicing-es", "complaints-fr"],
}
SUPERVISORS = [
    ("dana.morgan", "Dana", "Morgan", ["Disputes & Chargebacks", "Onboarding & Credit"]),
    ("samira.haddad", "Samira", "Haddad", ["Customer Servicing", "Onboarding & Credit"]),
]
ADMIN_USER = ("admin", "Alex", "Rivera")
# Quality: an evaluator scores the sampled work; the lead builds forms and sampling rules (in
# Django admin, as staff), runs calibration and decides disputes.
QUALITY_EVALUATOR_USER = ("ines.walker", "Ines", "Walker")
QUALITY_LEAD_USER = ("marcus.reid", "Marcus", "Reid")
AGENT_NAMES = [
    ("amelia", "hart"), ("lucas", "moreau"), ("priya", "nair"), ("tomasz", "kowalski"), ("grace", "okoye"),
    ("mateo", "garcia"), ("hannah", "berg"), ("yusuf", "demir"), ("chloe", "lambert"), ("daniel", "osei"),
    ("sofia", "rossi"), ("liam", "byrne"), ("aiko", "tanaka"), ("noah", "fischer"), ("zara", "ahmed"),
    ("ethan", "clarke"), ("ines", "silva"), ("oliver", "grant"), ("maya", "cohen"), ("leo", "dubois"),
    ("nadia", "petrova"), ("samuel", "adeyemi"), ("emma", "lindqvist"), ("hugo", "martin"), ("lucia", "fernandez"),
    ("ben", "walsh"), ("aisha", "bello"), ("felix", "wagner"), ("julia", "novak"), ("omar", "haddad"),
]
AGENT_TEAMS = ["Disputes & Chargebacks"] * 11 + ["Onboarding & Credit"] * 8 + ["Customer Servicing"] * 11

# Work that waits widens its net (README, "Routing steps"): Spanish servicing accepts
# written Spanish at level 2 after four hours' wait, and after a day goes to the
# general servicing queue; a French complaint waiting eight hours goes to the complaints
# queue, whose handlers work with a translator. (queue code, position, minutes waited,
# skill changes, overflow queue code)
ROUTING = [
    ("servicing-es", 2, 4 * 60, {"Spanish": 2}, None),
    ("servicing-es", 3, 24 * 60, {}, "account-servicing"),
    ("complaints-fr", 2, 8 * 60, {}, "complaints"),
]

# The back office works office hours in London with a lunch break and a Saturday morning;
# fraud screening runs around the clock. A queue's working target is its calendar-day SLA
# in working days of 8 hours; urgent items get half of it; complaints keep counting while
# pended (the regulator's clock does not stop).
OFFICE_CALENDAR = "London back office"
OFFICE_ZONE = "Europe/London"
OFFICE_HOURS = [((8, 0), (12, 30)), ((13, 30), (18, 0))]
SATURDAY_HOURS = ((9, 0), (13, 0))
AROUND_THE_CLOCK_QUEUES = {"fraud-screening"}
CLOCK_RUNS_WHEN_PENDED = {"complaints", "complaints-fr"}


def sla_configuration_ensure(queues: dict[str, Queue], *, this_year: int) -> None:
    """The office calendar (with England's bank holidays) and a policy per queue."""
    calendar, created = BusinessCalendar.objects.get_or_create(
        name=OFFICE_CALENDAR, defaults={"time_zone": OFFICE_ZONE, "description": "Mon–Fri with lunch, Sat morning."}
    )
    if created:
        WorkingWindow.objects.bulk_create(
            [WorkingWindow(calendar=calendar, weekday=day, start=time(*start), end=time(*end))
             for day in range(5) for start, end in OFFICE_HOURS]
            + [WorkingWindow(calendar=calendar, weekday=5, start=time(*SATURDAY_HOURS[0]),
                             end=time(*SATURDAY_HOURS[1]))]
        )
        calendar_holidays_load(calendar=calendar, country="GB", subdivision="ENG", first_year=this_year - 1,
                               last_year=this_year + 1)
    for spec in QUEUES:
        queue = queues[spec.code]
        if queue.sla_policies.exists():
            continue
        if spec.code in AROUND_THE_CLOCK_QUEUES:
            target, office = timedelta(hours=spec.sla_hours), None
        else:
            target, office = timedelta(hours=max(4, spec.sla_hours // 24 * 8)), calendar
        pauses = spec.code not in CLOCK_RUNS_WHEN_PENDED
        SlaPolicy.objects.bulk_create([
            SlaPolicy(queue=queue, target=target, calendar=office, pause_when_pended=pauses),
            SlaPolicy(queue=queue, priority=Priority.URGENT, target=target / 2, calendar=office,
                      pause_when_pended=pauses, warning_thresholds=[50, 75]),
        ])


def configuration_ensure() -> dict[str, Queue]:
    """Skills, queues with their requirements, teams serving them. Creates what is missing."""
    existing_skills = set(Skill.objects.filter(name__in=SKILLS).values_list("name", flat=True))
    Skill.objects.bulk_create(
        Skill(name=name, description=description) for name, description in SKILLS.items()
        if name not in existing_skills
    )
    skills = {skill.name: skill for skill in Skill.objects.filter(name__in=SKILLS)}

    queues = {queue.code: queue for queue in Queue.objects.filter(code__in=[spec.code for spec in QUEUES])}
    for spec in QUEUES:
        if spec.code in queues:
            continue
        queue = Queue(
            code=spec.code, name=spec.name, description=spec.description,
            standard_handle_time=timedelta(minutes=spec.handle_minutes),
            reservation_timeout=timedelta(minutes=spec.reservation_minutes),
            sla_target=timedelta(hours=spec.sla_hours), outcomes=list(spec.outcomes),
        )
        queue.full_clean()
        queue.save()
        queues[spec.code] = queue
        QueueSkill.objects.bulk_create(
            QueueSkill(queue=queue, skill=skills[name], min_proficiency=level) for name, level in spec.skills.items()
        )

    teams = {}
    for name, codes in TEAMS.items():
        teams[name], _ = Team.objects.get_or_create(name=name)
        Queue.teams.through.objects.bulk_create(
            [Queue.teams.through(queue=queues[code], team=teams[name]) for code in codes], ignore_conflicts=True
        )
    sla_configuration_ensure(queues, this_year=date.today().year)
    routing_configuration_ensure(queues, skills)
    return queues


def routing_configuration_ensure(queues: dict[str, Queue], skills: dict[str, Skill]) -> None:
    """The routing steps of ROUTING, on, for queues that have none yet."""
    routed = set(RoutingStep.objects.filter(queue__code__in={row[0] for row in ROUTING}).values_list(
        "queue__code", flat=True))
    for code, position, minutes, skill_changes, overflow in ROUTING:
        if code in routed:
            continue
        step = RoutingStep.objects.create(
            queue=queues[code], position=position, condition=StepCondition.WAITED, minutes=minutes,
            action=StepAction.OVERFLOW if overflow else StepAction.WIDEN,
            overflow_queue=queues[overflow] if overflow else None,
        )
        StepSkill.objects.bulk_create(
            StepSkill(step=step, skill=skills[name], min_proficiency=level) for name, level in skill_changes.items()
        )
    Queue.objects.filter(code__in={row[0] for row in ROUTING} - routed).update(routing_enabled=True)
