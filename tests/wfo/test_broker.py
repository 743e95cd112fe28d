"""The filesystem broker of `make run`: a worker polling the folder while a message is
written finds nothing or the whole message, never an empty file (which killed the worker,
and with it the portal)."""

from queue import Empty

import pytest
from kombu import Connection

from wfo import broker, embedded


@pytest.fixture
def channel(tmp_path):
    options = embedded.filesystem_broker_options(tmp_path / "broker")
    with Connection("filesystem://", transport="wfo.broker:Transport", transport_options=options) as connection:
        yield connection.default_channel


def test_the_settings_use_this_transport_for_the_filesystem_broker(tmp_path):
    """In a process of its own: this one's broker may be Redis."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CELERY_BROKER_URL": "filesystem://", "WFO_BROKER_DIR": str(tmp_path / "broker"),
           "DJANGO_SETTINGS_MODULE": "wfo.settings.test"}
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from wfo.celery import app; "
                               "print(type(app.connection_for_write().transport).__module__)"],
        env=env, capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip().splitlines()[-1] == "wfo.broker"


def test_a_message_being_written_is_not_read(channel, monkeypatch):
    seen_while_writing = []
    real_replace = broker.os.replace

    def replace_after_a_poll(partial, final):
        with pytest.raises(Empty):  # the bytes are written, the message is not there yet
            channel._get("celery")
        with open(partial, "rb") as written:
            seen_while_writing.append(written.read())
        real_replace(partial, final)

    monkeypatch.setattr(broker.os, "replace", replace_after_a_poll)
    channel._put("celery", {"task": "wfo.worker_heartbeat", "n": 1})
    assert seen_while_writing and seen_while_writing[0].startswith(b"{")
    assert channel._get("celery") == {"task": "wfo.worker_heartbeat", "n": 1}
    with pytest.raises(Empty):
        channel._get("celery")
