#!/usr/bin/env bash
# Builds the console test image from Debian's busybox-static, without any registry:
# a rootfs with busybox, a non-root user (1000) and an empty /tmp, imported with `docker import`.
# Idempotent: an image already tagged with this script's content hash is reused.
set -euo pipefail
name="${1:-sallyport-test/busybox}"
hash="$(sha256sum "$0" /bin/busybox | sha256sum | cut -c1-12)"
tag="$name:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,home/app,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chown 1000:1000 "$root/home/app"
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/bin' --change 'ENV HOME=/home/app' --change 'WORKDIR /home/app' \
  --change 'CMD ["sh"]' - "$tag" >/dev/null
docker tag "$tag" "$name:latest"
echo "$tag"
