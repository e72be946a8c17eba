#!/bin/bash
# walkthrough.sh - docs/operations.md's operator walkthrough, run as root in
# the KVM guest scripts/vm-check.sh boots (under pgmld-vm-walkthrough.service,
# from the 9p share /payload).  Each step's commands and output go to
# /payload/transcript.txt under "=== STEP <name>"; the host checks it.  The
# guest powers off at the end, whatever happened.
set -u
P=/payload
. "$P/env"                      # PG_URL
exec >"$P/transcript.txt" 2>&1
# Power off however the script ends (the unit's ExecStopPost is the backstop).
trap 'sync; systemctl --no-block poweroff' EXIT
export LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 TERM=xterm COLUMNS=160

step() { echo; echo "=== STEP $1 ($(date +%T))"; }
# run CMD...: the command, its output, its exit status.
run() { echo "\$ $*"; "$@" 2>&1; echo "[exit $?]"; }
# journal_since CURSOR: pgmld's and systemd's lines about pgmld since CURSOR.
journal_since() { journalctl -q --no-pager -o short-monotonic --after-cursor="$1" -u pgmld.service -u pgmld.socket; }
cursor() { journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
wait_state() {   # wait_state UNIT STATE: up to 60 s
  for _ in $(seq 600); do
    [ "$(systemctl is-active "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- boot
step boot
systemctl is-system-running --wait
systemctl --version | head -1
uname -r
systemd-analyze time
echo "nproc $(nproc), $(awk '/MemTotal/ {print $2, $3}' /proc/meminfo)"
# systemd logs every notification it receives at debug level: that is how
# READY=1, RELOADING=1, WATCHDOG=1 and STOPPING=1 show in the journal below.
systemctl log-level debug

# ---------------------------------------------------------------- install
step install
cd /root
cp "$P"/pgmld_*_amd64.deb /root/
c=$(cursor)
# Offline: the dependencies are the .debs the image downloaded (the image
# has no package lists, so apt could not fetch anything else).  Not
# --no-download: with it apt 2.6 fails on local files ("Pathname to install
# is not absolute").
run env DEBIAN_FRONTEND=noninteractive apt-get install -y \
  -o Dpkg::Progress-Fancy=0 /root/pgmld_*_amd64.deb /root/debs/*.deb
echo "user pgmld: $(id pgmld)"
echo "is-enabled: $(systemctl is-enabled pgmld.service)"
echo "socket is-enabled: $(systemctl is-enabled pgmld.socket)"
sleep 3    # RestartSec=2s: a restart loop would show as "activating"
echo "is-active: $(systemctl is-active pgmld.service)"
echo "/etc/pgmld: $(stat -c '%A %U %G' /etc/pgmld), pgmld.conf: $(stat -c '%A %U %G' /etc/pgmld/pgmld.conf)"
run systemctl show -p Type,NRestarts,Result,ExecMainStatus pgmld
journal_since "$c" | grep -v 'Got notification' | tail -20
run ls -l /etc/pgmld /run/pgmld
run pgmld --version
if ! command -v pgmlctl >/dev/null; then
  echo "walkthrough: the .deb did not install; stopping"
  exit 1
fi

# ---------------------------------------------------------------- configure
step configure
cp /etc/pgmld/pgmld.conf /root/pgmld.conf.dist
sed -i -e "s|^#url =\$|url = $PG_URL|" \
       -e 's|^#level = info$|level = info|' \
       -e 's|^#max_top_k = 1000$|max_top_k = 1000|' \
       -e '/^\[http\]/,/^\[/ s|^#listen =$|listen = 127.0.0.1:9187|' /etc/pgmld/pgmld.conf
diff /root/pgmld.conf.dist /etc/pgmld/pgmld.conf | sed 's/:[^:@]*@/:***@/'
c=$(cursor)
t0=$(date +%s.%N)
run systemctl restart pgmld
t1=$(date +%s.%N)
echo "restart to READY=1: $(echo "$t1 - $t0" | awk '{printf "%.2f s", $1 - $3}')"
echo "is-active: $(systemctl is-active pgmld)"
systemctl show -p Type,NRestarts,WatchdogUSec,StatusText,MainPID,User pgmld
journal_since "$c" | sed 's/:[^:@ ]*@10.0.2.2/:***@10.0.2.2/'
run ls -ld /run/pgmld /run/pgmld/pgmld.sock /var/lib/pgmld /etc/pgmld
run pgmlctl ping
run pgmlctl info
run pgmlctl ping --count 1000 -q
pgmlctl ping --count 1000 | tail -1
run systemctl status --no-pager -l pgmld
run bash -c 'exec 3<>/dev/tcp/127.0.0.1/9187; printf "GET /readyz HTTP/1.0\r\n\r\n" >&3; cat <&3'

# ---------------------------------------------------------------- security
step security
run systemd-analyze security --no-pager pgmld.service
# --man=no: the guest has no man-db to look the Documentation= pages up.
out=$(systemd-analyze verify --man=no /usr/lib/systemd/system/pgmld.service /usr/lib/systemd/system/pgmld.socket 2>&1)
if [ -z "$out" ]; then echo "verify: ok"; else echo "verify: $out"; fi

# ---------------------------------------------------------------- socket
step socket
c=$(cursor)
run systemctl stop pgmld.service
run systemctl start pgmld.socket
echo "before connect: pgmld.service $(systemctl is-active pgmld.service), pgmld.socket $(systemctl is-active pgmld.socket)"
run ls -l /run/pgmld
run pgmlctl ping --timeout 60s
wait_state pgmld.service active
echo "after connect: pgmld.service $(systemctl is-active pgmld.service)"
systemctl show -p TriggeredBy,NRestarts,StatusText pgmld.service
journal_since "$c" | grep -v 'Got notification message.*WATCHDOG' | tail -30

# ---------------------------------------------------------------- upsert
step upsert
run pgmlctl collections create docs
echo "\$ script -q -c 'pgmlctl upsert docs $P/docs.jsonl --batch-size 250' (a terminal)"
script -q -e -c "pgmlctl upsert docs $P/docs.jsonl --batch-size 250" /root/upsert.typescript >/dev/null 2>&1
echo "[exit $?]"
# The progress line redraws itself with \r: one line per redraw here.
tr '\r' '\n' </root/upsert.typescript | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -v '^$'
run pgmlctl pipelines list docs

# ---------------------------------------------------------------- search
step search
echo "\$ script -q -c 'pgmlctl search docs \"vector indexes in PostgreSQL\" --top-k 5' (a terminal)"
script -q -e -c 'pgmlctl search docs "vector indexes in PostgreSQL" --top-k 5' /root/search.typescript >/dev/null 2>&1
echo "[exit $?]"
tr -d '\r' </root/search.typescript
run pgmlctl search docs "write-ahead logging" --mode text --top-k 3
run pgmlctl search docs replication --mode hybrid --top-k 2 --filter '{"topic": "replication"}' --json

# ---------------------------------------------------------------- reload
step reload
c=$(cursor)
rm -f /root/ready /root/go
# One long-lived connection: a Ping before, nothing from pgmld meanwhile,
# a Ping after, on the same connection (tests/integration/deploy/raw_client.py).
python3 "$P/raw_client.py" /run/pgmld/pgmld.sock /root/ready /root/go >/root/raw_client.log 2>&1 &
client=$!
# Calls on fresh connections all through the reload.
( ok=0 bad=0
  while [ ! -e /root/go ]; do
    if pgmlctl ping -q --count 20; then ok=$((ok + 20)); else bad=$((bad + 1)); fi
  done
  echo "pings during reload: $ok ok, $bad failed" >/root/pings.log ) &
pinger=$!
wait_state_file() { for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_state_file /root/ready || echo "raw_client never got ready"
sed -i -e 's|^level = info$|level = debug|' -e 's|^max_top_k = 1000$|max_top_k = 50|' /etc/pgmld/pgmld.conf
run grep -E '^(level|max_top_k) = ' /etc/pgmld/pgmld.conf
run systemctl reload pgmld
sleep 2
touch /root/go
wait "$client"; echo "raw_client: exit $?"
cat /root/raw_client.log
wait "$pinger"; cat /root/pings.log
echo "is-active: $(systemctl is-active pgmld)"
systemctl show -p NRestarts,MainPID,StatusText pgmld
journal_since "$c" | grep -v 'Got notification message.*WATCHDOG' | grep -v ' DEBUG ' | tail -30
pgmlctl search docs x --top-k 100 >/dev/null 2>/root/topk.err; echo "top-k 100: exit $?"
cat /root/topk.err
echo "top-k 50: $(pgmlctl search docs vacuum --top-k 50 -q | wc -l) results"

# ---------------------------------------------------------------- watchdog
step watchdog
systemctl show -p WatchdogUSec,WatchdogTimestamp,WatchdogTimestampMonotonic pgmld
w1=$(systemctl show -P WatchdogTimestampMonotonic pgmld)
# Keep-alives come every WatchdogSec/2 = 15 s.
sleep 16
w2=$(systemctl show -P WatchdogTimestampMonotonic pgmld)
systemctl show -p WatchdogTimestamp,WatchdogTimestampMonotonic pgmld
if [ "${w2:-0}" -gt "${w1:-0}" ]; then echo "watchdog: advanced"; else echo "watchdog: stuck at $w1"; fi
journalctl -q --no-pager -u pgmld.service | grep 'WATCHDOG=1' | tail -3

# ---------------------------------------------------------------- stop
step stop
c=$(cursor)
run systemctl stop pgmld.socket pgmld.service
echo "is-active: $(systemctl is-active pgmld.service)"
systemctl show -p Result,ExecMainStatus pgmld
journal_since "$c" | grep -v ' DEBUG '

# ---------------------------------------------------------------- purge
step purge
systemctl log-level info
run dpkg --purge pgmld
left=
[ -e /etc/pgmld ] && left="$left /etc/pgmld"
[ -e /usr/lib/systemd/system/pgmld.service ] && left="$left pgmld.service"
[ -e /usr/lib/systemd/system/pgmld.socket ] && left="$left pgmld.socket"
[ -e /usr/sbin/pgmld ] && left="$left /usr/sbin/pgmld"
[ -e /usr/bin/pgmlctl ] && left="$left /usr/bin/pgmlctl"
if [ -z "$left" ]; then echo "purged: no /etc/pgmld, no units, no binaries"; else echo "left after purge:$left"; fi
echo "unit: $(systemctl list-unit-files pgmld.service --no-legend | wc -l) unit files; user: $(id pgmld 2>&1)"
run ls -ld /var/lib/pgmld /run/pgmld

# The whole journal of this boot, for what the steps' excerpts leave out.
journalctl -b --no-pager -o short-monotonic >"$P/journal.txt" 2>&1

step end
echo "walkthrough: done"
sync
systemctl --no-block poweroff
