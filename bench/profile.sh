#!/usr/bin/env bash
# Profiles pgmld with callgrind under the two loads where it is compared:
# Ping with 64 in flight (C client) and top-10 vector search with 32
# concurrent (Node client).  Needs bench/run.sh to have built everything and
# loaded the quick data set (build/bench/vectors-20000.json).
#
#   bench/profile.sh [SECONDS]     # writes build/bench/profile/{ping,search}.txt
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build/bench
secs=${1:-5}
out=$build/profile
pg=$build/pg
spec=$build/vectors-20000.json
mkdir -p "$out"
tmp=$(mktemp -d /tmp/pgmld-prof.XXXXXX)
pid=
cleanup() {
  [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  "$root/scripts/pg-cluster.sh" stop "$pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$root/scripts/pg-cluster.sh" start "$pg"

profile() { # NAME LOAD-COMMAND...
  local name=$1; shift
  valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind" \
    "$build/daemon/pgmld" --database-url "host=$pg dbname=pgmld user=pgmld" \
    --server-socket-path "$tmp/pgmld.sock" --database-pool-size 32 --log-level warn \
    2>"$out/$name.valgrind.log" &
  pid=$!
  for _ in $(seq 300); do
    "$build/clients/c/examples/pgml-ping" "$tmp/pgmld.sock" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$@" >"$out/$name.load.json"
  kill -TERM "$pid"; wait "$pid" || true; pid=
  callgrind_annotate --inclusive=no "$out/$name.callgrind" 2>/dev/null | head -45 >"$out/$name.txt" || true
  callgrind_annotate --inclusive=yes "$out/$name.callgrind" 2>/dev/null | head -45 >"$out/$name.inclusive.txt" || true
  echo "== $name: $(cat "$out/$name.load.json" | tr '\n' ' ')"
  sed -n '1,40p' "$out/$name.txt"
}
profile ping "$build/bench-bin/cping" "$tmp/pgmld.sock" 64 "$secs" 0.5
profile search node "$root/bench/node/search.js" --side=pgml --addr="$tmp/pgmld.sock" \
  --spec="$spec" --conc=32 --secs="$secs" --warm=0.5
