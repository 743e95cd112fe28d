"""A Celery worker killed in the middle of a job (SIGKILL: no clean-up, as when its machine
dies): the job's next run, on another worker, completes the work, and nothing is done twice.

Each test stops the job at a known point half-way, kills the worker there, checks the work
is really half done, then runs the job again as the next beat tick would.
"""

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from allocation import services
from allocation.actors import SystemActor
from allocation.audit import items_audit
from allocation.models import AgentProfile, EventKind, ItemStatus, SlaAlert, SlaClock, WorkItem
from allocation.services import bulk
from allocation.services.sla_alerts import EMAIL_BATCH
from allocation.tasks import reservations_expire, sla_alerts_raise
from tests import factories
from tests.processes import celery_worker, django_env, test_database_url, wait_until
from wfo import roles
from wfo.models import Notification

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


def test_the_reservation_expiry_killed_half_way_is_completed_by_its_next_run(role_groups, tmp_path):
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team], reservation_timeout=timedelta(seconds=1))
    early, late = (factories.AgentFactory(team=team, capacity=1000) for _ in range(2))
    admin = factories.UserFactory(is_superuser=True)
    items = _intake(queue, 600)
    # The job moves items in id order, a batch of holders at a time: the first 400 held by
    # `early`, the last 200 by `late`, whose agent row this test keeps locked.
    bulk.items_reassign(actor=admin, item_ids=items[:400], to_agent_id=early.pk, reason="tests")
    bulk.items_reassign(actor=admin, item_ids=items[400:], to_agent_id=late.pk, reason="tests")
    assert WorkItem.objects.filter(status=ItemStatus.ASSIGNED).count() == len(items)

    late_locked, release_late = threading.Event(), threading.Event()

    def hold_late_agents_row():
        with transaction.atomic():
            AgentProfile.objects.select_for_update().get(pk=late.pk)
            late_locked.set()
            release_late.wait(JOB_SECONDS)
        connection.close()

    holder = threading.Thread(target=hold_late_agents_row)
    holder.start()
    late_locked.wait(10)
    first = _worker(tmp_path, "first")
    try:
        reservations_expire.delay()
        # The job expires `early`'s items, then waits for `late`'s row: kill it there.
        wait_until(lambda: not WorkItem.objects.filter(pk__in=items[:400], status=ItemStatus.ASSIGNED).exists(),
                   seconds=JOB_SECONDS, what="the first holder's items expire", log=first.log,
                   alive=[first.process])
        first.kill()
    finally:
        release_late.set()
        holder.join()
    assert WorkItem.objects.filter(pk__in=items[400:], status=ItemStatus.ASSIGNED).count() == 200, (
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
