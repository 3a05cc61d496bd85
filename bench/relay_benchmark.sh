#!/usr/bin/env bash
# End-to-end relay throughput: ringpost-blast → MTA → ringpost-sink, in one run
#   ringpost  --routes='*=sink', fsync on, one shard, 20 connections to the next hop
#   postfix   a private Postfix with relayhost = the same sink (default concurrency: 20)
#   ringpost by MX: the same, routed by DNS instead (a dnsmasq on 127.0.0.1 answers every
#             dK.blast.test with an address: implicit MX), to the sink's port
# A fixed number of messages is sent; the time runs from the first message until the
# sink has them all (accepted and delivered, so the queue is drained). The MTA runs on
# CPU 0 in a cpuacct group (all of Postfix's processes), blast and sink share CPU 1.
#   bash bench/relay_benchmark.sh [messages_1k] [connections] [domains]
# TLS=1 compares instead, per size: ringpost in plaintext, ringpost with STARTTLS on
# both sides (blast --starttls in, the sink offering it out), and Postfix with
# STARTTLS on both sides (smtpd and smtp security level "may"), same certificate.
# DKIM=1 compares instead, per size: ringpost unsigned, signing every message with an
# Ed25519 key, and with an RSA-2048 key (--dkim_key_table naming blast's From: domain).
# EGRESS=1 compares instead, per size and twice over: ringpost from its default address,
# and with an egress pool (every message's pool by its sender; its header section held
# back for X-Ringpost-Pool:, each connection bound to 127.0.0.2 with its own EHLO name).
# REDIS=1 compares instead, per size and twice over: ringpost with a shaping file whose
# [default] rate (10^6/s, never reached) is shared = true, kept on the node alone, and
# kept in a redis-server (--redis, tokens in batches); with the Redis calls per 1,000
# messages.
# PERF=DIR profiles instead ringpost alone, per size: perf record (cycles, user and
# kernel, with call graphs) of the daemon for the whole run, kept in DIR as
# ringpostSIZE.perf.data with perf report's flat top items beside it (.top.txt).
# PERF_CALLS=dwarf unwinds call graphs from DWARF instead of frame pointers (slower, but
# it sees through libc's memcpy to its callers). PERF_COUNT=1 counts instead, in
# ringpostSIZE.count.txt: system calls, io_uring submissions and completions, preadv.
# BASELINE=path/to/an/older/ringpost compares instead that binary and this build,
# alternating (baseline, current, baseline, current) per size: a change's before and
# after in one run (in plaintext; with TLS=1 too, STARTTLS on both sides). ROUNDS=N
# alternates N times instead of 2 (this machine's noise wants 5 or more for a few %).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-20000}
conns=${2:-64}
domains=${3:-1}
bin=build/release/tools
[ -x $bin/ringpost ] || tools/dev build release >/dev/null
command -v postfix >/dev/null || tools/install_deps.sh >/dev/null
server_cpu=0
load_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
work=$(mktemp -d /var/tmp/ringpost-relay-bench.XXXXXX)
chmod 755 "$work"
cg_root=/sys/fs/cgroup/cpuacct
source bench/bench_lib.sh
trap 'stop_all' EXIT

stop_all() {
  [ -n "${postfix_dir:-}" ] && postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null || true
  [ -n "${redis_pid:-}" ] && kill -TERM "$redis_pid" 2>/dev/null || true
  [ -n "${sink_pid:-}" ] && kill -TERM "$sink_pid" 2>/dev/null || true
  [ -n "${dns_pid:-}" ] && kill -TERM "$dns_pid" 2>/dev/null || true
  sleep 0.5
  remove_groups
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}

# Runs happen in subshells, so ports are drawn per run (new_port) rather than counted.

# STARTTLS for a run (run_* ... tls): one self-signed certificate for every server.
cert="$work/bench.crt" key="$work/bench.key"
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" -out "$cert" -days 2 \
    -subj /CN=bench.ringpost.test >/dev/null 2>&1
  chmod 644 "$key" "$cert"  # Postfix's unprivileged processes read them too
fi
tls_flags() { [ "$1" = tls ] && echo "$2" || true; }

start_sink() {  # start_sink NAME [tls]: one output file per run
  sink_port=$(new_port)
  sink_out="$work/sink-$1.out"
  taskset -c $load_cpu $bin/ringpost-sink --listen=127.0.0.1:$sink_port --shards=1 --json \
    $(tls_flags "${2:-}" "--tls_cert=$cert --tls_key=$key") >"$sink_out" 2>&1 &
  sink_pid=$!
  wait_port $sink_port
}

