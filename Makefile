PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test check clean bench bench-quick

$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	touch $@

run: $(VENV)/.installed
	$(PY) -m devtools.run

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) -m bench

bench-quick: $(VENV)/.installed
	$(PY) -m bench --quick

check: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check config jobs realtime api devtools demo
	$(VENV)/bin/mypy config jobs realtime api devtools demo

clean:
	rm -rf $(VENV) .data
