# The two commands of the README: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test faults bench lint

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## Migrate, load demo data, print the logins, serve on :8000 with a Celery worker and beat.
run: install
	$(PY) manage.py run_portal

## The whole suite on PostgreSQL (see wfo/settings/test.py for which server), in
## TEST_PROCESSES processes side by side (pytest-xdist; each on a database of its own);
## then, alone, the tests that watch the webhook outbox, which waits for every transaction
## on the server to end (the other processes' tests would hold it back).
TEST_PROCESSES ?= 2
test: install
	$(PY) -m pytest -n $(TEST_PROCESSES) -m "not outbox" $(PYTEST_ARGS)
	$(PY) -m pytest -m outbox $(PYTEST_ARGS)

## Only the fault tests (part of `make test` too): a Celery worker killed mid-job, Redis
## stopped while agents work, PostgreSQL restarted under API load (tests/faults).
faults: install
	$(PY) -m pytest tests/faults -v $(PYTEST_ARGS)

## Allocation and API benchmarks against ../shared/bench (see bench/README.md).
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
