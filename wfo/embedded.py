"""Embedded fallbacks so the portal runs with no external server.

PostgreSQL: the `pgserver` package ships PostgreSQL 16 binaries and runs a private
server on a Unix socket in a data folder. Broker: kombu's `filesystem://` transport
exchanges messages through folders. Both live under the git-ignored `var/`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import quote

VAR_DIR = Path(__file__).resolve().parent.parent / "var"
EMBEDDED_DATABASE_NAME = "wfo"


def embedded_database_url(data_dir: Path | None = None) -> str:
    """Start (or join) the embedded PostgreSQL server and return a DATABASE_URL for it.

    The server is shared by every process pointing at the same folder; pgserver stops
    it when the last process holding a handle exits.
    """
    import logging
    import warnings

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pgserver

    data_dir = data_dir or VAR_DIR / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_holders(data_dir)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE_NAME}';"
    )
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE_NAME};")
    socket_dir = server.get_postmaster_info().socket_dir
    # libpq and django-environ both read the socket folder from the `host` parameter.
    return f"postgres://postgres@/{EMBEDDED_DATABASE_NAME}?host={quote(str(socket_dir))}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_holders(data_dir: Path) -> None:
    """pgserver counts the processes holding the server in a file and stops the server
    when the last one exits; a holder that was killed never leaves the list, and the
    server would then never stop. Drop such holders before joining."""
    holders_file = data_dir / ".handle_pids.json"
    try:
        holders = json.loads(holders_file.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in holders if isinstance(pid, int) and _pid_alive(pid)]
    if alive != holders:
        holders_file.write_text(json.dumps(alive))


def filesystem_broker_url() -> str:
    return "filesystem://"


def filesystem_broker_options(base_dir: Path | None = None) -> dict:
    folder = (base_dir or VAR_DIR / "broker").resolve()
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(folder / "control"),
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


def server_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
