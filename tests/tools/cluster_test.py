#!/usr/bin/env python3
"""A cluster on loopback, every part a real process this test starts and stops: one
redis-server, three ringpost nodes (each its own spool, on 127.0.0.2-4) sharing a
message rate and a connection limit through Redis (shared = true, --redis,
--cluster_nodes=3), one haproxy in front (send-proxy-v2), ringpost-blast through
haproxy and ringpost-sink behind.

While every node has mail waiting, the fleet's delivered rate to the shared destination
stays within 5% of its limit, and the sink never sees more connections than the
fleet's limit while Redis keeps it. A node holding a lease is killed (kill -9)
mid-run: haproxy routes around it, its leases lapse, and restarted on its spool it
delivers what it had accepted. Redis is stopped mid-run: delivery goes on under each
node's fallback share (limit / 3), and returns to the shared limits when Redis is back.
In the end every message blast was told 250 for is at the sink.

Usage: cluster_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, free_port, the daemon harness)

harness = delivery.harness
wait_for = delivery.wait_for

LIMIT = 40  # messages a second, for the whole fleet
CONNECTIONS = 3  # connections open to the destination, for the whole fleet
DOMAIN = "limited0.blast.test"  # ringpost-blast --domain_prefix=limited --domains=1
LEASES = "ringpost:conns:" + DOMAIN
NODES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def listening(host, port):
    result = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True, text=True)
    return "%s:%d" % (host, port) in result.stdout


class Redis:
    def __init__(self, port):
        self.port = port
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--logfile", ""],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening("127.0.0.1", self.port), 15, "redis-server")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=15)


class HaProxy:
    """haproxy in the foreground: one TCP frontend, round robin over the nodes, each
    connection opened with a PROXY v2 header, a node that stops answering taken out."""

    def __init__(self, folder, nodes):
        self.port = delivery.free_port()
        config = os.path.join(folder, "haproxy.cfg")
        with open(config, "w") as f:
            f.write("defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n"
                    "  retries 2\n  option redispatch\n")
            f.write("frontend smtp\n  bind 127.0.0.1:%d\n  default_backend nodes\n" % self.port)
            f.write("backend nodes\n  balance roundrobin\n")
            for n, (host, port) in enumerate(nodes):
                f.write("  server node%d %s:%d check inter 300ms fall 2 rise 1 send-proxy-v2 source 127.0.0.1\n"
                        % (n + 1, host, port))
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening("127.0.0.1", self.port), 15, "haproxy's listener")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def delivered_times(accounting_paths):
    """The times of every delivery to DOMAIN in the nodes' accounting logs, sorted."""
    times = []
    for path in accounting_paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    continue
                record = json.loads(line)
                if record["type"] == "delivery" and record["domain"] == DOMAIN:
                    times.append(datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp())
    return sorted(times)


def metric(node, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % node.metrics_port, timeout=10) as response:
        text = response.read().decode()
    return float(re.search(r"^%s (\S+)$" % re.escape(name), text, re.M).group(1))


def count_between(times, start, end):
    return sum(1 for t in times if start <= t < end)


@unittest.skipUnless(shutil.which("haproxy") and shutil.which("redis-server"),
                     "no haproxy or redis-server (tools/install_deps.sh installs them)")
