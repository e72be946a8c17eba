#!/bin/bash
# test_pgmlctl.sh - pgmlctl against a real pgmld and PostgreSQL: every
# command, JSON Lines loads in batches, the three searches, exit codes,
# messages, and bash completion.
#   test_pgmlctl.sh PGMLCTL PGMLD SOURCE_DIR   (PGMLD_TEST_DATABASE_URL set)
set -uo pipefail
ctl=$1 pgmld=$2 src=$3
: "${PGMLD_TEST_DATABASE_URL:?needs the postgres fixture}"

tmp=$(mktemp -d /tmp/pgmlctl-test.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export PGML_ADDRESS="unix://$tmp/pgmld.sock"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect CODE CMD...: runs pgmlctl, keeps stdout/stderr in $tmp/out, $tmp/err.
expect() {
  local want=$1; shift
  "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    fail "pgmlctl $* exited $got, expected $want"
    sed 's/^/  stderr: /' "$tmp/err" >&2
  fi
}
# json_check PYTHON_EXPR: evaluated with `j` = the JSON on stdout.
json_check() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$tmp/out" "$1" || { fail "JSON check $1 on: $(head -c 600 "$tmp/out")"; }
}
grep_err() { grep -q -- "$1" "$tmp/err" || fail "stderr lacks \"$1\": $(cat "$tmp/err")"; }

# pgmld reads the shipped deploy/pgmld.conf with every setting uncommented
# (so the file's keys and defaults are proven valid); flags override the
# socket and the database.
sed 's/^#\([a-z_]* =\)/\1/' "$src/deploy/pgmld.conf" >"$tmp/pgmld.conf"
grep -q '^max_batch = 10000$' "$tmp/pgmld.conf" || { echo "cannot uncomment deploy/pgmld.conf" >&2; exit 1; }
"$pgmld" --config "$tmp/pgmld.conf" --server-socket-path "$tmp/pgmld.sock" \
  --database-url "$PGMLD_TEST_DATABASE_URL" --log-level warn >"$tmp/pgmld.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  "$ctl" --quiet --timeout 1s ping >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/pgmld.log" >&2; echo "pgmld exited" >&2; exit 1; }
  sleep 0.1
done

coll="ctl_$$"
# ---- system
expect 0 ping --count 3
grep -q "pong from $PGML_ADDRESS: seq=3" "$tmp/out" || fail "ping output: $(cat "$tmp/out")"
expect 0 --json info
json_check 'j["version"] != "" and j["protocol_version"] >= 1 and "unix" in j["features"]'
expect 0 --version
grep -q '^pgmlctl ' "$tmp/out" || fail "--version output: $(cat "$tmp/out")"

# ---- collections
expect 0 collections create "$coll" --json
json_check "j['name'] == '$coll' and j['archived'] is False and j['created_at_ms'] > 0"
expect 0 collections exists "$coll"
expect 0 collections list --json
json_check "any(c['name'] == '$coll' for c in j)"
expect 0 collections list
grep -qx "$coll" "$tmp/out" || fail "collections list (not a tty) lacks $coll"

# ---- upsert: a file, then stdin, then 1000 documents in batches of 64
expect 0 upsert "$coll" "$src/deploy/examples/sample.jsonl" --json
json_check 'j["upserted"] == 5 and j["batches"] == 1 and j["chunks"] >= 5'
printf '{"id": "stdin-1", "text": "read from standard input", "kind": "pipe"}\n\n' |
  "$ctl" upsert "$coll" --json >"$tmp/out" 2>"$tmp/err" || fail "upsert from stdin: $(cat "$tmp/err")"
json_check 'j["upserted"] == 1 and j["lines"] == 2'
# ---- search (before the bulk load: the HNSW index over 6 documents)
expect 0 search "$coll" "pgvector vector type HNSW indexes similarity search" --top-k 3 --json
json_check 'len(j) == 3 and j[0]["document_id"] == "pgvector" and j[0]["score"] >= j[1]["score"]'
expect 0 search "$coll" "relational transactions" --mode text --json
json_check 'len(j) >= 1 and j[0]["document_id"] == "pg"'
expect 0 search "$coll" "database" --mode hybrid --filter '{"kind": "database"}' --top-k 10 --json
json_check 'len(j) >= 1 and all(h["metadata"]["kind"] == "database" for h in j)'
expect 0 search "$coll" "pgvector similarity search" --top-k 2
[ "$(wc -l <"$tmp/out")" -eq 2 ] && grep -q $'^[-0-9.]*\tpgvector\t0\t' "$tmp/out" ||
  fail "tab-separated search output: $(cat "$tmp/out")"

