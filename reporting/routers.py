"""Where report reads go: the rollup tables are read from the "reports" database (a read
replica of the primary) when REPORTS_DATABASE_URL names one; every write, and every other
read, goes to the primary. The live wallboard reads open work, which is allocation's, so it
stays on the primary and is never stale."""

from django.conf import settings

REPLICA = "reports"


class ReportsReplicaRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == "reporting" and REPLICA in settings.DATABASES:
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return None  # the primary

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None  # a replica follows the primary's schema
