"""Beat as the portal runs it (its settings' scheduler, a real `celery beat` process) spreads
the jobs that share an interval over it (core/beat.py): two jobs every ten seconds are sent
each every ten seconds, at their own offsets five seconds apart."""

import re
from collections import defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.processes import celery_beat, django_env, test_database_url, wait_until

pytestmark = [pytest.mark.celery_e2e, pytest.mark.django_db(transaction=True)]

PROBES = ("Spread probe A", "Spread probe B")  # in name order: offsets 0 and 5 s into each 10 s
EVERY = 10
SENDS_SEEN = 4
LATE = 2.5  # beat looks every second (--max-interval 1); a busy machine may delay it more
# Beat's own line for each job it sends, stamped with its clock (celery's log format).
SENT = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] Scheduler: Sending due task "
                  r"(Spread probe [AB]) ", re.M)


def sends_in(log: Path) -> dict[str, list[float]]:
    """When beat sent each probe (epoch seconds), in order."""
    sent = defaultdict(list)
    for stamp, name in SENT.findall(log.read_text()):
        sent[name].append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return sent


def test_beat_sends_each_ten_second_job_every_ten_seconds_at_its_own_offset(tmp_path):
    every_ten, _ = IntervalSchedule.objects.get_or_create(every=EVERY, period=IntervalSchedule.SECONDS)
    for name in PROBES:
        PeriodicTask.objects.create(name=name, task="wfo.worker_heartbeat", interval=every_ten)
    # A broker of the test's own: beat only sends, and nothing else should take these messages.
    env = django_env(test_database_url(), "filesystem://", tmp_path / "mail", WFO_BROKER_DIR=str(tmp_path / "broker"))
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path)
    try:
        wait_until(lambda: all(len(sends_in(beat.log)[name]) >= SENDS_SEEN for name in PROBES),
                   seconds=(SENDS_SEEN + 2) * EVERY, what=f"beat sends each probe {SENDS_SEEN} times",
                   log=beat.log, alive=[beat.process])
    finally:
        beat.stop()

    sent = sends_in(beat.log)
    for offset, name in zip((0, EVERY / 2), PROBES, strict=True):
        regular = sent[name][1:]  # the first may be the start's catch-up of a job due before it
        gaps = [later - earlier for earlier, later in pairwise(regular)]
        assert all(EVERY - LATE < gap < EVERY + LATE for gap in gaps), (name, gaps)
        assert all((moment - offset) % EVERY < LATE for moment in regular), (name, [m % EVERY for m in regular])
