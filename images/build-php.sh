#!/usr/bin/env bash
# Builds a real PHP console image (php -a) without any registry: Debian's php-cli binary, the
# shared libraries it and its extensions link, its ini files, busybox for a shell, and a
# non-root user (1000), imported with `docker import`. Needs php-cli on this machine. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/rootfs.sh"
name="${1:-sallyport-demo/php}"
if ! command -v php >/dev/null; then
  echo "the PHP demo needs Debian's PHP on this machine: apt-get install php-cli (then run $0 again)" >&2
  exit 1
fi
php="$(readlink -f "$(command -v php)")"
hash="$(sha256sum "$0" "$here/rootfs.sh" "$php" /bin/busybox | sha256sum | cut -c1-12)"
if docker image inspect "$name:$hash" >/dev/null 2>&1; then docker tag "$name:$hash" "$name:latest"; echo "$name:$hash"; exit 0; fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
rootfs_busybox "$root"
mkdir -p "$root/usr/bin"
cp "$php" "$root/usr/bin/php"
# The libraries of the binary and of its extensions (readline gives php -a its prompt), at the
# same paths, plus the dynamic loader.
for obj in "$php" /usr/lib/php/*/*.so; do ldd "$obj"; done | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[ -d /etc/php ] && cp -a /etc/php "$root/etc/php"
[ -d /usr/lib/php ] && mkdir -p "$root/usr/lib" && cp -a /usr/lib/php "$root/usr/lib/php"
mkdir -p "$root/usr/share/zoneinfo" && cp -L /usr/share/zoneinfo/UTC "$root/usr/share/zoneinfo/UTC"
# Terminal descriptions, so the readline prompt knows the browser's xterm.
[ -d /lib/terminfo ] && mkdir -p "$root/lib" && cp -a /lib/terminfo "$root/lib/terminfo"
rootfs_app_user "$root"
rootfs_import "$root" "$name" "$hash" /usr/bin:/bin '["php", "-a"]'
