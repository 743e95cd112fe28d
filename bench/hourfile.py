"""Locust users for the agent-hour measurement (bench/agent_hour.py runs this file; see
bench/README.md, "Agents per server core").

Each user is one agent working the fixed cadence of an agent-hour (HOUR below), compressed
by HOUR_COMPRESSION (60: an agent-hour in a minute), paced by the clock — each step at its
moment, whatever the answers took — so that the load is set by the number of agents, not
by the server's speed:

- every 30 s of the hour, the inbox refreshes itself (`GET /work/inbox/list/`, as htmx
  does); an API agent polls `GET /api/v1/agent/presence/` instead;
- 13 item cycles: get next, start (none where the queue starts pulled work at once: the
  item comes in progress), then, 4 ticks later, complete — except the 3rd, pended
  (its follow-up returns 18 ticks later, and the next get-next hands it back first and
  completes it), and the 8th, released. Through the pages each step
  is what the browser does: the form's POST, then the page it is sent to (the item page
  after get next and start, the inbox after the end);
- 6 other page views: the customer view of its last item, notifications, its scorecard,
  the quality inbox (an API agent makes none).

A page agent holds a session made for it (no login: once a day, not hourly) and posts its
forms with the CSRF token of its first page. Requests go out as through the TLS proxy
production sits behind (`X-Forwarded-Proto: https`). Nothing is retried: a lost answer
shows as an error. Configuration from the environment, set by agent_hour.py:
    HOUR_AGENTS        a JSON file: per agent its id, token and session key
    HOUR_FIRST_AGENT   the first of them this process plays (default 0)
    HOUR_KIND          "pages" or "api"
    HOUR_COMPRESSION   the hour's speed-up (default 60)
    HOUR_OUT           where to write the records when locust quits
    HOUR_POLL_FLOOR    "1": an API agent's poll goes to a path the portal does not have
                       (the cadence's floor; agent_hour.py's kind "api+poll-floor")
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import time
from collections import Counter, defaultdict
from datetime import datetime

import gevent
from hour_requests import BARE_REQUEST, BARE_REQUEST_PATH
from locust import FastHttpUser, constant, events, task
from requests.cookies import create_cookie

POLL_FLOOR = os.environ.get("HOUR_POLL_FLOOR") == "1"
TICKS = 120  # the inbox's refreshes an hour: one every 30 s
CYCLE_TICKS = [round(i * TICKS / 13) for i in range(13)]
PEND_CYCLE, RELEASE_CYCLE = 2, 7
FINISH_AFTER_TICKS = 4
# The pended item's follow-up: 9 minutes of the hour later, so that a completing cycle (the
# 6th, or at compression 120 with the second rounded up the 7th) finds it due, takes it
# back first and completes it (tests/bench/test_hour_records.py).
FOLLOW_UP_TICKS = 18
VIEW_TICKS = {10: "customer", 30: "notifications", 50: "scorecard", 70: "quality", 90: "customer",
              110: "notifications"}
ITEM_PAGE = re.compile(r"^/work/items/(\d+)/$")
LIST_VERSION = re.compile(r'"If-None-Match": "\\u0022([0-9a-f]+)\\u0022"')
CUSTOMER_LINK = re.compile(r'href="/work/customers/([^/"]+)/"')
FORM_ON_OPEN = re.compile(r'hx-get="(/work/items/\d+/[a-z]+/form/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

_agents: list[dict] = []
_numbers = itertools.count()
_statuses: dict[str, Counter] = defaultdict(Counter)
_errors: Counter = Counter()
_error_samples: list[str] = []
_counts: Counter = Counter()
_received: dict[int, list[int]] = defaultdict(list)
# The requests that took longest as the agent saw them, stamped with the wall clock:
# agent_hour.py sets them beside the server's own time and what else ran at that moment.
SLOW_MS, SLOW_KEPT = 200, 5_000
_slow: list[list] = []          # [wall-clock start, request type, ms]


@events.init.add_listener
def _load(environment, **_kw) -> None:
    path = os.environ.get("HOUR_AGENTS")
    if path:
        with open(path) as f:
            _agents.extend(json.load(f))


def hour_plan() -> list[tuple[int, str, int]]:
    """The hour as (tick, step, cycle number) in order."""
    plan = [(tick, "refresh", -1) for tick in range(TICKS)]
    for cycle, tick in enumerate(CYCLE_TICKS):
        plan.append((tick, "take", cycle))
        plan.append((tick + FINISH_AFTER_TICKS, "finish", cycle))
    plan.extend((tick, f"view:{name}", -1) for tick, name in VIEW_TICKS.items())
    return sorted(plan, key=lambda step: (step[0], step[1] != "refresh"))


HOUR = hour_plan()


def follow_up_at(now: float, tick_s: float) -> int:
    """When a pended item's follow-up is set for (epoch seconds): FOLLOW_UP_TICKS of the
    agent's compressed clock later, rounded up to the whole second the form takes."""
    return math.ceil(now + FOLLOW_UP_TICKS * tick_s)


