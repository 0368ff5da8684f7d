# Charter — every set-up step a fresh machine needs lives here.
#   make test    create .venv, install, run the whole suite (PostgreSQL and browser tests included)
#   make fuzz    the fuzz tier at length (make test runs it briefly)
#   make serve   create .venv, install, start the registry and UI on the embedded SQLite default

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

# The PostgreSQL half of the suite runs against this server (see docs/testing.md).
export CHARTER_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install test fuzz serve browser bench lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

browser:
	bash scripts/install-browser.sh

test: install browser
	bash scripts/run-tests.sh $(PY) $(PYTEST_ARGS)

# The fuzz tier at length (tests/fuzz, docs/testing.md): 200 examples per operation, a
# fresh random seed each run (printed: CHARTER_FUZZ_SEED=N replays it), at most an hour.
FUZZ_EXAMPLES ?= 200
fuzz: install
	@seed=$${CHARTER_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "fuzz seed: $$seed"; \
	CHARTER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CHARTER_FUZZ_SEED=$$seed timeout 3600 \
	  $(PY) -m pytest -q -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)

serve: install
	$(VENV)/bin/charter serve --host $(HOST) --port $(PORT)

bench: install
	$(PY) bench/embedded.py

# ruff; mypy (strict for domain, store, service, client: pyproject.toml [tool.mypy]); the
# layer contracts (import-linter: [tool.importlinter]). docs/architecture.md says how to read
# their errors; tests/unit/test_contracts.py runs the last two in make test too.
lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
