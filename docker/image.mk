# The condensebench image (docs/docker.md). Included from the top-level Makefile.
PYTHON ?= .venv/bin/python
IMAGE ?= condensebench:latest

.PHONY: image image-online base-image wheelhouse lock lock-check

## image: build the image offline (debootstrap base + host wheelhouse, no registry needed)
image:
	PYTHON=$(PYTHON) IMAGE=$(IMAGE) docker/build-image.sh --offline

## image-online: build with the Dockerfile's digest-pinned python:3.11 base (needs a registry)
image-online:
	PYTHON=$(PYTHON) IMAGE=$(IMAGE) docker/build-image.sh --online

## base-image: the debootstrap'ed Debian bookworm base (reused when present)
base-image:
	docker/base.sh

## wheelhouse: download exactly the locked wheels into docker/wheelhouse/
wheelhouse:
	$(PYTHON) docker/lock.py fetch

## lock: regenerate docker/requirements.lock from the project environment
lock:
	$(PYTHON) docker/lock.py write

## lock-check: the lock covers pyproject.toml's dependencies, every pin hashed
lock-check:
	$(PYTHON) docker/lock.py check
