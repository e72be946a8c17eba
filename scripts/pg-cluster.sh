#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL with pgvector for tests and
# benchmarks: data and Unix socket in DIR, no TCP, run as a non-root user
# (PostgreSQL refuses root).
#
#   scripts/pg-cluster.sh start DIR   # initdb if needed, start, create db "pgmld"
#   scripts/pg-cluster.sh stop DIR
#
# Connect with: host=DIR dbname=pgmld user=pgmld
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:?usage: pg-cluster.sh start|stop DIR}
dir=${2:?usage: pg-cluster.sh start|stop DIR}
bindir=$("$root/scripts/pg-bindir.sh")

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  as_pg=(setpriv --reuid=pgmld --regid=pgmld --init-groups --)
fi

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown pgmld:pgmld "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U pgmld --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=600 -c fsync=off -c shared_buffers=256MB" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
  "${as_pg[@]}" "$bindir/psql" -h "$dir" -U pgmld -d postgres -qAtc \
    "SELECT 1 FROM pg_database WHERE datname='pgmld'" | grep -q 1 \
    || "${as_pg[@]}" "$bindir/psql" -h "$dir" -U pgmld -d postgres -qc 'CREATE DATABASE pgmld'
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  fi
  ;;
*) echo "pg-cluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
