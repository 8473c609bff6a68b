# relay: the two commands of the quick start, plus a few for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/relay.yaml

.PHONY: run demo test lint dist bench fuzz killloop clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

# Serve on the embedded defaults (SQLite file, in-process simulator). Demo secrets are
# supplied, and printed, only for variables the environment does not already set.
run: $(VENV)/.installed
	@. ./scripts/demo-env.sh && \
	echo "relay: serving $(CONFIG) (the shipped one: http://127.0.0.1:8080, embedded cluster API simulator)." && \
	echo "       Next, in another terminal:  make demo   (a signed sample push, followed live)" && \
	echo "       then:  . scripts/demo-env.sh && .venv/bin/relay deployments list" && \
	exec $(BIN)/relay serve --config $(CONFIG)

# Send a signed sample push to the relay `make run` serves and follow its deployment.
demo: $(VENV)/.installed
	@. ./scripts/demo-env.sh >/dev/null && exec $(BIN)/relay demo push

# pytest's exit status 5 means no test was collected (a PYTEST_ARGS that selects nothing, a
# broken collection): that is a failure, said in words.
test: $(VENV)/.installed-test
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no test was collected (PYTEST_ARGS='$(PYTEST_ARGS)')" >&2; fi; \
	exit $$rc

# ruff, mypy in strict mode, and the import contracts of pyproject.toml ([tool.importlinter]).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check relay tests bench
	$(BIN)/mypy --strict relay
	$(BIN)/lint-imports --no-cache --no-logo

# The wheel and the sdist of the distribution relay-deploy, in dist/. relay/REVISION records
# the commit they are built from (relay_build_info's revision label).
dist: $(VENV)/.installed-test
	@if git rev-parse --verify -q HEAD >/dev/null 2>&1; then git rev-parse HEAD > relay/REVISION; \
	else echo "make dist: not a git checkout: the revision will read unknown"; rm -f relay/REVISION; fi
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The benchmarks (bench/README.md): about 6 minutes on 2 cores; appends to bench/RESULTS.md.
# wrk drives the ingest benchmark and adnanh/webhook is its peer: both are Debian packages,
# installed here when missing if we run as root. BENCH_ARGS=--quick checks the harness only;
# BENCH_ARGS=--profile also samples relay with py-spy (pip install py-spy into the venv).
bench: $(VENV)/.installed
	@if command -v wrk >/dev/null && command -v webhook >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk webhook; \
	else \
		echo "bench: note: wrk or webhook is missing and we are not root: not installing them;"; \
		echo "       ingest is skipped without wrk, and compared without webhook when it is absent."; \
	fi
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The long fuzz run (bench/README.md): FUZZ_ARGS='--count 20000 --postgres URL' for PostgreSQL.
# `make test` runs a short one (tests/integration/test_fuzz.py).
fuzz: $(VENV)/.installed-test
	$(BIN)/python -m bench.fuzz $(FUZZ_ARGS)

# The kill -9 loop (bench/README.md): 20 rounds per store, about 6 minutes; KILLLOOP_ARGS=--quick
killloop: $(VENV)/.installed
	$(BIN)/python -m bench.killloop $(KILLLOOP_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache relay.db relay.db-wal relay.db-shm dist build relay/REVISION