class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.folder_holder = tempfile.TemporaryDirectory(prefix="ringpost-cluster-test-")
        self.addCleanup(self.folder_holder.cleanup)
        self.folder = self.folder_holder.name
        self.redis = Redis(delivery.free_port())
        self.addCleanup(self.redis.stop)
        self.sink = delivery.Sink()
        self.addCleanup(self.sink.close)
        self.shaping = os.path.join(self.folder, "shaping.toml")
        with open(self.shaping, "w") as f:
            f.write('[destination."%s"]\nmax_message_rate = "%d/s"\nconnection_limit = %d\nshared = true\n'
                    % (DOMAIN, LIMIT, CONNECTIONS))
        self.ports = [delivery.free_port() for _ in NODES]
        self.spools = [os.path.join(self.folder, "node%d" % (n + 1)) for n in range(len(NODES))]
        self.started = []  # every node process, for the cleanup (it checks their accounting logs)
        self.addCleanup(lambda: [node.close() for node in self.started])
        self.nodes = [self.start_node(n) for n in range(len(NODES))]
        self.haproxy = HaProxy(self.folder, list(zip(NODES, self.ports)))
        self.addCleanup(self.haproxy.close)

    def accounting_path(self, n):
        return os.path.join(self.spools[n], "accounting.jsonl")

    def start_node(self, n):
        os.makedirs(self.spools[n], exist_ok=True)
        node = harness.Daemon(listen="%s:%d" % (NODES[n], self.ports[n]), shards=1, spool_dir=self.spools[n],
                              accounting_log=self.accounting_path(n),
                              admin_socket=os.path.join(self.spools[n], "admin.sock"),
                              routes="*=127.0.0.1:%d" % self.sink.port, shaping=self.shaping,
                              redis="127.0.0.1:%d" % self.redis.port, cluster_nodes=3,
                              proxy_protocol_networks="127.0.0.1/32",
                              outbound_idle_timeout="2s", retry_initial="1s", retry_max="2s")
        self.started.append(node)
        return node

    def lease_holders(self):
        """The names of the leases Redis holds on the destination's connections."""
        out = subprocess.run(["redis-cli", "-p", str(self.redis.port), "ZRANGE", LEASES, "0", "-1"],
                             capture_output=True, text=True, timeout=10).stdout
        return out.split()

    def lease_prefix(self, n):
        with open(os.path.join(self.spools[n], "node_id")) as f:
            return "node-%s-%d/" % (f.read().strip(), self.nodes[n].proc.pid)

    def times(self):
        return delivered_times([self.accounting_path(n) for n in range(len(NODES))])

    def test_a_shared_limit_holds_for_the_fleet_through_a_node_crash_and_a_redis_outage(self):
        for node in self.nodes:  # every node reached Redis
            wait_for(lambda node=node: "redis 127.0.0.1:%d: connected" % self.redis.port in node.log_text(100), 15,
                     "the node's Redis connection")
        ids_path = os.path.join(self.folder, "accepted-ids.txt")
        # 50 a second offered: mail waits on every node, and the fleet delivers at the limit.
        blast = subprocess.Popen(
            [os.path.join(harness.BIN_DIR, "ringpost-blast"), "--target=127.0.0.1:%d" % self.haproxy.port,
             "--connections=6", "--messages=2500", "--rate=50", "--size=1k", "--domains=1", "--domain_prefix=limited",
             "--message_ids_out=" + ids_path, "--json", "--progress=false", "--reply_timeout=10s"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (blast.poll() is None and blast.kill(), blast.wait(), blast.stdout.close()))
        start = time.time()

        # Shared: the fleet at the limit, measured once every node has a backlog.
        wait_for(lambda: time.time() >= start + 14, 20, "14 s of load")
        steady = count_between(self.times(), start + 3, start + 13)
        self.assertGreaterEqual(steady, LIMIT * 10 * 0.95, "fleet rate over 10 s (limit %d/s)" % LIMIT)
        self.assertLessEqual(steady, LIMIT * 10 * 1.05, "fleet rate over 10 s (limit %d/s)" % LIMIT)

        self.assertLessEqual(len(self.lease_holders()), CONNECTIONS)
        self.assertLessEqual(self.sink.counters()["peak_connections"], CONNECTIONS, "connections while shared")

        # A node holding a lease dies; haproxy routes around it; its lease lapses; it
        # comes back on its spool.
        victim = wait_for(lambda: [n for n in range(len(NODES))
                                   if any(h.startswith(self.lease_prefix(n)) for h in self.lease_holders())], 10,
                          "a node holding a lease")[0]
        dead = self.lease_prefix(victim)
        self.nodes[victim].kill()
        # The load goes on through the two others meanwhile (haproxy routes around it).
        before = len(self.times())
        wait_for(lambda: len(self.times()) >= before + LIMIT * 2, 15, "deliveries without the dead node")
        self.nodes[victim] = self.start_node(victim)
        wait_for(lambda: "redis 127.0.0.1:%d: connected" % self.redis.port in self.nodes[victim].log_text(100), 15,
                 "the restarted node's Redis connection")
        wait_for(lambda: not any(h.startswith(dead) for h in self.lease_holders()), 25,
                 "the dead node's leases to lapse", lambda: " (held: %s)" % self.lease_holders())

        self.assertLessEqual(self.sink.counters()["peak_connections"], CONNECTIONS,
                             "connections through a node's crash")

        # Redis goes away: every node falls back to limit / 3, and delivery goes on.
        self.redis.stop()
        away = time.time()
        for node in self.nodes:
            wait_for(lambda node=node: "shared limits: Redis is away" in node.log_text(300), 15,
                     "the node's fallback")
        wait_for(lambda: time.time() >= away + 6, 10, "6 s without Redis")
        fallback = count_between(self.times(), away + 1, away + 6)
        self.assertGreater(fallback, 0, "delivery stopped without Redis")
        self.assertLessEqual(fallback, LIMIT * 5 * 1.05, "three fallback shares of limit / 3")
        self.redis.start()
        for node in self.nodes:
            wait_for(lambda node=node: node.log_text(300).rfind("shared limits: kept in Redis") >
                     node.log_text(300).rfind("shared limits: Redis is away"), 15, "the node back in Redis")

        # Every message blast was told 250 for reaches the sink.
        out, _ = blast.communicate(timeout=120)
        summary = json.loads(out.strip().splitlines()[-1])
        with open(ids_path) as f:
            accepted = {line.strip() for line in f if line.strip()}
        self.assertGreater(len(accepted), 1500, summary)

        def at_sink():
            found = set()
            for path in glob.glob(os.path.join(self.sink.record_dir, "*.eml")):
                with open(path, "rb") as f:
                    match = re.search(rb"\r\nMessage-ID: (<[^>]+>)\r\n", f.read())
                    if match:
                        found.add(match.group(1).decode())
            return found
        wait_for(lambda: accepted <= at_sink(), 120, "every accepted message at the sink",
                 lambda: " (%d missing)" % len(accepted - at_sink()))
        calls = 0
        counts = self.sink.stop()
        # Across the outage each node keeps to its share (one connection) and ends the
        # connections past it as they finish a message; a node that held none opens its
        # one meanwhile, and one back in Redis first may take what Redis has free while
        # the others' are not counted yet: at most one more per other node, for a moment.
        self.assertLessEqual(counts["peak_connections"], CONNECTIONS + len(NODES) - 1, counts)
        for n, node in enumerate(self.nodes):
            calls += metric(node, "ringpost_shared_rate_calls_total")
            self.assertGreaterEqual(metric(node, "ringpost_cluster_fallbacks_total"), 1, "node %d" % (n + 1))
            self.assertEqual(metric(node, "ringpost_shared_limits_in_redis"), 1, "node %d" % (n + 1))
            self.assertGreater(metric(node, "ringpost_shared_rate_calls_total"), 0, "node %d" % (n + 1))
        # The counters of the node that was restarted start again: a lower bound.
        delivered = len(self.times())
        sys.stderr.write("\ncluster: limit %d/s; shared %.1f/s over 10 s (error %+.1f%%); without Redis %.1f/s; "
                         "at least %d Redis calls for %d messages (%.0f per 1,000); peak connections %d\n"
                         % (LIMIT, steady / 10.0, (steady / 10.0 - LIMIT) * 100.0 / LIMIT, fallback / 5.0, calls,
                            delivered, calls * 1000.0 / delivered, counts["peak_connections"]))


def main():
    delivery.run_tests(__doc__, "cluster_test", ("ringpost", "ringpost-sink", "ringpost-blast"))


if __name__ == "__main__":
    main()
