#!/usr/bin/env bash
# The benchmark suite's one command: installs what is missing, builds pgmld
# (Release) and the bench programs, starts its own PostgreSQL and pgmld, runs
# every comparison and writes docs/benchmarks.md.
#
#   bench/run.sh            # = --quick: under 5 minutes once built and loaded
#   bench/run.sh --full     # the sizes of issue 8 (100,000 vectors and docs); long
#   bench/run.sh --smoke    # tiny sizes, one run: checks that the suite works
#
# Extra arguments go to bench/driver.py (e.g. --only ping,scale, --out FILE).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build/bench
mode=quick
args=()
for a in "$@"; do
  case "$a" in
  --quick) mode=quick ;;
  --full) mode=full ;;
  --smoke) mode=smoke ;;
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) args+=("$a") ;;
  esac
done
say() { printf '[bench] %s\n' "$*" >&2; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

# ---- what is missing
if [ ! -x "$root/.venv/bin/python" ] || ! "$root/scripts/pg-bindir.sh" >/dev/null 2>&1; then
  say "project environment missing: scripts/bootstrap.sh"
  "$root/scripts/bootstrap.sh"
fi
pkgs=()
command -v grpc_cpp_plugin >/dev/null || pkgs+=(protobuf-compiler-grpc)
pkg-config --exists grpc++ 2>/dev/null || pkgs+=(libgrpc++-dev)
command -v protoc >/dev/null || pkgs+=(protobuf-compiler)
command -v pgbench >/dev/null || pkgs+=(postgresql-client)
command -v node >/dev/null || pkgs+=(nodejs npm)
if [ ${#pkgs[@]} -gt 0 ]; then
  say "apt: ${pkgs[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
py=$root/.venv/bin/python
if ! "$py" -c 'import grpc, grpc_tools, asyncpg, psycopg, matplotlib, uvloop' 2>/dev/null; then
  say "pip: grpcio grpcio-tools asyncpg psycopg[binary] matplotlib uvloop"
  "$py" -m pip install -q grpcio grpcio-tools asyncpg 'psycopg[binary]' matplotlib uvloop
fi
if [ ! -d "$root/bench/node/node_modules/@grpc/grpc-js" ] || [ ! -d "$root/bench/node/node_modules/pg" ]; then
  say "npm: bench/node (package-lock.json)"
  (cd "$root/bench/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---- build
say "building pgmld and libpgml (Release) in $build"
mkdir -p "$build"
if ! { cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
       ninja -j2 -C "$build" pgmld pgml pgml_example_ping; } >"$build/bench-build.log" 2>&1; then
  grep -E 'error|FAILED' "$build/bench-build.log" | head -20 >&2
  say "the build failed (whole log: $build/bench-build.log)"
  exit 1
fi
bin=$build/bench-bin
mkdir -p "$bin"
cc=${CC:-cc}
"$cc" -O2 -Wall -Wextra -o "$bin/echo" "$root/bench/echo/echo.c"
"$cc" -O2 -Wall -Wextra -o "$bin/idle" "$root/bench/scale/idle.c"
"$cc" -O2 -Wall -Wextra -DPB_ENABLE_MALLOC=1 -I"$root/clients/c/include" -I"$build/clients/c" \
  -o "$bin/cping" "$root/bench/c/cping.c" -L"$build/clients/c" -lpgml -Wl,-rpath,"$build/clients/c"
say "building the C++ gRPC server"
"$root/bench/grpc/build.sh" "$build/grpc"
mkdir -p "$build/pygen"
"$py" -m grpc_tools.protoc -I "$root/bench/grpc" --python_out="$build/pygen" \
  --grpc_python_out="$build/pygen" "$root/bench/grpc/ping.proto"
addon=$root/clients/node/build/Release/pgml.node
if [ ! -f "$addon" ] || [ -n "$(find "$root/clients/node/src" "$root/clients/c/src" "$root/proto" -newer "$addon" -print -quit)" ]; then
  say "building the Node addon (clients/node: npm run build)"
  (cd "$root/clients/node" && npm run --silent build >/dev/null)
fi
pyext=$("$py" -c 'import os, pgml; print(os.path.dirname(pgml.__file__))' 2>/dev/null || true)
if [ -z "$pyext" ] ||
   [ -n "$(find "$root/clients/python" "$root/clients/c/src" "$root/proto" -newer "$pyext/__init__.py" -type f -print -quit)" ]; then
  say "installing the Python extension into .venv (missing or older than its sources)"
  "$py" -m pip install -q --no-build-isolation "$root/clients/python" \
    || say "the Python extension does not build yet: its comparisons are skipped"
fi

# ---- run
say "running ($mode)"
exec "$py" "$root/bench/driver.py" --mode "$mode" --build "$build" "${args[@]}"
