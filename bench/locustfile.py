"""Locust users for the load test (bench/load.py runs this file; see bench/README.md).

Each user is one agent with its own DRF token (`Authorization: Token …`) and loops, with no
think time: POST /api/v1/agent/next/ → POST /api/v1/items/{id}/start/ →
POST /api/v1/items/{id}/complete/. A 204 from next/ ("nothing waiting") is a success,
counted apart, followed by a short wait; any other answer outside 2xx, or a request that
failed (status 0), is an error, recorded with its status and the start of its body. Every
item id a user got from next/ is kept, so that load.py can find an item handed out twice.

Configuration comes from the environment, set by load.py:
    LOAD_TOKENS   a JSON file holding the list of tokens; user n takes token n
    LOAD_OUT      where to write this run's records (JSON) when locust quits

`AgentUser` (geventhttpclient) is the default; `AgentRequestsUser` runs the same loop on
locust's requests-based HttpUser (`--load-user-class AgentRequestsUser`), which costs
several times more CPU per request and so takes CPU from the server on a small machine.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter, defaultdict

import gevent
from locust import FastHttpUser, HttpUser, constant, events

NEXT, START, COMPLETE = "/api/v1/agent/next/", "/api/v1/items/[id]/start/", "/api/v1/items/[id]/complete/"
EMPTY_WAIT_S = 1.0          # after a 204: nothing is waiting, so do not spin on next/
BODY_SNIPPET = 200
ERROR_SAMPLES = 20

_tokens: list[str] = []
_user_numbers = itertools.count()    # one gevent process: a plain counter is safe
# Records across all users, written out when locust quits.
_received: dict[int, list[int]] = defaultdict(list)     # user number -> item ids from next/
_statuses: dict[str, Counter] = defaultdict(Counter)    # endpoint -> status -> count
_errors: Counter = Counter()                            # "endpoint status" -> count
_error_samples: list[str] = []
_counts: Counter = Counter()                            # empty_204, cycles


@events.init.add_listener
def _load_tokens(environment, **_kw) -> None:
    path = os.environ.get("LOAD_TOKENS")
    if path:
        with open(path) as f:
            _tokens.extend(json.load(f))


class AgentLoop:
    """The agent's loop, shared by both client flavours (their `client.post` agree)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        if self.number >= len(_tokens):
            raise RuntimeError(f"user {self.number}: only {len(_tokens)} agent tokens in LOAD_TOKENS")
        self.headers = {"Authorization": f"Token {_tokens[self.number]}", "Accept": "application/json"}

    def _post(self, path: str, name: str, body: dict | None = None):
        """POST and classify the answer; returns (status, parsed JSON or None)."""
        with self.client.post(path, name=name, json=body, headers=self.headers, catch_response=True) as resp:
            status = resp.status_code or 0      # 0: no answer (connection refused, reset, timeout)
            _statuses[name][str(status)] += 1
            if 200 <= status < 300:
                resp.success()
                try:
                    return status, resp.json() if status == 200 else None
                except ValueError:
                    self._error(resp, name, status, "body is not JSON")
                    return 0, None
            self._error(resp, name, status, "")
            return status, None

    def _error(self, resp, name: str, status: int, why: str) -> None:
        text = why or (resp.text or "")[:BODY_SNIPPET] or repr(getattr(resp, "error", None))
        _errors[f"{name} {status}"] += 1
        if len(_error_samples) < ERROR_SAMPLES:
            _error_samples.append(f"user {self.number} {name} {status}: {text}")
        # Locust groups failures by message: keep it short so they group by endpoint and status.
        resp.failure(f"HTTP {status}")

    def cycle(self) -> None:
        status, item = self._post(NEXT, NEXT)
        if status == 204:
            _counts["empty_204"] += 1
            gevent.sleep(EMPTY_WAIT_S)
            return
        if status != 200:
            return
        item_id = item["id"]
        _received[self.number].append(item_id)
        status, _ = self._post(f"/api/v1/items/{item_id}/start/", START)
        if status != 200:
            return
        status, _ = self._post(f"/api/v1/items/{item_id}/complete/", COMPLETE, {"outcome": "done"})
        if status == 200:
            _counts["cycles"] += 1

    # Locust collects the tasks of a User's bases from their `tasks` (the mixin is no User).
    tasks = [cycle]


class AgentUser(AgentLoop, FastHttpUser):
    # No retries: a POST retried after a lost answer could take a second item (or start
    # twice) where the first one already happened; every failure must show as an error.
    max_retries = 0
    network_timeout = 60.0
    connection_timeout = 60.0


class AgentRequestsUser(AgentLoop, HttpUser):
    pass


def _endpoint(entry) -> dict:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "per_s": round(entry.total_rps, 1),
        "avg_ms": round(entry.avg_response_time, 1),
        **{f"p{p}_ms": entry.get_response_time_percentile(p / 100) for p in (50, 95, 99)},
        "max_ms": round(entry.max_response_time or 0, 1),
    }


@events.quitting.add_listener
def _write_records(environment, **_kw) -> None:
    path = os.environ.get("LOAD_OUT")
    if not path:
        return
    stats, runner = environment.stats, environment.runner
    out = {
        "user_classes": [cls.__name__ for cls in environment.user_classes],
        "users_started": next(_user_numbers),
        "first_request": stats.total.start_time,
        "last_request": stats.total.last_request_timestamp,
        "endpoints": {name: _endpoint(entry) for (name, _method), entry in sorted(stats.entries.items())},
        "total": _endpoint(stats.total),
        "statuses": {name: dict(c) for name, c in _statuses.items()},
        "errors": dict(_errors),
        "error_samples": _error_samples,
        "empty_204": _counts["empty_204"],
        "cycles": _counts["cycles"],
        # Locust samples its own CPU every few seconds and warns above 90 %.
        "locust_cpu_warning": bool(runner and runner.cpu_warning_emitted),
        "received": {str(n): ids for n, ids in _received.items()},
    }
    with open(path, "w") as f:
        json.dump(out, f)
