#!/bin/bash
# check_man8.sh - pgmld(8) documents every option `pgmld --help` lists, the
# signals pgmld handles, and the environment variables it reads.
#   check_man8.sh SOURCE_DIR PGMLD_BINARY
set -uo pipefail
src=$1 bin=$2
page="$src/docs/man/pgmld.8"
# The page's text with roff's \- as a plain dash.
text=$(sed 's/\\-/-/g' "$page")
missing=()
opts=$("$bin" --help | sed -n '/^Options:/,/^$/p' | grep -oE -- '(^| )--?[a-zA-Z][a-z-]*' | tr -d ' ')
[ -n "$opts" ] || { echo "check_man8: no options in $bin --help" >&2; exit 1; }
for o in $opts; do
  grep -qF -- "$o" <<<"$text" || missing+=("option $o")
done
for w in SIGHUP SIGTERM SIGINT NOTIFY_SOCKET WATCHDOG_USEC LISTEN_FDS PGMLD_ \
         /etc/pgmld/pgmld.conf /run/pgmld/pgmld.sock /var/lib/pgmld \
         '.SH EXIT STATUS' '.SH FILES' '.SH ENVIRONMENT' /healthz /readyz /metrics; do
  grep -qF -- "$w" <<<"$text" || missing+=("$w")
done
if ((${#missing[@]})); then
  printf 'check_man8: docs/man/pgmld.8 lacks %s\n' "${missing[@]}" >&2; exit 1
fi
echo "check_man8: pgmld.8 has the $(wc -w <<<"$opts") options of pgmld --help, the signals, environment and files"
