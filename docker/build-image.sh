#!/usr/bin/env bash
# Build the condensebench image.
#
#   docker/build-image.sh            # offline (default): debootstrap base + host wheelhouse
#   docker/build-image.sh --online   # the Dockerfile's pinned python:3.11 base, packages
#                                    # from the wheelhouse if filled, else from the index
#
# Environment: IMAGE (tag, default condensebench:latest), PYTHON (interpreter with
# pip, default .venv/bin/python, else python3), DOCKER (a CLI that can run
# BuildKit builds; picked automatically).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=offline
case "${1:-}" in
    ""|--offline) mode=offline ;;
    --online) mode=online ;;
    *) echo "usage: $0 [--offline|--online]" >&2; exit 2 ;;
esac
IMAGE=${IMAGE:-condensebench:latest}
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# A CLI that runs BuildKit builds: one with the buildx plugin, or a client
# older than 23.0 whose built-in BuildKit client DOCKER_BUILDKIT=1 enables
# (Debian bookworm's docker.io 20.10). Newer clients without buildx refuse.
pick_docker() {
    local cand version
    for cand in ${DOCKER:-} docker /usr/bin/docker; do
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" buildx version >/dev/null 2>&1; then echo "$cand"; return 0; fi
        version=$("$cand" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
        if [ -n "$version" ] && [ "$version" -lt 23 ]; then echo "$cand"; return 0; fi
    done
    return 1
}
DOCKER=$(pick_docker) || {
    echo "image: no Docker CLI here can run a BuildKit build (install docker.io, or the buildx plugin)" >&2
    exit 1
}
export DOCKER
"$DOCKER" info >/dev/null 2>&1 || { echo "image: no Docker engine is reachable (start dockerd)" >&2; exit 1; }

t0=$(date +%s)
build_args=()
if [ "$mode" = offline ]; then
    base=$(docker/base.sh)
    build_args+=(--build-arg "BASE_IMAGE=$base")
    t1=$(date +%s); echo "image: base ready in $((t1 - t0)) s" >&2
    "$PYTHON" docker/lock.py fetch
    t2=$(date +%s); echo "image: wheelhouse ready in $((t2 - t1)) s" >&2
fi

lock_sha=$(sha256sum docker/requirements.lock | cut -d' ' -f1)
commit=unknown
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    commit=$(git rev-parse HEAD)
    # Uncommitted changes to what goes into the image make it a different build.
    if [ -n "$(git status --porcelain -- Dockerfile pyproject.toml runner/condensebench protocols datasets docker/requirements.lock 2>/dev/null)" ]; then
        commit="$commit-dirty"
    fi
fi

previous=$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tb=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build \
    --tag "$IMAGE" \
    --build-arg "LOCK_SHA256=$lock_sha" \
    --build-arg "SOURCE_COMMIT=$commit" \
    "${build_args[@]}" \
    --progress=plain \
    .
te=$(date +%s)
# The image this tag named before, now untagged, would only take disk space.
current=$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$previous" ] && [ "$previous" != "$current" ] \
        && [ "$("$DOCKER" image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
    "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
fi
size=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
echo "image: built $IMAGE ($mode) in $((te - t0)) s (docker build $((te - tb)) s); size $((size / 1000000)) MB" >&2
