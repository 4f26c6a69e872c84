# SecretsAdmin: `make demo` and `make test` are the two commands; see README.md.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
BANDIT_PACKAGES := audit compliance providers rotation secretsadmin

.PHONY: demo test lint bandit secrets-scan secrets-baseline bench install clean

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

# `make test`, so CI, runs lint: ruff, bandit and the secret scan. README.md "Secret hygiene" says what to do
# when bandit or the scan fails.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	@$(MAKE) --no-print-directory bandit secrets-scan

# The project packages (not tests/, bench/): severity >= low at confidence >= medium; skips, [tool.bandit].
bandit:
	$(VENV)/bin/bandit -q -c pyproject.toml -r $(BANDIT_PACKAGES) --severity-level low --confidence-level medium

# Fails on a secret .secrets.baseline does not list; never edits the committed baseline.
secrets-scan:
	DETECT_SECRETS_HOOK=$(VENV)/bin/detect-secrets-hook bash scripts/check-secrets

# After reviewing a finding as a fixture: record it (entries keep their review; --all-files takes files not yet
# added to git too), then mark it with `$(VENV)/bin/detect-secrets audit .secrets.baseline`. Refreshes line numbers.
secrets-baseline:
	git ls-files -z --cached --others --exclude-standard -- ':!:.secrets.baseline' | \
		xargs -0 $(VENV)/bin/detect-secrets scan --no-verify --all-files --baseline .secrets.baseline

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run.py --all

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
