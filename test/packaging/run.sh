#!/usr/bin/env bash
# Packaging tests, one entry for CI (.ci/run) and by hand: installs what they need (podman,
# runc, mmdebstrap; skipped when present), builds the local base images (cached), then runs
# each test script. Needs root, the npm registry and a Debian mirror. The compose example is
# tested as plain processes inside `npm test` (test/e2e/compose-example.test.ts).
#
# Usage: test/packaging/run.sh [image|npm ...]   (default: both)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
started=$SECONDS

missing=()
for tool in podman runc mmdebstrap curl jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman runc mmdebstrap uidmap slirp4netns fuse-overlayfs curl jq >/dev/null
fi

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(image npm)
results=()
status=0
for t in "${tests[@]}"; do
  case $t in
  image) script=image.sh ;;
  npm) script=npm-package.sh ;;
  *) echo "unknown packaging test $t (image, npm)" >&2; exit 2 ;;
  esac
  if [ "$t" = image ]; then
    "$HERE/base-images.sh" || { status=1; results+=("$t: FAIL (base images)"); continue; }
  fi
  t0=$SECONDS
  if bash "$HERE/$script"; then results+=("$t: pass ($((SECONDS - t0))s)"); else status=1; results+=("$t: FAIL ($((SECONDS - t0))s)"); fi
done

echo
echo "== packaging summary"
printf '%s\n' "${results[@]}"
if [ $status = 0 ]; then
  echo "packaging: ${#tests[@]} passed, 0 failed in $((SECONDS - started))s"
else
  echo "packaging: FAILED (see above) after $((SECONDS - started))s"
fi
exit $status
