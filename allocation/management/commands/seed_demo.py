"""`manage.py seed_demo`: a believable card-issuer back office to click through.

Idempotent. Skills, queues, teams and users are created when missing (and the demo
users' roles and password restored, so the printed logins always work); work items are
seeded once, inside the same transaction, so a second run finds them and changes nothing.

Today's backlog goes through the real services (intake by the card platform, get next,
start, pend, complete). History cannot: services stamp `timezone.now()`. So the past
three weeks are written in bulk as exactly the rows the services would have written —
items completed or cancelled, each with its created → assigned → started → … events —
worked by agents during their shifts, which also make the presence history.
A fixed random seed makes every run produce the same data relative to its start time.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.authtoken.models import Token

from allocation import selectors, services, sla
from allocation.models import (
    AgentProfile,
    AgentSkill,
    EventKind,
    ItemStatus,
    Presence,
    PresenceChange,
    Queue,
    QueueSkill,
    Skill,
    Team,
    WorkItem,
    WorkItemEvent,
)
from allocation.services.next_work import ORDER_DESCRIPTION, RULE_NEXT_BEST, RULE_PENDED_FOLLOW_UP
from wfo import roles

DEMO_PASSWORD = "wfo-demo-2026"
SOURCE = "card-platform"  # the integration user's name, and the source of every demo item
PORTAL_URL = "http://127.0.0.1:8000/"
DEFAULT_ITEMS = 3000
SEED = 2026
HISTORY_DAYS = 21
BACKLOG_SHARE = 0.12
ADVISORY_LOCK_KEY = 0x5EED_DE30  # serialises concurrent runs

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
AGENT_NAMES = [
    ("amelia", "hart"), ("lucas", "moreau"), ("priya", "nair"), ("tomasz", "kowalski"), ("grace", "okoye"),
    ("mateo", "garcia"), ("hannah", "berg"), ("yusuf", "demir"), ("chloe", "lambert"), ("daniel", "osei"),
    ("sofia", "rossi"), ("liam", "byrne"), ("aiko", "tanaka"), ("noah", "fischer"), ("zara", "ahmed"),
    ("ethan", "clarke"), ("ines", "silva"), ("oliver", "grant"), ("maya", "cohen"), ("leo", "dubois"),
    ("nadia", "petrova"), ("samuel", "adeyemi"), ("emma", "lindqvist"), ("hugo", "martin"), ("lucia", "fernandez"),
    ("ben", "walsh"), ("aisha", "bello"), ("felix", "wagner"), ("julia", "novak"), ("omar", "haddad"),
]
AGENT_TEAMS = ["Disputes & Chargebacks"] * 11 + ["Onboarding & Credit"] * 8 + ["Customer Servicing"] * 11

MERCHANTS = [
    ("Bistro Verde", "5812"), ("Northwind Air", "4511"), ("Helix Electronics", "5732"), ("FreshCart Grocery", "5411"),
    ("Urban Threads", "5651"), ("Skyline Hotels", "7011"), ("QuickRide", "4121"), ("StreamMax", "4899"),
    ("Pixel Games Store", "5816"), ("Harbor Pharmacy", "5912"), ("Atlas Car Rental", "7512"),
    ("Lumen Fitness", "7997"), ("Cedar Home & Garden", "5200"), ("BrightPath Tutoring", "8299"),
    ("Nova Fuel", "5541"), ("Maison Lumière", "5944"), ("Gadgetly Online", "5999"), ("Tidewater Ferries", "4111"),
    ("Cinema Paradiso", "7832"), ("Blue Fern Florist", "5992"),
]
VISA_REASONS = [
    ("10.4", "Other fraud — card-absent environment"), ("13.1", "Merchandise/services not received"),
    ("13.3", "Not as described or defective"), ("12.6.1", "Duplicate processing"), ("13.6", "Credit not processed"),
    ("11.3", "No authorization"),
]
MASTERCARD_REASONS = [
    ("4837", "No cardholder authorization"), ("4853", "Cardholder dispute"), ("4834", "Point-of-interaction error"),
    ("4863", "Cardholder does not recognize"), ("4855", "Goods or services not provided"),
]
DISPUTE_CATEGORIES = ["Goods not received", "Item not as described", "Charged twice", "Cancelled subscription",
                      "Refund not received", "Unrecognised transaction"]
FRAUD_RULES = ["Velocity: 5 card-not-present payments in 10 minutes", "Geolocation: two countries within 1 hour",
               "First use of card at high-risk merchant", "Amount 8× the cardholder's average",
               "Device fingerprint linked to confirmed fraud"]
PRODUCTS = ["Everyday Card", "Platinum Rewards", "Travel Plus", "Student Card", "Business Card"]
SERVICE_REQUESTS = ["Card replacement", "Limit increase", "Statement copy", "Direct debit set-up",
                    "Payment plan", "PIN reminder by post", "Close account"]
SERVICE_REQUESTS_ES = ["Reposición de tarjeta", "Aumento de límite", "Copia de extracto", "Plan de pagos"]
COMPLAINT_CATEGORIES = ["Fees and charges", "Dispute handling", "Customer service", "Credit decision",
                        "Card declined abroad", "Collections contact"]
COMPLAINT_CATEGORIES_FR = ["Frais bancaires", "Traitement d'une contestation", "Service client"]
REFUND_REASONS = ["Late fee goodwill", "Duplicate charge", "Foreign transaction fee reversal",
                  "Annual fee waiver", "Merchant credit not posted"]
RELEASE_REASONS = ["Needs a second opinion from a senior", "Shift ending", "Known customer: conflict of interest"]
CANCEL_REASONS = ["Cardholder withdrew the dispute", "Duplicate of another case", "Merchant refunded before review",
                  "Sent in error by the card platform"]
COUNTRIES = ["GB", "IE", "FR", "ES", "DE", "NL", "US"]
CURRENCIES = (["EUR", "GBP", "USD"], [45, 25, 30])
PRIORITIES = ([1, 2, 3, 4, 5], [3, 12, 65, 15, 5])
ARRIVALS_BY_HOUR = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 13, 12, 10, 8, 6, 5, 4, 3, 2, 1]
DAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.2]  # Monday … Sunday
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def _customer_number(ref: str) -> int:
    return int(ref.rsplit("-", 1)[1])


def _card(network: str, customer_ref: str) -> str:
    bin6 = "453201" if network == "Visa" else "540912"
    return f"{bin6}******{_customer_number(customer_ref) * 7919 % 10000:04d}"


def _account(customer_ref: str) -> str:
    return f"****-****-{_customer_number(customer_ref) * 3571 % 10000:04d}"


def _money(rng: random.Random, median: float = 60.0) -> str:
    return f"{min(median * rng.lognormvariate(0, 0.9), 9500):.2f}"


def _item_content(code: str, rng: random.Random, customer_ref: str, received_at: datetime) -> tuple[str, dict]:
    """The title and payload a card platform would send for an item of queue `code`."""
    currency = rng.choices(*CURRENCIES)[0]
    merchant, mcc = rng.choice(MERCHANTS)
    spent_on = (received_at - timedelta(days=rng.randint(2, 40))).date().isoformat()
    if code in ("chargebacks", "chargebacks-mastercard"):
        network = "Visa" if code == "chargebacks" else "Mastercard"
        reason_code, reason = rng.choice(VISA_REASONS if network == "Visa" else MASTERCARD_REASONS)
        amount = _money(rng, 90)
        respond_by = (received_at + timedelta(days=rng.choice([20, 30, 45]))).date().isoformat()
        return (f"{network} chargeback {reason_code} — {merchant} — {currency} {amount}", {
            "network": network, "reason_code": reason_code, "reason": reason, "amount": amount,
            "currency": currency, "merchant": merchant, "mcc": mcc, "card": _card(network, customer_ref),
            "transaction_date": spent_on, "arn": f"74{rng.randrange(10**20):020d}", "respond_by": respond_by,
        })
    if code == "disputes":
        category = rng.choice(DISPUTE_CATEGORIES)
        amount = _money(rng)
        return (f"Dispute: {category.lower()} — {merchant} — {currency} {amount}", {
            "category": category, "amount": amount, "currency": currency, "merchant": merchant, "mcc": mcc,
            "card": _card(rng.choice(["Visa", "Mastercard"]), customer_ref), "transaction_date": spent_on,
            "channel": rng.choice(["mobile app", "phone", "web", "letter"]),
        })
    if code == "fraud-screening":
        amount = _money(rng, 240)
        network = rng.choice(["Visa", "Mastercard"])
        return (f"Fraud alert — {merchant} — {currency} {amount}", {
            "alert_id": f"FA-{rng.randrange(10**8):08d}", "score": rng.randint(620, 990),
            "rule": rng.choice(FRAUD_RULES), "amount": amount, "currency": currency, "merchant": merchant,
            "mcc": mcc, "card": _card(network, customer_ref), "country": rng.choice(COUNTRIES),
            "card_blocked": rng.random() < 0.4,
        })
    if code == "new-accounts":
        product = rng.choice(PRODUCTS)
        return (f"Application — {product} — identity check", {
            "application_id": f"APP-{rng.randrange(10**7):07d}", "product": product,
            "document_type": rng.choice(["passport", "driving licence", "national ID"]),
            "country": rng.choice(COUNTRIES), "risk_band": rng.choice(["low", "low", "medium", "high"]),
            "checks_failed": rng.sample(["address match", "document expiry", "face match", "sanctions fuzzy hit"],
                                        rng.randint(1, 2)),
        })
    if code == "credit-decisions":
        product = rng.choice(PRODUCTS)
        limit = rng.choice([1500, 2500, 4000, 6000, 8000, 12000, 20000])
        return (f"Credit decision — {product} — limit {limit:,} {currency}", {
            "application_id": f"APP-{rng.randrange(10**7):07d}", "product": product,
            "requested_limit": f"{limit}.00", "currency": currency, "bureau_score": rng.randint(540, 820),
            "income_verified": rng.random() < 0.7, "debt_to_income": round(rng.uniform(0.08, 0.55), 2),
            "account": _account(customer_ref),
        })
    if code == "refunds":
        reason = rng.choice(REFUND_REASONS)
        amount = _money(rng, 25)
        return (f"Refund: {reason.lower()} — {currency} {amount}", {
            "refund_reason": reason, "amount": amount, "currency": currency, "merchant": merchant,
            "account": _account(customer_ref), "original_transaction_date": spent_on,
        })
    if code == "address-changes":
        return ("Address change — verification failed", {
            "account": _account(customer_ref), "new_country": rng.choice(COUNTRIES),
            "verification": rng.choice(["OTP not completed", "Postcode mismatch", "Recent change of phone"]),
            "channel": rng.choice(["web", "mobile app", "branch"]),
        })
    if code in ("account-servicing", "servicing-es"):
        request = rng.choice(SERVICE_REQUESTS if code == "account-servicing" else SERVICE_REQUESTS_ES)
        return (f"{request} — {_account(customer_ref)}", {
            "request": request, "account": _account(customer_ref),
            "channel": rng.choice(["web", "phone", "email", "branch"]),
            "language": "es" if code == "servicing-es" else "en",
        })
    categories = COMPLAINT_CATEGORIES if code == "complaints" else COMPLAINT_CATEGORIES_FR
    category = rng.choice(categories)
    return (f"Complaint — {category}", {
        "category": category, "account": _account(customer_ref),
        "channel": rng.choice(["email", "letter", "phone", "web form"]),
        "language": "fr" if code == "complaints-fr" else "en",
        "regulator_reference": f"CMP-{received_at:%Y}-{rng.randrange(10**5):05d}",
    })


@dataclass
class AgentPlan:
    """An agent as history sees it: who, which queues, and when on shift."""

    user_id: int
    eligible_queue_ids: set[int]
    shifts: list[tuple[datetime, datetime]] = field(default_factory=list)
    last_assigned_at: datetime | None = None

    @cached_property
    def shift_ends(self) -> list[datetime]:
        return [end for _, end in self.shifts]

    def next_on_shift(self, at: datetime) -> datetime | None:
        """The first moment at or after `at` when the agent is on shift, if any."""
        index = bisect_right(self.shift_ends, at)
        if index == len(self.shifts):
            return None
        return max(self.shifts[index][0], at)


class Command(BaseCommand):
    help = "Load a believable demo back office (idempotent), then print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=DEFAULT_ITEMS,
                            help=f"Work items to create the first time (default {DEFAULT_ITEMS}).")
        parser.add_argument("--url", default=PORTAL_URL, help="The portal's address, for the logins table.")
        parser.add_argument("--quiet", action="store_true", help="Print nothing.")

    def handle(self, *args, items: int, url: str, quiet: bool, **options):
        if items < 50:
            raise CommandError("--items must be at least 50.")
        validate_password(DEMO_PASSWORD)
        began = time.monotonic()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            queues = _configuration_ensure()
            people = _people_ensure()
            seeded = not WorkItem.objects.filter(source=SOURCE).exists()
            if seeded:
                _work_seed(items=items, queues=queues, people=people)
        if quiet:
            return
        elapsed = time.monotonic() - began
        count = WorkItem.objects.filter(source=SOURCE).count()
        if seeded:
            self.stdout.write(self.style.SUCCESS(f"Demo back office seeded: {count:,} work items in {elapsed:.1f}s."))
        else:
            self.stdout.write(f"Demo back office already present ({count:,} work items); nothing to add.")
        self.stdout.write(logins_table(url))


def _configuration_ensure() -> dict[str, Queue]:
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
    return queues


@dataclass
class People:
    integration: AbstractBaseUser
    agents: list[AgentProfile]  # in AGENT_NAMES order


def _agent_skills(index: int, team: str, rng: random.Random) -> dict[str, int]:
    """2–5 skills: everything the agent's main queue needs, then a few more of its team's."""
    by_code = {spec.code: spec for spec in QUEUES}
    codes = TEAMS[team]
    main = by_code[codes[index % len(codes)]]
    skills = {name: min(5, level + rng.choice([0, 0, 1, 1, 2])) for name, level in main.skills.items()}
    others = sorted({name for code in codes for name in by_code[code].skills} - set(skills))
    for name in rng.sample(others, min(len(others), rng.randint(max(1, 2 - len(skills)), 5 - len(skills)))):
        skills[name] = rng.choices([1, 2, 3, 4, 5], [1, 2, 4, 3, 2])[0]
    return skills


def _people_ensure() -> People:
    User = get_user_model()
    rng = random.Random(SEED)
    groups = {group.name: group for group in Group.objects.all()}
    missing_roles = set(roles.ROLE_PERMISSIONS) - set(groups)
    if missing_roles:
        raise CommandError(f"Role groups {sorted(missing_roles)} are missing: run `manage.py migrate` first.")

    wanted: list[tuple[str, str, str, str]] = [(ADMIN_USER[0], ADMIN_USER[1], ADMIN_USER[2], roles.ADMIN)]
    wanted += [(username, first, last, roles.SUPERVISOR) for username, first, last, _ in SUPERVISORS]
    wanted += [(f"{first}.{last}", first.title(), last.title(), roles.AGENT) for first, last in AGENT_NAMES]
    wanted.append((SOURCE, "Card", "Platform", roles.SOURCE_SYSTEM))

    usernames = [username for username, *_ in wanted]
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    demo_hash = _DemoHash()
    new_users = []
    for username, first, last, role in wanted:
        if username in users:
            continue
        password = make_password(None) if role == roles.SOURCE_SYSTEM else demo_hash.value
        user = User(username=username, first_name=first, last_name=last, email=f"{username}@example.com",
                    password=password)
        user.full_clean()
        new_users.append(user)
    User.objects.bulk_create(new_users)
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}

    # Restore what the printed logins promise: the role, the password, active; the admin is a superuser.
    changed = []
    for username, _, _, role in wanted:
        user = users[username]
        is_admin = role == roles.ADMIN
        wanted_flags = {"is_active": True, "is_staff": is_admin, "is_superuser": is_admin}
        needs_update = any(getattr(user, name) != value for name, value in wanted_flags.items())
        for name, value in wanted_flags.items():
            setattr(user, name, value)
        if role != roles.SOURCE_SYSTEM and not demo_hash.matches(user.password):
            user.password = demo_hash.value
            needs_update = True
        if needs_update:
            changed.append(user)
    User.objects.bulk_update(changed, ["is_active", "is_staff", "is_superuser", "password"])
    User.groups.through.objects.bulk_create(
        [User.groups.through(user=users[username], group=groups[role]) for username, _, _, role in wanted],
        ignore_conflicts=True,
    )

    teams = {team.name: team for team in Team.objects.filter(name__in=TEAMS)}
    for username, _, _, team_names in SUPERVISORS:
        Team.supervisors.through.objects.bulk_create(
            [Team.supervisors.through(team=teams[name], user=users[username]) for name in team_names],
            ignore_conflicts=True,
        )

    skills = {skill.name: skill for skill in Skill.objects.filter(name__in=SKILLS)}
    agent_users = [users[f"{first}.{last}"] for first, last in AGENT_NAMES]
    has_profile = set(AgentProfile.objects.filter(user__in=agent_users).values_list("pk", flat=True))
    profiles, agent_skills = [], []
    for index, (user, team) in enumerate(zip(agent_users, AGENT_TEAMS, strict=True)):
        capacity = rng.randint(2, 5)
        wanted_skills = _agent_skills(index, team, rng)  # drawn every run, so the sequence never shifts
        if user.pk in has_profile:
            continue
        profiles.append(AgentProfile(user=user, team=teams[team], capacity=capacity, presence=Presence.OFFLINE))
        agent_skills += [AgentSkill(agent_id=user.pk, skill=skills[name], proficiency=level)
                         for name, level in wanted_skills.items()]
    AgentProfile.objects.bulk_create(profiles)
    AgentSkill.objects.bulk_create(agent_skills)

    Token.objects.get_or_create(user=users[SOURCE])
    agents = list(AgentProfile.objects.filter(user__in=agent_users).select_related("user"))
    order = {user.pk: index for index, user in enumerate(agent_users)}
    agents.sort(key=lambda agent: order[agent.pk])
    return People(integration=users[SOURCE], agents=agents)


class _DemoHash:
    """The demo password hashed once (hashing is deliberately slow), and stored hashes
    checked once each: every demo user shares one hash."""

    def __init__(self):
        self._value: str | None = None
        self._checked: dict[str, bool] = {}

    @property
    def value(self) -> str:
        if self._value is None:
            self._value = make_password(DEMO_PASSWORD)
        return self._value

    def matches(self, encoded: str) -> bool:
        if encoded not in self._checked:
            self._checked[encoded] = check_password(DEMO_PASSWORD, encoded)
        return self._checked[encoded]


def _planned_presence(index: int) -> str:
    if index % 10 == 9:
        return Presence.OFFLINE
    if index % 7 == 3:
        return Presence.AWAY
    return Presence.AVAILABLE


def _work_seed(*, items: int, queues: dict[str, Queue], people: People) -> None:
    rng = random.Random(SEED + 1)
    now = timezone.now()
    backlog = max(10, round(items * BACKLOG_SHARE))
    customers = _customers(rng, items)
    plans = _agent_plans(rng, people.agents, now)
    specs = {spec.code: spec for spec in QUEUES}
    history = _History(rng=rng, now=now, queues=queues, specs=specs, plans=plans,
                       integration_id=people.integration.pk, customers=customers)
    history.generate(items - backlog)
    history.write()
    _presence_history_write(plans, people.agents)
    _backlog_seed(rng=rng, now=now, count=backlog, queues=queues, specs=specs, customers=customers,
                  people=people, first_number=history.next_number)


def _customers(rng: random.Random, items: int) -> tuple[list[str], list[int]]:
    """About two items per customer; the first few (CUST-004211 among them) have many more."""
    count = max(20, items // 2)
    numbers = [4211, *rng.sample(range(1000, 999999), count - 1)]
    refs = [f"CUST-{number:06d}" for number in numbers]
    heavy = max(3, count // 100)
    return refs, [4] * heavy + [1] * (count - heavy)


def _agent_plans(rng: random.Random, agents: list[AgentProfile], now: datetime) -> list[AgentPlan]:
    """Shifts over the history window: early (07:00) or late (11:00) on weekdays, 8½ hours
    with a 45-minute lunch; every fifth agent also works weekends 09:00–17:00."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    plans = []
    for index, agent in enumerate(agents):
        eligible = set(selectors.queues_eligible_for(agent_id=agent.pk, team_id=agent.team_id)
                       .values_list("pk", flat=True))
        plan = AgentPlan(user_id=agent.pk, eligible_queue_ids=eligible)
        start_hour = 7 if index % 2 == 0 else 11
        for days_back in range(HISTORY_DAYS, 0, -1):
            day = today - days_back * DAY
            jitter = timedelta(minutes=rng.randint(-10, 12))
            if day.weekday() < 5:
                start = day + timedelta(hours=start_hour) + jitter
                plan.shifts += [(start, start + timedelta(hours=4)),
                                (start + timedelta(hours=4, minutes=45), start + timedelta(hours=8, minutes=30))]
            elif index % 5 == 0:
                start = day + timedelta(hours=9) + jitter
                plan.shifts += [(start, start + timedelta(hours=4)),
                                (start + timedelta(hours=4, minutes=30), start + timedelta(hours=8))]
        plans.append(plan)
    return plans


