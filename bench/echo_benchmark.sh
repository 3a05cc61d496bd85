#!/usr/bin/env bash
# The runtime against a plain epoll server: the same echo service shape, the same
# client (ringpost-echo-client, ping-pong of 64-byte messages), the same CPUs, in one
# run. Server on CPU 0 with one thread, client on CPU 1; each server is measured twice,
# interleaved (A B A B), because this machine is shared and noisy.
#   bash bench/echo_benchmark.sh [duration_ms] [connections...]
set -euo pipefail
cd "$(dirname "$0")/.."
duration_ms=${1:-4000}
shift || true
connections=("$@")
[ ${#connections[@]} -gt 0 ] || connections=(1 16 64)
[ -x build/release/tests/ringpost-echo-server ] || tools/dev build release >/dev/null
bin=build/release
server_cpu=0
client_cpu=$(( $(nproc) > 1 ? 1 : 0 ))

measure() {  # name, connections, command...
  local name=$1 conns=$2; shift 2
  local out; out=$(mktemp)
  taskset -c $server_cpu "$@" >"$out" 2>&1 &
  local server_pid=$!
  for _ in $(seq 100); do grep -q '^listening ' "$out" && break; sleep 0.05; done
  local address; address=$(awk '/^listening /{print $2; exit}' "$out")
  rm -f "$out"
  local result trips ticks
  result=$(taskset -c $client_cpu $bin/tests/ringpost-echo-client --mode=pingpong --target="$address" \
           --connections="$conns" --message_bytes=64 --duration_ms="$duration_ms")
  # Server CPU (user+system clock ticks) for the whole run, from /proc.
  ticks=$(awk '{print $14 + $15}' /proc/$server_pid/stat)
  kill -TERM $server_pid 2>/dev/null || true
  wait $server_pid 2>/dev/null || true
  trips=$(echo "$result" | sed -n 's/.*round_trips=\([0-9]*\).*/\1/p')
  rate=$(echo "$result" | sed -n 's/.*round_trips_per_second=\([0-9]*\).*/\1/p')
  # rate and server CPU microseconds per round trip
  awk -v r="$rate" -v t="$ticks" -v n="$trips" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%d %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0) }'
}

echo "# echo round trips/s, 64-byte messages, server on CPU $server_cpu, client on CPU $client_cpu"
echo "# kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
printf '| connections | ringpost round trips/s | epoll round trips/s | ratio | ringpost server CPU µs/trip | epoll server CPU µs/trip | CPU ratio |\n'
printf '|---|---|---|---|---|---|---|\n'
for conns in "${connections[@]}"; do
  read -r a1 ca1 < <(measure ringpost "$conns" $bin/tests/ringpost-echo-server --shards=1 --pin_threads=false)
  read -r b1 cb1 < <(measure epoll "$conns" $bin/bench/epoll-echo-server --threads=1)
  read -r a2 ca2 < <(measure ringpost "$conns" $bin/tests/ringpost-echo-server --shards=1 --pin_threads=false)
  read -r b2 cb2 < <(measure epoll "$conns" $bin/bench/epoll-echo-server --threads=1)
  awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" -v ca1="$ca1" -v ca2="$ca2" -v cb1="$cb1" -v cb2="$cb2" -v c="$conns" \
    'BEGIN { a = (a1 + a2) / 2; b = (b1 + b2) / 2; ca = (ca1 + ca2) / 2; cb = (cb1 + cb2) / 2;
             printf "| %s | %d (%d, %d) | %d (%d, %d) | %.2f | %.2f | %.2f | %.2f |\n",
                    c, a, a1, a2, b, b1, b2, (b > 0 ? a / b : 0), ca, cb, (cb > 0 ? ca / cb : 0) }'
done
