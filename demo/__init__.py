"""The demo back office: `manage.py seed_demo` (demo/seed.py) and `make run`
(`manage.py run_portal`). It crosses every app; none of them depends on it."""