class _History:
    """Items that arrived and were closed in the past three weeks, with the events the
    services would have written along the way."""

    def __init__(self, *, rng: random.Random, now: datetime, queues: dict[str, Queue],
                 specs: dict[str, QueueSpec], plans: list[AgentPlan], integration_id: int,
                 customers: tuple[list[str], list[int]]):
        self.rng, self.now, self.queues, self.specs, self.plans = rng, now, queues, specs, plans
        self.integration_id = integration_id
        self.customers = customers
        self.eligible_count = {plan.user_id: len(plan.eligible_queue_ids) for plan in plans}
        self.items: list[WorkItem] = []
        self.events: list[list[WorkItemEvent]] = []
        self.next_number = 1

    def generate(self, count: int) -> None:
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        days = [today - days_back * DAY for days_back in range(HISTORY_DAYS, 0, -1)]
        day_weights = [DAY_WEIGHTS[day.weekday()] for day in days]
        codes = [spec.code for spec in QUEUES]
        volumes = [spec.volume for spec in QUEUES]
        drafted = []
        while len(drafted) < count:
            day = self.rng.choices(days, day_weights)[0]
            hour = self.rng.choices(range(24), ARRIVALS_BY_HOUR)[0]
            received_at = day + timedelta(hours=hour, seconds=self.rng.randrange(3600))
            code = self.rng.choices(codes, volumes)[0]
            timeline = self._timeline(self.queues[code], received_at)
            if timeline is not None:
                drafted.append((received_at, code, timeline))
        drafted.sort(key=lambda draft: draft[0])
        for received_at, code, (item, events) in drafted:
            spec = self.specs[code]
            item.external_id = f"{spec.id_prefix}-{self.next_number:07d}"
            self.next_number += 1
            item.customer_ref = self.rng.choices(*self.customers)[0]
            item.title, item.payload = _item_content(code, self.rng, item.customer_ref, received_at)
            events[0].data = {"source": SOURCE, "external_id": item.external_id}
            self.items.append(item)
            self.events.append(events)

    def _agent_for(self, queue: Queue, at: datetime, exclude: int | None = None):
        """The agent who would have pulled the item: one on shift at `at` if any, else
        whoever comes on shift first. None when nobody could before now."""
        best_at, candidates = None, []
        for plan in self.plans:
            if queue.pk not in plan.eligible_queue_ids or plan.user_id == exclude:
                continue
            on_shift = plan.next_on_shift(at)
            if on_shift is None:
                continue
            if best_at is None or on_shift < best_at:
                best_at, candidates = on_shift, [plan]
            elif on_shift == best_at:
                candidates.append(plan)
        if best_at is None:
            return None, None
        return self.rng.choice(candidates), best_at

    def _timeline(self, queue: Queue, received_at: datetime):
        rng, spec = self.rng, self.specs[queue.code]
        priority = rng.choices(*PRIORITIES)[0]
        if queue.code == "fraud-screening":
            priority = max(priority, 4 if rng.random() < 0.6 else 3)
        deadlines = sla.item_deadlines(queue=queue, priority=priority, received_at=received_at)
        item = WorkItem(queue=queue, source=SOURCE, priority=priority, received_at=received_at,
                        due_at=deadlines.due_at, start_by=deadlines.start_by)
        events = [self._event(received_at, None, EventKind.CREATED, "", ItemStatus.QUEUED)]

        if rng.random() < 0.025:
            cancelled_at = received_at + timedelta(minutes=rng.randint(5, 600))
            if cancelled_at >= self.now:
                return None
            item.status, item.closed_at = ItemStatus.CANCELLED, cancelled_at
            events.append(self._event(cancelled_at, None, EventKind.CANCELLED, ItemStatus.QUEUED,
                                      ItemStatus.CANCELLED, reason=rng.choice(CANCEL_REASONS)))
            return item, events

        wait = timedelta(hours=rng.expovariate(1 / max(0.3, spec.sla_hours * 0.18)))
        plan, assigned_at = self._agent_for(queue, received_at + wait)
        if plan is None:
            return None
        if rng.random() < 0.03:
            released_at = assigned_at + timedelta(minutes=rng.randint(1, 8))
            events.append(self._assigned(item, plan, assigned_at, ItemStatus.QUEUED))
            events.append(self._event(released_at, plan.user_id, EventKind.RELEASED, ItemStatus.ASSIGNED,
                                      ItemStatus.QUEUED, reason=rng.choice(RELEASE_REASONS),
                                      data={"released_by_agent": plan.user_id}))
            plan, assigned_at = self._agent_for(queue, released_at + timedelta(minutes=rng.randint(2, 90)),
                                                exclude=plan.user_id)
            if plan is None:
                return None
        events.append(self._assigned(item, plan, assigned_at, ItemStatus.QUEUED))
        started_at = assigned_at + timedelta(seconds=rng.randint(20, 360))
        events.append(self._event(started_at, plan.user_id, EventKind.STARTED, ItemStatus.ASSIGNED,
                                  ItemStatus.IN_PROGRESS))
        handle = spec.handle_minutes * MINUTE * rng.lognormvariate(0, 0.4)
        completed_at = started_at + handle
        if rng.random() < 0.08:
            pended_at = started_at + handle * 0.4
            until = pended_at + timedelta(hours=rng.uniform(3, 40))
            follow_up_at = plan.next_on_shift(until)
            if follow_up_at is not None:
                events.append(self._event(pended_at, plan.user_id, EventKind.PENDED, ItemStatus.IN_PROGRESS,
                                          ItemStatus.PENDED, reason=rng.choice(spec.pend_reasons),
                                          data={"until": until.isoformat()}))
                events.append(self._assigned(item, plan, follow_up_at, ItemStatus.PENDED, pended_until=until))
                restarted_at = follow_up_at + timedelta(seconds=rng.randint(20, 240))
                events.append(self._event(restarted_at, plan.user_id, EventKind.STARTED, ItemStatus.ASSIGNED,
                                          ItemStatus.IN_PROGRESS))
                assigned_at, completed_at = follow_up_at, restarted_at + handle * 0.7
        if completed_at >= self.now:
            return None
        outcome = rng.choice(spec.outcomes)
        events.append(self._event(completed_at, plan.user_id, EventKind.COMPLETED, ItemStatus.IN_PROGRESS,
                                  ItemStatus.COMPLETED, data={"outcome": outcome}))
        item.status, item.outcome, item.completed_by_id = ItemStatus.COMPLETED, outcome, plan.user_id
        item.assigned_at, item.started_at, item.closed_at = assigned_at, started_at, completed_at
        plan.last_assigned_at = max(plan.last_assigned_at or assigned_at, assigned_at)
        return item, events

    def _assigned(self, item: WorkItem, plan: AgentPlan, at: datetime, from_status: str,
                  pended_until: datetime | None = None) -> WorkItemEvent:
        """Exactly the event `item_get_next` writes."""
        position = {"queue_id": item.queue.pk, "start_by": item.start_by.isoformat(), "priority": item.priority,
                    "pended_until": pended_until.isoformat() if pended_until else None}
        if from_status == ItemStatus.PENDED:
            rule = {"rule": RULE_PENDED_FOLLOW_UP}
        else:
            rule = {"rule": RULE_NEXT_BEST, "order": ORDER_DESCRIPTION,
                    "eligible_queues": self.eligible_count[plan.user_id]}
        return self._event(at, plan.user_id, EventKind.ASSIGNED, from_status, ItemStatus.ASSIGNED,
                           data={**rule, **position})

    def _event(self, at, actor_id, kind, from_status, to_status, *, reason="", data=None) -> WorkItemEvent:
        return WorkItemEvent(at=at, actor_id=actor_id or self.integration_id, system_actor="", kind=kind,
                             from_status=from_status, to_status=to_status, reason=reason, data=data or {})

    def write(self) -> None:
        WorkItem.objects.bulk_create(self.items, batch_size=1000)
        for item, events in zip(self.items, self.events, strict=True):
            for event in events:
                event.item_id = item.pk
        WorkItemEvent.objects.bulk_create([event for events in self.events for event in events], batch_size=2000)
        # bulk_create stamps created_at/updated_at with now; history was created on receipt.
        WorkItem.objects.filter(pk__in=[item.pk for item in self.items]).update(
            created_at=F("received_at"), updated_at=F("closed_at")
        )


