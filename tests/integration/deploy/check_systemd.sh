#!/bin/bash
# check_systemd.sh - checks deploy/systemd/pgmld.{service,socket} with
# systemd's own tools, offline (no running systemd needed):
# `systemd-analyze verify` must print nothing, `systemd-analyze security`
# must rate the service at most MAX_EXPOSURE, and the unit must keep the
# settings docs/operations.md promises.  Exits 77 (skipped) without
# systemd-analyze (Debian package: systemd).
#   check_systemd.sh SOURCE_DIR PGMLD_BINARY [MAX_EXPOSURE]
set -euo pipefail
src=$1 bin=$2 max=${3:-2.0}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "check_systemd: systemd-analyze not found (install the systemd package)" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify wants ExecStart= to exist: point it at the binary just built.
sed "s|/usr/sbin/pgmld|$bin|g" "$src/deploy/systemd/pgmld.service" > "$tmp/pgmld.service"
cp "$src/deploy/systemd/pgmld.socket" "$tmp/pgmld.socket"
cd "$tmp"
out=$(systemd-analyze verify --man=no pgmld.service pgmld.socket 2>&1) || {
  echo "check_systemd: systemd-analyze verify failed:" >&2; echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "check_systemd: systemd-analyze verify complained:" >&2; echo "$out" >&2; exit 1
fi

sec=$(systemd-analyze security --offline=true pgmld.service 2>&1) || true
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for pgmld.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "check_systemd: no exposure level in systemd-analyze security's output:" >&2
  echo "$sec" >&2; exit 1
fi
if ! awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
  echo "check_systemd: exposure level $score is above $max:" >&2
  printf '%s\n' "$sec" | grep '✗' >&2; exit 1
fi

missing=()
for want in Type=notify User=pgmld RuntimeDirectory=pgmld StateDirectory=pgmld \
            ConfigurationDirectory=pgmld 'ExecReload=/bin/kill -HUP $MAINPID' \
            ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
            'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
            SystemCallFilter=@system-service MemoryDenyWriteExecute=yes; do
  grep -qxF "$want" "$src/deploy/systemd/pgmld.service" || missing+=("$want")
done
grep -qx 'ListenStream=/run/pgmld/pgmld.sock' "$src/deploy/systemd/pgmld.socket" ||
  missing+=("ListenStream=/run/pgmld/pgmld.sock (pgmld.socket)")
if ((${#missing[@]})); then
  printf 'check_systemd: pgmld.service lacks %s\n' "${missing[@]}" >&2; exit 1
fi
echo "check_systemd: verify clean; exposure level $score (at most $max)"
