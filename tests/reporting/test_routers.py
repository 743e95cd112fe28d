"""Report reads go to a read replica when one is configured; writes never do."""

import pytest
from django.conf import settings
from django.test import override_settings

from allocation.models import WorkItem
from reporting.models import QueueDay, RollupState
from reporting.routers import ReportsReplicaRouter


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_rollup_reads_go_to_the_replica_when_there_is_one():
    router = ReportsReplicaRouter()
    assert router.db_for_read(QueueDay) is None  # no replica configured: the primary
    with override_settings(DATABASES={**settings.DATABASES, "reports": settings.DATABASES["default"]}):
        assert router.db_for_read(QueueDay) == "reports"
        assert router.db_for_read(RollupState) == "reports"
        assert router.db_for_read(WorkItem) is None  # open work stays on the primary
        assert router.db_for_write(QueueDay) is None
        assert router.allow_migrate("reports", "reporting") is False
        assert router.allow_migrate("default", "reporting") is None