def _presence_history_write(plans: list[AgentPlan], agents: list[AgentProfile]) -> None:
    """Each shift in the presence history: available at its start, away for lunch, offline at its end."""
    changes = []
    for plan, agent in zip(plans, agents, strict=True):
        for index, (start, end) in enumerate(plan.shifts):
            next_start = plan.shifts[index + 1][0] if index + 1 < len(plan.shifts) else None
            same_day = next_start is not None and next_start.date() == start.date()
            changes.append(PresenceChange(agent=agent, presence=Presence.AVAILABLE, at=start, actor_id=agent.pk))
            changes.append(PresenceChange(agent=agent, presence=Presence.AWAY if same_day else Presence.OFFLINE,
                                          at=end, actor_id=agent.pk))
        if plan.shifts:
            agent.presence_since = plan.shifts[-1][1]
        agent.last_assigned_at = plan.last_assigned_at
    PresenceChange.objects.bulk_create(changes, batch_size=2000)
    AgentProfile.objects.bulk_update(agents, ["presence_since", "last_assigned_at"])


def _backlog_seed(*, rng, now, count, queues, specs, customers, people: People, first_number: int) -> None:
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
        title, payload = _item_content(code, rng, customer_ref, received_at)
        priority = rng.choices(*PRIORITIES)[0]
        drafts.append(services.ItemDraft(
            queue=queues[code], source=SOURCE, external_id=f"{specs[code].id_prefix}-{number:07d}",
            customer_ref=customer_ref, title=title, payload=payload, priority=priority, received_at=received_at,
        ))
    for start in range(0, len(drafts), 1000):
        services.items_intake(actor=people.integration, drafts=drafts[start:start + 1000])

    for index, agent in enumerate(people.agents):
        presence = _planned_presence(index)
        if presence != agent.presence:
            services.agent_set_presence(agent_id=agent.pk, presence=presence, actor=agent.user)
    working = [agent for index, agent in enumerate(people.agents) if _planned_presence(index) == Presence.AVAILABLE]
    rng.shuffle(working)
    for agent in working:
        for _ in range(rng.randint(0, agent.capacity)):
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


