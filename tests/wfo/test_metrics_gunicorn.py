"""/metrics/ under gunicorn with several workers: with PROMETHEUS_MULTIPROC_DIR set, every
scrape, whichever worker answers it, reports the requests of all of them."""

import http.client
import re
import threading

import pytest

from tests.processes import gunicorn, production_env, test_database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS, REQUESTS_EACH = 8, 20


def _get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": "127.0.0.1"})
    response = connection.getresponse()
    return response.status, response.read().decode()


def test_every_scrape_counts_the_requests_of_every_worker(tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = production_env(test_database_url(), tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder))
    web, port = gunicorn(env, tmp_path / "gunicorn.log", workers=2)
    try:
        wait_until(lambda: _get(port, "/health/")[0] == 200, seconds=30, what="gunicorn answers", log=web.log,
                   alive=[web.process])
        statuses = []

        def client():
            statuses.extend(_get(port, "/health/")[0] for _ in range(REQUESTS_EACH))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert statuses == [200] * (CLIENTS * REQUESTS_EACH)

        served_by = {path.name.split("_")[-1] for path in folder.glob("histogram_*.db")}
        assert len(served_by) == 2, "both workers should have answered some requests"
        expected = CLIENTS * REQUESTS_EACH + 1  # and the readiness probe
        for _ in range(6):  # each scrape lands on either worker
            status, text = _get(port, "/metrics/")
            assert status == 200
            counted = re.search(r'^wfo_http_request_seconds_count\{method="GET",status="200",view="health"\} (\S+)$',
                                text, flags=re.MULTILINE)
            assert counted and float(counted.group(1)) == expected, text[:2000]
    finally:
        web.stop()
