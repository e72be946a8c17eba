#!/usr/bin/env bash
# vm-check.sh - the operator walkthrough of docs/operations.md on a real
# systemd: boots a Debian 12 KVM guest, which installs the pgmld .deb,
# starts pgmld under systemd against a PostgreSQL with pgvector on this
# host, and runs every step (deploy/vm/walkthrough.sh); then checks the
# transcript for the expected facts.  Not a ctest test: the first run
# downloads ~300 MB and takes minutes.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/vm-check.sh [--rebuild-image] [--keep] [--help]

Runs docs/operations.md's walkthrough ("From .deb to search") under a real
systemd, in a Debian 12 (bookworm) guest booted with qemu:

  1. installs what it needs on this host (qemu-system-x86, qemu-utils,
     mmdebstrap, e2fsprogs) when missing (apt-get; root);
  2. builds the .deb with CPack from a Release build in build/vm-deb;
  3. makes the guest's base image once, cached in build/vm/ (systemd,
     linux-image-amd64, python3-minimal; the .deb's runtime dependencies
     downloaded to /root/debs, not installed): rebuilt only when the
     package list or the .deb's Depends change;
  4. starts a PostgreSQL with pgvector on 127.0.0.1:<free port>
     (scripts/pg-bindir.sh's binaries, user pgmld, password auth), which
     the guest reaches as 10.0.2.2:<port> through qemu's user networking;
  5. boots the guest with KVM, or TCG where KVM cannot (copy-on-write over the base image, so every run
     starts clean; -m 2048 -smp 2; serial console in build/vm/console.log);
     the unit pgmld-vm-walkthrough.service runs deploy/vm/walkthrough.sh
     from a 9p share, writes build/vm/run/transcript.txt, powers off;
  6. checks the transcript step by step; exits 1 naming the first step
     whose expected facts are missing.

Options:
  --rebuild-image  make the base image again even if it is cached
  --keep           leave build/vm/run/ and the PostgreSQL data after the run
  --help           this text

Environment: VM_CHECK_ACCEL (auto, kvm or tcg; auto takes kvm unless
/dev/kvm is missing or is kvm_pvm, which cannot boot a stock kernel),
VM_CHECK_TIMEOUT (seconds the guest may run, default 2400), VM_CHECK_DOCS
(documents in the JSON Lines file, default 3000).
EOF
}

rebuild=0 keep=0
for arg in "$@"; do
  case $arg in
    --rebuild-image) rebuild=1 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "vm-check: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vm=$root/build/vm
run=$vm/run
timeout_s=${VM_CHECK_TIMEOUT:-2400}
ndocs=${VM_CHECK_DOCS:-3000}
# Packages of the guest beyond minbase.  Changing this list rebuilds the
# base image.
guest_pkgs="systemd,systemd-sysv,udev,dbus,kmod,linux-image-amd64,initramfs-tools,procps,iproute2,python3-minimal,less"
mirror=http://deb.debian.org/debian

say() { printf '== vm-check: %s\n' "$*" >&2; }
die() { printf 'vm-check: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, mmdebstrap, the base image's files)"
# The accelerator.  A hardware-assisted KVM boots the guest's stock Debian
# kernel in seconds.  kvm_pvm (the "Pagetable-based Virtual Machine" of
# nested cloud hosts, which answers KVM_GET_API_VERSION like any KVM) runs
# SeaBIOS but leaves a stock kernel crawling in its decompressor for
# minutes; there, and without /dev/kvm, qemu emulates (TCG: slower, but a
# real systemd all the same).
accel=${VM_CHECK_ACCEL:-auto}
if [ "$accel" = auto ]; then
  if [ -d /sys/module/kvm_pvm ] || [ ! -w /dev/kvm ]; then accel=tcg; else accel=kvm; fi
fi
case $accel in
  kvm) accel_args=(-enable-kvm) ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
  *) die "VM_CHECK_ACCEL must be auto, kvm or tcg, not $accel" ;;
esac

# ---------------------------------------------------------------- 1. tools
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v cpack >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
pg_bindir=$("$root/scripts/pg-bindir.sh")
id pgmld >/dev/null 2>&1 || die "no user pgmld on this host (PostgreSQL refuses root; see scripts/pg-cluster.sh)"

