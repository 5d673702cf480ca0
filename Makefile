# Set-up and everyday commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# the runtime alone: what `make demo` needs (the dev tools add ~30 s to a fresh install)
RUN_STAMP := $(VENV)/.installed-runtime-stamp

.PHONY: install demo test lint bench system-packages clean

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/radlens demo

# Debian packages for the real integration tests (Chromium, dcmtk, Orthanc, PostgreSQL).
# Installed only when running as root with apt-get; tests that still lack one skip loudly.
system-packages:
	@bash scripts/system_packages.sh

# ruff, the layer contracts (import-linter, configured in pyproject.toml) and the house rules
# (scripts/check_architecture.py: module/function size, no lazy radlens imports, package faces)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check_architecture.py

test: $(STAMP) system-packages lint
	$(BIN)/python -m pytest

# Every benchmark that runs without arguments; those that need a cohort, a run or an output
# folder are named with where their commands are (their docstrings, benchmarks/results/README.md).
bench: $(STAMP)
	@for script in benchmarks/*.py; do \
	  if grep -q "required=True" $$script; then \
	    echo "== $$script: needs arguments (usage in its docstring; commands and figures in benchmarks/results/README.md)"; \
	  else echo "== $$script"; $(BIN)/python $$script || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
