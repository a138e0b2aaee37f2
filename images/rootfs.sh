# Shared steps for building console images from Debian packages without a registry.
# Sourced by build-*.sh; each function takes the rootfs directory first.

# busybox-static as /bin/busybox with every applet linked beside it.
rootfs_busybox() {
  local root="$1"
  mkdir -p "$root"/{bin,etc,tmp,home/app,proc,sys,dev}
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
}

# The non-root user consoles run as (1000:1000, HOME /home/app) and a sticky /tmp.
rootfs_app_user() {
  local root="$1"
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\napp:x:1000:\n' > "$root/etc/group"
  chmod 1777 "$root/tmp"
  chown 1000:1000 "$root/home/app"
}

# Imports the rootfs as NAME:TAG (also tagged NAME:latest); PATH and CMD (JSON array) given, and
# optionally one more environment variable (NAME=value).
rootfs_import() {
  local root="$1" name="$2" tag="$3" path="$4" cmd="$5" extra_env="${6:-}"
  local changes=(--change "ENV PATH=$path" --change 'ENV HOME=/home/app' --change 'WORKDIR /home/app')
  [ -n "$extra_env" ] && changes+=(--change "ENV $extra_env")
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" \
    --change "CMD $cmd" - "$name:$tag" >/dev/null
  docker tag "$name:$tag" "$name:latest"
  echo "$name:$tag"
}
