#!/bin/bash
# test_configs.sh - starts the real pgmld with the configuration each
# deployment in deploy/ gives it, to prove pgmld accepts it and serves what
# the probes and clients expect:
#   container + compose: deploy/container/pgmld.conf (the image's) and the
#     pgmld service's environment from deploy/compose.yaml, with the tokens
#     file of its secret;
#   kubernetes: the ConfigMap's pgmld.conf, with the Secret's tokens as the
#     file auth.tokens_file names.
# Only the database URL, the socket path, the ports (free ones, same
# addresses) and the tokens file's path are changed.  For each: /readyz
# through pgmld-healthcheck, a WebSocket Ping with the token the deployment's
# clients use (and UNAUTHENTICATED without it), SIGTERM and exit 0.
#   test_configs.sh PGMLCTL PGMLD SOURCE_DIR PYTHON   (PGMLD_TEST_DATABASE_URL set)
# Exits 77 (skipped) when PYTHON has no PyYAML.
set -uo pipefail
ctl=$1 pgmld=$2 src=$3 py=$4
: "${PGMLD_TEST_DATABASE_URL:?needs the postgres fixture}"
"$py" -c 'import yaml' 2>/dev/null || { echo "test_configs: PyYAML is not installed" >&2; exit 77; }

tmp=$(mktemp -d /tmp/pgmld-configs.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
hc="$src/deploy/container/pgmld-healthcheck"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'
}

# run NAME CONF TOKEN: pgmld with --config CONF and the PGMLD_* variables
# exported by the caller; checks it and stops it.
run() {
  local name=$1 conf=$2 token=$3 rc ready= before=$failures
  "$pgmld" --config "$conf" >"$tmp/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    "$hc" /readyz "127.0.0.1:$http_port" 2>/dev/null && { ready=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    fail "$name: pgmld did not become ready with its configuration:"
    sed 's/^/  /' "$tmp/$name.log" >&2
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    return
  fi
  "$hc" /healthz "127.0.0.1:$http_port" || fail "$name: /healthz"
  PGML_TOKEN=$token "$ctl" --quiet --address "ws://127.0.0.1:$ws_port/v1" ping ||
    fail "$name: WebSocket Ping with the deployment's token"
  "$ctl" --quiet --address "ws://127.0.0.1:$ws_port/v1" ping 2>/dev/null
  rc=$?
  [ "$rc" -eq 26 ] || fail "$name: WebSocket Ping without a token exited $rc, expected 26 (UNAUTHENTICATED)"
  "$ctl" --quiet --address "unix://$PGMLD_SERVER_SOCKET_PATH" ping || fail "$name: Unix socket Ping"
  kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
  [ "$rc" -eq 0 ] || fail "$name: pgmld exited $rc after SIGTERM"
  [ "$failures" -eq "$before" ] &&
    echo "$name: ready on 0.0.0.0:$http_port, WebSocket with its token, exit 0"
}

# ---- the image with compose's environment
(
  # The pgmld service's environment, as KEY=VALUE lines.
  "$py" -c '
import sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["pgmld"]["environment"]
for k, v in env.items():
    print("%s=%s" % (k, v))' "$src/deploy/compose.yaml" >"$tmp/compose.env" || exit 1
  # compose's client token: the PGML_TOKEN= in its command.
  token=$(grep -o 'PGML_TOKEN=[^ ]*' "$src/deploy/compose.yaml" | head -n1 | cut -d= -f2)
  while IFS= read -r kv; do export "${kv?}"; done <"$tmp/compose.env"
  http_port=$(free_port) ws_port=$(free_port)
  [ "$PGMLD_WEBSOCKET_LISTEN" = 0.0.0.0:7700 ] || fail "compose: websocket.listen is $PGMLD_WEBSOCKET_LISTEN"
  export PGMLD_DATABASE_URL=$PGMLD_TEST_DATABASE_URL
  export PGMLD_SERVER_SOCKET_PATH=$tmp/compose.sock
  export PGMLD_WEBSOCKET_LISTEN=0.0.0.0:$ws_port
  export PGMLD_HTTP_LISTEN=0.0.0.0:$http_port
  # The secret's file, where compose mounts it: /run/secrets/<name>.
  case $PGMLD_AUTH_TOKENS_FILE in
    /run/secrets/pgmld-tokens) export PGMLD_AUTH_TOKENS_FILE=$src/deploy/examples/pgmld-tokens ;;
    *) fail "compose: unexpected tokens file $PGMLD_AUTH_TOKENS_FILE" ;;
  esac
  grep -qx 'listen = 0.0.0.0:9187' "$src/deploy/container/pgmld.conf" ||
    fail "the image's pgmld.conf does not listen on 0.0.0.0:9187"
  # The address stays the image's (0.0.0.0), so http.allow_public is tested.
  run compose "$src/deploy/container/pgmld.conf" "$token"
  exit "$failures"
)
failures=$((failures + $?))

# ---- Kubernetes: the ConfigMap and the Secret
(
  "$py" -c '
import sys, yaml
d = sys.argv[1]
cm = yaml.safe_load(open(d + "/configmap.yaml"))["data"]["pgmld.conf"]
sec = yaml.safe_load(open(d + "/secret.yaml"))["stringData"]["tokens"]
open(sys.argv[2], "w").write(cm)
open(sys.argv[3], "w").write(sec)' "$src/deploy/kubernetes" "$tmp/k8s.conf" "$tmp/k8s.tokens" || exit 1
  grep -qx 'tokens_file = /etc/pgmld-secrets/tokens' "$tmp/k8s.conf" ||
    fail "kubernetes: tokens_file is not /etc/pgmld-secrets/tokens"
  http_port=$(free_port) ws_port=$(free_port)
  # Where the pod has them: the ConfigMap's file, with the paths and ports
  # of this machine; the addresses stay 0.0.0.0.
  sed -i -e "s|^tokens_file = .*|tokens_file = $tmp/k8s.tokens|" \
         -e "s|^socket_path = .*|socket_path = $tmp/k8s.sock|" \
         -e "s|^listen = 0.0.0.0:7700\$|listen = 0.0.0.0:$ws_port|" \
         -e "s|^listen = 0.0.0.0:9187\$|listen = 0.0.0.0:$http_port|" "$tmp/k8s.conf"
  grep -q "0.0.0.0:$ws_port" "$tmp/k8s.conf" && grep -q "0.0.0.0:$http_port" "$tmp/k8s.conf" ||
    { fail "kubernetes: the ConfigMap does not listen on 0.0.0.0:7700 and 0.0.0.0:9187"; exit "$failures"; }
  export PGMLD_DATABASE_URL=$PGMLD_TEST_DATABASE_URL   # the Deployment's env, from the Secret
  export PGMLD_SERVER_SOCKET_PATH=$tmp/k8s.sock
  # The Secret's placeholder line is the hash of CHANGE-ME (secret.yaml).
  run kubernetes "$tmp/k8s.conf" CHANGE-ME
  exit "$failures"
)
failures=$((failures + $?))

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "test_configs: pgmld starts and serves with the compose and Kubernetes configurations"