# ---------------------------------------------------------------- 2. the .deb
say "building the .deb (Release, build/vm-deb)"
cmake -S "$root" -B "$root/build/vm-deb" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF >/dev/null
ninja -j2 -C "$root/build/vm-deb" >/dev/null
rm -f "$root"/build/vm-deb/pgmld_*.deb
(cd "$root/build/vm-deb" && cpack -G DEB >/dev/null)
deb=$(ls "$root"/build/vm-deb/pgmld_*_amd64.deb)
# Depends without version constraints: "adduser libc6 libinih1 ...".
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep . | sort | tr '\n' ' ')
say "$(basename "$deb"): Depends $deps"

# ---------------------------------------------------------------- 3. image
mkdir -p "$vm"
key=$(printf '%s\n' image-v2 "$guest_pkgs" "$deps" "$(sha256sum "$root/deploy/vm/pgmld-vm-walkthrough.service")" \
      | sha256sum | cut -c1-16)
if [ $rebuild -eq 1 ] || [ ! -f "$vm/base.img" ] || [ "$(cat "$vm/base.key" 2>/dev/null)" != "$key" ]; then
  say "making the base image (mmdebstrap bookworm; minutes, ~300 MB downloaded)"
  rm -rf "$vm/rootfs" "$vm/base.img" "$vm/base.key"
  # The .deb's dependencies are downloaded into /root/debs but not
  # installed: the guest's `apt-get install ./pgmld_*.deb` installs them
  # offline, as an operator's apt would from the archive.
  mmdebstrap --variant=minbase --include="$guest_pkgs" \
    --customize-hook='echo pgmld-vm >"$1/etc/hostname"' \
    --customize-hook='printf "payload /payload 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n" >"$1/etc/fstab"; mkdir -p "$1/payload"' \
    --customize-hook='mkdir -p "$1/etc/systemd/network"; printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >"$1/etc/systemd/network/20-wired.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service' \
    --customize-hook='printf "nameserver 10.0.2.3\n" >"$1/etc/resolv.conf"' \
    --customize-hook='chroot "$1" passwd -d root >/dev/null' \
    --customize-hook="copy-in $root/deploy/vm/pgmld-vm-walkthrough.service /etc/systemd/system" \
    --customize-hook='chroot "$1" systemctl enable pgmld-vm-walkthrough.service' \
    --customize-hook='chroot "$1" apt-get clean' \
    --customize-hook="chroot \"\$1\" apt-get install -y -q --download-only $deps >/dev/null" \
    --customize-hook='mkdir -p "$1/root/debs"; mv "$1"/var/cache/apt/archives/*.deb "$1/root/debs/" 2>/dev/null || true' \
    bookworm "$vm/rootfs" "$mirror" >"$vm/mmdebstrap.log" 2>&1 \
    || { tail -30 "$vm/mmdebstrap.log" >&2; die "mmdebstrap failed (build/vm/mmdebstrap.log)"; }
  cp "$(ls "$vm"/rootfs/boot/vmlinuz-* | tail -1)" "$vm/vmlinuz"
  cp "$(ls "$vm"/rootfs/boot/initrd.img-* | tail -1)" "$vm/initrd.img"
  truncate -s 3G "$vm/base.img.tmp"
  mkfs.ext4 -q -F -L pgmld-vm -d "$vm/rootfs" "$vm/base.img.tmp"
  mv "$vm/base.img.tmp" "$vm/base.img"
  rm -rf "$vm/rootfs"
  echo "$key" >"$vm/base.key"
else
  say "base image cached (build/vm/base.img, key $key)"
fi

# ---------------------------------------------------------------- 4. PostgreSQL
rm -rf "$run"
mkdir -p "$run"
pgdir=$vm/pg
as_pg=(setpriv --reuid=pgmld --regid=pgmld --init-groups --)
if [ -f "$pgdir/data/postmaster.pid" ]; then
  "${as_pg[@]}" "$pg_bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$pgdir"
