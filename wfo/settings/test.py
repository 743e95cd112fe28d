"""The test suite, always on PostgreSQL: DATABASE_URL if set, else the server at
127.0.0.1:5432 if it answers, else an embedded one (var/pgtest). Celery end-to-end
tests use CELERY_BROKER_URL, else Redis at 127.0.0.1:6379 if it answers, else the
filesystem broker; they start a real worker process either way."""

import os

from wfo.embedded import VAR_DIR, embedded_database_url, server_answers

if not os.environ.get("DATABASE_URL"):
    if server_answers("127.0.0.1", 5432):
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/wfo"
    else:
        os.environ["DATABASE_URL"] = embedded_database_url(VAR_DIR / "pgtest")

if not os.environ.get("CELERY_BROKER_URL") and server_answers("127.0.0.1", 6379):
    os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/15"
os.environ.setdefault("WFO_BROKER_DIR", str(VAR_DIR / "broker-test"))

from wfo.settings.base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory for the suite; a Celery worker started by an end-to-end test writes files
# (filebased, EMAIL_FILE_PATH) so the test can read what it sent.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")  # noqa: F405
EMAIL_FILE_PATH = env("DJANGO_EMAIL_FILE_PATH", default=None)  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Workers started by tests consume this run's own queue (they inherit the variables), so two
# runs sharing one Redis never take, or purge, each other's tasks — nor two processes of one
# run (`make test` runs the suite on two, PYTEST_XDIST_WORKER naming each; the processes
# inherit the run's id from the one that started them).
_RUN = os.environ.setdefault("WFO_TEST_RUN", str(os.getpid()))
CELERY_TASK_DEFAULT_QUEUE = f"tests-{_RUN}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
