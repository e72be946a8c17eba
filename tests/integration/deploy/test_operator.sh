#!/bin/bash
# test_operator.sh - the walkthrough of docs/operations.md ("From .deb to
# search") step by step, without systemd: pgmld started with a config file
# and a NOTIFY_SOCKET this test listens on, as systemd would; READY=1;
# pgmlctl upsert (with its progress bar on a terminal) and search; the
# config file edited and SIGHUP sent, as `systemctl reload` does, while a
# client connection stays open across it; /healthz, /readyz and /metrics
# (also through the container's pgmld-healthcheck); SIGTERM and exit 0.
#   test_operator.sh PGMLCTL PGMLD SOURCE_DIR   (PGMLD_TEST_DATABASE_URL set)
set -uo pipefail
ctl=$1 pgmld=$2 src=$3
: "${PGMLD_TEST_DATABASE_URL:?needs the postgres fixture}"

tmp=$(mktemp -d /tmp/pgmld-operator.XXXXXX)
pid= notify_pid= client_pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null
  [ -n "$notify_pid" ] && kill "$notify_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() {
  echo "FAIL: $*" >&2
  [ -f "$tmp/notify.log" ] && echo "notifications: $(tr '\n' ' ' <"$tmp/notify.log")" >&2
  [ -f "$tmp/pgmld.log" ] && { echo "pgmld's log:" >&2; cat "$tmp/pgmld.log" >&2; }
  exit 1
}
# wait_for WHAT CMD...: retries CMD for up to 60 s while pgmld runs.
wait_for() {
  local what=$1; shift
  for _ in $(seq 600); do
    "$@" && return 0
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && die "pgmld exited while waiting for $what"
    sleep 0.1
  done
  die "timed out waiting for $what"
}
count_lines() { grep -cx -- "$1" "$2" 2>/dev/null || true; }
readies_at_least() { [ "$(count_lines READY=1 "$tmp/notify.log")" -ge "$1" ]; }
# http PATH: body on stdout, the status code in $tmp/http_code.
http() {
  curl -s -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$http_port$1" >"$tmp/http_code"
  cat "$tmp/body"
}
command -v curl >/dev/null || { echo "test_operator: needs curl" >&2; exit 77; }

# ---- systemd's side: the notification socket (a datagram socket; one
# line per field received).
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    out.write(s.recv(65536).decode() .rstrip("\n") + "\n")
' "$tmp/notify.sock" "$tmp/notify.log" &
notify_pid=$!
wait_for "the notification socket" test -S "$tmp/notify.sock"

# ---- /etc/pgmld/pgmld.conf: the shipped file with the operator's edits.
http_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sock="$tmp/pgmld.sock"
cp "$src/deploy/pgmld.conf" "$tmp/pgmld.conf"
sed -i -e "s|^#socket_path = .*|socket_path = $sock|" \
       -e "s|^#url =\$|url = $PGMLD_TEST_DATABASE_URL|" \
       -e 's|^#pool_size = 8$|pool_size = 4|' \
       -e 's|^#level = info$|level = info|' \
       -e 's|^#max_top_k = 1000$|max_top_k = 1000|' \
       -e "/^\[http\]/,/^\[/ s|^#listen =\$|listen = 127.0.0.1:$http_port|" "$tmp/pgmld.conf"
for want in "socket_path = $sock" "url = $PGMLD_TEST_DATABASE_URL" "level = info" \
            "max_top_k = 1000" "listen = 127.0.0.1:$http_port"; do
  grep -qxF "$want" "$tmp/pgmld.conf" || die "could not edit deploy/pgmld.conf: no line '$want'"
done

# ---- systemctl enable --now pgmld: Type=notify waits for READY=1.
NOTIFY_SOCKET="$tmp/notify.sock" "$pgmld" --config "$tmp/pgmld.conf" >"$tmp/pgmld.log" 2>&1 &
pid=$!
wait_for "READY=1" grep -qx READY=1 "$tmp/notify.log"
grep -q '^STATUS=serving on' "$tmp/notify.log" || fail "no STATUS=serving line: $(cat "$tmp/notify.log")"
grep -q '^STATUS=applying the database migrations' "$tmp/notify.log" ||
  fail "no STATUS= line for the migrations before READY=1"
export PGML_ADDRESS="unix://$sock"
"$ctl" --quiet ping || fail "pgmlctl ping after READY=1"

# ---- load a JSON Lines file, watching the progress (a terminal when
# script(1) is there to make one).
coll="operator_$$"
"$ctl" collections create "$coll" >/dev/null || fail "collections create $coll"
if command -v script >/dev/null; then
  script -qec "$ctl upsert $coll $src/deploy/examples/sample.jsonl" /dev/null >"$tmp/upsert.tty" 2>&1 ||
    fail "pgmlctl upsert on a terminal: $(cat "$tmp/upsert.tty")"
  grep -q '100%' "$tmp/upsert.tty" || fail "no progress bar on the terminal: $(cat -A "$tmp/upsert.tty")"
  grep -q 'upserted 5 documents' "$tmp/upsert.tty" || fail "no summary: $(cat "$tmp/upsert.tty")"
  echo "upsert on a terminal: $(tr '\r' '\n' <"$tmp/upsert.tty" | grep -c '%') progress lines, then: $(grep -o 'upserted [^,]*' "$tmp/upsert.tty")"
else
  "$ctl" upsert "$coll" "$src/deploy/examples/sample.jsonl" 2>"$tmp/upsert.err" ||
    fail "pgmlctl upsert: $(cat "$tmp/upsert.err")"
  grep -q 'upserted 5 documents' "$tmp/upsert.err" || fail "no summary: $(cat "$tmp/upsert.err")"
fi

