"""kombu's filesystem transport (the broker of `make run` without Redis), with messages
that appear whole.

kombu's own `_put` creates the message file under its final name and then writes it; a
worker polling the folder can take the file in between, read nothing, and die on the empty
JSON (kombu issue 1551) — which stops `make run`. Here a message is written under a name no
queue reads and renamed into place, which the operating system does at once.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# A queue reads "<time>_<uuid>.<queue>.msg"; this suffix is no queue's.
PARTIAL_SUFFIX = "writing"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f"{uuid.uuid4()}.{PARTIAL_SUFFIX}")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
