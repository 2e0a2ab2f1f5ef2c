#!/usr/bin/env bash
# Build the offline base image: a minimal Debian bookworm root filesystem made
# with debootstrap (from the Debian mirror, which is reachable where no image
# registry is) holding python3 and python3-venv, imported with `docker import`.
#
#   docker/base.sh            # prints the base image's tag (builds it if missing)
#
# The tag carries a hash of this recipe, so an engine that already holds it
# (a warm CI cache) reuses it, and every layer built on it stays cached.
# Needs root (debootstrap), debootstrap, and a running Docker engine.
set -euo pipefail

SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv
REPO=${BASE_REPO:-condensebench-base}
DOCKER=${DOCKER:-docker}

recipe=$( { cat "$0"; echo "$SUITE $PACKAGES"; } | sha256sum | cut -c1-12)
tag="$REPO:$SUITE-$recipe"

if $DOCKER image inspect "$tag" >/dev/null 2>&1; then
    echo "base: $tag already present" >&2
    echo "$tag"
    exit 0
fi

command -v debootstrap >/dev/null || { echo "base: debootstrap is not installed (apt-get install -y debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "base: debootstrap needs root" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/condensebench-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
start=$(date +%s)
echo "base: debootstrap --variant=minbase --include=$PACKAGES $SUITE ($MIRROR)" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# What went in, for provenance (kept in the image), then trim what a runtime
# never reads: package caches and lists, documentation (copyright files stay).
chroot "$root" dpkg-query -W -f '${Package}=${Version}\n' > "$root/etc/condensebench-base-packages"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
       "$root"/var/log/* "$root"/tmp/*
find "$root/usr/share/doc" -type f ! -name copyright -delete
: > "$root/etc/resolv.conf"
python_version=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')

tar --numeric-owner -C "$root" -c . | $DOCKER import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL io.condensebench.base.suite=$SUITE io.condensebench.base.mirror=$MIRROR io.condensebench.base.packages=$PACKAGES io.condensebench.base.python=$python_version io.condensebench.base.recipe=$recipe io.condensebench.base.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    - "$tag" >&2
echo "base: built $tag (python $python_version) in $(( $(date +%s) - start )) s" >&2
echo "$tag"
