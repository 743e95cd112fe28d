"""A Celery worker killed in the middle of a job (SIGKILL: no clean-up, as when its machine
dies): the job's next run, on another worker, completes the work, and nothing is done twice.

Each test stops the job at a known point half-way, kills the worker there, checks the work
is really half done, then runs the job again as the next beat tick would.
"""

import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.utils import timezone

from allocation import services
from allocation.audit import items_audit
from allocation.models import EventKind, ItemStatus, SlaAlert, SlaClock, WorkItem, WorkItemEvent
from allocation.services.moves import BATCH
from allocation.services.sla_alerts import EMAIL_BATCH
from allocation.tasks import reservations_expire, routing_advance, sla_alerts_raise
from core import roles
from core.actors import SystemActor
from core.models import Notification
from tests import factories
from tests.processes import celery_worker, django_env, test_database_url, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

JOB_SECONDS = 60


def _intake(queue, count: int, **draft_fields) -> list[int]:
    drafts = [
        services.ItemDraft(queue=queue, source="faults", external_id=f"F-{n}", customer_ref=f"C-{n % 50}",
                           title=f"Case {n}", **draft_fields)
        for n in range(count)
    ]
    return [result.item.pk for result in services.items_intake(actor=SystemActor("tests"), drafts=drafts)]


def _worker(tmp_path: Path, name: str, **env):
    return celery_worker(django_env(test_database_url(), settings.CELERY_BROKER_URL, tmp_path / "mail", **env),
                         tmp_path / f"{name}.log", name=name)


def test_the_sla_alert_job_killed_while_mailing_is_completed_by_its_next_run(role_groups, tmp_path):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    supervisor = factories.UserFactory(roles=[roles.SUPERVISOR], email="lead@example.com")
    team.supervisors.add(supervisor)
    # Waiting items past 50 % of their target: one warning each, to the queue's supervisor.
    items = _intake(queue, 5 * EMAIL_BATCH, received_at=timezone.now() - queue.sla_target * 0.6)

    first = _worker(tmp_path, "first", DJANGO_EMAIL_BACKEND="tests.faults.slow_mail.SlowFileBackend")
    sla_alerts_raise.delay()
    # Every alert is raised (one transaction per scan batch), then mailed a batch at a time:
    # kill the worker as soon as the first batch is stamped, with the rest still to send.
    wait_until(lambda: SlaAlert.objects.filter(emailed_at__isnull=False).exists(), seconds=JOB_SECONDS,
               what="the first batch of e-mails", log=first.log, alive=[first.process], every=0.02)
    first.kill()
    mailed = SlaAlert.objects.filter(emailed_at__isnull=False).count()
    assert SlaAlert.objects.count() == len(items)
    assert 0 < mailed < len(items), "the worker was not killed half-way through the job"

    second = _worker(tmp_path, "second")
    try:
        sla_alerts_raise.delay()  # the next tick
        wait_until(lambda: not SlaAlert.objects.filter(emailed_at__isnull=True).exists(), seconds=JOB_SECONDS,
                   what="the next run mails the rest", log=second.log, alive=[second.process])
    finally:
        second.stop()

    # Nothing lost: every item warned once, in the portal and by e-mail.
    assert SlaAlert.objects.count() == len(items)
    assert sorted(SlaAlert.objects.values_list("item_id", flat=True)) == sorted(items)
    assert Notification.objects.filter(user=supervisor).count() == len(items)
    assert not SlaClock.objects.filter(item_id__in=items, next_threshold=50).exists()
    # Nothing doubled: each alert's message is in the mailbox, and a repeat (the batch being
    # sent when the worker died, at most) carries the same Message-ID.
    sent = re.findall(r"^Message-ID: <sla-alert-(\d+)@", _mailbox(tmp_path), flags=re.MULTILINE)
    assert {int(alert_id) for alert_id in sent} == set(SlaAlert.objects.values_list("pk", flat=True))
    assert len(sent) - len(items) <= EMAIL_BATCH


def _mailbox(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in (tmp_path / "mail").iterdir())


