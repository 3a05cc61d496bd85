#!/usr/bin/env bash
# Installs every Debian package ringpost needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so every entry point
# (make run, make test, .ci/run) calls it first at almost no cost.
# Peers (postfix, dnsmasq, haproxy) are installed for their tools only: their system
# services are stopped and disabled so nothing listens on port 25 or 53.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang
  liburing-dev libabsl-dev android-libboringssl-dev libc-ares-dev libre2-dev libtoml11-dev libsystemd-dev libhiredis-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-aiosmtpd python3-jsonschema swaks curl libnet-ssleay-perl libio-socket-ssl-perl
  dnsmasq-base dnsmasq postfix haproxy openssl bsd-mailx libidn2-dev libcrypt-dev whois hydra python3-dkim python3-nacl
  ca-certificates gnuplot-nox testssl.sh linux-perf
  procps psmisc util-linux iproute2
  dpkg-dev systemd passwd redis-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "install_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks how to configure itself; "No configuration" leaves no system MTA set up.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Do not let package scripts start services (no port 25, no port 53).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi

# Never leave a system MTA on port 25 or a system dnsmasq on port 53.
for svc in postfix dnsmasq haproxy redis-server; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then
  /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi
pkill -x dnsmasq -u dnsmasq >/dev/null 2>&1 || true
# Debian's haproxy service runs its master as root with /etc/haproxy/haproxy.cfg; tests
# start their own haproxy with their own configuration.
pkill -f '^/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg' >/dev/null 2>&1 || true
# Likewise Debian's redis-server on 6379: tests start their own on ports of their own.
pkill -f '^/usr/bin/redis-server 127.0.0.1:6379' >/dev/null 2>&1 || true
exit 0
