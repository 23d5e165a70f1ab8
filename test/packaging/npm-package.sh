#!/usr/bin/env bash
# The published package layout: `npm pack` here, install the tarball in an empty directory
# (better-sqlite3 compiled from source), then `npx mycel --help` and `npx mycel serve` must run
# a node that answers /readyz and stops on SIGTERM with exit code 0.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

export npm_config_build_from_source=better-sqlite3
work=$(mktemp -d /tmp/mycel-npm-package.XXXXXX)
server_pid= node_pid=
cleanup() {
  [ -z "$node_pid" ] || kill "$node_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || kill -- "-$server_pid" 2>/dev/null || true
  rm -rf "$work"
  rm -f "$PACKAGING_CONTAINERS_CONF"
}
trap cleanup EXIT

say "npm pack"
(cd "$ROOT" && npm pack --silent --pack-destination "$work" >"$work/pack.out" 2>"$work/pack.err") ||
  { cat "$work/pack.err" >&2; fail "npm pack failed"; }
tarball=$work/$(tail -1 "$work/pack.out")
[ -f "$tarball" ] || fail "npm pack made no tarball ($(cat "$work/pack.out"))"
listing=$(tar tzf "$tarball")
for want in package/package.json package/README.md package/dist/cli/index.js package/dist/node/assemble.js \
  package/dist/compute/task-worker.js package/docs/config.md; do
  grep -qx "$want" <<<"$listing" || fail "$want is not in the tarball"
done
if grep -E '^package/(src|test|bench|scripts|node_modules|\.ci)/|\.test\.js$' <<<"$listing" | head -3 | grep -q .; then
  fail "the tarball holds files it should not: $(grep -E '^package/(src|test|bench|scripts|node_modules|\.ci)/|\.test\.js$' <<<"$listing" | head -3)"
fi
head -1 <(tar xzf "$tarball" -O package/dist/cli/index.js) | grep -q '^#!/usr/bin/env node' || fail "dist/cli/index.js has no node shebang"
ok "tarball $(basename "$tarball"): $(wc -l <<<"$listing") files, dist + docs + README, no sources or tests"

say "npm install of the tarball in an empty directory"
mkdir "$work/app"
started=$SECONDS
(cd "$work/app" && npm init -y >/dev/null && npm install --no-audit --no-fund "$tarball" >"$work/install.log" 2>&1) ||
  { tail -30 "$work/install.log" >&2; fail "installing the tarball failed"; }
ok "installed in $((SECONDS - started))s"
cd "$work/app"
npx --no-install mycel --help | grep -q 'serve' || fail "npx mycel --help does not list serve"
npx --no-install mycel --version | grep -qx "$(node -p "require('$ROOT/package.json').version")" || fail "npx mycel --version is not the package's version"
ok "npx mycel --help, --version"

PORT=$(free_port)
# In a process group of its own (setsid), so that cleanup can end npx and the node together.
MYCEL_DATA_DIR=$work/data MYCEL_PORT=$PORT MYCEL_OWNER_PASSWORD=packaging-owner-pw \
  setsid -w npx --no-install mycel serve >"$work/serve.log" 2>&1 &
server_pid=$!
wait_http "http://127.0.0.1:$PORT/readyz" 60 || { tail -20 "$work/serve.log" >&2; exit 1; }
[ -f "$work/data/mycel.lock" ] || fail "no lock file in MYCEL_DATA_DIR: the data dir setting was not used"
ok "npx mycel serve answers /readyz on port $PORT"
# npx (npm exec) does not pass SIGTERM on to the program it runs: signal the node itself, whose
# pid is in its log (a service manager signals the whole process group or cgroup).
node_pid=$(grep '"msg":"listening"' "$work/serve.log" | head -1 | jq -r .pid)
[ -n "$node_pid" ] || fail "no pid in the 'listening' log line"
kill -TERM "$node_pid"
wait "$server_pid" && code=0 || code=$?
server_pid= node_pid=
[ "$code" = 0 ] || { tail -20 "$work/serve.log" >&2; fail "exit code $code after SIGTERM"; }
grep -q '"msg":"stopped"' "$work/serve.log" || fail "no 'stopped' line in the log"
ok "stopped on SIGTERM with exit code 0"
echo "packaging npm: all checks passed"
