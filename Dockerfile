# condensebench evaluation image: CPython 3.11, torch 2.14.1 (its wheels carry
# their own CUDA 13 libraries, so a slim glibc base runs on CPU and, with
# `--gpus all`, on an NVIDIA GPU), every Python package hash-locked.
#
# No `# syntax=` line on purpose: it would pull a frontend image from a
# registry. The Dockerfile frontend built into Docker >= 20.10 supports the
# BuildKit `RUN --mount` used below (DOCKER_BUILDKIT=1, or buildx).
#
#   Online:  DOCKER_BUILDKIT=1 docker build -t condensebench:latest .
#   Offline: make image   (a debootstrap'ed Debian base + a wheelhouse from the
#            host; see docs/docker.md)
#
# The default base is the official python:3.11.7-slim-bookworm image, pinned
# by the digest published for it (as pinned in nalabelle/build,
# images/digests.Dockerfile, commit 03299f1e1a7a96a34e2d8cc954532d742572ded4).
ARG BASE_IMAGE=docker.io/library/python:3.11.7-slim-bookworm@sha256:8f64a67710f3d981cf3008d6f9f1dbe61accd7927f165f4e37ea3f8b883ccc3f

FROM ${BASE_IMAGE}

ARG BASE_IMAGE
# sha256 of docker/requirements.lock; the build checks it against the file.
ARG LOCK_SHA256=unknown
ARG APP_UID=10001

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    CONDENSEBENCH_HOME=/opt/condensebench \
    CONDENSEBENCH_CACHE=/tmp/condensebench-cache \
    CONDENSEBENCH_DATA=/data \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib

# The Python packages: exactly the lock, every file checked against its hash.
# docker/wheelhouse/ (filled by `make wheelhouse`) is bind-mounted, never
# copied into a layer; when it holds no wheels, pip uses the package index.
RUN --mount=type=bind,source=docker/wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=docker/requirements.lock,target=/tmp/requirements.lock \
    set -eu; \
    if [ "$LOCK_SHA256" != unknown ]; then \
        echo "$LOCK_SHA256  /tmp/requirements.lock" | sha256sum -c -; \
    fi; \
    if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
        source="--no-index --find-links=/wheelhouse"; \
    else \
        source=""; \
    fi; \
    python3 -m venv "$VIRTUAL_ENV"; \
    pip install --no-cache-dir --require-hashes --only-binary=:all: $source \
        -r /tmp/requirements.lock; \
    pip check

# The project itself (no dependencies: they all come from the lock above).
COPY docker/requirements.lock /opt/condensebench/requirements.lock
COPY pyproject.toml README.m[d] /opt/condensebench/
COPY runner/condensebench /opt/condensebench/runner/condensebench
RUN set -eu; \
    cd /opt/condensebench; \
    [ -f README.md ] || : > README.md; \
    pip install --no-cache-dir --no-deps --no-build-isolation --no-index . ; \
    rm -rf build runner/*.egg-info; \
    mkdir -p submissions /data; \
    useradd --uid "$APP_UID" --user-group --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin condensebench; \
    python -c "import condensebench, torch, torchvision"
COPY protocols /opt/condensebench/protocols
COPY datasets /opt/condensebench/datasets

# Provenance. SOURCE_COMMIT is declared last so that a new commit only
# rebuilds this metadata, not the layers above.
ARG SOURCE_COMMIT=unknown
LABEL org.opencontainers.image.title="condensebench" \
      org.opencontainers.image.description="Evaluate condensed training sets under frozen protocols" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${SOURCE_COMMIT}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.condensebench.lock.sha256="${LOCK_SHA256}" \
      io.condensebench.torch="2.14.1" \
      io.condensebench.torchvision="0.29.1"

USER ${APP_UID}:${APP_UID}
WORKDIR /tmp
ENTRYPOINT ["condensebench"]
CMD ["--help"]