class EventTableGate:
    """Lets a job through exactly one transaction, then holds it. Connection A locks the
    event table (EXCLUSIVE: reads go on, no insert); the job's first batch waits for it;
    connection B asks for the same lock and queues behind the job. When A lets go, the job
    gets the table first, writes its batch and commits, and then B holds it: the job's next
    batch waits, with exactly one batch done. Every move writes an event, so every job that
    moves items meets this gate."""

    TABLE = WorkItemEvent._meta.db_table

    def __init__(self):
        self.first, self.second = (psycopg.connect(test_database_url(), autocommit=False) for _ in range(2))
        self.first.execute(f"LOCK TABLE {self.TABLE} IN EXCLUSIVE MODE")
        self.second_locked = threading.Thread(target=self._second_locks)

    def _second_locks(self):
        self.second.execute(f"LOCK TABLE {self.TABLE} IN EXCLUSIVE MODE")

    def waiting(self) -> int:
        """Sessions waiting for a lock on the event table."""
        with psycopg.connect(test_database_url()) as probe:
            return probe.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [self.TABLE]
            ).fetchone()[0]

    def let_one_transaction_through(self) -> None:
        self.second_locked.start()
        wait_until(lambda: self.waiting() == 2, seconds=10, what="the job and the gate both wait")
        self.first.rollback()

    def open(self) -> None:
        """Lets everything through, whether or not the job reached the gate (a test that
        fails early must not leave the table locked: its clean-up would wait forever)."""
        self.first.rollback()
        if self.second_locked.ident is not None:  # started
            self.second_locked.join(timeout=JOB_SECONDS)
        self.second.rollback()
        for gate_connection in (self.first, self.second):
            gate_connection.close()


def test_the_reservation_expiry_killed_half_way_is_completed_by_its_next_run(role_groups, tmp_path):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team], reservation_timeout=timedelta(seconds=1))
    holder = factories.AgentFactory(team=team, capacity=1000)
    items = _intake(queue, 3 * BATCH)
    # Offered by get-next (a person's reassignment would be a decision, never expired).
    for _ in items:
        services.item_get_next(agent_id=holder.pk)
    assert WorkItem.objects.filter(status=ItemStatus.ASSIGNED).count() == len(items)
    time.sleep(1)  # every reservation has run out

    gate = EventTableGate()
    first = _worker(tmp_path, "first")
    try:
        reservations_expire.delay()
        wait_until(lambda: gate.waiting() == 1, seconds=JOB_SECONDS, what="the job's first batch reaches the gate",
                   log=first.log, alive=[first.process])
        gate.let_one_transaction_through()
        # One batch committed; the next waits at the gate: kill the worker there.
        wait_until(lambda: WorkItem.objects.filter(status=ItemStatus.QUEUED).count() == BATCH and gate.waiting() == 1,
                   seconds=JOB_SECONDS, what="one batch expires, the next waits", log=first.log,
                   alive=[first.process])
        first.kill()
    finally:
        gate.open()
    assert WorkItem.objects.filter(status=ItemStatus.ASSIGNED).count() == len(items) - BATCH, (
        "the worker was not killed half-way through the job")

    second = _worker(tmp_path, "second")
    try:
        reservations_expire.delay()  # the next tick
        wait_until(lambda: not WorkItem.objects.filter(status=ItemStatus.ASSIGNED).exists(), seconds=JOB_SECONDS,
                   what="the next run expires the rest", log=second.log, alive=[second.process])
    finally:
        second.stop()

    # Every item back in its queue, expired exactly once, and its history replays to its row.
    assert WorkItem.objects.filter(pk__in=items, status=ItemStatus.QUEUED, assignee=None).count() == len(items)
    expired = WorkItem.objects.filter(events__kind=EventKind.RESERVATION_EXPIRED).values_list("pk", flat=True)
    assert sorted(expired) == sorted(items)
    assert list(items_audit()) == []


def test_the_routing_job_killed_half_way_is_completed_by_its_next_run(role_groups, tmp_path):
    cards, night = factories.TeamFactory(), factories.TeamFactory()
    queue = factories.QueueFactory(teams=[cards])
    factories.RoutingStepFactory(queue=queue, minutes=10, added_teams=[night])
    # Waiting an hour already: every item is due for step 2.
    items = _intake(queue, 3 * BATCH, received_at=timezone.now() - timedelta(hours=1))

    gate = EventTableGate()
    first = _worker(tmp_path, "first")
    try:
        routing_advance.delay()
        wait_until(lambda: gate.waiting() == 1, seconds=JOB_SECONDS, what="the pass's first batch reaches the gate",
                   log=first.log, alive=[first.process])
        gate.let_one_transaction_through()
        wait_until(lambda: WorkItem.objects.filter(routing_step=2).count() == BATCH and gate.waiting() == 1,
                   seconds=JOB_SECONDS, what="one batch enters step 2, the next waits", log=first.log,
                   alive=[first.process])
        first.kill()
    finally:
        gate.open()
    assert WorkItem.objects.filter(routing_step=1).count() == len(items) - BATCH, (
        "the worker was not killed half-way through the pass")

    second = _worker(tmp_path, "second")
    try:
        routing_advance.delay()  # the next tick
        wait_until(lambda: not WorkItem.objects.filter(routing_step=1).exists(), seconds=JOB_SECONDS,
                   what="the next pass enters the rest", log=second.log, alive=[second.process])
    finally:
        second.stop()

    # Every item at step 2, entered exactly once, and its history replays to its row.
    entered = WorkItemEvent.objects.filter(kind=EventKind.STEP_ENTERED).values_list("item_id", flat=True)
    assert sorted(entered) == sorted(items)
    assert list(items_audit()) == []
