# `make run` starts the dashboard, `make test` runs every test; each builds its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(LOOKINSIDE_DATA_DIR),$(CURDIR)/data)
SHARED ?= ../shared/datasets
export LOOKINSIDE_DATA_DIR := $(abspath $(DATA_DIR))

.PHONY: run test data table pretrained bench load clean

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# The real datasets, copied from ../shared when it is there; otherwise they download on first use.
data:
	@if [ -x $(SHARED)/prepare.sh ]; then bash $(SHARED)/prepare.sh $(LOOKINSIDE_DATA_DIR); fi

run: $(BIN)/.runtime data
	$(BIN)/python -m app

test: $(BIN)/.dev data
	$(BIN)/python -m pytest

# Retrain every pair in a scratch folder and print the accuracy/time table (about 12 minutes on 2 cores).
table: $(BIN)/.runtime data
	$(BIN)/python -m models table --model-dir $$(mktemp -d) --offline

# Regenerate the shipped checkpoints (fixed seeds and settings) and print their table.
pretrained: $(BIN)/.runtime data
	$(BIN)/python -m models table --model-dir checkpoints --offline --datasets mnist fashion-mnist cifar10

# Every benchmark in one run (20 to 25 minutes on 2 cores): writes BENCHMARKS.md and benchmarks.json.
bench: $(BIN)/.dev data
	$(BIN)/python -m bench

# 20 simulated visitors for 60 s against gunicorn; prints latency per callback and server memory.
load: $(BIN)/.dev data
	LOOKINSIDE_OFFLINE=1 $(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .pytest_cache
