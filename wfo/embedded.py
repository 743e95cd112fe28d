"""Embedded fallbacks so the portal runs with no external server.

PostgreSQL: the `pgserver` package ships PostgreSQL 16 binaries and runs a private
server on a Unix socket in a data folder. Broker: kombu's `filesystem://` transport
exchanges messages through folders. Both live under the git-ignored `var/`.
"""

from __future__ import annotations

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
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE_NAME}';"
    )
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE_NAME};")
    socket_dir = server.get_postmaster_info().socket_dir
    # libpq and django-environ both read the socket folder from the `host` parameter.
    return f"postgres://postgres@/{EMBEDDED_DATABASE_NAME}?host={quote(str(socket_dir))}"


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
