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

.DEFAULT_GOAL := help
.PHONY: help install evaluate test test-fast benchmark protocols-check clean

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
