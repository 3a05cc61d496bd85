#!/usr/bin/env bash
# Inbound STARTTLS handshakes per second on one shard of the real daemon:
# ringpost-blast opens a new connection per message (--messages_per_connection=1) to
# ringpost (one shard on CPU 0, --fsync=false: the disk is not what is measured here),
# in plaintext, with STARTTLS and full handshakes, and with STARTTLS resuming sessions.
# Prints connections (= messages) per second and the daemon's CPU per connection.
#   bash bench/tls_handshake_benchmark.sh [connections_per_run] [concurrent]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5000}
conns=${2:-32}
bin=build/release/tools
[ -x $bin/ringpost ] || tools/dev build release >/dev/null
load_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
work=$(mktemp -d /var/tmp/ringpost-tls-bench.XXXXXX)
cg_root=/sys/fs/cgroup/cpuacct
server_cpu=0
source bench/bench_lib.sh
trap '[ -n "${server_pid:-}" ] && kill -TERM $server_pid 2>/dev/null; sleep 0.3; remove_groups; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=bench.ringpost.test >/dev/null 2>&1

run() {  # run NAME [blast flags...]: prints "NAME connections/s cpu_us_per_connection"
  local name=$1; shift
  local port; port=$(new_port)
  start_in_group $name $bin/ringpost --listen=127.0.0.1:$port --shards=1 --pin_threads=false --fsync=false \
    --spool_dir="$work/spool-$name" --hostname=bench.ringpost.test --log_level=warning \
    --max_connections_per_ip=10000 --accounting_log= --tls_cert="$work/cert.pem" --tls_key="$work/key.pem" \
    >"$work/$name.log" 2>&1
  wait_port $port
  local before t0 t1 after
  before=$(group_ns $name); t0=$(date +%s.%N)
  taskset -c $load_cpu $bin/ringpost-blast --target=127.0.0.1:$port --connections=$conns --messages=$count \
    --messages_per_connection=1 --progress=false "$@" >"$work/blast-$name.txt"
  t1=$(date +%s.%N); after=$(group_ns $name)
  kill -TERM $server_pid; wait $server_pid 2>/dev/null || true; server_pid=
  awk -v name=$name -v n=$count -v t0=$t0 -v t1=$t1 -v ns=$((after - before)) \
    'BEGIN { printf "| %s | %.0f | %.1f |\n", name, n / (t1 - t0), ns / 1e3 / n }'
  grep -o "tls_handshakes=[0-9]* tls_resumed=[0-9]*" "$work/blast-$name.txt" >&2 || true
}

echo "# one ringpost shard on CPU $server_cpu, blast on CPU $load_cpu, $count connections of one message, $conns at a time"
echo "# kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
printf '| run | connections/s | daemon CPU µs per connection |\n|---|---|---|\n'
run plaintext
run starttls-full --starttls --tls_resume=false
run starttls-resumed --starttls
