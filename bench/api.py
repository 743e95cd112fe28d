"""Latency of `POST /api/v1/agent/next/` served by gunicorn under concurrent clients.

Gunicorn serves wfo.wsgi on 127.0.0.1 (a free port) with the bench database, DEBUG off.
Clients run in separate processes (threads inside each), one agent per client with its
own DRF token and a keep-alive connection. Each client loops
next → start → complete (any outcome is accepted: the bench queues configure none).
Every client starts at once; requests that begin during the first `warmup` seconds are
not recorded, then `duration` seconds are. Any non-2xx answer or a failed request is an
error (204 "nothing waiting" counts as success but is reported separately).
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command() -> list[str] | None:
    exe = Path(sys.executable).parent / "gunicorn"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("gunicorn")
    return [found] if found else None


def _request(conn: http.client.HTTPConnection, path: str, token: str, body: dict | None = None):
    payload = json.dumps(body).encode() if body is not None else b""
    conn.request("POST", path, body=payload, headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json",
        "Content-Length": str(len(payload)), "Connection": "keep-alive",
    })
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def _client(port: int, token: str, t_record: float, t_end: float, out: dict, lock) -> None:
    lat: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    cycles = 0
    empty = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def note(status) -> None:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    while True:
        t0 = time.monotonic()
        if t0 >= t_end:
            break
        record = t0 >= t_record
        try:
            status, data = _request(conn, "/api/v1/agent/next/", token)
            t1 = time.monotonic()
            if record:
                lat.append(t1 - t0)
                note(status)
            if status == 204:
                if record:
                    empty += 1
                time.sleep(0.05)
                continue
            if status != 200:
                if record:
                    errors.append(f"next: {status} {data[:200]!r}")
                continue
            item_id = json.loads(data)["id"]
            for action, body in (("start", None), ("complete", {"outcome": "done"})):
                status, data = _request(conn, f"/api/v1/items/{item_id}/{action}/", token, body)
                if record and not 200 <= status < 300:
                    errors.append(f"{action}: {status} {data[:200]!r}")
            if record:
                cycles += 1
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if record:
                errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()
    with lock:
        out["lat"].extend(lat)
        out["errors"].extend(errors)
        out["cycles"] += cycles
        out["empty"] += empty
        for k, v in statuses.items():
            out["statuses"][k] = out["statuses"].get(k, 0) + v


def client_process(port: int, tokens: list[str], t_record: float, t_end: float, results) -> None:
    out = {"lat": [], "errors": [], "cycles": 0, "empty": 0, "statuses": {}}
    lock = threading.Lock()
    threads = [threading.Thread(target=_client, args=(port, tok, t_record, t_end, out, lock)) for tok in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def wait_ready(port: int, token: str = "", timeout: float = 60, *, path: str = "/api/v1/agent/presence/",
               headers: dict | None = None, ok=(200,)) -> None:
    """Until the server on `port` answers `path` (by default an agent's presence, with its token)."""
    deadline = time.monotonic() + timeout
    last = None
    headers = headers if headers is not None else {"Authorization": f"Token {token}"}
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status in ok:
                return
            last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer on port {port}: {last}")


def measure(*, env: dict, tokens: list[str], gunicorn_args: list[str], duration: float, warmup: float,
            client_procs: int, log_path: Path) -> dict:
    cmd = gunicorn_command()
    if cmd is None:
        return {"skipped": "gunicorn is not installed (make install puts in the bench extra)"}
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full = [*cmd, "wfo.wsgi:application", "--bind", f"127.0.0.1:{port}", *gunicorn_args,
            "--log-level", "warning", "--error-logfile", str(log_path)]
    server = subprocess.Popen(full, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, tokens[0])
        # Service time without queueing: one client alone for a few seconds.
        alone = {"lat": [], "errors": [], "cycles": 0, "empty": 0, "statuses": {}}
        t0 = time.monotonic()
        _client(port, tokens[-1], t0 + 1.0, t0 + 1.0 + min(5.0, duration), alone, threading.Lock())
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        t_record = time.monotonic() + 1.0 + warmup   # 1 s for the client processes to start
        t_end = t_record + duration
        groups = [tokens[i::client_procs] for i in range(client_procs)]
        procs = [ctx.Process(target=client_process, args=(port, g, t_record, t_end, results), daemon=True)
                 for g in groups if g]
        for p in procs:
            p.start()
        outs = [results.get(timeout=duration + warmup + 120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    lat = [x for o in outs for x in o["lat"]]
    errors = [e for o in outs for e in o["errors"]] + alone["errors"]
    statuses: dict[str, int] = {}
    for o in outs:
        for k, v in o["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "gunicorn": " ".join(["gunicorn", "wfo.wsgi:application", *gunicorn_args]),
        "clients": len(tokens),
        "client_processes": len(procs),
        "duration_s": duration,
        "next_calls": len(lat),
        "next_per_s": round(len(lat) / duration, 1),
        "cycles_per_s": round(sum(o["cycles"] for o in outs) / duration, 1),
        "next_latency_ms": {k: round(_pct(lat, p) * 1000, 1) for k, p in
                            (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))} if lat else {},
        "one_client_next_latency_ms": {k: round(_pct(alone["lat"], p) * 1000, 1) for k, p in
                                       (("p50", 50), ("p95", 95))} if alone["lat"] else {},
        "statuses": statuses,
        "empty_204": sum(o["empty"] for o in outs),
        "errors": len(errors),
        "error_samples": errors[:5],
        "log": str(log_path),
    }
