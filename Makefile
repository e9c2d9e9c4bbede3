PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

.PHONY: env up test lint typecheck unit

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

env: $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet

# The quickstart profile is on unless STRATA_QUICKSTART says otherwise.
up: env
	STRATA_QUICKSTART=$${STRATA_QUICKSTART:-true} $(VENV)/bin/python -m pipelines.serve

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: env
	$(VENV)/bin/mypy

# Two test processes: most tests wait on run workers, so two share the cores well.
TEST_PROCESSES ?= 2

unit: env
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist worksteal

test: lint typecheck unit
