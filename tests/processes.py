"""Real processes for tests that need them: Celery workers and beat, gunicorn, and private
Redis and PostgreSQL servers a test may stop and restart without disturbing anything else.

Each is started with the test database's URL (or a private server's) in its environment
and logs to a file the test can show when something does not happen in time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60


def test_database_url() -> str:
    """The URL of the database this test runs on, for processes it starts."""
    db = connection.settings_dict
    host = db["HOST"] or db["OPTIONS"].get("host", "")
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@{host}{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test, despite its name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], *, seconds: float, what: str, log: Path | None = None,
               alive: list[subprocess.Popen] = (), every: float = 0.1):
    """Poll `condition` until it returns something truthy (returned); fail the test with
    `what` and the log's tail if `seconds` pass or a process in `alive` exits first."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        for process in alive:
            if process.poll() is not None:
                pytest.fail(f"{what}: a process exited ({process.args[:3]}, code {process.returncode})\n"
                            f"{_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s\n{_tail(log)}")
        time.sleep(every)


def _tail(log: Path | None, chars: int = 4000) -> str:
    return log.read_text()[-chars:] if log and log.exists() else ""


class Service:
    """A background process writing to a log file; stopped politely, or killed."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready: str | None = None):
        self.log = log
        with log.open("a") as output:
            self.process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT,
                                            cwd=settings.BASE_DIR, start_new_session=True)
        if ready:
            wait_until(lambda: ready in log.read_text(), seconds=STARTUP_SECONDS, what=f"{args[0]} start",
                       log=log, alive=[self.process], every=0.2)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up, as when a machine dies."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def broker_of_this_process(url: str) -> Iterator[None]:
    """Point this test process's Celery app (its sends, /health/'s broker check) at `url`.
    The read and write URLs copied the broker URL when the app was set up: all three."""
    from wfo.celery import app

    names = ("broker_url", "broker_read_url", "broker_write_url")
    suite_brokers = {name: app.conf[name] for name in names}
    app.conf.update({name: url for name in names})
    _forget_connections(app)
    try:
        yield
    finally:
        app.conf.update(suite_brokers)
        _forget_connections(app)


def _forget_connections(app) -> None:
    """Drop the app's pooled broker connections and producers, which keep the URL they were
    made with (what Celery itself does after a fork, app._after_fork, without its signal)."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None


def django_env(database_url: str, broker_url: str, mail_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a process running the portal's code on the test settings."""
    return {
        **os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "wfo.settings.test",
        "CELERY_BROKER_URL": broker_url,
        # The process's mail lands in files the test reads.
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "DJANGO_EMAIL_FILE_PATH": str(mail_dir), **extra,
    }


def production_env(database_url: str, folder: Path, **extra: str) -> dict[str, str]:
    """The environment of the portal run as in production (wfo.settings.production) on
    loopback: plain HTTP, host 127.0.0.1, a throwaway secret, the filesystem broker."""
    return {
        **os.environ, "DJANGO_SETTINGS_MODULE": "wfo.settings.production", "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://", "WFO_BROKER_DIR": str(folder / "broker"),
        "DJANGO_SECRET_KEY": "tests-" + "x" * 50, "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false", "WFO_LOG_FORMAT": "plain", **extra,
    }


def gunicorn(env: dict[str, str], log: Path, *, workers: int) -> tuple[Service, int]:
    """gunicorn serving the portal on a free loopback port; returns it and the port."""
    port = free_port()
    service = Service([str(BIN / "gunicorn"), "wfo.wsgi:application", "--workers", str(workers),
                       "--bind", f"127.0.0.1:{port}", "--timeout", "30", "--graceful-timeout", "5"],
                      env, log, ready="Booting worker")
    return service, port


def celery_worker(env: dict[str, str], log: Path, name: str) -> Service:
    return Service(
        # --purge: messages a previous test left in a shared broker are not this test's.
        [str(BIN / "celery"), "-A", "wfo", "worker", "--pool", "solo", "--loglevel", "info", "--purge",
         "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env, log, ready=" ready.",
    )


def celery_beat(env: dict[str, str], log: Path, schedule_dir: Path) -> Service:
    return Service(
        [str(BIN / "celery"), "-A", "wfo", "beat", "--loglevel", "info", "--max-interval", "1",
         "--pidfile", str(schedule_dir / "beat.pid")],
        env, log, ready="beat: Starting",
    )


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence, like the
    default deployment's: stopping it loses every message it held."""

    def __init__(self, folder: Path):
        self.executable = shutil.which("redis-server")
        if not self.executable:  # said in the run's header too (tests/conftest.py)
            pytest.skip("no redis-server installed (apt-get install redis-server; .ci/run does)")
        self.port = free_port()
        self.folder = folder
        self.service: Service | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.service = Service(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            dict(os.environ), self.folder / "redis.log", ready="Ready to accept connections",
        )

    def stop(self) -> None:
        if self.service:
            self.service.kill()
            self.service = None


class PostgresServer:
    """A PostgreSQL server of the test's own (pgserver's binaries, the ones the embedded
    fallback uses), listening on a Unix socket in its data folder."""

    def __init__(self, folder: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            import pgserver
            from pgserver import _commands
        self._pg_ctl = _commands.pg_ctl
        self.server = pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
        self.server.psql("CREATE DATABASE wfo;")
        socket_dir = self.server.get_postmaster_info().socket_dir
        self.url = f"postgres://postgres@/wfo?host={quote(str(socket_dir))}"

    def _ctl(self, *args: str) -> None:
        self._pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        """A fast shutdown: every session is cut, open transactions roll back."""
        self._ctl("-m", "fast", "stop")

    def start(self) -> None:
        # `restart` on a stopped server starts it with the options of its last start
        # (postmaster.opts): the same socket folder, so the same URL.
        self._ctl("restart")

    def cleanup(self) -> None:
        self.server.cleanup()
        # pgserver stops the server it started; one a test restarted (or left stopped and
        # started again) may outlive that: make sure none is left running.
        if (self.server.pgdata / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop")


ROOT = Path(__file__).resolve().parents[1]


def production_settings_env(tmp_path) -> dict:
    """The environment of a one-off process with the production settings (its static files
    in `tmp_path`), on this suite's database."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "wfo.settings.production",
            "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijkl",
            "DJANGO_ALLOWED_HOSTS": "localhost", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wfo")}


class WebhookReceiver:
    """tests/webhook_receiver.py on a loopback port of its own: a real HTTP server in its own
    process, which a test may stop (the receiver is down) and start again on the same port."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.log = folder / f"receiver-{self.port}.jsonl"
        self.log.touch()
        self.service: Service | None = None
        self.start()

    def url(self, behaviour: str = "ok") -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}"

    def start(self) -> None:
        self.service = Service([sys.executable, "-m", "tests.webhook_receiver", str(self.port), str(self.log)],
                               dict(os.environ), self.log.with_suffix(".out"), ready="receiving")

    def stop(self) -> None:
        self.service.stop()

    def requests(self) -> list[dict]:
        """What it received, in order: each request's path, headers, body, parsed body and try."""
        received = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        for request in received:
            request["json"] = json.loads(request["body"])
        return received
