"""The no-server fallbacks: CI runs on real servers, so these prove the embedded ones work."""

import socket

import environ
import psycopg

from wfo import embedded


def test_embedded_postgres_starts_and_serves_the_wfo_database(tmp_path):
    url = embedded.embedded_database_url(tmp_path / "pgdata")
    config = environ.Env.db_url_config(url)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == embedded.EMBEDDED_DATABASE_NAME
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        assert int(version.split(".")[0]) >= 16
    # A second process (here: a second call) joins the same server.
    assert embedded.embedded_database_url(tmp_path / "pgdata") == url


def test_filesystem_broker_uses_one_folder_for_in_and_out(tmp_path):
    options = embedded.filesystem_broker_options(tmp_path / "broker")
    assert options["data_folder_in"] == options["data_folder_out"]
    assert (tmp_path / "broker" / "queue").is_dir()


def test_server_answers():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert embedded.server_answers("127.0.0.1", port)
    assert not embedded.server_answers("127.0.0.1", port)


def test_killed_holders_are_forgotten(tmp_path):
    import json
    import subprocess

    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    holders = data_dir / ".handle_pids.json"
    holders.write_text(json.dumps([dead.pid, 1]))
    embedded._forget_dead_holders(data_dir)
    assert json.loads(holders.read_text()) == [1]
