PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP = -m pip install --disable-pip-version-check -q

.PHONY: run test check clean bench bench-quick

# The runtime set alone, for `make run` (and what the worker image installs).
$(VENV)/.runtime: requirements/runtime.lock
	$(PYTHON) -m venv $(VENV) && $(PY) $(PIP) -r requirements/runtime.lock && touch $@

# runtime + the test, check and bench tools.
$(VENV)/.dev: $(VENV)/.runtime requirements/dev.lock
	$(PY) $(PIP) -r requirements/dev.lock && touch $@

run: $(VENV)/.runtime
	$(PY) -m devtools.run

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) -m bench

bench-quick: $(VENV)/.dev
	$(PY) -m bench --quick

check: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check config jobs realtime api devtools demo
	$(VENV)/bin/mypy config jobs realtime api devtools demo

clean:
	rm -rf $(VENV) .data
