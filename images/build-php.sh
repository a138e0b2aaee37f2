#!/usr/bin/env bash
# Builds a real PHP console image (php -a) without any registry: Debian's php-cli binary, the
# shared libraries it links, its ini files, busybox for a shell, and a non-root user (1000),
# imported with `docker import`. Needs php-cli installed on this machine. Idempotent.
set -euo pipefail
name="${1:-sallyport-demo/php}"
php="$(readlink -f "$(command -v php)")"
hash="$(sha256sum "$0" "$php" /bin/busybox | sha256sum | cut -c1-12)"
tag="$name:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then docker tag "$tag" "$name:latest"; echo "$tag"; exit 0; fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,etc,tmp,home/app,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
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
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chown 1000:1000 "$root/home/app"
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/bin:/bin' --change 'ENV HOME=/home/app' --change 'WORKDIR /home/app' \
  --change 'CMD ["php", "-a"]' - "$tag" >/dev/null
docker tag "$tag" "$name:latest"
echo "$tag"
