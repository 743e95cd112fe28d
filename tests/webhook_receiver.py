"""A webhook receiver for tests, run as its own process on loopback:

    python -m tests.webhook_receiver PORT LOG

Every request is appended to LOG as one JSON line (received time, path, headers, body).
The path says how to answer, so one receiver serves every behaviour a test needs:
  /ok            200
  /fail          500, always
  /flaky/N       500 to the first N requests of each event id (WFO-Event-Id), then 200
  /slow/S        200 after S seconds
  /slowfirst/S   the first request of each event id answered after S seconds, the rest at once
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_tries: Counter = Counter()


class Receiver(BaseHTTPRequestHandler):
    log_path = ""
    protocol_version = "HTTP/1.1"  # keeps the sender's connection open, as real receivers do
    disable_nagle_algorithm = True  # headers and body are written apart: without it each answer waits 40 ms

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        event_id = self.headers.get("WFO-Event-Id", "")
        parts = self.path.strip("/").split("/")
        with _lock:
            _tries[event_id] += 1
            tries = _tries[event_id]
            with open(self.log_path, "a") as log:
                log.write(json.dumps({"at": time.time(), "path": self.path, "headers": dict(self.headers),
                                      "body": body.decode(), "try": tries}) + "\n")
        status = 200
        if parts[0] == "fail" or (parts[0] == "flaky" and tries <= int(parts[1])):
            status = 500
        elif parts[0] == "slow" or (parts[0] == "slowfirst" and tries == 1):
            time.sleep(float(parts[1]))
        answer = json.dumps({"received": event_id}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    port, Receiver.log_path = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print("receiving", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
