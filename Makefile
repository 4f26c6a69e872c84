# SecretsAdmin: `make demo` and `make test` are the two commands; see README.md.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) manage.py demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run.py --all

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