# ---- search from the shell
search_json() {
  "$ctl" search "$coll" "pgvector vector type HNSW indexes similarity search" --top-k "$1" --json \
    >"$tmp/search.json" 2>"$tmp/search.err"
}
search_json 3 || fail "pgmlctl search: $(cat "$tmp/search.err")"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if len(j) == 3 and j[0]["document_id"] == "pgvector" else 1)' \
  "$tmp/search.json" || fail "search --json: $(cat "$tmp/search.json")"
"$ctl" search "$coll" "relational transactions" --mode text >"$tmp/search.tsv" || fail "text search"
grep -q $'\tpg\t' "$tmp/search.tsv" || fail "text search output: $(cat "$tmp/search.tsv")"

# ---- a client that keeps its connection open across the reload
python3 "$src/tests/integration/deploy/raw_client.py" "$sock" "$tmp/client.ready" "$tmp/client.go" \
  >"$tmp/client.out" 2>&1 &
client_pid=$!
wait_for "the long-lived client's first Ping" test -e "$tmp/client.ready"

# ---- edit pgmld.conf, then `systemctl reload pgmld` (ExecReload sends SIGHUP)
sed -i -e 's|^level = info$|level = debug|' -e 's|^max_top_k = 1000$|max_top_k = 50|' \
       -e 's|^#idle_timeout_ms = 0$|idle_timeout_ms = 60000|' "$tmp/pgmld.conf"
kill -HUP "$pid"
wait_for "READY=1 after the reload" readies_at_least 2
grep -qx RELOADING=1 "$tmp/notify.log" || fail "no RELOADING=1 before the second READY=1"
wait_for "the reload's summary in the log" grep -q 'configuration reloaded' "$tmp/pgmld.log"
for want in 'reload: log.level: INFO -> DEBUG' 'reload: limits.max_top_k: 1000 -> 50' \
            'reload: limits.idle_timeout_ms changed .* needs a restart' \
            'configuration reloaded: 2 settings changed, 1 need'; do
  grep -q -- "$want" "$tmp/pgmld.log" || fail "the log lacks \"$want\""
done
# The new limit applies to the next search; the old one no longer.
search_json 100
rc=$?
[ "$rc" -eq 13 ] || fail "search --top-k 100 after max_top_k = 50 exited $rc, expected 13 (INVALID_ARGUMENT)"
grep -q 'more than limits.max_top_k (50)' "$tmp/search.err" || fail "search error: $(cat "$tmp/search.err")"
search_json 50 || fail "search --top-k 50 after the reload: $(cat "$tmp/search.err")"
# The connection opened before the reload still works.
touch "$tmp/client.go"
wait "$client_pid"; rc=$?; client_pid=
[ "$rc" -eq 0 ] || fail "the client connected before the reload: $(cat "$tmp/client.out")"
cat "$tmp/client.out"

# A configuration that does not load changes nothing, and pgmld serves on.
sed -i 's|^max_top_k = 50$|max_top_k = zero|' "$tmp/pgmld.conf"
kill -HUP "$pid"
wait_for "the failed reload in the log" grep -q 'reload failed, keeping the running configuration' "$tmp/pgmld.log"
grep -q "pgmld.conf:[0-9]*: limits.max_top_k: 'zero'" "$tmp/pgmld.log" ||
  fail "the failed reload does not name the file, line and setting"
"$ctl" --quiet ping || fail "ping after a failed reload"
search_json 100; [ $? -eq 13 ] || fail "max_top_k is not still 50 after a failed reload"

# ---- health and metrics
body=$(http /healthz)
[ "$(cat "$tmp/http_code")" = 200 ] && [ "$body" = ok ] || fail "/healthz: $(cat "$tmp/http_code") $body"
body=$(http /readyz)
[ "$(cat "$tmp/http_code")" = 200 ] && [ "$body" = ready ] || fail "/readyz: $(cat "$tmp/http_code") $body"
http /metrics >"$tmp/metrics"
[ "$(cat "$tmp/http_code")" = 200 ] || fail "/metrics: $(cat "$tmp/http_code")"
for want in '^pgmld_requests_total{method="pgml.v1.Database/UpsertDocuments",code="OK"} [1-9]' \
            '^pgmld_requests_total{method="pgml.v1.Database/VectorSearch",code="INVALID_ARGUMENT"} 2$' \
            '^pgmld_pool_size 4$' '^pgmld_request_duration_seconds_bucket{method="pgml.v1.Database/Ping",le="+Inf"} [1-9]'; do
  grep -q -- "$want" "$tmp/metrics" || fail "/metrics lacks $want"
done
# The image's HEALTHCHECK and compose's healthcheck, against this pgmld.
hc="$src/deploy/container/pgmld-healthcheck"
"$hc" /healthz "127.0.0.1:$http_port" || fail "pgmld-healthcheck /healthz"
"$hc" /readyz "127.0.0.1:$http_port" || fail "pgmld-healthcheck /readyz"
"$hc" /nothing "127.0.0.1:$http_port" 2>/dev/null && fail "pgmld-healthcheck /nothing succeeded"

# ---- systemctl stop pgmld: SIGTERM, STOPPING=1, exit 0
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "pgmld exited $rc after SIGTERM"
grep -qx STOPPING=1 "$tmp/notify.log" || fail "no STOPPING=1"
"$hc" /healthz "127.0.0.1:$http_port" 2>/dev/null && fail "pgmld-healthcheck succeeded after pgmld stopped"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed; notifications: $(tr '\n' ' ' <"$tmp/notify.log")" >&2
  echo "pgmld's log:" >&2; cat "$tmp/pgmld.log" >&2
  exit 1
fi
echo "operator walkthrough: $(count_lines READY=1 "$tmp/notify.log") READY=1, reload kept the client, all checks passed"
