#!/usr/bin/env bash
# The daemon's accept-only throughput: ringpost-blast drives, in one run,
#   ceiling   ringpost-blast → ringpost-sink (nothing stored: what the tools can do)
#   ringpost  ringpost-blast → ringpost, fsync on, one shard, every message held (no
#             delivery, no route lookup): every 250 is durable
#   postfix   ringpost-blast → a private Postfix that puts every message on hold
#             (queued and fsynced, never delivered: accept-only like ringpost here)
# with the server on CPU 0 and the load generator on CPU 1 (taskset), 64 long-lived
# connections, 1 KB and 100 KB messages. Server CPU comes from a cpuacct cgroup around
# the server's processes (all of Postfix's, not only smtpd). Prints a markdown table.
#   bash bench/accept_benchmark.sh [seconds_per_run] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
conns=${2:-64}
bin=build/release/tools
[ -x $bin/ringpost ] || tools/dev build release >/dev/null
command -v postfix >/dev/null || tools/install_deps.sh >/dev/null
server_cpu=0
load_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
port_base=$((30000 + RANDOM % 20000))
work=$(mktemp -d /var/tmp/ringpost-accept-bench.XXXXXX)
chmod 755 "$work"  # Postfix's daemons run as the postfix user
cg_root=/sys/fs/cgroup/cpuacct
source bench/bench_lib.sh
trap 'stop_all' EXIT

stop_all() {
  [ -n "${postfix_dir:-}" ] && postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null || true
  sleep 0.5
  remove_groups
  rm -rf "$work"
}

# blast PORT SIZE: prints "accepted seconds"
blast() {
  local out
  out=$(taskset -c $load_cpu $bin/ringpost-blast --target=127.0.0.1:$1 --connections=$conns \
        --duration=${seconds}s --size=$2 --progress=false --json)
  python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(j["accepted"], j["seconds"])' <<<"$out"
}

# measure NAME PORT SIZE: prints "msgs_per_s cpu_s_per_1k"
measure() {
  local before after result accepted elapsed
  before=$(group_ns "$1")
  result=$(blast "$2" "$3")
  after=$(group_ns "$1")
  read -r accepted elapsed <<<"$result"
  awk -v n="$accepted" -v t="$elapsed" -v ns=$((after - before)) \
    'BEGIN { if (n == 0) { print "0 nan"; exit } printf "%.0f %.3f\n", n / t, ns / 1e9 / n * 1000 }'
}

run_sink() {
  local port=$((port_base++))
  start_in_group "sink$1" $bin/ringpost-sink --listen=127.0.0.1:$port --shards=1 >/dev/null 2>&1
  wait_port $port
  measure "sink$1" $port $1
  kill -TERM $server_pid; wait $server_pid 2>/dev/null || true; server_pid=
}

run_ringpost() {
  local port=$((port_base++))
  # Every message held, as Postfix's: a [default] rate of 0 (no delivery, no lookup).
  printf '[default]\nmax_message_rate = 0\n' >"$work/hold-$1.toml"
  start_in_group "ringpost$1" $bin/ringpost --listen=127.0.0.1:$port --shards=1 --pin_threads=false \
    --spool_dir="$work/spool-$1" --hostname=bench.ringpost.test --log_level=warning \
    --max_connections_per_ip=1000 --shaping="$work/hold-$1.toml" >"$work/ringpost-$1.log" 2>&1
  wait_port $port
  measure "ringpost$1" $port $1
  kill -TERM $server_pid; wait $server_pid 2>/dev/null || true; server_pid=
  rm -rf "$work/spool-$1"
}

run_postfix() {
  local port=$((port_base++))
  postfix_dir="$work/pf$1"
  postfix_setup "$postfix_dir" $port "relayhost = [127.0.0.1]:9" "smtpd_data_restrictions = check_client_access static:HOLD"
  start_in_group "postfix$1" postfix -c "$postfix_dir/etc" start >/dev/null 2>&1
  wait $server_pid 2>/dev/null || true; server_pid=  # `postfix start` returns; its master stays in the group
  wait_port $port
  measure "postfix$1" $port $1
  postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  rm -f "/var/tmp/$(basename "$postfix_dir").maillog"
  postfix_dir=
}

echo "# accept-only: $conns long-lived connections, ${seconds}s per run, server on CPU $server_cpu, blast on CPU $load_cpu"
echo "# kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo none), spool on $(df --output=fstype "$work" | tail -1)"
printf '| size | server | messages/s | server CPU s/1k msgs | vs ceiling | CPU vs Postfix |\n|---|---|---|---|---|---|\n'
for size in 1024 102400; do
  read -r c_rate c_cpu < <(run_sink $size)
  read -r r_rate r_cpu < <(run_ringpost $size)
  read -r p_rate p_cpu < <(run_postfix $size)
  printf '| %s | ceiling (blast → ringpost-sink) | %s | %s | 1.00 | |\n' $size "$c_rate" "$c_cpu"
  awk -v s=$size -v r="$r_rate" -v rc="$r_cpu" -v c="$c_rate" -v pc="$p_cpu" \
    'BEGIN { printf "| %s | ringpost (fsync on) | %s | %s | %.2f | %.3f |\n", s, r, rc, r / c, rc / pc }'
  awk -v s=$size -v p="$p_rate" -v pc="$p_cpu" -v c="$c_rate" \
    'BEGIN { printf "| %s | Postfix 3.7 (fsync, hold queue) | %s | %s | %.2f | 1.000 |\n", s, p, pc, p / c }'
done
