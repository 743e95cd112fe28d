"""What a demo work item says: the title and payload the card platform would send for each
queue (chargebacks with reason codes, fraud alerts with scores, applications, complaints…),
its priority, and the customers the items are about.

Kept apart from the history and the backlog because both draw items the same way; the
draws come from the caller's random generator, so their order is part of the data.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

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
COUNTRIES = ["GB", "IE", "FR", "ES", "DE", "NL", "US"]
CURRENCIES = (["EUR", "GBP", "USD"], [45, 25, 30])
PRIORITIES = ([1, 2, 3, 4, 5], [3, 12, 65, 15, 5])


def _customer_number(ref: str) -> int:
    return int(ref.rsplit("-", 1)[1])


def _card(network: str, customer_ref: str) -> str:
    bin6 = "453201" if network == "Visa" else "540912"
    return f"{bin6}******{_customer_number(customer_ref) * 7919 % 10000:04d}"


def _account(customer_ref: str) -> str:
    return f"****-****-{_customer_number(customer_ref) * 3571 % 10000:04d}"


def _money(rng: random.Random, median: float = 60.0) -> str:
    return f"{min(median * rng.lognormvariate(0, 0.9), 9500):.2f}"


def item_content(code: str, rng: random.Random, customer_ref: str, received_at: datetime) -> tuple[str, dict]:
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


def customers_draw(rng: random.Random, items: int) -> tuple[list[str], list[int]]:
    """About two items per customer; the first few (CUST-004211 among them) have many more."""
    count = max(20, items // 2)
    numbers = [4211, *rng.sample(range(1000, 999999), count - 1)]
    refs = [f"CUST-{number:06d}" for number in numbers]
    heavy = max(3, count // 100)
    return refs, [4] * heavy + [1] * (count - heavy)
