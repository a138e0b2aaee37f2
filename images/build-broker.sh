#!/usr/bin/env bash
# The broker image without Docker Hub: sallyport:<version> built from this checkout with the Node
# on this machine and the npm registry (or the site's npm mirror, npm_config_registry), as
# `docker import` of a rootfs. The same image the Dockerfile makes where a registry is reachable:
# the `node` user (1000:1000), the app in /app, ENTRYPOINT node dist/server/cli.js, CMD serve,
# nothing written to its own disk (run it read-only). It has no shell and no package manager.
#
#   images/build-broker.sh [--ca /path/to/site-ca.pem] [--node /path/to/node] [--tag NAME:TAG]
#
#   --ca    your site's CA bundle (PEM): the broker then trusts it for the IdP, the webhook, the
#           registry and anything else it calls over https (NODE_EXTRA_CA_CERTS); the Node
#           binary's own Mozilla roots are trusted too
#   --node  the Node 24 binary to put in the image (default: the `node` on PATH); its shared
#           libraries are copied from this machine (glibc, libstdc++), so build on the same
#           distribution family you run on
#   --tag   default sallyport:<package.json version>
#
# Prints the image's name. Secrets are mounted at run time and must be readable by uid 1000
# (docs/operations.md, "Air-gapped build").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ca="" node_bin="$(command -v node)" tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ca) ca="$2"; shift 2 ;;
    --node) node_bin="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "build-broker.sh: unknown option $1 (see the top of this file)" >&2; exit 2 ;;
  esac
done
[ -x "$node_bin" ] || { echo "build-broker.sh: no Node binary at '$node_bin' (--node)" >&2; exit 2; }
"$node_bin" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' || { echo "build-broker.sh: $node_bin is Node $("$node_bin" -v), the broker needs 24 or newer" >&2; exit 2; }
[ -z "$ca" ] || [ -r "$ca" ] || { echo "build-broker.sh: cannot read the CA bundle $ca" >&2; exit 2; }
version="$("$node_bin" -p "require('$here/package.json').version")"
tag="${tag:-sallyport:$version}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{app,usr/local/bin,etc/sallyport,tmp,home/node}

# 1. The app: built here, its production dependencies installed from the lockfile.
(cd "$here" && npm run build --silent >/dev/null)
cp -r "$here/package.json" "$here/package-lock.json" "$here/dist" "$here/migrations" "$root/app/"
(cd "$root/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)

# 2. Node and the shared libraries it links (the loader included).
cp "$node_bin" "$root/usr/local/bin/node"
for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# 3. The user it runs as, a sticky /tmp (a tmpfs at run time), the site's CA.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chown 1000:1000 "$root/home/node"
extra_ca=()
if [ -n "$ca" ]; then
  cp "$ca" "$root/etc/sallyport/site-ca.pem"
  chmod 0444 "$root/etc/sallyport/site-ca.pem"
  extra_ca=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/sallyport/site-ca.pem')
fi
chown -R 0:0 "$root/app"

tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/bin NODE_ENV=production PORT=8080 HOST=0.0.0.0 HOME=/home/node' \
  "${extra_ca[@]}" \
  --change 'WORKDIR /app' \
  --change 'USER 1000:1000' \
  --change 'EXPOSE 8080' \
  --change 'ENTRYPOINT ["node", "dist/server/cli.js"]' \
  --change 'CMD ["serve"]' \
  - "$tag" >/dev/null
echo "$tag"
