# condensebench: the commands people use. `make help` lists them.
PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
CB          := $(VENV)/bin/condensebench
SEEDS       ?= 3
DEVICE      ?= cpu
BACKEND     ?= local
OUT         ?= results
# The shipped digits entries, under both digits protocols.
SUBMISSIONS ?= $(wildcard submissions/digits/*/)
PROTOCOLS   ?= digits-hard digits-kd
PYTEST_ARGS ?=
# Tracking and the site: `make mlflow-server` serves MLFLOW_SERVER_DIR on MLFLOW_HOST:MLFLOW_PORT;
# without MLFLOW_TRACKING_URI everything uses the embedded store ./mlflow.db (docs/tracking.md).
SITE              ?= site
MLFLOW_HOST       ?= 127.0.0.1
MLFLOW_PORT       ?= 5000
MLFLOW_SERVER_DIR ?= .mlflow-server
# `make baselines`: every baseline method for DATASET at each IPC (digits: all
# eight at IPC 1 5 10; other datasets: the five that fit 2 CPU cores, then
# evaluated under BASELINE_PROTOCOL). DATA_ROOT defaults to $CONDENSEBENCH_DATA.
DATASET     ?= digits
IPC         ?= $(if $(filter digits,$(DATASET)),1 5 10,10)
BASELINE_METHODS  ?= $(if $(filter digits,$(DATASET)),random herding kcenter el2n forgetting aum ccs dm,random herding kcenter el2n dm)
BASELINE_PROTOCOL ?= dc-convnet
DATA_ROOT   ?=
SHARED_DATA ?= ../shared/data

.DEFAULT_GOAL := help
.PHONY: help install evaluate baselines leaderboard mlflow-server validate import test test-fast benchmark protocols-check clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed ## create .venv and install condensebench with its test tools

evaluate: $(VENV)/.installed ## evaluate the shipped digits submissions under the digits protocols (SEEDS, DEVICE, BACKEND=local|docker, OUT)
	$(CB) evaluate $(SUBMISSIONS) $(addprefix -p ,$(PROTOCOLS)) --seeds $(SEEDS) --device $(DEVICE) --backend $(BACKEND) --out $(OUT) --skip-incompatible

baselines: $(VENV)/.installed ## build the project's baselines for DATASET (default digits) at IPC; non-digits sets are then evaluated under BASELINE_PROTOCOL
	@if [ "$(DATASET)" != digits ] && [ -f "$(SHARED_DATA)/$(DATASET).tar.gz" ] && [ ! -d "$(or $(DATA_ROOT),$${CONDENSEBENCH_DATA:-$$HOME/.cache/condensebench/data})/$(DATASET)/train" ]; then \
	  $(CB) datasets prepare $(DATASET) --archive $(SHARED_DATA)/$(DATASET).tar.gz $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) --quiet; fi
	@set -e; for ipc in $(IPC); do for m in $(BASELINE_METHODS); do \
	  $(CB) baseline $$m --dataset $(DATASET) --ipc $$ipc --device $(DEVICE) --force -q $(if $(DATA_ROOT),--data-root $(DATA_ROOT)); \
	done; done
ifneq ($(DATASET),digits)
	$(CB) evaluate $(foreach ipc,$(IPC),$(foreach m,$(BASELINE_METHODS),submissions/$(DATASET)/$(m)-ipc$(ipc))) -p $(BASELINE_PROTOCOL) --seeds $(SEEDS) --device $(DEVICE) --out $(OUT) -q $(if $(DATA_ROOT),--data-root $(DATA_ROOT))
endif

leaderboard: $(VENV)/.installed ## build the static site into SITE (default site/) from the tracking store (MLFLOW_TRACKING_URI, else ./mlflow.db)
	$(CB) leaderboard build --out $(SITE)

mlflow-server: $(VENV)/.installed ## run an MLflow server (SQLite + local artifacts in MLFLOW_SERVER_DIR) on MLFLOW_HOST:MLFLOW_PORT; then export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
	@mkdir -p $(MLFLOW_SERVER_DIR)/artifacts
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///$(abspath $(MLFLOW_SERVER_DIR))/mlflow.db \
	  --artifacts-destination $(abspath $(MLFLOW_SERVER_DIR))/artifacts --host $(MLFLOW_HOST) --port $(MLFLOW_PORT)

validate: $(VENV)/.installed ## deep-check a submission folder: make validate SUBMISSION=submissions/<dataset>/<id> [VALIDATE_ARGS=--strict]
	@test -n "$(SUBMISSION)" || { echo "usage: make validate SUBMISSION=PATH [VALIDATE_ARGS='--strict --json']"; exit 2; }
	$(CB) validate $(SUBMISSION) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(VALIDATE_ARGS)

import: $(VENV)/.installed ## convert a published set: make import FORMAT=torch-pair SRC=PATH DATASET=D DEST=DIR [IMPORT_ARGS=...]
	@test -n "$(FORMAT)" -a -n "$(SRC)" -a -n "$(DEST)" || { echo "usage: make import FORMAT=torch-pair|npz|image-folder|coreset-indices SRC=PATH DATASET=NAME DEST=DIR [IMPORT_ARGS='--normalized-mean ...']"; exit 2; }
	$(CB) import $(FORMAT) $(SRC) --dataset $(DATASET) --out $(DEST) $(IMPORT_ARGS)

test: $(VENV)/.installed ## run the whole test suite (slow tests included; real-data tests skip without ../shared)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed ## the tests not marked slow, docker or browser
	$(PY) -m pytest -m "not slow and not docker and not browser" $(PYTEST_ARGS)

benchmark: $(VENV)/.installed ## pytest-benchmark measurements (engine overhead, ...)
	$(PY) -m pytest benchmarks --benchmark-enable --benchmark-only $(PYTEST_ARGS)

protocols-check: $(VENV)/.installed ## check that no released protocol was edited (protocols/LOCK.json)
	$(CB) protocols lock

clean: ## remove results and caches made by the commands (not the venv)
	rm -rf $(OUT) .pytest_cache .benchmarks

-include docker/image.mk
