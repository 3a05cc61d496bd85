#!/usr/bin/env bash
# Traffic shaping, end to end: ringpost-blast → ringpost (--shaping) → ringpost-sink.
#  1. Pacing: one destination limited to R messages/s (R = 100 and 1000); a backlog is
#     queued at once, and the sink's count is read at the start and the end of a 60 s
#     window that begins 5 s after the first delivery. Prints R, the measured rate and
#     the error.
#  2. Cost: 100,000 destinations, each with its own [destination."dK.blast.test"] rule
#     (max_message_rate = "100000/s", never binding), against no --shaping, in one run:
#     messages spread over the 100,000 domains, the MTA's CPU per message (its cpuacct
#     group) and its memory (VmHWM, VmRSS after the queue drained), per destination.
#   bash bench/shaping_benchmark.sh [window_seconds] [messages_for_cost]
# PARTS=pacing or PARTS=cost runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-60}
cost_messages=${2:-200000}
bin=build/release/tools
[ -x $bin/ringpost ] || tools/dev build release >/dev/null
server_cpu=0
load_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
work=$(mktemp -d /var/tmp/ringpost-shaping-bench.XXXXXX)
cg_root=/sys/fs/cgroup/cpuacct
source bench/bench_lib.sh
trap 'stop_all' EXIT
stop_all() {
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null || true
  [ -n "${sink_pid:-}" ] && kill -TERM "$sink_pid" 2>/dev/null || true
  sleep 0.5
  remove_groups
  rm -rf "$work"
}

start_sink() {
  sink_port=$(new_port)
  sink_out="$work/sink-$1.out"
  taskset -c $load_cpu $bin/ringpost-sink --listen=127.0.0.1:$sink_port --shards=1 --json >"$sink_out" 2>&1 &
  sink_pid=$!
  wait_port $sink_port
}

start_ringpost() {  # start_ringpost NAME [flags...]
  local name=$1; shift
  port=$(new_port)
  start_in_group $name $bin/ringpost --listen=127.0.0.1:$port --shards=1 --pin_threads=false \
    --spool_dir="$work/spool-$name" --hostname=bench.ringpost.test --log_level=warning \
    --max_connections_per_ip=1000 --routes="*=127.0.0.1:$sink_port" --host_max_connections=20 \
    --domain_max_connections=20 "$@" >"$work/$name.log" 2>&1
  wait_port $port || { cat "$work/$name.log" >&2; exit 1; }
}
stop_ringpost() { kill -TERM $server_pid; wait $server_pid 2>/dev/null || true; server_pid=; }
blast() {  # blast COUNT DOMAINS
  taskset -c $load_cpu $bin/ringpost-blast --target=127.0.0.1:$port --connections=32 --messages=$1 \
    --size=1k --domains=$2 --progress=false --json >"$work/blast.json"
}

parts=${PARTS:-pacing,cost}
[[ $parts == *pacing* ]] && echo "# pacing: one destination limited to R/s, counted at the sink over ${window} s" &&
  echo "# R measured error"
for rate in 100 1000; do
  [[ $parts == *pacing* ]] || break
  start_sink pace$rate
  printf '[destination."d0.blast.test"]\nmax_message_rate = "%d/s"\n' $rate >"$work/pace.toml"
  start_ringpost pace$rate --shaping="$work/pace.toml"
  backlog=$((rate * (window + 15)))
  blast $backlog 1 &
  blast_pid=$!
  while [ "$(sink_messages)" -eq 0 ]; do sleep 0.05; done
  sleep 5
  c0=$(sink_messages); t0=$(date +%s.%N)
  sleep "$window"
  c1=$(sink_messages); t1=$(date +%s.%N)
  wait $blast_pid
  awk -v r=$rate -v c0=$c0 -v c1=$c1 -v t0=$t0 -v t1=$t1 \
    'BEGIN { m = (c1 - c0) / (t1 - t0); printf "%d %.2f %+.2f%%\n", r, m, (m - r) / r * 100 }'
  stop_ringpost
  stop_sink
  rm -rf "$work/spool-pace$rate"
done

[[ $parts == *cost* ]] || exit 0
echo "# cost: 100000 destinations, one rule each, $cost_messages messages over them"
python3 - "$work/many.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for k in range(100000):
        f.write('[destination."d%d.blast.test"]\nmax_message_rate = "100000/s"\n' % k)
PY
echo "# run msgs_per_s cpu_us_per_msg vmhwm_mib vmrss_mib start_s"
for run in off on off on; do
  start_sink cost$run
  flags=()
  [ $run = on ] && flags=(--shaping="$work/many.toml")
  t_start=$(date +%s.%N)
  start_ringpost cost$run "${flags[@]}"
  t_ready=$(date +%s.%N)
  before=$(group_ns cost$run)
  t0=$(date +%s.%N)
  blast $cost_messages 100000
  while [ "$(sink_messages)" -lt "$cost_messages" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  after=$(group_ns cost$run)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$server_pid/status)  # the group's bash execs taskset, then ringpost
  rss=$(awk '/VmRSS/ {print $2}' /proc/$server_pid/status)
  awk -v run=$run -v n=$cost_messages -v t0=$t0 -v t1=$t1 -v ns=$((after - before)) -v hwm=$hwm -v rss=$rss \
    -v ts=$t_start -v tr=$t_ready \
    'BEGIN { printf "%s %.0f %.1f %.1f %.1f %.2f\n", run, n / (t1 - t0), ns / 1e3 / n, hwm / 1024, rss / 1024, tr - ts }'
  stop_ringpost
  stop_sink
  rm -rf "$work/spool-cost$run"
done