# relay NAME PORT SIZE COUNT [tls]: prints "msgs_per_s cpu_s_per_1k"
relay() {
  local name=$1 port=$2 size=$3 count=$4 before after t0 t1 got deadline
  before=$(group_ns "$name")
  t0=$(date +%s.%N)
  taskset -c $load_cpu $bin/ringpost-blast --target=127.0.0.1:$port --connections=$conns --messages=$count \
    --size=$size --domains=$domains --progress=false --json $(tls_flags "${5:-}" --starttls) \
    >"$work/blast-$name.json"
  deadline=$((SECONDS + 300))
  while got=$(sink_messages) && [ "$got" -lt "$count" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  [ "$got" -eq "$count" ] || echo "warning: $name: the sink counted $got messages, $count were sent" >&2
  if [ "${5:-}" = tls ]; then  # proof that both hops ran TLS (Postfix reuses no TLS connection)
    echo "# $name: $(grep -ao '"tls_handshakes":[0-9]*' "$work/blast-$name.json" | cut -d: -f2) TLS handshakes in," \
      "$(grep -a '^{' "$sink_out" | tail -1 | grep -ao '"tls_handshakes":[0-9]*' | cut -d: -f2) out" >&2
  fi
  t1=$(date +%s.%N)
  after=$(group_ns "$name")
  awk -v n="$got" -v t0="$t0" -v t1="$t1" -v ns=$((after - before)) \
    'BEGIN { printf "%.0f %.4f %d\n", n / (t1 - t0), ns / 1e9 / n * 1000, n }'
}

# run_ringpost SIZE COUNT [mx|tls]: static smarthost route, MX routing through dnsmasq,
# or the static route with STARTTLS on both sides.
run_ringpost() {
  local port; port=$(new_port)
  local name=ringpost$1${3:-}
  start_sink $name "${3:-}"
  local routing=(--routes="*=127.0.0.1:$sink_port")
  if [ "${3:-}" = mx ]; then
    local dns_port; dns_port=$(new_port)
    taskset -c $load_cpu dnsmasq --keep-in-foreground --conf-file=/dev/null --port=$dns_port \
      --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --pid-file= --user=root \
      --address=/blast.test/127.0.0.1 --local=/blast.test/ --local-ttl=300 >/dev/null 2>&1 &
    dns_pid=$!
    sleep 0.3
    routing=(--dns_servers=127.0.0.1:$dns_port --outbound_port=$sink_port)
  fi
  start_in_group $name ${RINGPOST_BIN:-$bin/ringpost} --listen=127.0.0.1:$port --shards=1 --pin_threads=false \
    --spool_dir="$work/spool-$name" --hostname=bench.ringpost.test --log_level=warning \
    --max_connections_per_ip=1000 "${routing[@]}" --host_max_connections=20 \
    --domain_max_connections=20 --accounting_log="$work/accounting-$name.jsonl" ${RINGPOST_EXTRA:-} \
    $(tls_flags "${3:-}" "--tls_cert=$cert --tls_key=$key") >"$work/$name.log" 2>&1
  wait_port $port
  local perf_pid=
  if [ -n "${PERF:-}" ]; then
    if [ "${PERF_COUNT:-0}" = 1 ]; then
      perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_preadv,syscalls:sys_enter_write,syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg \
        -e io_uring:io_uring_submit_req,io_uring:io_uring_complete,io_uring:io_uring_queue_async_work \
        -p $server_pid -o "$PERF/$name.count.txt" >/dev/null 2>&1 &
    elif [ "${PERF_CALLS:-}" = dwarf ]; then
      perf record -q -F 999 --call-graph dwarf,16384 -p $server_pid -o "$PERF/$name.perf.data" >/dev/null 2>&1 &
    else
      perf record -q -F 1999 -g -p $server_pid -o "$PERF/$name.perf.data" >/dev/null 2>&1 &
    fi
    perf_pid=$!
    sleep 0.5
  fi
  relay $name $port $1 $2 "${3:-}"
  [ -n "$perf_pid" ] && { kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; touch "$PERF/$name.done"; }
  kill -TERM $server_pid; wait $server_pid 2>/dev/null || true; server_pid=
  stop_sink
  [ -n "${dns_pid:-}" ] && { kill -TERM $dns_pid; wait $dns_pid 2>/dev/null || true; dns_pid=; }
  rm -rf "$work/spool-$name"
}

run_postfix() {  # run_postfix SIZE COUNT [tls]
  local port; port=$(new_port)
  local name=postfix$1${3:-}
  start_sink $name "${3:-}"
  postfix_dir="$work/pf$1${3:-}"
  local tls_settings=()
  [ "${3:-}" = tls ] && tls_settings=("smtpd_tls_cert_file = $cert" "smtpd_tls_key_file = $key"
    "smtpd_tls_security_level = may" "smtp_tls_security_level = may")
  postfix_setup "$postfix_dir" $port "relayhost = [127.0.0.1]:$sink_port" "${tls_settings[@]}"
  start_in_group $name postfix -c "$postfix_dir/etc" start >/dev/null 2>&1
  wait $server_pid 2>/dev/null || true; server_pid=
  wait_port $port
  relay $name $port $1 $2 "${3:-}"
  postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  rm -f "/var/tmp/$(basename "$postfix_dir").maillog"
  postfix_dir=
  stop_sink
}

echo "# relay: blast → MTA → ringpost-sink, $conns inbound connections, $domains domain(s), MTA on CPU $server_cpu, blast+sink on CPU $load_cpu"
echo "# kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo none), spool on $(df --output=fstype "$work" | tail -1)"
printf '| size | MTA | messages | relayed/s | MTA CPU s/1k msgs | rate vs Postfix | CPU vs Postfix |\n|---|---|---|---|---|---|---|\n'
if [ "${DKIM:-0}" = 1 ]; then
  openssl genpkey -algorithm ed25519 -out "$work/ed25519.pem" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
  for alg in ed25519 rsa; do echo "ringpost-blast.invalid $alg $work/$alg.pem" >"$work/$alg.table"; done
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    read -r u_rate u_cpu u_n < <(run_ringpost $size $count)
    printf '| %s | ringpost (unsigned) | %d | %s | %s | 1.00 | 1.000 |\n' $size $u_n $u_rate $u_cpu
    for alg in ed25519 rsa; do
      read -r rate cpu n < <(RINGPOST_EXTRA="--dkim_key_table=$work/$alg.table" run_ringpost $size $count)
      awk -v s=$size -v a=$alg -v n=$n -v r="$rate" -v c="$cpu" -v ur="$u_rate" -v uc="$u_cpu" \
        'BEGIN { printf "| %s | ringpost (DKIM %s) | %d | %s | %s | %.2f | %.3f |\n", s, a, n, r, c, r / ur, c / uc }'
    done
  done
  echo "# ratios in this table are to ringpost unsigned, not to Postfix"
  exit 0
fi
if [ "${EGRESS:-0}" = 1 ]; then
  egress="--egress_sources=a=127.0.0.2/mta-a.ringpost.test --egress_pools=p=a --egress_sender_pools=*=p"
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    for round in 1 2; do
      read -r d_rate d_cpu d_n < <(run_ringpost $size $count)
      printf '| %s | ringpost (default address, round %d) | %d | %s | %s | 1.00 | 1.000 |\n' $size $round $d_n $d_rate $d_cpu
      read -r rate cpu n < <(RINGPOST_EXTRA="$egress" run_ringpost $size $count)
      awk -v s=$size -v k=$round -v n=$n -v r="$rate" -v c="$cpu" -v dr="$d_rate" -v dc="$d_cpu" \
        'BEGIN { printf "| %s | ringpost (egress pool, round %d) | %d | %s | %s | %.2f | %.3f |\n", s, k, n, r, c, r / dr, c / dc }'
    done
  done
  echo "# ratios in this table are to the round's default-address run, not to Postfix"
  exit 0
fi
if [ "${REDIS:-0}" = 1 ]; then
  redis_port=$(new_port)
  taskset -c $load_cpu redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no \
    --logfile "" >/dev/null 2>&1 &
  redis_pid=$!
  wait_port $redis_port
  printf '[default]\nmax_message_rate = "1000000/s"\nshared = true\n' >"$work/shared.toml"
  evals() { redis-cli -p $redis_port INFO commandstats | sed -n 's/^cmdstat_eval:calls=\([0-9]*\),.*/\1/p'; }
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    for round in 1 2; do
      read -r l_rate l_cpu l_n < <(RINGPOST_EXTRA="--shaping=$work/shared.toml" run_ringpost $size $count)
      printf '| %s | ringpost (shared rate, no --redis, round %d) | %d | %s | %s | 1.00 | 1.000 |\n' $size $round $l_n $l_rate $l_cpu
      before=$(evals); before=${before:-0}
      read -r rate cpu n < <(RINGPOST_EXTRA="--shaping=$work/shared.toml --redis=127.0.0.1:$redis_port" run_ringpost $size $count)
      after=$(evals)
      awk -v s=$size -v k=$round -v n=$n -v r="$rate" -v c="$cpu" -v lr="$l_rate" -v lc="$l_cpu" \
        'BEGIN { printf "| %s | ringpost (shared rate in Redis, round %d) | %d | %s | %s | %.2f | %.3f |\n", s, k, n, r, c, r / lr, c / lc }'
      awk -v s=$size -v n=$n -v c=$((after - before)) \
        'BEGIN { printf "# %s bytes: %d Redis calls for %d messages (%.2f per 1,000)\n", s, c, n, c * 1000 / n }'
    done
  done
  kill -TERM $redis_pid; wait $redis_pid 2>/dev/null || true; redis_pid=
  echo "# ratios in this table are to the round's run without --redis, not to Postfix"
  exit 0
fi
if [ -n "${PERF:-}" ]; then
  mkdir -p "$PERF"
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    read -r rate cpu n < <(run_ringpost $size $count)
    printf '| %s | ringpost (under perf) | %d | %s | %s | - | - |\n' $size $n $rate $cpu
    # The run's subshell stops perf after it printed its figures: wait for the file.
    for _ in $(seq 600); do [ -e "$PERF/ringpost$size.done" ] && break; sleep 0.1; done
    if [ "${PERF_COUNT:-0}" = 1 ]; then
      echo "# $size bytes: counts for $n messages in $PERF/ringpost$size.count.txt"
      continue
    fi
    perf report -i "$PERF/ringpost$size.perf.data" --no-children --sort sym -F overhead,sym --percent-limit 0.7 \
      --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | sort -rn >"$PERF/ringpost$size.top.txt"
    echo "# $size bytes: profile $PERF/ringpost$size.perf.data, top items $PERF/ringpost$size.top.txt"
  done
  exit 0
fi
if [ -n "${BASELINE:-}" ]; then
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    for round in $(seq ${ROUNDS:-2}); do
      for which in baseline current; do
        binary=$bin/ringpost
        [ $which = baseline ] && binary=$BASELINE
        read -r rate cpu n < <(RINGPOST_BIN=$binary run_ringpost $size $count $([ "${TLS:-0}" = 1 ] && echo tls))
        printf '| %s | ringpost %s (round %d) | %d | %s | %s | - | - |\n' $size $which $round $n $rate $cpu
      done
    done
  done
  exit 0
fi
if [ "${TLS:-0}" = 1 ]; then
  for size in ${SIZES:-1024 102400}; do
    count=$messages
    [ $size -gt 10000 ] && count=$((messages / 4))
    read -r r_rate r_cpu r_n < <(run_ringpost $size $count)
    read -r t_rate t_cpu t_n < <(run_ringpost $size $count tls)
    read -r p_rate p_cpu p_n < <(run_postfix $size $count tls)
    for row in "plaintext|$r_n|$r_rate|$r_cpu" "STARTTLS in and out|$t_n|$t_rate|$t_cpu"; do
      IFS='|' read -r what n rate cpu <<<"$row"
      awk -v s=$size -v w="$what" -v n=$n -v r="$rate" -v rc="$cpu" -v p="$p_rate" -v pc="$p_cpu" \
        'BEGIN { printf "| %s | ringpost (%s) | %d | %s | %s | %.2f | %.3f |\n", s, w, n, r, rc, r / p, rc / pc }'
    done
    awk -v s=$size -v n=$p_n -v p="$p_rate" -v pc="$p_cpu" \
      'BEGIN { printf "| %s | Postfix 3.7 (STARTTLS in and out) | %d | %s | %s | 1.00 | 1.000 |\n", s, n, p, pc }'
    awk -v s=$size -v a="$r_cpu" -v b="$t_cpu" \
      'BEGIN { printf "# %s bytes: TLS costs ringpost %.1f µs of CPU per message (%.2fx plaintext)\n", s, (b - a) * 1000, b / a }'
  done
  exit 0
fi
for size in ${SIZES:-1024 102400}; do
  count=$messages
  [ $size -gt 10000 ] && count=$((messages / 4))
  read -r r_rate r_cpu r_n < <(run_ringpost $size $count)
  read -r m_rate m_cpu m_n < <(run_ringpost $size $count mx)
  read -r p_rate p_cpu p_n < <(run_postfix $size $count)
  awk -v s=$size -v n=$r_n -v r="$r_rate" -v rc="$r_cpu" -v p="$p_rate" -v pc="$p_cpu" \
    'BEGIN { printf "| %s | ringpost (fsync on, static route) | %d | %s | %s | %.2f | %.3f |\n", s, n, r, rc, r / p, rc / pc }'
  awk -v s=$size -v n=$m_n -v r="$m_rate" -v rc="$m_cpu" -v p="$p_rate" -v pc="$p_cpu" \
    'BEGIN { printf "| %s | ringpost (fsync on, routed by DNS) | %d | %s | %s | %.2f | %.3f |\n", s, n, r, rc, r / p, rc / pc }'
  awk -v s=$size -v n=$p_n -v p="$p_rate" -v pc="$p_cpu" \
    'BEGIN { printf "| %s | Postfix 3.7 (relayhost) | %d | %s | %s | 1.00 | 1.000 |\n", s, n, p, pc }'
done
