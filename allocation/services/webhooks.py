"""Outbound webhooks: every item event reaches the subscriptions that want it — signed, in
order per item, retried, dead-lettered — and nothing is sent for a change that rolled back.

The event table is the outbox. Every event row carries the id of the transaction that wrote
it (`txid`, set by the database, so get-next's and start's SQL write it too): nothing is
written on the hot path beyond the event it writes anyway. Transaction ids are taken in
order but committed in any order; a snapshot's `xmin` is the oldest transaction still
running, so every transaction below it has committed or rolled back for good. A pass
(`outbox_dispatch`) therefore reads the events of transaction ids [cursor, xmin), matches
them to the subscriptions in one statement, records a delivery per match, and moves the
cursor to xmin — all in one transaction, under the cursor row's lock (an overlapping pass
skips). A killed pass rolls back and the next one does it; a stopped broker only delays
the next pass. A transaction left open holds deliveries back until it ends, never loses them.

Sending (`webhook_deliveries_send`): a batch of due deliveries is leased (attempts + 1 and
the next attempt pushed past the request timeout, in a short transaction; SKIP LOCKED, so
senders share the work), sent in parallel, and recorded. An item's deliveries to one
subscription go in event order: a delivery is due only when no earlier one of the same
item is pending, and no earlier event of the item is still unmatched (ids follow the
item's lock, so an earlier event of the item is always visible when a later one is). A
failure waits exponentially longer (with jitter) and after the subscription's tries is
dead-lettered, which unblocks the item's later deliveries. Delivery is at least once (a
worker killed mid-request sends again when the lease runs out); the event id lets the
receiver drop a repeat. A subscription failing without a success for
WFO_WEBHOOK_PAUSE_AFTER is paused and its owner told; paused, it keeps collecting, and
sends in order once active again.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import urllib3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from urllib3.connection import HTTPConnection, HTTPSConnection

from allocation import events, labels, webhooks
from allocation.models import (
    BREACH,
    DeliveryStatus,
    EventKind,
    OutboxCursor,
    Queue,
    RoutingStep,
    WebhookDelivery,
    WebhookFormat,
    WebhookSubscription,
    WorkItem,
    WorkItemEvent,
)
from core.services import NotificationDraft, notifications_create

logger = logging.getLogger(__name__)

# Transaction ids one pass reads at most (a burst after an outage is taken in slices).
DISPATCH_SPAN = 20_000
SEND_BATCH = 200
SEND_THREADS = 8
# A leased delivery is tried again after this many request timeouts (its sender died mid-request).
LEASE_TIMEOUTS = 3
EXCERPT_CHARS = 500
NOTIFICATION_KIND = "webhook_paused"

_D, _S, _E = WebhookDelivery._meta.db_table, WebhookSubscription._meta.db_table, WorkItemEvent._meta.db_table
_CURSOR, _ITEMS = OutboxCursor._meta.db_table, WorkItem._meta.db_table
_QUEUES = WebhookSubscription.queues.through._meta.db_table
_BINDINGS = "allocation_sourcebinding"
_QUEUE_TEAMS, _AGENTS, _TEAMS = Queue.teams.through._meta.db_table, "allocation_agentprofile", "allocation_team"
_STEPS, _STEP_TEAMS = RoutingStep._meta.db_table, RoutingStep.added_teams.through._meta.db_table

# One pass: lock the cursor (or find it locked and do nothing), read the events of the
# transactions that have ended since, record the deliveries they match, move the cursor.
# A queue filter matches the item's queue now or the queue an event names (created in,
# transferred or overflowed from or to). A source system's subscription hears only of the
# sources it is bound to now. A team's chat channel hears of the items of the queues the
# team serves or a step the item has reached adds the team to, and of those given to its
# agents; of transfers, only those a person directed to an agent; of SLA actions, only
# those that notify the team.
_DISPATCH = f"""
WITH bound AS (
    SELECT position AS lo,
           LEAST(pg_snapshot_xmin(pg_current_snapshot())::text::bigint, position + %(span)s) AS hi
      FROM {_CURSOR} WHERE id = 1 FOR UPDATE SKIP LOCKED
), fresh AS (
    SELECT e.id, e.item_id, e.kind, e.at, e.data
      FROM {_E} e, bound WHERE e.txid >= bound.lo AND e.txid < bound.hi
), matched AS (
    INSERT INTO {_D} (subscription_id, event_id, item_id, status, attempts, next_attempt_at, created_at,
                      response_excerpt, error)
    SELECT s.id, f.id, f.item_id, '{DeliveryStatus.PENDING}', 0, %(now)s, %(now)s, '', ''
      FROM fresh f
      JOIN {_ITEMS} i ON i.id = f.item_id
      JOIN {_S} s ON f.kind = ANY(s.kinds) AND f.at >= s.created_at
       AND (cardinality(s.sources) = 0 OR i.source = ANY(s.sources))
       AND (s.integration_id IS NULL OR EXISTS (
               SELECT 1 FROM {_BINDINGS} b WHERE b.user_id = s.integration_id AND b.source = i.source))
       AND (NOT EXISTS (SELECT 1 FROM {_QUEUES} q WHERE q.webhooksubscription_id = s.id)
            OR EXISTS (SELECT 1 FROM {_QUEUES} q WHERE q.webhooksubscription_id = s.id AND q.queue_id IN (
                   i.queue_id, (f.data->>'queue_id')::bigint, (f.data->>'from_queue_id')::bigint,
                   (f.data->>'to_queue_id')::bigint)))
       AND (s.team_id IS NULL
            OR EXISTS (SELECT 1 FROM {_QUEUE_TEAMS} qt WHERE qt.team_id = s.team_id AND qt.queue_id IN (
                   i.queue_id, (f.data->>'queue_id')::bigint, (f.data->>'from_queue_id')::bigint,
                   (f.data->>'to_queue_id')::bigint))
            OR EXISTS (SELECT 1 FROM {_AGENTS} a
                        WHERE a.team_id = s.team_id AND a.user_id = (f.data->>'to_agent')::bigint)
            OR EXISTS (SELECT 1 FROM {_STEPS} rs JOIN {_STEP_TEAMS} x ON x.routingstep_id = rs.id
                        WHERE rs.queue_id = i.queue_id AND rs.position <= i.routing_step AND x.team_id = s.team_id)
            OR EXISTS (SELECT 1 FROM {_TEAMS} t
                        WHERE t.id = s.team_id AND f.data->'added_teams' ? t.name)
            OR (f.data->>'{events.NOTIFY_TEAM_ID}')::bigint = s.team_id)
       AND (s.format = '{WebhookFormat.JSON}' OR f.kind <> '{EventKind.TRANSFERRED}'
            OR f.data->>'directed' = 'true')
       AND (s.format = '{WebhookFormat.JSON}' OR f.kind <> '{EventKind.SLA_ACTION}'
            OR (f.data->>'{events.NOTIFY_TEAM_ID}')::bigint = s.team_id)
     ORDER BY f.id, s.id
    ON CONFLICT (subscription_id, event_id) DO NOTHING
    RETURNING 1
)
UPDATE {_CURSOR} c SET position = bound.hi, moved_at = %(now)s FROM bound WHERE c.id = 1
RETURNING bound.hi, pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
          (SELECT count(*) FROM fresh), (SELECT count(*) FROM matched)
