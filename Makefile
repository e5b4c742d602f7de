PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP = -m pip install --disable-pip-version-check -q
DJ6 := .venv-dj6

.PHONY: run test test-django6 check clean bench bench-quick

# The runtime set alone, for `make run` (and what the worker image installs).
$(VENV)/.runtime: requirements/runtime.lock
	$(PYTHON) -m venv $(VENV) && $(PY) $(PIP) -r requirements/runtime.lock && touch $@

# runtime + the test, check and bench tools.
$(VENV)/.dev: $(VENV)/.runtime requirements/dev.lock
	$(PY) $(PIP) -r requirements/dev.lock && touch $@

# The same sets on Django 6 (Python >= 3.12: devtools/python313.sh finds or builds one).
$(DJ6)/.dev: requirements/runtime.lock requirements/dev.lock requirements/django6.txt
	py=$$(sh devtools/python313.sh) && $$py -m venv $(DJ6) && $(DJ6)/bin/python $(PIP) -r requirements/dev.lock
	$(DJ6)/bin/python $(PIP) -r requirements/django6.txt && touch $@

run: $(VENV)/.runtime
	$(PY) -m devtools.run

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Django 6's unit and live suites (CI runs them beside `make test`).
test-django6: $(DJ6)/.dev
	$(DJ6)/bin/python -m pytest -p no:cacheprovider -m "not browser" $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) -m bench

bench-quick: $(VENV)/.dev
	$(PY) -m bench --quick

check: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check config jobs realtime api devtools demo teams chat liveblog
	$(VENV)/bin/mypy config jobs realtime api devtools demo teams chat liveblog

clean:
	rm -rf $(VENV) $(DJ6) .data
