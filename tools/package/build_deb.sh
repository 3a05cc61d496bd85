#!/usr/bin/env bash
# Builds the Debian package (make deb): build/deb/ringpost_VERSION_ARCH.deb, from the
# release build. It holds the daemon (/usr/sbin/ringpost), the tools (/usr/bin:
# ringpost-queue, ringpost-sendmail, ringpost-blast, ringpost-sink), the systemd unit,
# /etc/ringpost/ringpost.flags (a conffile) and the documentation; its maintainer
# scripts make the ringpost user and the spool. The library dependencies are found
# by dpkg-shlibdeps, as a Debian build would.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

tools/dev build release
command -v dpkg-shlibdeps >/dev/null || { echo "build_deb: dpkg-dev is missing (tools/install_deps.sh)" >&2; exit 1; }

version=$(sed -n 's/^project(ringpost VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
out=$root/build/deb
stage=$out/ringpost
rm -rf "$out"
mkdir -p "$stage/DEBIAN"

install -D -m 0755 build/release/tools/ringpost "$stage/usr/sbin/ringpost"
for tool in ringpost-queue ringpost-sendmail ringpost-blast ringpost-sink; do
  install -D -m 0755 "build/release/tools/$tool" "$stage/usr/bin/$tool"
done
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/sbin/ringpost" "$stage"/usr/bin/*
install -D -m 0644 tools/package/ringpost.service "$stage/lib/systemd/system/ringpost.service"
install -D -m 0644 tools/package/ringpost.flags "$stage/etc/ringpost/ringpost.flags"
install -d "$stage/usr/share/doc/ringpost"
install -m 0644 README.md docs/*.md "$stage/usr/share/doc/ringpost/"
install -m 0644 docs/ringpost.flags "$stage/usr/share/doc/ringpost/ringpost.flags.example"
for script in postinst prerm postrm; do
  install -m 0755 "tools/package/$script" "$stage/DEBIAN/$script"
done
echo /etc/ringpost/ringpost.flags >"$stage/DEBIAN/conffiles"

# dpkg-shlibdeps wants to run inside a Debian source tree: a bare one will do.
shlibs_dir=$out/shlibs
mkdir -p "$shlibs_dir/debian"
touch "$shlibs_dir/debian/control"
depends=$(cd "$shlibs_dir" && dpkg-shlibdeps -O "$stage/usr/sbin/ringpost" "$stage"/usr/bin/* 2>/dev/null |
          sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs_dir"
[ -n "$depends" ] || { echo "build_deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: ringpost
Version: $version
Architecture: $arch
Maintainer: ringpost developers <postmaster@localhost>
Section: mail
Priority: optional
Installed-Size: $installed_kib
Depends: $depends, passwd
Description: high-throughput mail transfer agent on io_uring
 ringpost receives mail over SMTP, keeps it safe on disk (every message is
 synced before its 250) and delivers it onward, with per-core shards on
 io_uring. For bulk senders and mail gateways: per-destination shaping,
 egress pools, DKIM, DSN, and live queue control (ringpost-queue).
 .
 The service reads /etc/ringpost/ringpost.flags and keeps its queue in
 /var/spool/ringpost.
CONTROL

package=$out/ringpost_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$package" >/dev/null
rm -rf "$stage"
echo "$package"