"""

# Lease the next batch: due, of an active subscription, and the earliest pending one of its
# item (no earlier delivery pending, no earlier event of the item still to be matched). Read
# in the due index's order, it stops at its batch. `+ 0`: an item's earlier deliveries and
# events are found by the item, never by a range of ids (a subscription's whole history, the
# event table's millions of rows) — a plan PostgreSQL otherwise picks once the tables grow.
_LEASE = f"""
WITH due AS (
    SELECT d.id FROM {_D} d JOIN {_S} s ON s.id = d.subscription_id AND s.is_active
     WHERE d.status = '{DeliveryStatus.PENDING}' AND d.next_attempt_at <= %(now)s
       AND NOT EXISTS (SELECT 1 FROM {_D} p
                        WHERE p.subscription_id = d.subscription_id AND p.item_id = d.item_id
                          AND p.status = '{DeliveryStatus.PENDING}' AND p.event_id + 0 < d.event_id)
       AND NOT EXISTS (SELECT 1 FROM {_E} e
                        WHERE e.item_id = d.item_id AND e.id + 0 < d.event_id
                          AND e.txid >= (SELECT position FROM {_CURSOR} WHERE id = 1))
     ORDER BY d.next_attempt_at, d.id
     LIMIT %(batch)s
     FOR UPDATE OF d SKIP LOCKED
)
UPDATE {_D} d SET attempts = d.attempts + 1, last_attempt_at = %(now)s, next_attempt_at = %(lease_until)s
  FROM due WHERE d.id = due.id
