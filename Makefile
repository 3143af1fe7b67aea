# The two commands: `make run` (service + demo data) and `make test` (whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_CUSTOMERS ?= 5000
DEMO_WEEKS ?= 4
PYTEST_ARGS ?=

.PHONY: venv run test lint format check-migrations ci clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

venv: $(BIN)/.installed

## Start PostgreSQL + Redis (embedded), migrate, load demo data, run a Celery worker and serve
## API + admin on http://127.0.0.1:$(PORT). Ctrl-C stops everything.
run: venv
	PORT=$(PORT) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) DEMO_WEEKS=$(DEMO_WEEKS) DJANGO_SETTINGS_MODULE=scrm.settings.local \
		$(BIN)/python -m scrm.devservers --data .local -- bash scripts/serve_local.sh

## The whole test suite against a throwaway PostgreSQL and Redis started for this run.
test: venv
	DJANGO_SETTINGS_MODULE=scrm.settings.test \
		$(BIN)/python -m scrm.devservers -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-migrations: venv
	DJANGO_SETTINGS_MODULE=scrm.settings.test \
		$(BIN)/python -m scrm.devservers -- $(BIN)/python manage.py makemigrations --check --dry-run

ci: test lint check-migrations

clean:
	rm -rf $(VENV) .local staticfiles
