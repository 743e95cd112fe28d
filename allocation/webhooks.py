"""What an outbound webhook request is: its body, its headers and its signature — the one
place a receiver's guide (README, "Webhooks") and the sender (services/webhooks.py) read.

A request is a POST of one event as JSON:

    {"id": "evt_812", "type": "item.completed", "created_at": "…",
     "data": {"event": {…as the API's item events…}, "item": {…the item as the API shows it, when sent…}}}

`id` is the same on every attempt of that event, to every subscriber: receivers drop a
repeat by it (delivery is at least once). The `WFO-Signature` header, in the style of
Stripe's, is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the
subscription's secret>`; a receiver recomputes it over the raw body and refuses a stale `t`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from allocation.models import WebhookFormat

SIGNATURE_HEADER = "WFO-Signature"
EVENT_ID_HEADER = "WFO-Event-Id"
DELIVERY_ID_HEADER = "WFO-Delivery-Id"
USER_AGENT = "WFO-Portal-Webhooks/1"
# How old a signed timestamp a receiver should accept (the guide's advice; replay defence).
SIGNATURE_TOLERANCE_SECONDS = 300


def event_id(event_pk: int) -> str:
    return f"evt_{event_pk}"


def event_type(kind: str) -> str:
    return f"item.{kind}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def signature_valid(secret: str, header: str, body: bytes, *, now: float,
                    tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the header's timestamp is recent and one of its v1 signatures
    is the HMAC of that timestamp and the raw body (compared in constant time)."""
    parts = [part.partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in parts if key == "t"]
    signatures = [value for key, _, value in parts if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def webhook_url_problem(url: str, *, public_only: bool = True) -> str | None:
    """Why events may not be sent to `url`, or None. Only http(s) with a possible port, and —
    for a source system's subscription (`public_only`), unless
    WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED — only to public addresses: it must not make the
    portal call into its own network (loopback, private, link-local such as a cloud's
    metadata service). Admins' subscriptions may."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Enter an http:// or https:// URL."
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # absent is None; Django's validator lets 99999 through
        return "The port must be a number from 1 to 65535."
    if not private_addresses_refused(public_only=public_only):
        return None
    host = parts.hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return f"The host {host!r} does not resolve."
    private = sorted(address for address in addresses if not address_is_public(address))
    if private:
        return f"{host} is a private address ({', '.join(private)}): webhooks go to public addresses only."
    return None


def address_is_public(address: str) -> bool:
    """An address on the internet at large: not loopback, private, link-local (a cloud's
    metadata service), reserved, or such an address mapped into IPv6."""
    parsed = ipaddress.ip_address(address.split("%")[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_global


def private_addresses_refused(*, public_only: bool) -> bool:
    """Whether a subscription must reach public addresses only: a source system's, unless
    WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED. Checked when its URL is saved and again on every
    connection (a name may resolve elsewhere by then)."""
    return public_only and not settings.WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED


# A team's chat channel (Slack, Microsoft Teams): a message for people, not a signed event.

@dataclass(frozen=True)
class ChatWords:
    title: str
    text: str
    link: str
    link_label: str
    urgency: str = "info"  # info, warning or breach: the Teams card's colour


TEAMS_COLOURS = {"info": "0076D7", "warning": "FFA500", "breach": "D70000"}


def chat_message(format_: str, words: ChatWords) -> dict:
    """The body a channel's incoming webhook takes: Slack's `text` (mrkdwn, with a link) or a
    Microsoft Teams MessageCard with an "open" button."""
    if format_ == WebhookFormat.SLACK:
        return {"text": f"*{_slack_escape(words.title)}*\n{_slack_escape(words.text)}\n"
                        f"<{words.link}|{_slack_escape(words.link_label)}>"}
    return {
        "@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": words.title,
        "themeColor": TEAMS_COLOURS[words.urgency], "title": words.title, "text": words.text,
        "potentialAction": [{"@type": "OpenUri", "name": words.link_label,
                             "targets": [{"os": "default", "uri": words.link}]}],
    }


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup: a title with them must not become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