RETURNING d.id, d.subscription_id, d.event_id, d.item_id, d.attempts
"""


@dataclass
class DispatchResult:
    events_read: int = 0
    deliveries_recorded: int = 0
    passes: int = 0
    busy: bool = False  # another pass held the cursor


def outbox_dispatch(*, now: datetime | None = None, span: int = DISPATCH_SPAN) -> DispatchResult:
    """Match every event of the transactions ended since the last pass to the subscriptions,
    slice by slice until caught up. Safe to overlap (the second finds the cursor locked)."""
    result = DispatchResult()
    outbox_cursor_ensure()
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_DISPATCH, {"span": span, "now": now or timezone.now()})
            row = cursor.fetchone()
        if row is None:
            result.busy = True
            return result
        high, horizon, read, recorded = row
        result.passes += 1
        result.events_read += read
        result.deliveries_recorded += recorded
        if high >= horizon:
            return result


def outbox_cursor_ensure() -> None:
    """The cursor row (the migration makes it; a database emptied since — a test's — gets it
    back, starting at the transactions running now)."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_CURSOR} (id, position, moved_at) "
                       "VALUES (1, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, now()) "
                       "ON CONFLICT (id) DO NOTHING")


class _Lease(NamedTuple):
    delivery_id: int
    subscription_id: int
    event_id: int
    item_id: int
    attempt: int


class _Outcome(NamedTuple):
    status: int | None
    latency_ms: int
    excerpt: str
    error: str

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class SendResult:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    paused: int = 0


def webhook_deliveries_send(*, now: datetime | None = None, batch_size: int = SEND_BATCH,
                            budget_seconds: float = 20.0) -> SendResult:
    """Send due deliveries, batch after batch, until none is due or the time budget is spent."""
    result = SendResult()
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        at = now or timezone.now()
        leases = _lease(at, batch_size)
        if not leases:
            break
        requests = _requests_build(leases)
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(requests) or 1)) as pool:
            outcomes = list(pool.map(_post, requests))
        if requests:
            _record(requests, outcomes, at=now or timezone.now(), result=result)
        if len(leases) < batch_size:
            break
    return result


def _lease(now: datetime, batch_size: int) -> list[_Lease]:
    lease_until = now + timedelta(seconds=settings.WFO_WEBHOOK_TIMEOUT_SECONDS * LEASE_TIMEOUTS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LEASE, {"now": now, "batch": batch_size, "lease_until": lease_until})
        return sorted((_Lease(*row) for row in cursor.fetchall()), key=lambda lease: lease.delivery_id)


@dataclass
class _Request:
    lease: _Lease
    subscription: WebhookSubscription
    event_id: str
    body: bytes


def _requests_build(leases: list[_Lease]) -> list[_Request]:
    """Each leased delivery's request: the event, and its item as the API shows it now.
    (A delivery whose item was deleted meanwhile went with it.)"""
    from allocation.api.common import EventOutputSerializer, ItemOutputSerializer  # the API's shapes

    subscriptions = WebhookSubscription.objects.in_bulk({lease.subscription_id for lease in leases})
    found = list(WorkItemEvent.objects.select_related("actor").filter(pk__in={lease.event_id for lease in leases}))
    items = list(WorkItem.objects.select_related("queue", "assignee", "completed_by", "sla_clock")
                 .filter(pk__in={lease.item_id for lease in leases}))
    # One serializer per batch (many=True): its fields are built once, not once per event.
    events_said = {event.pk: said for event, said in zip(found, EventOutputSerializer(found, many=True).data,
                                                         strict=True)}
    items_said = {item.pk: said for item, said in zip(items, ItemOutputSerializer(items, many=True).data, strict=True)}
    kinds = {event.pk: (event.kind, event.at) for event in found}
    by_pk, by_item = {event.pk: event for event in found}, {item.pk: item for item in items}
    # The agents chat messages name, read once for the batch rather than once per message.
    chatted = {lease.event_id for lease in leases if subscriptions[lease.subscription_id].format != WebhookFormat.JSON}
    people = get_user_model().objects.in_bulk(
        {pk for event in found if event.pk in chatted for pk in events.read(event).agent_ids})
    requests = []
    for lease in leases:
        if lease.event_id not in events_said or lease.item_id not in items_said:
            continue
        kind, at = kinds[lease.event_id]
        subscription = subscriptions[lease.subscription_id]
        if subscription.format == WebhookFormat.JSON:
            body = {
                "id": webhooks.event_id(lease.event_id), "type": webhooks.event_type(kind), "created_at": at,
                "data": {"event": events_said[lease.event_id], "item": items_said[lease.item_id]},
            }
        else:
            words = chat_words(by_pk[lease.event_id], by_item[lease.item_id], people=people)
            body = webhooks.chat_message(subscription.format, words)
        requests.append(_Request(lease, subscription, webhooks.event_id(lease.event_id),
                                 json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()))
    return requests