python3 -c 'import json
for i in range(1000):
    print(json.dumps({"id": "bulk-%04d" % i, "text": "bulk document number %d about topic %d" % (i, i % 7), "n": i}))' \
  >"$tmp/bulk.jsonl"
expect 0 upsert "$coll" "$tmp/bulk.jsonl" --batch-size 64 --json
json_check 'j["upserted"] == 1000 and j["batches"] == 16'
expect 0 upsert "$coll" "$tmp/bulk.jsonl" --batch-size 500
grep_err "upserted 1000 documents"
expect 0 search "$coll" "pgvector vector type HNSW indexes similarity search" --exact --top-k 1 --json
json_check 'len(j) == 1 and j[0]["document_id"] == "pgvector"'

# ---- pipelines
expect 0 pipelines list "$coll" --json
json_check 'len(j) == 1 and j[0]["name"] == "default" and j[0]["model"]["dimensions"] == 384'
expect 0 pipelines status "$coll" default --json
json_check 'j["documents"] == 1006 and j["documents_pending"] == 0 and j["chunks"] >= 1006'
expect 0 pipelines add "$coll" small --chunk-size 200 --separator '\n' --separator ' ' --fulltext simple --json
json_check 'j["name"] == "small" and j["splitter"]["chunk_size"] == 200 and j["splitter"]["separators"] == ["\n", " "] and j["fulltext_config"] == "simple"'
expect 0 pipelines disable "$coll" small --json
json_check 'j["enabled"] is False'
expect 0 pipelines remove "$coll" small

# ---- errors: exit codes and messages
expect 15 search nosuch_collection_$$ "x"
grep_err "$PGML_ADDRESS: VectorSearch failed: NOT_FOUND"
expect 13 search "$coll" "x" --filter '{"kind": {"$regex": "d"}}'
grep_err "INVALID_ARGUMENT"
expect 24 --address "unix://$tmp/nothing.sock" ping
grep_err "unix://$tmp/nothing.sock: Ping failed: UNAVAILABLE"
# A token pgmld could never accept is refused before connecting.
PGML_TOKEN="two words" expect 1 --address ws://127.0.0.1:9/v1 ping
grep_err 'ws://127.0.0.1:9/v1: cannot use this address: .*\$PGML_TOKEN'
printf '{"id": "ok-1", "text": "fine"}\n{"text": "no id"}\n' >"$tmp/bad.jsonl"
expect 1 upsert "$coll" "$tmp/bad.jsonl"
grep_err "$tmp/bad.jsonl:2: a document needs a non-empty string \"id\""
expect 1 upsert "$coll" "$tmp/missing.jsonl"
grep_err "$tmp/missing.jsonl: cannot read"
expect 2 collections drop "$coll"
grep_err "add --yes"
expect 2 search "$coll" q --top-k zero
grep_err "--top-k: expected a whole number"
expect 2 frobnicate
expect 2 search "$coll" q --mode text --exact
grep_err "--exact does not apply to --mode text"
expect 2 search
expect 0 search --help
grep -q -- "--filter JSON" "$tmp/out" || fail "search --help lacks --filter"

# ---- completion (a completion gives up on pgmld after 1 s; the suite runs
# beside others under sanitizers, so this one waits longer)
export PGMLCTL_COMPLETE_TIMEOUT_MS=60000
comp() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _pgmlctl; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$src/deploy/completion/pgmlctl.bash" "$ctl" "$@"
}
[ "$(comp collections l)" = "list" ] || fail "completion of 'collections l': $(comp collections l)"
# Seen twice in full fresh-clone runs (never alone): the names came back
# without $coll.  Not explained yet; the check is tried 3 times and every
# miss shows what completion and `collections list` said.
comp_ok=0
for try in 1 2 3; do
  if comp search "" >"$tmp/comp" 2>&1 && grep -qx "$coll" "$tmp/comp"; then comp_ok=1; break; fi
  echo "completion try $try lacks $coll; it offered: $(tr '\n' ' ' <"$tmp/comp")" >&2
  "$ctl" collections list >&2 2>&1 || echo "collections list exited $?" >&2
  sleep 1
done
[ "$comp_ok" = 1 ] || fail "completion of a collection name lacks $coll"
[ "$(comp search "$coll" q --mode h)" = "hybrid" ] || fail "completion of --mode h"

# ---- archive and drop
expect 0 collections archive "$coll" --json
json_check 'j["archived"] is True'
expect 15 collections exists "$coll"
expect 0 collections create "${coll}_drop"
expect 0 collections drop "${coll}_drop" --yes
expect 15 collections exists "${coll}_drop"

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "pgmld exited $rc after SIGTERM"
if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed; pgmld's log:" >&2; cat "$tmp/pgmld.log" >&2
  exit 1
fi
echo "pgmlctl: all checks passed"
