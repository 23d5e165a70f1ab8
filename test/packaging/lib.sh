# Helpers shared by the packaging tests (sourced, not run).

# podman (and podman-compose) settings for these tests, in a containers.conf of their own:
# the runc runtime (crun fails on setrlimit on some hosts) and resource limits below the
# host's (podman's default 1048576 open files, or even the host's own process limit, is
# refused on some hosts).
PACKAGING_CONTAINERS_CONF=$(mktemp /tmp/mycel-containers.XXXXXX.conf)
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=1048576
nofile=$((nofile > 16384 ? 16384 : nofile))
nproc=$((nproc > 16384 ? 16384 : nproc))
cat >"$PACKAGING_CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$PACKAGING_CONTAINERS_CONF
pod() { podman "$@"; }

say() { printf '\n== packaging: %s\n' "$*"; }
fail() {
  printf 'packaging: FAIL: %s\n' "$*" >&2
  exit 1
}
ok() { printf 'ok - %s\n' "$*"; }

# A TCP port nobody listens on now (asks the kernel for one).
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# wait_http URL SECONDS [STATUS]: waits until URL answers STATUS (200), or fails.
wait_http() {
  local url=$1 seconds=$2 want=${3:-200} code
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
    [ "$code" = "$want" ] && return 0
    sleep 0.5
  done
  fail "$url did not answer $want within ${seconds}s (last: ${code:-none})"
}

# owner_token BASE PASSWORD: logs in as the owner, prints the session token.
owner_token() {
  curl -sf -X POST -H 'content-type: application/json' -d "{\"password\":\"$2\"}" "$1/api/v1/session" | jq -er .token
}

# json_req METHOD URL TOKEN [BODY]: an authenticated JSON request; prints the body, fails on non-2xx.
json_req() {
  local method=$1 url=$2 token=$3 body=${4:-}
  curl -sf -X "$method" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    ${body:+-d "$body"} "$url"
}