def chat_words(event: WorkItemEvent, item: WorkItem, *, people: dict) -> webhooks.ChatWords:
    """What a team's channel reads of an event: an SLA alert as the alert says it, a
    directed assignment, a step escalation — each with a link to the item. `people`: the
    users the event names, by id."""
    from allocation.services.sla_alerts import alert_text

    said = events.read(event)
    link = f"{settings.WFO_PORTAL_URL.rstrip('/')}{reverse('work:item', args=[item.pk])}"
    urgency = "info"
    if event.kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACH):
        title, text = alert_text(item, said.threshold if said.threshold is not events.NOT_SAID else BREACH)
        urgency = "breach" if event.kind == EventKind.SLA_BREACH else "warning"
    elif event.kind == EventKind.SLA_ACTION:  # a threshold's action telling the team
        threshold = said.threshold if said.threshold is not events.NOT_SAID else BREACH
        _, text = alert_text(item, threshold)
        label = "breach" if threshold >= BREACH else f"{threshold}%"
        title = f"SLA {label} action: #{item.pk} {item.title}"[:200]
        urgency = "breach" if threshold >= BREACH else "warning"
    elif event.kind == EventKind.TRANSFERRED:
        holder = people.get(said.holder_after)
        whom = labels.display_name(holder) if holder else "an agent"
        title = f"Assigned: #{item.pk} {item.title}"[:200]
        text = f"{labels.actor_name(event)} gave work item #{item.pk} in {item.queue.name} to {whom}."
        if event.reason:
            text += f" Why: {event.reason}"
    else:
        title = f"Escalated: #{item.pk} {item.title}"[:200]
        text = f"Work item #{item.pk} entered routing step {said.step} of {item.queue.name}."
        added = event.data.get(events.ADDED_TEAMS) or []
        if added:
            text += f" Now also offered to {', '.join(added)}."
        if event.reason:
            text += f" {event.reason}"
    return webhooks.ChatWords(title=title, text=text, link=link, link_label=f"Open #{item.pk}", urgency=urgency)


class PrivateAddressRefused(urllib3.exceptions.HTTPError):
    """A source system's receiver turned out to be at a private address."""


class _PublicOnlyConnection(HTTPConnection):
    """A connection that refuses a peer at a private address once connected — the address
    actually reached, so a name that resolved to a public address when the subscription was
    saved and to an internal one now (DNS rebinding) is refused too."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not webhooks.address_is_public(peer):
            sock.close()
            raise PrivateAddressRefused(f"{self.host} is at a private address ({peer}): "
                                        "webhooks go to public addresses only.")
        return sock


class _PublicOnlyTLSConnection(_PublicOnlyConnection, HTTPSConnection):
    pass


class _PublicOnlyPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _PublicOnlyConnection


class _PublicOnlyTLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _PublicOnlyTLSConnection


_pools: dict[bool, urllib3.PoolManager] = {}


def _http(*, public_only: bool) -> urllib3.PoolManager:
    """One connection pool per process and kind (connections to a receiver are reused); a
    source system's subscriptions go through one that reaches public addresses only."""
    if public_only not in _pools:
        pool = urllib3.PoolManager(num_pools=50, maxsize=SEND_THREADS, retries=False)
        if public_only:
            pool.pool_classes_by_scheme = {"http": _PublicOnlyPool, "https": _PublicOnlyTLSPool}
        _pools[public_only] = pool
    return _pools[public_only]


