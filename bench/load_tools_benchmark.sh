#!/usr/bin/env bash
# ringpost-blast → ringpost-sink beside Postfix's smtp-source → smtp-sink, in one run:
# the same message count, size and connection count, the sink on CPU 0 and the load
# generator on CPU 1 (taskset), long-lived connections. Reports messages/s and the CPU
# seconds per 1,000 messages of each side (from /proc and wait4), and the ratios.
#   bash bench/load_tools_benchmark.sh [messages_1k] [messages_100k] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
m1k=${1:-100000}
m100k=${2:-10000}
conns=${3:-64}
bin=build/release/tools
[ -x $bin/ringpost-blast ] || tools/dev build release >/dev/null
sink_cpu=0
source_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
hz=$(getconf CLK_TCK)
port_base=$((30000 + RANDOM % 20000))

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_pair NAME SIZE MESSAGES: prints "msgs_per_s sink_cpu_per_1k source_cpu_per_1k"
run_ringpost() {
  local size=$1 messages=$2 port=$((port_base++)) out; out=$(mktemp)
  taskset -c $sink_cpu $bin/ringpost-sink --listen=127.0.0.1:$port >"$out" 2>&1 &
  local sink=$!
  for _ in $(seq 100); do grep -q '^listening' "$out" && break; sleep 0.05; done
  local t0 t1 result
  t0=$(date +%s.%N)
  result=$( { /usr/bin/time -f 'TIME %U %S' taskset -c $source_cpu $bin/ringpost-blast --target=127.0.0.1:$port \
              --connections=$conns --messages=$messages --size=$size --progress=false; } 2>&1)
  t1=$(date +%s.%N)
  local sink_ticks; sink_ticks=$(cpu_ticks $sink)
  kill -TERM $sink; wait $sink || true
  local accepted; accepted=$(echo "$result" | sed -n 's/.* accepted=\([0-9]*\).*/\1/p')
  local src_cpu; src_cpu=$(echo "$result" | awk '/^TIME/{print $2 + $3}')
  awk -v n="$accepted" -v t0="$t0" -v t1="$t1" -v st="$sink_ticks" -v hz="$hz" -v sc="$src_cpu" \
    'BEGIN { printf "%.0f %.3f %.3f\n", n / (t1 - t0), st / hz / n * 1000, sc / n * 1000 }'
  rm -f "$out"
}

run_postfix() {
  local size=$1 messages=$2 port=$((port_base++))
  taskset -c $sink_cpu /usr/sbin/smtp-sink -u nobody 127.0.0.1:$port 1024 &
  local sink=$!
  sleep 0.3
  local t0 t1 result
  t0=$(date +%s.%N)
  result=$( { /usr/bin/time -f 'TIME %U %S' taskset -c $source_cpu /usr/sbin/smtp-source -d -s $conns \
              -m $messages -l $size -f from@example.org -t to@example.org 127.0.0.1:$port; } 2>&1)
  t1=$(date +%s.%N)
  local sink_ticks; sink_ticks=$(cpu_ticks $sink)
  kill -TERM $sink; wait $sink 2>/dev/null || true
  local src_cpu; src_cpu=$(echo "$result" | awk '/^TIME/{print $2 + $3}')
  awk -v n="$messages" -v t0="$t0" -v t1="$t1" -v st="$sink_ticks" -v hz="$hz" -v sc="$src_cpu" \
    'BEGIN { printf "%.0f %.3f %.3f\n", n / (t1 - t0), st / hz / n * 1000, sc / n * 1000 }'
}

echo "# load tools, $conns long-lived connections, sink on CPU $sink_cpu, generator on CPU $source_cpu"
echo "# kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
printf '| size | pair | messages/s | sink CPU s/1k msgs | generator CPU s/1k msgs |\n|---|---|---|---|---|\n'
for spec in "1024 $m1k" "102400 $m100k"; do
  read -r size messages <<<"$spec"
  read -r r_rate r_sink r_src < <(run_ringpost "$size" "$messages")
  read -r p_rate p_sink p_src < <(run_postfix "$size" "$messages")
  printf '| %s | ringpost-blast → ringpost-sink | %s | %s | %s |\n' "$size" "$r_rate" "$r_sink" "$r_src"
  printf '| %s | smtp-source → smtp-sink | %s | %s | %s |\n' "$size" "$p_rate" "$p_sink" "$p_src"
  awk -v a="$r_rate" -v b="$p_rate" -v s="$size" 'BEGIN { printf "| %s | ratio | %.2fx | | |\n", s, a / b }'
done