mkdir -p "$pgdir"
chown pgmld:pgmld "$pgdir"
pg_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$pg_password" >"$pgdir/pwfile"
chown pgmld:pgmld "$pgdir/pwfile"
chmod 0600 "$pgdir/pwfile"
# Local (Unix socket, in $pgdir) trust for this script; TCP from 127.0.0.1
# (where qemu's user networking comes from) with the password only.
"${as_pg[@]}" "$pg_bindir/initdb" -D "$pgdir/data" -U pgmld --pwfile="$pgdir/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
  >"$pgdir/initdb.log" 2>&1 || { cat "$pgdir/initdb.log" >&2; die "initdb failed"; }
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg_bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories='$pgdir' -c fsync=off" \
  start >/dev/null || { cat "$pgdir/postgres.log" >&2; die "PostgreSQL did not start"; }
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  "${as_pg[@]}" "$pg_bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  [ $keep -eq 1 ] || rm -rf "$pgdir"
}
trap cleanup EXIT
"${as_pg[@]}" "$pg_bindir/psql" -h "$pgdir" -p "$pg_port" -U pgmld -d postgres -qc 'CREATE DATABASE pgmld'
say "PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port (guest: 10.0.2.2:$pg_port)"

# ---------------------------------------------------------------- 5. the guest
payload=$run/payload
mkdir -p "$payload"
cp "$deb" "$payload/"
cp "$root/deploy/vm/walkthrough.sh" "$root/tests/integration/deploy/raw_client.py" "$payload/"
cat >"$payload/env" <<EOF
PG_URL='postgresql://pgmld:$pg_password@10.0.2.2:$pg_port/pgmld'
EOF
# A few thousand documents, each with a distinct text and metadata.
python3 - "$ndocs" >"$payload/docs.jsonl" <<'EOF'
import json, sys
topics = ["vector indexes", "full-text search", "connection pooling", "write-ahead logging",
          "query planning", "replication", "vacuum", "partitioning", "json documents", "extensions"]
for i in range(int(sys.argv[1])):
    t = topics[i % len(topics)]
    print(json.dumps({"id": "doc-%05d" % i,
                      "text": "Document %d is about %s in PostgreSQL; note %d explains %s for operators." % (i, t, i * 7 % 1000, t),
                      "topic": t, "n": i}))
EOF

rm -f "$run/overlay.qcow2"
qemu-img create -q -f qcow2 -b "$vm/base.img" -F raw "$run/overlay.qcow2"
say "booting the guest ($accel; console: build/vm/run/console.log; at most ${timeout_s}s)"
start=$(date +%s)
# -nographic with the serial console in a file; user networking: the guest
# reaches this host's 127.0.0.1 as 10.0.2.2.
timeout "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" -m 2048 -smp 2 -nographic \
  -monitor none -serial "file:$run/console.log" -no-reboot \
  -kernel "$vm/vmlinuz" -initrd "$vm/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=1" \
  -drive "file=$run/overlay.qcow2,if=virtio,format=qcow2" \
  -nic user,model=virtio-net-pci \
  -virtfs "local,path=$payload,mount_tag=payload,security_model=none,id=payload" \
  >"$run/qemu.log" 2>&1 &
qemu_pid=$!
set +e
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=
elapsed=$(( $(date +%s) - start ))
[ $qemu_status -eq 124 ] && die "the guest did not power off within ${timeout_s}s (build/vm/run/console.log)"
[ $qemu_status -eq 0 ] || { cat "$run/qemu.log" >&2; die "qemu exited with status $qemu_status"; }
t=$payload/transcript.txt
[ -s "$t" ] || die "no transcript: the walkthrough did not run (build/vm/run/console.log)"
cp "$t" "$run/transcript.txt"
[ -f "$payload/journal.txt" ] && cp "$payload/journal.txt" "$run/journal.txt"
say "guest ran ${elapsed}s; transcript: build/vm/run/transcript.txt, the guest's journal: build/vm/run/journal.txt"

# ---------------------------------------------------------------- 6. checks
# section NAME: the transcript lines of step NAME.  The greps below read all
# of it (no grep -q): awk killed by SIGPIPE would fail the pipeline
# (pipefail) and turn a match into a miss.
section() { awk -v s="=== STEP $1 " 'index($0, "=== STEP ") == 1 { on = (index($0, s) == 1) } on' "$t"; }
failed=()
# expect STEP REGEX WHAT: STEP's output must have a line matching REGEX.
expect() {
  if ! section "$1" | grep -E -- "$2" >/dev/null; then
    failed+=("$1: $3")
    printf 'vm-check: FAIL step %s: %s (no line matching /%s/)\n' "$1" "$3" "$2" >&2
  fi
}
# absent STEP REGEX WHAT: no line of STEP's output may match REGEX.
absent() {
  if section "$1" | grep -E -- "$2" >/dev/null; then
    failed+=("$1: $3")
    printf 'vm-check: FAIL step %s: %s (a line matches /%s/)\n' "$1" "$3" "$2" >&2
  fi
}

