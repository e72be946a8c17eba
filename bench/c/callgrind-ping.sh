#!/usr/bin/env bash
# Instructions per Ping, daemon and client, with callgrind (the counts
# quoted in bench/analysis.md, "Ping path, round 2").
#
#   bench/c/callgrind-ping.sh PGMLD LIBPGML_DIR CPING PGHOST [CONC] [SECONDS]
#
# PGMLD is a pgmld binary, LIBPGML_DIR the directory of the libpgml.so cping
# should load, CPING the cping binary (bench/run.sh builds it), PGHOST the
# socket directory of a running PostgreSQL (scripts/pg-cluster.sh start DIR).
# Daemon: pgmld runs under callgrind, loaded by a native cping; the per-Ping
# figure is the whole run less start-up (STARTUP_IR, default 15.7M: measure
# it with a near-empty load, CONC 1 and SECONDS 0.01).  Client: cping runs
# under callgrind against a native pgmld; its latency sort is left out.
# Results and the annotated profiles go to a temporary directory it prints.
set -u
pgmld=$1 libdir=$2 cping=$3 pghost=$4 conc=${5:-64} secs=${6:-3}
startup=${STARTUP_IR:-15700000}
d=$(mktemp -d /tmp/callgrind-ping.XXXXXX)
n_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['n'])" "$1"; }
ir_of() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'; }
serve() { # SOCKET [under callgrind OUT]
  if [ $# -gt 1 ]; then
    valgrind --tool=callgrind --callgrind-out-file="$2" "$pgmld" --database-url \
      "host=$pghost dbname=pgmld user=pgmld" --server-socket-path "$1" \
      --database-pool-size 4 --log-level warn 2>"$d/valgrind.log" &
  else
    "$pgmld" --database-url "host=$pghost dbname=pgmld user=pgmld" \
      --server-socket-path "$1" --database-pool-size 4 --log-level warn 2>/dev/null &
  fi
  pid=$!
  for _ in $(seq 300); do
    [ -S "$1" ] && LD_LIBRARY_PATH=$libdir "$cping" "$1" 1 0.05 0 >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "pgmld did not come up on $1" >&2
  exit 1
}

serve "$d/d.sock" "$d/daemon.cg"
LD_LIBRARY_PATH=$libdir "$cping" "$d/d.sock" "$conc" "$secs" 0 >"$d/daemon-load.json"
kill -TERM "$pid"; wait "$pid" 2>/dev/null
n=$(n_of "$d/daemon-load.json"); ir=$(ir_of "$d/daemon.cg")
echo "pgmld: $n Pings, $(( (ir - startup) / n )) instructions per Ping"
callgrind_annotate --inclusive=no "$d/daemon.cg" >"$d/daemon.txt" 2>/dev/null

serve "$d/c.sock"
LD_LIBRARY_PATH=$libdir valgrind --tool=callgrind --callgrind-out-file="$d/client.cg" \
  "$cping" "$d/c.sock" "$conc" "$secs" 0 >"$d/client-load.json" 2>"$d/client-valgrind.log"
kill -TERM "$pid"; wait "$pid" 2>/dev/null
n=$(n_of "$d/client-load.json"); ir=$(ir_of "$d/client.cg")
sort_ir=$(callgrind_annotate --inclusive=yes "$d/client.cg" 2>/dev/null |
          awk '/qsort|stats_print/ {gsub(",", "", $1); print $1; exit}')
echo "libpgml + cping: $n Pings, $(( (ir - ${sort_ir:-0}) / n )) instructions per Ping"
callgrind_annotate --inclusive=no "$d/client.cg" >"$d/client.txt" 2>/dev/null
echo "profiles: $d"
