#!/usr/bin/env bash
# CI: install a Docker engine, start it in the background, wait for it, and
# build the condensebench image offline (docker/build-image.sh), reusing the
# engine's cache (base image, pip-install layer) when it is warm.
#
#   docker/ci-setup.sh        # from the repository root, as root
#
# Environment: PYTHON (interpreter with pip for the wheelhouse, default
# .venv/bin/python), IMAGE (default condensebench:latest), DOCKERD_LOG.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
log=${DOCKERD_LOG:-/tmp/condensebench-dockerd.log}

if ! command -v dockerd >/dev/null 2>&1 || [ ! -x /usr/bin/docker ] || ! command -v debootstrap >/dev/null 2>&1; then
    echo "ci-setup: installing docker.io and debootstrap" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q docker.io debootstrap >/tmp/condensebench-apt.log 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q docker.io debootstrap >/tmp/condensebench-apt.log 2>&1
    } || { tail -n 20 /tmp/condensebench-apt.log >&2; exit 1; }
fi

engine_up() { /usr/bin/docker info >/dev/null 2>&1; }
if ! engine_up; then
    # A pid file left by an engine that died would stop a new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    echo "ci-setup: starting dockerd (log: $log)" >&2
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 1 60); do
        engine_up && break
        sleep 1
    done
    engine_up || { echo "ci-setup: dockerd did not come up in 60 s" >&2; tail -n 30 "$log" >&2; exit 1; }
fi
echo "ci-setup: engine $(/usr/bin/docker version --format '{{.Server.Version}}') ready after $(( $(date +%s) - t0 )) s" >&2

DOCKER=/usr/bin/docker docker/build-image.sh --offline
echo "ci-setup: done in $(( $(date +%s) - t0 )) s" >&2