def _post(request: _Request) -> _Outcome:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": webhooks.USER_AGENT,
        webhooks.SIGNATURE_HEADER: webhooks.signature_header(request.subscription.secret, timestamp, request.body),
        webhooks.EVENT_ID_HEADER: request.event_id, webhooks.DELIVERY_ID_HEADER: str(request.lease.delivery_id),
    }
    timeout = settings.WFO_WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    try:
        http = _http(public_only=webhooks.private_addresses_refused(
            public_only=request.subscription.public_addresses_only))
        response = http.request("POST", request.subscription.url, body=request.body, headers=headers,
                                timeout=urllib3.Timeout(connect=timeout, read=timeout), redirect=False,
                                preload_content=False)
        try:
            excerpt = response.read(EXCERPT_CHARS * 4, decode_content=True)[: EXCERPT_CHARS * 4]
        finally:
            response.drain_conn()
            response.release_conn()
        latency = round((time.monotonic() - started) * 1000)
        return _Outcome(response.status, latency, excerpt.decode("utf-8", "replace")[:EXCERPT_CHARS], "")
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
        latency = round((time.monotonic() - started) * 1000)
        return _Outcome(None, latency, "", f"{type(error).__name__}: {error}"[:300])


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after failed attempt `attempt` (1, 2, …): the base doubled each time, capped,
    then jittered to between half and all of it, so receivers that come back are not met
    by every sender at once."""
    base, cap = settings.WFO_WEBHOOK_RETRY_BASE, settings.WFO_WEBHOOK_RETRY_CAP
    full = min(cap, base * (2 ** (attempt - 1)))
    return full * (0.5 + (rng or random).random() / 2)


def _record(requests: list[_Request], outcomes: list[_Outcome], *, at: datetime, result: SendResult) -> None:
    """Write what each attempt got back — where the lease is still that attempt's — in one
    statement; a subscription with a success in the batch is not failing, one with only
    failures is failing since its first (and is paused after a day of it)."""
    rows, succeeded, failed = [], set(), {}
    for request, outcome in zip(requests, outcomes, strict=True):
        lease, subscription = request.lease, request.subscription
        result.attempted += 1
        status, next_attempt_at, delivered_at = DeliveryStatus.PENDING, None, None
        if outcome.delivered:
            status, delivered_at = DeliveryStatus.DELIVERED, at
            result.delivered += 1
            succeeded.add(subscription.pk)
        else:
            failed[subscription.pk] = subscription
            if lease.attempt >= subscription.max_attempts:
                status = DeliveryStatus.DEAD
                result.dead += 1
            else:
                next_attempt_at = at + retry_delay(lease.attempt)
                result.retrying += 1
        rows.append((lease.delivery_id, lease.attempt, status, next_attempt_at, delivered_at, outcome.status,
                     outcome.latency_ms, outcome.excerpt, outcome.error))
    values = ", ".join(["(%s::bigint, %s::int, %s::varchar, %s::timestamptz, %s::timestamptz, %s::int, %s::int, "
                        "%s::varchar, %s::varchar)"] * len(rows))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_D} d SET status = v.status, next_attempt_at = v.next_attempt_at, "
                "delivered_at = v.delivered_at, response_status = v.response_status, latency_ms = v.latency_ms, "
                "response_excerpt = v.excerpt, error = v.error "
                f"FROM (VALUES {values}) v(id, attempt, status, next_attempt_at, delivered_at, response_status, "
                "latency_ms, excerpt, error) "
                f"WHERE d.id = v.id AND d.attempts = v.attempt AND d.status = '{DeliveryStatus.PENDING}'",
                [value for row in rows for value in row])
        if succeeded:
            WebhookSubscription.objects.filter(pk__in=succeeded, failing_since__isnull=False).update(
                failing_since=None)
        only_failing = [subscription for pk, subscription in failed.items() if pk not in succeeded]
        if only_failing:
            WebhookSubscription.objects.filter(
                pk__in=[subscription.pk for subscription in only_failing], failing_since__isnull=True
            ).update(failing_since=at)
            for subscription in only_failing:
                result.paused += _pause_if_failing(subscription, at)


def _pause_if_failing(subscription: WebhookSubscription, at: datetime) -> int:
    """Pause a subscription that has failed without a success for WFO_WEBHOOK_PAUSE_AFTER,
    and tell its owner — once: only the update that pauses it tells."""
    since = at - settings.WFO_WEBHOOK_PAUSE_AFTER
    paused = WebhookSubscription.objects.filter(
        pk=subscription.pk, is_active=True, failing_since__lte=since
    ).update(is_active=False, paused_reason=f"Paused {at:%Y-%m-%d %H:%M} UTC: no delivery succeeded for "
                                            f"{settings.WFO_WEBHOOK_PAUSE_AFTER.total_seconds() / 3600:g} h.")
    if paused and subscription.owner_id:
        notifications_create(drafts=[NotificationDraft(
            subscription.owner_id, NOTIFICATION_KIND, f"Webhook paused: {subscription.name}"[:200],
            f"No request to {subscription.url} has succeeded for "
            f"{settings.WFO_WEBHOOK_PAUSE_AFTER.total_seconds() / 3600:g} hours, so it is paused. Its events "
            "are kept and sent, in order, once it is active again.", email=True,
        )], at=at)
    return paused


@dataclass
class PumpResult:
    dispatched: DispatchResult
    sent: SendResult


def webhooks_pump(*, budget_seconds: float = 20.0) -> PumpResult:
    """The periodic job: match what has committed, send what is due; again while there is
    work, within the budget."""
    started = time.monotonic()
    dispatched, sent = DispatchResult(), SendResult()
    while True:
        round_dispatched = outbox_dispatch()
        remaining = budget_seconds - (time.monotonic() - started)
        round_sent = webhook_deliveries_send(budget_seconds=max(remaining, 0.0))
        dispatched.events_read += round_dispatched.events_read
        dispatched.deliveries_recorded += round_dispatched.deliveries_recorded
        for name in ("attempted", "delivered", "retrying", "dead", "paused"):
            setattr(sent, name, getattr(sent, name) + getattr(round_sent, name))
        idle = not round_dispatched.deliveries_recorded and not round_sent.attempted
        if idle or time.monotonic() - started >= budget_seconds:
            return PumpResult(dispatched, sent)


# Subscriptions and redelivery -------------------------------------------------------------

def webhook_subscription_create(*, name: str, url: str, kinds: Iterable[str], queues: Iterable[Queue] = (),
                                sources: Iterable[str] = (), integration=None, owner=None,
                                is_active: bool = True, max_attempts: int | None = None,
                                format: str = WebhookFormat.JSON, team=None) -> WebhookSubscription:
    """A subscription; its secret is made here (the creator reads it once, from the answer)."""
    subscription = WebhookSubscription.objects.create(
        name=name, url=url, kinds=list(kinds), sources=list(sources), integration=integration,
        owner=owner, is_active=is_active, format=format, team=team,
        max_attempts=max_attempts if max_attempts is not None else settings.WFO_WEBHOOK_MAX_ATTEMPTS,
    )
    subscription.queues.set(queues)
    return subscription


def webhook_subscription_update(subscription: WebhookSubscription, *, queues: Iterable[Queue] | None = None,
                                **changes) -> WebhookSubscription:
    """Change what a subscription receives or where. Activating a paused one clears why it
    was paused and sends what it kept at once, not after the backoff its failures had reached."""
    resumed = changes.get("is_active") and not subscription.is_active
    for name, value in changes.items():
        setattr(subscription, name, value)
    with transaction.atomic():
        subscription.save()
        if queues is not None:
            subscription.queues.set(queues)
        if resumed:
            webhook_subscription_resume(subscription)
    return subscription


def webhook_subscription_resume(subscription: WebhookSubscription) -> None:
    """A subscription active again (saved so): why it was paused and its failing streak are
    forgotten, and what it kept is due now, not after the backoff its failures had reached."""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(paused_reason="", failing_since=None)
    subscription.paused_reason, subscription.failing_since = "", None
    subscription.deliveries.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())


def webhook_subscription_delete(subscription: WebhookSubscription) -> None:
    """Delete a subscription and its delivery log (what it had not received is not sent)."""
    subscription.delete()


def webhook_deliveries_redeliver(subscription: WebhookSubscription, *, delivery_ids: Iterable[int] | None = None,
                                 now: datetime | None = None) -> int:
    """Send again: the given deliveries of the subscription, or (none given) every
    dead-lettered one. Each starts a fresh round of tries, in its item's order."""
    deliveries = subscription.deliveries.exclude(status=DeliveryStatus.PENDING)
    if delivery_ids is None:
        deliveries = deliveries.filter(status=DeliveryStatus.DEAD)
    else:
        deliveries = deliveries.filter(pk__in=list(delivery_ids))
    return deliveries.update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now or timezone.now())
