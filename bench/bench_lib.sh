# Shared by the daemon benchmarks (sourced): CPU accounting groups, ports, and a private
# Postfix instance (../shared/PEERS.md). Expects $cg_root, $server_cpu, $work, $bin.

# Runs "$@" inside a new cpuacct group on the server CPU; sets $server_pid.
start_in_group() {
  local group="$cg_root/ringpost-bench-$1"; shift
  mkdir -p "$group"
  bash -c 'echo $$ > "$0/tasks"; exec taskset -c '"$server_cpu"' "$@"' "$group" "$@" &
  server_pid=$!
}
group_ns() { cat "$cg_root/ringpost-bench-$1/cpuacct.usage"; }
# A port for a server of one run: below the kernel's ephemeral range, so no outgoing
# connection (the load's, the MTA's) can be holding it ("Address already in use").
new_port() {
  local low; low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  echo $((20000 + RANDOM % (low > 21000 ? low - 20000 : 1000)))
}
remove_groups() { for g in "$cg_root"/ringpost-bench-*; do [ -d "$g" ] && rmdir "$g" 2>/dev/null || true; done; }

wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# postfix_setup DIR PORT [postconf settings...]: a private instance listening on PORT.
postfix_setup() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
  cp /usr/share/postfix/master.cf.dist "$dir/etc/master.cf"
  : >"$dir/etc/main.cf"
  chown -R postfix "$dir/data"  # the queue directory stays root's; Postfix makes its own subfolders
  local log=/var/tmp/$(basename "$dir").maillog
  touch "$log"; chown postfix "$log"
  postconf -c "$dir/etc" -e "config_directory = $dir/etc" "queue_directory = $dir/queue" \
    "data_directory = $dir/data" "multi_instance_name = $(basename "$dir")" "syslog_name = $(basename "$dir")" \
    "maillog_file = $log" "mydestination =" "local_transport = error:local delivery disabled" \
    "mynetworks = 127.0.0.0/8" \
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
    "smtp_dns_support_level = disabled" "smtp_host_lookup = native" "smtpd_peername_lookup = no" \
    "default_process_limit = 300" "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" "smtpd_client_message_rate_limit = 0" \
    "smtpd_client_recipient_rate_limit = 0" "compatibility_level = 3.6" "message_size_limit = 52428800" "$@"
  postconf -c "$dir/etc" -F '*/*/chroot = n'
  postconf -c "$dir/etc" -MX smtp/inet
  postconf -c "$dir/etc" -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"
}

# The sink of a run ($sink_pid, printing JSON counters into $sink_out): how many messages
# it has taken so far (SIGUSR1 prints them), and its end.
sink_messages() {
  kill -USR1 $sink_pid
  sleep 0.1
  grep -a '^{' "$sink_out" | tail -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["messages"])'
}
stop_sink() { kill -TERM $sink_pid; wait $sink_pid 2>/dev/null || true; sink_pid=; }
