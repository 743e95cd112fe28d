"""Celery end to end: a real worker process consumes what `.delay()` sends through the
configured broker (Redis when it answers, else the filesystem transport) and writes to
the test database."""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from core.models import WorkerHeartbeat
from core.tasks import worker_heartbeat
from tests.processes import celery_worker, django_env, test_database_url

pytestmark = [pytest.mark.celery_e2e, pytest.mark.django_db(transaction=True)]

TASK_SECONDS = 60


@pytest.fixture
def celery_worker_process(tmp_path: Path):
    env = django_env(test_database_url(), settings.CELERY_BROKER_URL, tmp_path / "mail")
    worker = celery_worker(env, tmp_path / "worker.log", name="e2e")
    try:
        yield worker.process, worker.log
    finally:
        worker.stop()


def test_worker_runs_the_heartbeat_task_against_the_database(celery_worker_process):
    process, log = celery_worker_process
    assert not WorkerHeartbeat.objects.exists()

    worker_heartbeat.delay()

    deadline = time.monotonic() + TASK_SECONDS
    while not WorkerHeartbeat.objects.exists():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"task never ran:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    heartbeat = WorkerHeartbeat.objects.get()
    assert heartbeat.hostname.startswith(f"e2e-{os.getpid()}@")
    assert heartbeat.beats == 1

    worker_heartbeat.delay()
    deadline = time.monotonic() + TASK_SECONDS
    while WorkerHeartbeat.objects.get().beats < 2:
        assert time.monotonic() < deadline, f"second task never ran:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    assert WorkerHeartbeat.objects.count() == 1


def test_worker_runs_the_sla_alert_job_and_delivers_the_alert(celery_worker_process, role_groups, tmp_path):
    from django.utils import timezone

    from allocation.models import SlaAlert
    from allocation.tasks import sla_alerts_raise
    from core.models import Notification
    from tests import factories
    from tests.helpers import assigned_item

    process, log = celery_worker_process
    team = factories.TeamFactory()
    agent = factories.AgentFactory(team=team, user__email="amelia@example.com")
    queue = factories.QueueFactory(teams=[team])
    item = assigned_item(agent, queue, received_at=timezone.now() - queue.sla_target * 0.6)  # past 50 %

    sla_alerts_raise.delay()

    deadline = time.monotonic() + TASK_SECONDS
    while not SlaAlert.objects.filter(item=item, emailed_at__isnull=False).exists():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"alert job never ran:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    alert = SlaAlert.objects.get(item=item)
    assert alert.threshold == 50 and alert.recipient_ids == [agent.pk]
    assert Notification.objects.filter(user=agent.user, title__startswith="SLA warning (50%)").count() == 1
    mails = list((tmp_path / "mail").iterdir())
    assert len(mails) == 1
    sent = mails[0].read_text()
    assert "To: amelia@example.com" in sent and "SLA warning (50%)" in sent


def test_worker_runs_the_rebalancing_job(celery_worker_process, role_groups):
    from datetime import timedelta

    from django.utils import timezone

    from allocation.models import AgentProfile, EventKind, ItemStatus, Presence, WorkItem
    from allocation.tasks import rebalance
    from tests import factories
    from tests.helpers import started_item

    process, log = celery_worker_process
    team = factories.TeamFactory()
    queue = factories.QueueFactory(teams=[team])
    absent = factories.AgentFactory(team=team)
    cover = factories.AgentFactory(team=team)
    item = started_item(absent, queue)
    AgentProfile.objects.filter(pk=absent.pk).update(
        presence=Presence.OFFLINE, presence_since=timezone.now() - timedelta(hours=1)
    )

    rebalance.delay()

    deadline = time.monotonic() + TASK_SECONDS
    while not WorkItem.objects.filter(pk=item.pk, assignee_id=cover.pk).exists():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"rebalancing never ran:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    moved = WorkItem.objects.get(pk=item.pk)
    assert moved.status == ItemStatus.ASSIGNED
    assert moved.events.get(kind=EventKind.REBALANCED).system_actor == "rebalancer"
