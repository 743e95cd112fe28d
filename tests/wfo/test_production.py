"""Production mode: static files are collected and served by the web process (whitenoise),
with hashed names; the health endpoint answers without a login."""

import subprocess
import sys

from tests.processes import ROOT, production_settings_env


def test_collectstatic_then_the_web_process_serves_hashed_files(tmp_path):
    env = production_settings_env(tmp_path)
    # As a production install collects them: without the bench extra, whose locust brings
    # brotli along — whitenoise then compresses every file with brotli too (42 s here
    # against 4 s), which is not what production runs.
    as_installed = ("import sys; sys.modules['brotli'] = None\n"
                    "from django.core.management import execute_from_command_line\n"
                    "execute_from_command_line(['manage.py', 'collectstatic', '--noinput'])\n")
    collected = subprocess.run([sys.executable, "-c", as_installed], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()
    assert list((tmp_path / "static" / "vendor").rglob("chart.umd.*.js.gz")), "no compressed copy collected"
    probe = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from django.templatetags.static import static\n"
        "url = static('vendor/chartjs-4.4.7/chart.umd.js')\n"
        "assert url != '/static/vendor/chartjs-4.4.7/chart.umd.js', url\n"
        "r = Client().get(url, HTTP_HOST='localhost')\n"
        "print(r.status_code, r['Cache-Control'])\n"
    )
    served = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert served.returncode == 0, served.stderr[-2000:]
    status, cache = served.stdout.split(" ", 1)
    assert status == "200" and "immutable" in cache
