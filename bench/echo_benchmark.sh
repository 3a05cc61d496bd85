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

start_server() {  # prints the address; the server's pid goes to $server_pid
  local out; out=$(mktemp)
  taskset -c $server_cpu "$@" >"$out" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q '^listening ' "$out" && break; sleep 0.05; done
  awk '/^listening /{print $2; exit}' "$out"
  rm -f "$out"
}

measure() {  # name, connections, command...
  local name=$1 conns=$2; shift 2
  local address; address=$(start_server "$@")
  local rate
  rate=$(taskset -c $client_cpu $bin/tests/ringpost-echo-client --mode=pingpong --target="$address" \
           --connections="$conns" --message_bytes=64 --duration_ms="$duration_ms" |
         sed -n 's/.*round_trips_per_second=\([0-9]*\).*/\1/p')
  kill -TERM $server_pid 2>/dev/null || true
  wait $server_pid 2>/dev/null || true
  echo "$rate"
}

echo "# echo round trips/s, 64-byte messages, server on CPU $server_cpu, client on CPU $client_cpu"
echo "# kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
printf '| connections | ringpost runtime (io_uring) | epoll baseline | ratio |\n|---|---|---|---|\n'
for conns in "${connections[@]}"; do
  a1=$(measure ringpost "$conns" $bin/tests/ringpost-echo-server --shards=1 --pin_threads=false)
  b1=$(measure epoll "$conns" $bin/bench/epoll-echo-server --threads=1)
  a2=$(measure ringpost "$conns" $bin/tests/ringpost-echo-server --shards=1 --pin_threads=false)
  b2=$(measure epoll "$conns" $bin/bench/epoll-echo-server --threads=1)
  a=$(( (a1 + a2) / 2 )); b=$(( (b1 + b2) / 2 ))
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  printf '| %s | %s (%s, %s) | %s (%s, %s) | %s |\n' "$conns" "$a" "$a1" "$a2" "$b" "$b1" "$b2" "$ratio"
done
