#!/bin/bash
# check_deb.sh - builds the .deb from this build tree with CPack
# (deploy/packaging.cmake) into a temporary directory and checks what it
# holds: the binaries, units, config (a conffile), man pages, completion,
# maintainer scripts that parse, and shared-library dependencies.  Exits 77
# (skipped) when the tree has no CPack configuration or dpkg-deb is missing.
#   check_deb.sh BUILD_DIR
set -euo pipefail
build=$1
if [ ! -f "$build/CPackConfig.cmake" ] || ! command -v dpkg-deb >/dev/null; then
  echo "check_deb: no CPackConfig.cmake in $build, or no dpkg-deb" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log" >&2; exit 1
fi
deb=$(ls "$tmp"/*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/files"
dpkg-deb -I "$deb" >"$tmp/info"
status=0
for want in 'sbin/pgmld$' 'bin/pgmlctl$' 'systemd/system/pgmld.service$' \
            'systemd/system/pgmld.socket$' 'etc/pgmld/pgmld.conf$' 'man1/pgmlctl.1$' \
            'man5/pgmld.conf.5$' 'man8/pgmld.8$' 'completions/pgmlctl$' 'libpgml.so.0$' \
            'include/pgml/database.h$' 'pkgconfig/pgml.pc$' 'doc/pgmld/examples/sample.jsonl$'; do
  grep -q "$want" "$tmp/files" || { echo "check_deb: the .deb lacks $want" >&2; status=1; }
done
for want in conffiles postinst prerm postrm 'Depends:.*libuv1' 'Depends:.*adduser'; do
  grep -q "$want" "$tmp/info" || { echo "check_deb: the control data lacks $want" >&2; status=1; }
done
mkdir "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst prerm postrm; do
  sh -n "$tmp/control/$s" || { echo "check_deb: $s does not parse" >&2; status=1; }
done
# The installed pgmld.conf(5) is the one written from pgmld --help.
dpkg-deb -x "$deb" "$tmp/root"
conf5=$(find "$tmp/root" -name pgmld.conf.5 | head -n1)
grep -q 'PGMLD_HTTP_LISTEN' "$conf5" && grep -q '^\.B max_top_k$' "$conf5" ||
  { echo "check_deb: the packaged pgmld.conf.5 lacks the settings" >&2; status=1; }
grep -qx '.*/pgmld/pgmld.conf' "$tmp/control/conffiles" ||
  { echo "check_deb: pgmld.conf is not a conffile" >&2; status=1; }
[ "$status" -eq 0 ] && echo "check_deb: $(basename "$deb"): $(wc -l <"$tmp/files") entries, control data complete"
exit "$status"