class HourAgent(FastHttpUser):
    wait_time = constant(0)
    max_retries = 0
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.forms_on_open: set[str] = set()
        self.page_text = ""  # the last page a form's POST sent the agent to
        # Each run takes agents no earlier run used (a run stopped at its end leaves items in
        # their hands), and each of its processes its own seats (agent_hour.locust_run).
        self.seat = self.number + int(os.environ.get("HOUR_FIRST_AGENT", "0"))
        if self.seat >= len(_agents):
            raise RuntimeError(f"user {self.number}: only {len(_agents)} agents in HOUR_AGENTS")
        self.agent = _agents[self.seat]
        self.kind = os.environ.get("HOUR_KIND", "pages")
        self.tick_s = 30.0 / float(os.environ.get("HOUR_COMPRESSION", "60"))
        self.headers = {"X-Forwarded-Proto": "https"}
        if self.kind == "api":
            self.headers.update(Authorization=f"Token {self.agent['token']}", Accept="application/json")
        else:
            # The session in the client's cookie jar, beside those the portal sets (CSRF, messages).
            self.client.cookiejar.set_cookie(create_cookie("sessionid", self.agent["session"],
                                                           domain=self.host.split("://", 1)[1].split(":")[0]))
        self.item: int | None = None
        self.inbox_version: str | None = None  # what the inbox's list on the page carries
        self.customer: str | None = None  # the customer of the last item in hand
        if self.kind == "pages":
            self._first_page()

    def _first_page(self) -> None:
        """The inbox as the day's first page: the CSRF token its forms carry (not counted)."""
        with self.client.get("/work/", name="(first page)", headers={**self.headers, "Cookie": self._cookies()},
                             allow_redirects=False, catch_response=True) as r:
            found = CSRF_INPUT.search(r.text or "")
            if r.status_code != 200 or not found:
                r.failure(f"first page: HTTP {r.status_code}, no CSRF token")
                raise RuntimeError(f"agent {self.agent['id']}: no first page (HTTP {r.status_code})")
            r.success()
        self.csrf = found.group(1)
        self._inbox_version_read(r)
        origin = "https://" + self.host.split("://", 1)[1]
        self.headers.update(Referer=f"{origin}/work/", Origin=origin)

    # One request, classified: (status, response) — statuses outside `ok` are errors.
    def _call(self, method: str, path: str, name: str, ok: tuple[int, ...], **kw):
        headers = {**self.headers, **kw.pop("headers", {})}
        if self.kind == "pages":
            headers["Cookie"] = self._cookies()
        sent_at, clock = time.time(), time.monotonic()
        with self.client.request(method, path, name=name, headers=headers, allow_redirects=False,
                                 catch_response=True, **kw) as r:
            took_ms = (time.monotonic() - clock) * 1000
            if took_ms >= SLOW_MS and len(_slow) < SLOW_KEPT:
                _slow.append([round(sent_at, 3), name, round(took_ms, 1)])
            elif took_ms >= SLOW_MS:
                _counts["slow requests not kept"] += 1  # the report says its list is cut short
            status = r.status_code or 0
            _statuses[name][str(status)] += 1
            if status in ok:
                r.success()
            else:
                _errors[f"{name} {status}"] += 1
                if len(_error_samples) < 20:
                    _error_samples.append(f"agent {self.agent['id']} {name} {status}: {(r.text or '')[:200]}")
                r.failure(f"HTTP {status}")
            return status, r

    def _cookies(self) -> str:
        """The jar's cookies, sent as a browser sends them over HTTPS: the jar itself sends
        no Secure cookie on the plain-HTTP loopback the proxy would forward."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.client.cookiejar)

    def _form(self, path: str, name: str, data: dict | None = None):
        body = {"csrfmiddlewaretoken": self.csrf, **(data or {})}
        return self._call("POST", path, name, (302,), data=body)

    def _follow(self, response) -> str:
        """The page a form's POST sends the browser to, as the browser opens it."""
        location = response.headers.get("Location") or response.headers.get("location") or ""
        path = re.sub(r"^https?://[^/]+", "", location)
        if path:
            _, page = self._call("GET", path, "item page" if ITEM_PAGE.match(path) else "inbox page", (200,))
            self.page_text = page.text or ""
            if not ITEM_PAGE.match(path):
                self._inbox_version_read(page)
            else:  # the sections whose form the page fetches when they are opened
                self.forms_on_open = set(FORM_ON_OPEN.findall(page.text or ""))
            customer = CUSTOMER_LINK.search(page.text or "")
            if customer:  # the customer of the item in hand: the one whose view the agent may open
                self.customer = customer.group(1)
        return path

    # The steps ----------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.kind == "api" and POLL_FLOOR:  # what the poll would cost if its own work were free
            self._call("GET", BARE_REQUEST_PATH, BARE_REQUEST, (404,))
            return
        if self.kind == "api":
            self._call("GET", "/api/v1/agent/presence/", "presence poll (api)", (200,))
            return
        # As htmx sends it: with the version the list on the page carries, if it carries one.
        headers = {"HX-Request": "true"} | ({"If-None-Match": self.inbox_version} if self.inbox_version else {})
        _, r = self._call("GET", "/work/inbox/list/", "inbox refresh", (200, 304), headers=headers)
        self._inbox_version_read(r)

    def _inbox_version_read(self, response) -> None:
        """The version the inbox's list now carries: its ETag (the list's hx-headers say the same)."""
        etag = response.headers.get("ETag") or response.headers.get("etag")
        if etag:
            self.inbox_version = etag
        else:
            found = LIST_VERSION.search(response.text or "")
            self.inbox_version = f'"{found.group(1)}"' if found else None

    def take(self) -> None:
        self.item = None
        if self.kind == "api":
            status, r = self._call("POST", "/api/v1/agent/next/", "get next (api)", (200, 204), json={})
            if status != 200:
                _counts["nothing waiting"] += status == 204
                return
            body = r.json()
            self.item, self.customer = body["id"], body.get("customer_ref") or self.customer
            if body.get("status") == "in_progress":  # the queue starts pulled work at once
                _counts["started on pull"] += 1
            else:
                self._call("POST", f"/api/v1/items/{self.item}/start/", "start (api)", (200,), json={})
        else:
            status, r = self._form("/work/next/", "get next (page)")
            if status != 302:
                return
            found = ITEM_PAGE.match(self._follow(r))
            if not found:  # nothing waiting: back to the inbox
                _counts["nothing waiting"] += 1
                return
            self.item = int(found.group(1))
            if f'action="/work/items/{self.item}/start/"' not in self.page_text:
                _counts["started on pull"] += 1  # the page offers no start: the queue started it
            else:
                status, r = self._form(f"/work/items/{self.item}/start/", "start (page)")
                if status == 302:
                    self._follow(r)
        _received[self.seat].append(self.item)

    def finish(self, cycle: int) -> None:
        if self.item is None:
            return
        item, self.item = self.item, None
        if cycle == PEND_CYCLE:
            # On the agent's compressed clock, as everything it does: FOLLOW_UP_TICKS later, in
            # whole seconds (the form takes them). A whole *real* minute would be a compressed
            # hour: every agent's follow-up of the hour would come due in one second, and the
            # get-nexts of the next few seconds would all take one — a burst `compression`
            # times denser than the agents make at real speed, whose next get-nexts are
            # minutes apart.
            until = datetime.fromtimestamp(follow_up_at(time.time(), self.tick_s)).astimezone()
            action, data = "pend", {"until": until.strftime("%Y-%m-%dT%H:%M:%S"), "reason": "Other",
                                     "details": "Waiting for the customer"}
        elif cycle == RELEASE_CYCLE:
            action, data = "release", {"reason": "Other", "details": "Needs another team"}
        else:
            action, data = "complete", {"outcome": "", "note": ""}
        _counts[action] += 1
        if self.kind == "api":
            body = {"until": data["until"], "reason": data["details"]} if action == "pend" else (
                {"reason": data["details"]} if action == "release" else {"outcome": "done"})
            if action == "pend":
                body["until"] = until.isoformat()
            self._call("POST", f"/api/v1/items/{item}/{action}/", f"{action} (api)", (200,), json=body)
        else:
            # The agent opens the action's section: where the page fetches its form then, so does this.
            form = f"/work/items/{item}/{action}/form/"
            if form in self.forms_on_open:
                self._call("GET", form, "action form", (200,), headers={"HX-Request": "true"})
            fields = {f"{action}-{key}": value for key, value in data.items()}
            status, r = self._form(f"/work/items/{item}/{action}/", f"{action} (page)", fields)
            if status == 302:
                self._follow(r)

    def view(self, name: str) -> None:
        if name == "customer" and self.customer is None:
            _counts["customer views before any item"] += 1
            return
        path, label = {
            "customer": (f"/work/customers/{self.customer}/", "customer page"),
            "notifications": ("/notifications/", "notifications page"),
            "scorecard": (f"/reports/scorecards/{self.agent['id']}/", "scorecard page"),
            "quality": ("/quality/", "quality inbox page"),
        }[name]
        self._call("GET", path, label, (200,))

    @task
    def hour(self) -> None:
        """One agent-hour, each step at its moment. An agent's first hour begins at a random
        point of it (the steps before are skipped), so the agents' hours are spread evenly
        and any window of the run holds the cadence's mix."""
        hour_s = TICKS * self.tick_s
        first = not hasattr(self, "hour_start")
        self.hour_start = time.monotonic() - random.uniform(0, hour_s) if first else self.hour_start + hour_s
        for tick, step, cycle in HOUR:
            delay = self.hour_start + tick * self.tick_s - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            elif first:
                continue
            elif delay < -self.tick_s:
                _counts["steps late by over a tick"] += 1
            if step == "refresh":
                self.refresh()
            elif step == "take":
                self.take()
            elif step == "finish":
                self.finish(cycle)
            elif self.kind == "pages":
                self.view(step.split(":", 1)[1])
        gevent.sleep(max(0.0, self.hour_start + hour_s - time.monotonic()))
        _counts["agent hours"] += 1


@events.quitting.add_listener
def _write(environment, **_kw) -> None:
    path = os.environ.get("HOUR_OUT")
    if not path:
        return
    stats = environment.stats
    endpoints = {}
    for (name, _method), e in sorted(stats.entries.items()):
        # The whole histogram (locust's rounding: ms, then 2–3 significant digits), not its
        # percentiles: agent_hour.merge_records adds the run's processes' up and reads the
        # percentiles from the sum.
        endpoints[name] = {"requests": e.num_requests, "failures": e.num_failures,
                           "response_times": {str(ms): n for ms, n in e.response_times.items()},
                           "max_ms": round(e.max_response_time or 0, 1)}
    with open(path, "w") as f:
        json.dump({"endpoints": endpoints, "statuses": {k: dict(v) for k, v in _statuses.items()},
                   "errors": dict(_errors), "error_samples": _error_samples, "counts": dict(_counts),
                   "received": {str(k): v for k, v in _received.items()}, "slow": _slow,
                   "first_request": stats.total.start_time, "last_request": stats.total.last_request_timestamp}, f)
