#!/usr/bin/env bash
# Builds the console test image from Debian's busybox-static, without any registry:
# a rootfs with busybox, a non-root user (1000) and an empty /tmp, imported with `docker import`.
# Idempotent: an image already tagged with this build's content hash is reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/rootfs.sh"
name="${1:-sallyport-test/busybox}"
hash="$(sha256sum "$0" "$here/rootfs.sh" /bin/busybox | sha256sum | cut -c1-12)"
if docker image inspect "$name:$hash" >/dev/null 2>&1; then docker tag "$name:$hash" "$name:latest"; echo "$name:$hash"; exit 0; fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
rootfs_busybox "$root"
rootfs_app_user "$root"
rootfs_import "$root" "$name" "$hash" /bin '["sh"]'