expect boot 'Startup finished in' "the guest booted to multi-user"
expect boot '^systemd 25[0-9]' "systemd is PID 1"
expect install 'Setting up pgmld ' "apt-get installed the .deb offline"
expect install '^user pgmld: uid=' "postinst created the user pgmld"
expect install '^is-enabled: enabled' "postinst enabled pgmld.service"
expect install '^is-active: (inactive|failed)$' "postinst left no restart loop behind (the default configuration cannot start)"
expect install '^/etc/pgmld: drwxr-x--- root pgmld, pgmld.conf: -rw-r----- root pgmld$' "the configuration is readable by pgmld only"
expect configure '^is-active: active$' "pgmld is active after the restart"
expect configure '^Type=notify$' "the unit is Type=notify"
expect configure '^WatchdogUSec=30s$' "the watchdog is armed"
expect configure '^StatusText=serving on /run/pgmld/pgmld.sock' "pgmld's STATUS= line"
expect configure 'Got notification message from PID [0-9]+ \(.*READY=1' "READY=1 reached systemd"
expect configure '^pong from ' "pgmlctl ping answers"
expect security 'Overall exposure level for pgmld.service: [0-9.]+ ' "systemd-analyze security rated the unit"
expect security '^verify: ok$' "systemd-analyze verify is silent"
expect socket '^before connect: pgmld.service inactive, pgmld.socket active$' "the service was stopped and the socket listening"
expect socket '^pong from ' "pgmlctl ping through the socket"
expect socket '^after connect: pgmld.service active$' "the connection started the service"
expect socket '^TriggeredBy=pgmld.socket$' "the service was triggered by the socket"
expect upsert '[0-9]+%' "the progress bar on the terminal"
expect upsert "^upserted $ndocs documents" "the upsert summary"
expect search '^# +SCORE' "a table on the terminal"
expect search '"document_id": *"doc-' "--json"
expect reload '^raw_client: exit 0$' "the client connected before the reload made calls after it"
expect reload '^pings during reload: [0-9]+ ok, 0 failed$' "no call failed during the reload"
expect reload 'reload: log.level: INFO -> DEBUG' "the reload is in the journal"
expect reload 'configuration reloaded' "the reload summary is in the journal"
expect reload 'Got notification message from PID [0-9]+ \(.*RELOADING=1' "RELOADING=1 reached systemd"
expect reload '^top-k 100: exit 13$' "the new max_top_k refuses 100"
expect reload '^top-k 50: 50 results$' "the new max_top_k allows 50"
expect reload '^NRestarts=0$' "the reload restarted nothing"
expect reload '^MainPID=[0-9]+$' "pgmld still runs"
expect watchdog '^watchdog: advanced$' "WatchdogTimestamp advances (WATCHDOG=1 keep-alives)"
expect stop 'Got notification message from PID [0-9]+ \(.*STOPPING=1' "STOPPING=1 reached systemd"
expect stop '^is-active: inactive$' "pgmld stopped"
expect stop 'pgmld.service: Deactivated successfully' "a clean exit"
expect purge '^purged: no /etc/pgmld, no units, no binaries$' "dpkg --purge removed the package's files"
absent purge '^(dpkg|E): ' "dpkg --purge reported no error"
expect end '^walkthrough: done$' "the walkthrough ran to its end"

# The figures docs/operations.md quotes.
{
  echo "figures:"
  section boot | grep -E '^Startup finished' | sed 's/^/  boot: /'
  section configure | grep -E '^restart to READY=1:' | sed 's/^/  /'
  section security | grep -E 'Overall exposure' | sed 's/^/  /'
  section upsert | grep -E '^upserted ' | sed 's/^/  /'
  section configure | grep -E '^[0-9]+ pings: ' | sed 's/^/  ping: /'
  section reload | grep -E '^pings during reload' | sed 's/^/  /'
} >&2

if [ ${#failed[@]} -gt 0 ]; then
  die "${#failed[@]} check(s) failed; first: ${failed[0]}"
fi
say "all steps passed"
