# The condensebench image (docs/docker.md). Included from the top-level Makefile.
PYTHON ?= .venv/bin/python
IMAGE  ?= condensebench:latest

.PHONY: image image-online base-image wheelhouse lock lock-check

image: ## build the image offline: debootstrap'ed base + host wheelhouse, no registry (IMAGE)
	PYTHON=$(PYTHON) IMAGE=$(IMAGE) docker/build-image.sh --offline

image-online: ## build the image on the Dockerfile's digest-pinned python:3.11 base (needs a registry)
	PYTHON=$(PYTHON) IMAGE=$(IMAGE) docker/build-image.sh --online

base-image: ## build the debootstrap'ed Debian bookworm base image (reused when present)
	docker/base.sh

wheelhouse: ## download exactly the locked wheels into docker/wheelhouse/
	$(PYTHON) docker/lock.py fetch

lock: ## regenerate docker/requirements.lock from the project environment (.venv)
	$(PYTHON) docker/lock.py write

lock-check: ## check that the lock covers pyproject.toml's dependencies, every pin hashed
	$(PYTHON) docker/lock.py check
