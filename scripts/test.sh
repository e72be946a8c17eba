#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing
# (scripts/bootstrap.sh), builds with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer with warnings as errors and the libFuzzer
# targets, checks that gcc builds it warning-free too (and runs the protocol
# suites on that build, where object reuse is on), and runs every test
# with ctest (unit, integration against a real PostgreSQL with pgvector and a
# real pgmld, bounded fuzzing).  Exits non-zero if anything fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/bootstrap.sh --test

echo "== gcc build of everything, tests included, warnings as errors (build/gcc)"
cmake -S . -B build/gcc -G Ninja -DCMAKE_C_COMPILER=gcc -DPGML_WERROR=ON \
      -DPGML_BUILD_PYTHON=ON -DBUILD_TESTING=ON >/dev/null
ninja -C build/gcc -j"$jobs"

# Under ASan the call free lists and the request arena's in-place path are
# off (use after free must stay visible), so the object-reuse paths run
# here, unsanitized: the protocol and client suites on the gcc build.
echo "== the protocol path with object reuse on, no sanitizer (build/gcc)"
ctest --test-dir build/gcc --output-on-failure -j"$jobs" \
      -R '^(client_|c_client|daemon_(dispatch|unix|protocol|envelope|frame))'

echo "== clang build with ASan + UBSan + libFuzzer (build/test)"
cmake -S . -B build/test -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
      -DPGML_SANITIZE=ON -DPGML_FUZZ=ON -DPGML_WERROR=ON -DPGML_BUILD_PYTHON=ON >/dev/null
ninja -C build/test -j"$jobs"

echo "== ctest"
ctest --test-dir build/test --output-on-failure -j"$jobs" "$@"
