# The two commands: `make run` (whole system locally) and `make test` (the full suite).
# Dependencies come only from the hash-pinned locks in requirements/ (`make lock` regenerates them).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One stamp per installed lock, named after the lock's checksum: editing a lock reinstalls.
stamp = $(VENV)/.installed-$(1)-$(shell cksum < requirements/$(1).lock | cut -d' ' -f1)
# $(call install,LOCK): exact pins with hashes, then the project itself without re-resolving.
define install
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/$(1).lock
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-$(1)-*
	touch $@
endef

.PHONY: help setup setup-local run test lint typecheck bench bench-reader migrate lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(call stamp,dev)  ## .venv with everything (tests, lint, bench) from requirements/dev.lock

setup-local: $(call stamp,local)  ## .venv with what `make run` needs, from requirements/local.lock

$(call stamp,dev): requirements/dev.lock pyproject.toml
	$(call install,dev)

$(call stamp,local): requirements/local.lock pyproject.toml
	$(call install,local)

run: setup-local  ## the whole system locally (SQLite, Tansu, mail to files); ARGS=--help for options
	$(PY) scripts/run_local.py $(ARGS)

test: setup  ## tools, ruff, mypy and the full test suite (what CI runs)
	bash scripts/test.sh $(ARGS)

lint: setup  ## ruff
	$(VENV)/bin/ruff check .

typecheck: setup  ## mypy --strict
	$(VENV)/bin/mypy

bench: setup  ## benchmarks (needs MariaDB as root, wrk); ARGS=--help for cases
	$(PY) scripts/bench.py $(ARGS)

bench-reader: setup  ## lists/searches with and without a replica reader (wrk, MariaDB binaries)
	$(PY) scripts/bench_reader.py $(ARGS)

migrate: setup-local  ## apply the migrations of PACKAGE to DATABASE_URL (e.g. make migrate PACKAGE=svc_book)
	@test -n "$(PACKAGE)" || { echo "usage: make migrate PACKAGE=svc_book|svc_customer|crm (DATABASE_URL from the environment)"; exit 2; }
	$(PY) -m libcommon.migrate $(PACKAGE)

lock:  ## regenerate requirements/*.lock from pyproject.toml (uv, with hashes)
	bash scripts/lock.sh

clean:  ## remove local data and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
