#!/usr/bin/env bash
# pgmld's main job, from a fresh machine: installs what is missing
# (scripts/bootstrap.sh), builds pgmld and the C client, starts pgmld on
# unix:///run/pgmld/pgmld.sock (its own embedded PostgreSQL with pgvector
# when PGMLD_DATABASE_URL is not set), shows a client using it, and keeps
# pgmld running in the foreground until Ctrl-C.
#
#   scripts/run.sh            # build, start, demo, keep serving
#   scripts/run.sh --demo     # build, start, demo, stop
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
demo_only=0
[ "${1:-}" = "--demo" ] && demo_only=1

scripts/bootstrap.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
ninja -C build/release -j"$(nproc 2>/dev/null || echo 2)"

sock=${PGMLD_SERVER_SOCKET_PATH:-/run/pgmld/pgmld.sock}
state=${PGMLD_EMBEDDED_STATE_DIR:-$root/.state}
mkdir -p "$(dirname "$sock")" "$state"
export PGMLD_EMBEDDED_POSTGRES_BINDIR=${PGMLD_EMBEDDED_POSTGRES_BINDIR:-$(scripts/pg-bindir.sh)}

build/release/daemon/pgmld --server-socket-path "$sock" --embedded-state-dir "$state" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' EXIT INT TERM

for _ in $(seq 1 600); do
  [ -S "$sock" ] && build/release/clients/c/examples/pgml-ping "unix://$sock" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "run: pgmld exited during start-up" >&2; exit 1; }
  sleep 0.1
done

echo "== the C client asks pgmld for its ServerInfo"
build/release/clients/c/examples/pgml-ping "unix://$sock"
if [ -x build/release/clients/c/examples/pgml-demo ]; then
  echo "== the C client creates a collection, upserts documents and searches"
  build/release/clients/c/examples/pgml-demo "unix://$sock"
fi

if [ $demo_only -eq 1 ]; then
  exit 0
fi
echo "== pgmld is serving unix://$sock (Ctrl-C stops it)"
wait $pid
