# Shoploop: `make run` serves the app on the embedded default; `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint migrations-check pytest bench bench-product-page clean help demo-orders
.PHONY: demo-compliance  # integrations

help:
	@echo "make run    - install, migrate, seed demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test   - install, then ruff, makemigrations --check and pytest (PostgreSQL + Redis)"
	@echo "make bench  - run every benchmark in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: export DEBUG ?= true
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
# --- sales (issue 12): the test-mode checkout, and a local TikTok Shop API for demo_orders ---
run demo-orders: export CHECKOUT_TEST_MODE ?= true
run demo-orders: export TIKTOK_SHOP_API_BASE ?= http://127.0.0.1:8791
demo-orders: export DEBUG ?= true
demo-orders: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
# --- end sales ---
# The seed logs warnings only; `rundemo` is runserver printing the welcome after its banner.
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --no-input
	LOG_LEVEL=WARNING $(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py rundemo $(HOST):$(PORT)

test: $(VENV)/.dev lint migrations-check pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

migrations-check: $(VENV)/.dev
	DEBUG=true DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run

pytest: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# sales (issue 12): signed webhooks of every provider to the server `make run` started.
demo-orders: $(VENV)/.runtime
	$(BIN)/python manage.py demo_orders --base-url http://$(HOST):$(PORT)

# --- integrations: Shopify's compliance webhooks to the server `make run` started ---
demo-compliance: export DEBUG ?= true
demo-compliance: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
demo-compliance: $(VENV)/.runtime
	$(BIN)/python manage.py demo_compliance --base-url http://$(HOST):$(PORT)
# --- end integrations ---

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

bench-%: $(VENV)/.dev
	$(BIN)/python bench/run.py $*

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
