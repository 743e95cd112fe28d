"""`manage.py run_portal` (what `make run` calls): migrate, load the demo, print the
logins, then run the web server, a Celery worker and Celery beat until Ctrl-C.

The children reach the database through DATABASE_URL, set to the one this process uses.
Without DATABASE_URL the settings started an embedded PostgreSQL for this process;
the children join that server instead of each managing it, so it stops when this
process exits (pgserver stops it when the last process holding it goes).

Each child runs in its own process group, so a Ctrl-C reaches only this process, which
then stops the children in order (SIGTERM, then SIGKILL after a grace period). On Linux
a child also gets SIGTERM if this process dies without cleaning up. If any child exits
on its own, the others are stopped and the command fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from wfo.embedded import VAR_DIR, server_answers

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STOP_GRACE_SECONDS = 15
POLL_SECONDS = 0.3
LOG_TAIL_LINES = 25
PR_SET_PDEATHSIG = 1


def database_url_from_settings(database: Mapping) -> str:
    """A DATABASE_URL that django-environ reads back into the same connection settings.
    A Unix socket folder (HOST or OPTIONS["host"] starting with "/") goes in `?host=`."""
    options = dict(database.get("OPTIONS") or {})
    host = database.get("HOST") or ""
    if host.startswith("/"):
        options["host"] = host
        host = ""
    credentials = quote(database.get("USER") or "", safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    netloc = f"{credentials}@" if credentials else ""
    netloc += host + (f":{database['PORT']}" if database.get("PORT") and host else "")
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{netloc}/{quote(database['NAME'], safe='')}{query}"


def database_url_for_children() -> str:
    """DATABASE_URL as given, else the URL of the server this process connected to
    (the embedded one the settings started)."""
    return os.environ.get("DATABASE_URL") or database_url_from_settings(connection.settings_dict)


def child_environment(parent: Mapping[str, str], *, database_url: str, settings_module: str) -> dict[str, str]:
    """The environment of every child: the parent's, plus the database to join."""
    return {
        **parent,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Child:
    label: str
    argv: list[str]
    log: Path | None  # None: output goes to this terminal
    process: subprocess.Popen | None = None

    def describe(self) -> str:
        where = f"log: {self.log}" if self.log else "log: this terminal"
        return f"{self.label:<14} pid {self.process.pid:<8} {where}"


def child_commands(*, port: int, python: str = sys.executable, var_dir: Path = VAR_DIR) -> list[Child]:
    """Web server, Celery worker, Celery beat: the venv's own executables."""
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    celery_binary = Path(python).with_name("celery")
    celery = [str(celery_binary)] if celery_binary.exists() else [python, "-m", "celery"]
    run_dir, log_dir = var_dir / "run", var_dir / "log"
    return [
        Child("web server", [python, manage, "runserver", f"{HOST}:{port}", "--noreload"], None),
        Child("celery worker", [*celery, "-A", "wfo", "worker", "-l", "info", "--concurrency", "2"],
              log_dir / "celery-worker.log"),
        Child("celery beat", [*celery, "-A", "wfo", "beat", "-l", "info",
                              "--scheduler", settings.CELERY_BEAT_SCHEDULER,
                              "--pidfile", str(run_dir / "celerybeat.pid"),
                              "--schedule", str(run_dir / "celerybeat-schedule")],
              log_dir / "celery-beat.log"),
    ]


def _die_with_parent(parent_pid: int):
    """For preexec_fn: on Linux, ask for SIGTERM when the parent dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


def _port() -> int:
    raw = os.environ.get("WFO_PORT", str(DEFAULT_PORT))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise CommandError(f"WFO_PORT must be a TCP port number, not {raw!r}.")
    return int(raw)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Command(BaseCommand):
    help = "Migrate, load the demo data, print the logins, and run web + Celery worker + beat until Ctrl-C."

    requires_system_checks = []  # runserver runs them; the parent only orchestrates

    def handle(self, *args, **options):
        sys.stdout.reconfigure(line_buffering=True)  # keep our lines in order with the children's
        self.stop_signal: int | None = None
        self.supervising = False
        self.children: list[Child] = []
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

        port = _port()
        url = f"http://{HOST}:{port}/"
        if server_answers(HOST, port):
            raise CommandError(f"Something already listens on {HOST}:{port}. Stop it, or choose another "
                               f"port: WFO_PORT=8001 make run")
        self.stdout.write(f"Database: {self._database_label()}")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Migrations applied.")
        call_command("seed_demo", url=url)
        connections.close_all()  # the children hold the connections from here on

        env = child_environment(os.environ, database_url=database_url_for_children(),
                                settings_module=os.environ.get("DJANGO_SETTINGS_MODULE", "wfo.settings.local"))
        self.supervising = True
        try:
            self._start(child_commands(port=port), env)
            failure = self._supervise(port, url)
        finally:
            self._stop_all()
        if failure:
            raise CommandError(f"{failure}; the other processes were stopped.")
        self.stdout.write("All processes stopped.")

    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is not None:
            return  # already stopping; the grace period bounds how long it takes
        self.stop_signal = signum
        if not self.supervising:
            # Still preparing: unwind now (rolling back), and exit so that atexit stops the database.
            raise CommandError(f"Interrupted by {signal.Signals(signum).name} before the portal started.")

    def _database_label(self) -> str:
        if os.environ.get("DATABASE_URL"):
            db = connection.settings_dict
            return f"DATABASE_URL ({db['NAME']} at {db['HOST'] or db['OPTIONS'].get('host', 'local socket')})"
        return f"embedded PostgreSQL, data in {VAR_DIR / 'pgdata'}"

    def _start(self, children: list[Child], env: dict[str, str]) -> None:
        (VAR_DIR / "run").mkdir(parents=True, exist_ok=True)
        self.stdout.write("\nStarting:")
        for child in children:
            if child.log:
                child.log.parent.mkdir(parents=True, exist_ok=True)
            output = child.log.open("w") if child.log else None
            try:
                child.process = subprocess.Popen(
                    child.argv, env=env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL,
                    stdout=output, stderr=subprocess.STDOUT if output else None,
                    start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
                )
            finally:
                if output:
                    output.close()
            self.children.append(child)
            self.stdout.write(f"  {child.describe()}")
        self.stdout.flush()

    def _supervise(self, port: int, url: str) -> str | None:
        """Wait for a stop signal (None) or a child's death (what happened to it)."""
        announced = False
        while self.stop_signal is None:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                    failure = f"The {child.label} (pid {child.process.pid}) {how}"
                    self.stderr.write(f"\n{failure}; stopping the others.")
                    if child.log:
                        self.stderr.write(f"Last lines of {child.log}:\n{_tail(child.log)}")
                    return failure
            if not announced and server_answers(HOST, port):
                announced = True
                self.stdout.write(self.style.SUCCESS(f"\nWFO Portal is up at {url} — press Ctrl-C to stop."))
            time.sleep(POLL_SECONDS)
        self.stdout.write(f"\nReceived {signal.Signals(self.stop_signal).name}; stopping.")
        return None

    def _stop_all(self) -> None:
        running = [child for child in reversed(self.children) if child.process.poll() is None]
        for child in running:
            # The child alone: a Celery worker stops its own pool processes.
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {child.label} did not stop within {STOP_GRACE_SECONDS}s; killing it.")
                self._signal_group(child, signal.SIGKILL)
                child.process.wait()
        # Whatever a child left behind in its group (e.g. pool processes) goes too.
        for child in self.children:
            self._signal_group(child, signal.SIGKILL)

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signum)
