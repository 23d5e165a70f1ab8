#!/usr/bin/env bash
# The container image: builds the Dockerfile as written (on the local base images of
# base-images.sh), then checks that a container
#   - starts and answers /readyz, and its HEALTHCHECK reports healthy;
#   - runs as a non-root user, with the OCI labels set;
#   - keeps its data on the /data volume when the container is replaced;
#   - stops on SIGTERM (`podman stop`) well within the grace period, exit code 0.
# Prints the image size. Needs podman (+ runc), curl, jq; run as root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

IMAGE=${MYCEL_TEST_IMAGE:-localhost/mycel:packaging-test}
NAME=mycel-packaging-$$
VOLUME=mycel-packaging-data-$$
PASSWORD=packaging-owner-pw
VERSION=$(node -p "require('$ROOT/package.json').version")

cleanup() {
  pod rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  pod volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -f "$PACKAGING_CONTAINERS_CONF" # last: podman reads it
}
trap cleanup EXIT

say "building the image from the Dockerfile ($IMAGE)"
started=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI format has no field for it); --network host lets
# `npm ci` reach the registry; --pull=never uses the local base images.
pod build --quiet --format docker --network host --pull=never \
  --build-arg VERSION="$VERSION" -t "$IMAGE" "$ROOT" >/dev/null
echo "built in $((SECONDS - started))s"
size=$(pod image inspect --format '{{.Size}}' "$IMAGE")
echo "image size: $((size / 1000000)) MB ($size bytes)"

labels=$(pod image inspect --format '{{json .Labels}}' "$IMAGE")
[ "$(jq -r '."org.opencontainers.image.version"' <<<"$labels")" = "$VERSION" ] || fail "label version is not $VERSION: $labels"
[ "$(jq -r '."org.opencontainers.image.licenses"' <<<"$labels")" = MIT ] || fail "no licence label: $labels"
[ -n "$(jq -r '."org.opencontainers.image.source" // empty' <<<"$labels")" ] || fail "no source label: $labels"
ok "OCI labels (version $VERSION, source, licence)"
[ "$(pod image inspect --format '{{.Config.User}}' "$IMAGE")" = node ] || fail "image user is not node"
pod image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q readyz || fail "no HEALTHCHECK on /readyz"
ok "image user node, HEALTHCHECK on /readyz"

pod volume create "$VOLUME" >/dev/null
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
run_container() {
  pod run -d --name "$NAME" --network host -v "$VOLUME:/data" \
    -e MYCEL_PORT="$PORT" -e MYCEL_OWNER_PASSWORD="$PASSWORD" -e MYCEL_NODE_NAME=packaging-node \
    -e MYCEL_SHUTDOWN_GRACE_SECONDS=10 "$IMAGE" >/dev/null
}

say "first start"
run_container
wait_http "$BASE/readyz" 60 || { pod logs "$NAME" >&2; exit 1; }
ok "container answers /readyz"
uid=$(pod exec "$NAME" id -u)
[ "$uid" != 0 ] || fail "the node runs as root"
pid1=$(pod exec "$NAME" cat /proc/1/status | awk '/^Uid:/ {print $2}')
[ "$pid1" != 0 ] || fail "PID 1 runs as root"
cmdline=$(pod exec "$NAME" cat /proc/1/cmdline | tr '\0' ' ')
[[ $cmdline == "node /app/dist/cli/index.js serve"* ]] || fail "PID 1 is not the node: $cmdline"
ok "node is PID 1 and runs as uid $uid"
pod healthcheck run "$NAME" >/dev/null || fail "HEALTHCHECK reports unhealthy"
ok "HEALTHCHECK healthy"
# Federated compute needs DuckDB's native library, an npm package per platform: it must have
# landed among the production dependencies.
pod exec -w /app "$NAME" node -e "import('@duckdb/node-api').then((m) => m.DuckDBInstance.create(':memory:')).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); })" ||
  fail "DuckDB does not load in the image"
pod exec "$NAME" node -e "new (require('/app/node_modules/better-sqlite3'))(':memory:').close()" || fail "better-sqlite3 does not load in the image"
ok "DuckDB and better-sqlite3 load"

node_id=$(curl -sf "$BASE/api/v1/node" | jq -er .id)
token=$(owner_token "$BASE" "$PASSWORD")
channel=$(json_req POST "$BASE/api/v1/channels" "$token" '{"name":"ops:kept"}' | jq -er .id)
json_req POST "$BASE/api/v1/channels/$channel/posts" "$token" '{"body":"survives a restart"}' >/dev/null
ok "node $node_id: wrote a channel and a post"
pod exec "$NAME" mycel backup /data/online-backup.db | grep -q '^backed up to /data/online-backup.db' ||
  fail "mycel backup in the running container failed"
ok "mycel backup beside the serving node, in the container"

say "SIGTERM"
started=$(date +%s.%N)
pod stop -t 30 "$NAME" >/dev/null
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
code=$(pod inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { pod logs "$NAME" | tail -20 >&2; fail "exit code $code after SIGTERM (137 would mean SIGKILL after the timeout)"; }
pod logs "$NAME" 2>&1 | grep -q '"signal":"SIGTERM"' || fail "the log has no SIGTERM shutdown line"
awk -v e="$elapsed" 'BEGIN { exit !(e < 20) }' || fail "stop took ${elapsed}s"
ok "stopped on SIGTERM in ${elapsed}s with exit code 0"

say "a new container on the same volume"
pod rm "$NAME" >/dev/null
run_container
wait_http "$BASE/readyz" 60 || { pod logs "$NAME" >&2; exit 1; }
[ "$(curl -sf "$BASE/api/v1/node" | jq -er .id)" = "$node_id" ] || fail "the node id changed: data was not kept"
token=$(owner_token "$BASE" "$PASSWORD") || fail "the owner password no longer logs in"
body=$(json_req GET "$BASE/api/v1/channels/$channel/posts" "$token" | jq -er '.items[0].body')
[ "$body" = "survives a restart" ] || fail "the post is gone: $body"
ok "same node id, channel and post after replacing the container"
pod stop -t 30 "$NAME" >/dev/null

echo "packaging image: image $((size / 1000000)) MB, all checks passed"
