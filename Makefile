PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test check clean

$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	touch $@

run: $(VENV)/.installed
	$(PY) -m devtools.run

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .data
