# `make run` starts the simulator on the default scenario; `make test` runs the whole suite.
# Both create .venv and install what they need, on any machine with Python 3.11 or newer: `run`
# the package and its runtime dependencies only, the test targets the `test` extra on top (the
# linters, the type checker, Playwright, Schemathesis: most of the venv's size and install time).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
# One stamp per tier: STAMP once `pip install -e .` is done, TEST_STAMP once the extra is too.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-quick test-newest lint bench bench-peers bench-replicas bench-tools soak browser postgres nginx clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/gateway-sim serve $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/python -m pytest

# The quick tier for the edit loop: every test that stays in process (no real server, process,
# browser or pytest run: tests/conftest.py marks those `slow`), in under a minute.
test-quick: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The suite on the newest versions that pyproject's ranges allow: a fresh venv, upgraded eagerly
# (a developer's .venv keeps what it first installed). .ci/run runs it after `make test`.
NEWEST := .venv-newest
test-newest:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
	rm -rf $(NEWEST) && $(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	$(NEWEST)/bin/python -m pip list --format=freeze | grep -iE '^(granian|starlette|pydantic|httpx|uvloop)=='
	$(NEWEST)/bin/python -m pytest -q

# The long part of the reliability suite: 1,000,000 sends through a real server (SOAK_SENDS=N).
soak: $(TEST_STAMP)
	$(BIN)/python -m pytest soak -s

# Debian's Chromium, for the inbox page's browser tests (Playwright drives it; it never downloads
# a browser of its own). Needs root, as in CI.
browser:
	test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-dejavu-core; }

# Debian's PostgreSQL server, for the tests of the shared store: `.ci/postgres start` runs a
# throwaway cluster from its binaries (no service of the package is used). Needs root, as in CI.
postgres:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# Debian's nginx, the load balancer of deploy/: tests/test_deploy.py checks deploy/nginx.conf
# with `nginx -t` and runs it in front of two replicas. Needs root, as in CI.
nginx:
	test -x /usr/sbin/nginx || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx; }

# Both benchmarks: the issues' targets against bare baselines, then the peers (WireMock).
bench: bench-tools
	$(BIN)/python bench/run.py
	$(BIN)/python bench/peers.py --rounds 2 --out bench/RESULTS.md

# gateway-sim against bare Starlette and WireMock (~20 min, 2 rounds of each wrk case: one round
# leaves the rows near a floor to chance), into bench/RESULTS.md.
bench-peers: bench-tools
	$(BIN)/python bench/peers.py --rounds 2 --out bench/RESULTS.md

# Replicas on one PostgreSQL database against one replica on SQLite (issue 20; ~6 min: 8 cases of
# 10 s warm-up and 15 s measured, a case again when others' processes disturbed it), into the
# section "Replicas on PostgreSQL (issue 20)" of bench/RESULTS.md. A throwaway PostgreSQL cluster
# of `.ci/postgres` (Debian's server: `make postgres`), stopped at the end.
bench-replicas: $(STAMP) postgres
	command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python -c 'import psycopg' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[postgres]'
	$(BIN)/python bench/replicas.py --results bench/RESULTS.md

# The load generator and WireMock's runtime (its jar comes from npm when a run needs it).
bench-tools: $(STAMP)
	command -v wrk >/dev/null && command -v java >/dev/null && command -v npm >/dev/null \
		|| { apt-get update && apt-get install -y wrk openjdk-17-jre-headless npm; }

clean:
	rm -rf $(VENV) $(NEWEST) .mypy_cache .ruff_cache .pytest_cache
