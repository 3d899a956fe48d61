# Front door of the project. `make run` and `make test` are the README's two commands.
VENV ?= .venv
PY := $(VENV)/bin/python
PASSERELLE := $(VENV)/bin/passerelle
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: setup run test test-sqlite test-postgres browser bench-tools lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,postgres,distributed]"
	touch $@

# Debian's Chromium for the browser tests (no browser download by Playwright).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Optional load tool of benchmarks/bench_api.py (Debian's wrk); without it the benchmark falls
# back to httpx clients. Never needed by the tests.
bench-tools:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)

# Main job on the embedded SQLite default: schema, demo territory, ranker, nightly matching.
run: setup
	$(PASSERELLE) init
	$(PASSERELLE) taxonomy stats
	$(PASSERELLE) demo --reset
	$(PASSERELLE) stats
	$(PASSERELLE) train
	$(PASSERELLE) nightly
	$(PASSERELLE) plan BES0001 BES0002 --chart var/plan-centre-appels-autoroute.png
	$(PASSERELLE) serve

test: setup browser test-sqlite test-postgres

test-sqlite:
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres:
	PASSERELLE_TEST_DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -m db $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check matching api tests benchmarks
	$(VENV)/bin/ruff format --check matching api tests benchmarks

bench: setup
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
