# relay: the two commands of the quick start, plus a few for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/relay.yaml

.PHONY: run demo test lint bench clean

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
	echo "relay: serving on http://127.0.0.1:8080 with the embedded cluster API simulator." && \
	echo "       Next, in another terminal:  make demo   (a signed sample push, followed live)" && \
	echo "       then:  . scripts/demo-env.sh && .venv/bin/relay deployments list" && \
	exec $(BIN)/relay serve --config $(CONFIG)

# Send a signed sample push to the relay `make run` serves and follow its deployment.
demo: $(VENV)/.installed
	@. ./scripts/demo-env.sh >/dev/null && exec $(BIN)/relay demo push

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check relay tests

clean:
	rm -rf $(VENV) .pytest_cache relay.db relay.db-wal relay.db-shm