def logins_table(url: str = PORTAL_URL) -> str:
    """The demo logins, for people: a few agents per team, supervisors, admin, the API token."""
    User = get_user_model()
    rows = [("Admin", ADMIN_USER[0], DEMO_PASSWORD, "Django admin at /admin/ (superuser)")]
    rows += [("Supervisor", username, DEMO_PASSWORD, ", ".join(teams)) for username, _, _, teams in SUPERVISORS]
    shown = 0
    for team in TEAMS:
        agents = (AgentProfile.objects.filter(team__name=team, presence=Presence.AVAILABLE,
                                              user__username__in=[f"{f}.{last}" for f, last in AGENT_NAMES])
                  .select_related("user").order_by("user__username")[:2])
        for agent in agents:
            rows.append(("Agent", agent.user.username, DEMO_PASSWORD, f"{team}, capacity {agent.capacity}"))
            shown += 1
    token = Token.objects.filter(user__username=SOURCE).values_list("key", flat=True).first() or "(none)"
    rows.append(("Source system", SOURCE, "(token only)", f"API token {token}"))

    widths = [max(len(row[column]) for row in [("Role", "Username", "Password", "Notes"), *rows])
              for column in range(4)]
    line = "  ".join(f"{{:<{width}}}" for width in widths[:-1]) + "  {}"
    more = User.objects.filter(username__in=[f"{f}.{last}" for f, last in AGENT_NAMES]).count() - shown
    return "\n".join([
        "",
        f"WFO Portal: {url}",
        "",
        line.format("Role", "Username", "Password", "Notes"),
        "  ".join("-" * width for width in widths),
        *(line.format(*row) for row in rows),
        "",
        f"{more} more agents (first.last, e.g. julia.novak) use the same password; see Admin › Users.",
        f"API: curl -H 'Authorization: Token {token}' '{url}api/v1/items/?page_size=2'",
        "",
    ])
