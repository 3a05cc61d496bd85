#!/usr/bin/env python3
"""What live queue control costs a busy daemon, in one run.

One ringpost (one shard, CPU 0; fsync on) relays ringpost-blast's mail to ringpost-sink
(both on CPU 1) while its queue holds a large deferred backlog:

  1. Loads: LOAD messages for q0.blast.test (suspended first, so they stay queued),
     BOUNCE messages for b0.blast.test (suspended too), and DESTINATIONS messages to as
     many domains rK.blast.test (no route, DNS answers nothing: each is deferred).
  2. `summary` with DESTINATIONS destinations queued: the time to answer, over the
     admin socket (median and worst of 20).
  3. Relay windows of WINDOW seconds, alternating quiet and busy, 3 of each: blast sends
     d0.blast.test mail (routed to the sink) at full rate; in a busy window
     `ringpost-queue list` streams the whole queue (every job, counted) from the start
     of the window to its end (stopped there if it has not finished: the daemon paces a
     listing so that it yields to the mail, and a million jobs take longer than a
     window) and a `summary` runs every second. Per window: blast's accepted
     messages/s, the daemon's delivered recipients/s (its /metrics), its CPU time, its
     peak resident memory above what it held before the window, and the listing's
     jobs/s.
  4. `bounce --domain b0.blast.test`: the time it takes and the daemon's peak memory
     above its level before.

Prints one JSON object (and a short text summary on stderr). Takes a few minutes and a
few GB in /var/tmp with the defaults.
  bench/admin_benchmark.py [--load 1000000] [--bounce 100000] [--destinations 100000]
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "release", "tools")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print("[admin_benchmark] " + message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def admin(sock_path, method, target, body=None, sink=None):
    """One admin API call over the Unix socket; returns (status, body bytes or size streamed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    payload = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (method, target)
    if payload:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
    s.sendall(head.encode() + b"\r\n" + payload)
    data = bytearray()
    streamed = 0
    head_done = False
    status = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        if head_done and sink is not None:
            streamed += len(chunk)
            continue
        data += chunk
        if not head_done and b"\r\n\r\n" in data:
            head_done = True
            status = int(data[9:12])
            if sink is not None:
                streamed = len(data) - data.index(b"\r\n\r\n") - 4
                data = bytearray()
    s.close()
    if sink is not None:
        return status, streamed
    return status, bytes(data[data.index(b"\r\n\r\n") + 4:])


class Daemon:
    def __init__(self, work, sink_port):
        self.work = work
        self.socket = os.path.join(work, "admin.sock")
        self.port = free_port()
        self.metrics_port = free_port()
        argv = ["taskset", "-c", "0", os.path.join(BIN, "ringpost"), "--listen=127.0.0.1:%d" % self.port,
                "--shards=1", "--pin_threads=false", "--spool_dir=" + os.path.join(work, "spool"),
                "--hostname=bench.ringpost.test", "--routes=d0.blast.test=127.0.0.1:%d" % sink_port,
                "--dns_servers=127.0.0.1:9", "--retry_initial=1h", "--retry_max=4h", "--spool_reserve_bytes=0",
                "--admin_socket=" + self.socket, "--metrics_listen=127.0.0.1:%d" % self.metrics_port,
                "--accounting_log=" + os.path.join(work, "accounting.jsonl"), "--log_level=warning",
                "--max_connections_per_ip=1000"]
        self.log = open(os.path.join(work, "ringpost.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid()) as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

    def pid(self):
        # taskset execs the daemon: same pid.
        return self.proc.pid

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid()) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def metric(self, name):
        import urllib.request
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10).read().decode()
        match = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
        return float(match.group(1))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def blast(port, messages=0, duration=None, prefix="d", domains=1, connections=64):
    argv = ["taskset", "-c", "1", os.path.join(BIN, "ringpost-blast"), "--target=127.0.0.1:%d" % port,
            "--json", "--progress=false", "--size=1k", "--connections=%d" % connections,
            "--domain_prefix=" + prefix, "--domains=%d" % domains]
    argv += ["--messages=%d" % messages] if messages else ["--duration=%ds" % duration]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


class RssSampler(threading.Thread):
    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.target = daemon
        self.peak = daemon.rss_kib()
        self.running = True

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.target.rss_kib())
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def settle_rss(daemon):
    last = daemon.rss_kib()
    for _ in range(50):
        time.sleep(0.1)
        now = daemon.rss_kib()
        if now == last:
            return now
        last = now
    return last


def relay_window(daemon, busy, seconds):
    before_rss = settle_rss(daemon)
    sampler = RssSampler(daemon)
    sampler.start()
    cpu0, delivered0, t0 = daemon.cpu_seconds(), daemon.metric("ringpost_recipients_delivered_total"), time.time()
    stop = threading.Event()
    admin_stats = {"listings": 0, "jobs_listed": 0, "summaries": 0, "summary_ms": []}

    def operator():
        def summaries():
            while not stop.is_set():
                start = time.monotonic()
                status, _ = admin(daemon.socket, "GET", "/v1/summary?top=50")
                assert status == 200
                admin_stats["summary_ms"].append((time.monotonic() - start) * 1000)
                admin_stats["summaries"] += 1
                stop.wait(1.0)
        threading.Thread(target=summaries, daemon=True).start()
        argv = ["taskset", "-c", "1", os.path.join(BIN, "ringpost-queue"), "--admin_socket=" + daemon.socket,
                "--json", "list"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE) as proc:
            # Stopped at the end of the window (a terminated reader ends the stream).
            threading.Thread(target=lambda: (stop.wait(), proc.poll() is None and proc.terminate()),
                             daemon=True).start()
            for _ in proc.stdout:
                admin_stats["jobs_listed"] += 1
        admin_stats["listings"] += 1
        admin_stats["listing_finished"] = proc.returncode == 0

    if busy:
        worker = threading.Thread(target=operator, daemon=True)
        worker.start()
    result = blast(daemon.port, duration=seconds)
    stop.set()
    if busy:
        worker.join()
    elapsed = time.time() - t0
    cpu = daemon.cpu_seconds() - cpu0
    delivered = daemon.metric("ringpost_recipients_delivered_total") - delivered0
    peak = sampler.stop()
    window = {"busy": busy, "accepted_per_second": result["messages_per_second"],
              "delivered_per_second": delivered / elapsed, "daemon_cpu_seconds": cpu,
              "daemon_cpu_ms_per_1k_accepted": 1e6 * cpu / max(1, result["accepted"]),
              "rss_before_mib": before_rss / 1024, "rss_peak_above_mib": (peak - before_rss) / 1024}
    if busy:
        admin_stats["jobs_listed_per_second"] = round(admin_stats["jobs_listed"] / seconds)
        window.update(admin_stats)
        window["summary_ms"] = [round(x, 1) for x in admin_stats["summary_ms"]]
    return window


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", type=int, default=1000000)
    parser.add_argument("--bounce", type=int, default=100000)
    parser.add_argument("--destinations", type=int, default=100000)
    parser.add_argument("--window", type=int, default=20)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ringpost-admin-bench.", dir="/var/tmp")
    sink = daemon = None
    report = {"load": args.load, "bounce": args.bounce, "destinations": args.destinations}
    try:
        sink_port = free_port()
        sink = subprocess.Popen(["taskset", "-c", "1", os.path.join(BIN, "ringpost-sink"),
                                 "--listen=127.0.0.1:%d" % sink_port, "--shards=1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(sink_port)
        daemon = Daemon(work, sink_port)
        for domain in ("q0.blast.test", "b0.blast.test"):
            assert admin(daemon.socket, "POST", "/v1/suspend", {"domain": domain})[0] == 200
        t = time.monotonic()
        blast(daemon.port, messages=args.load, prefix="q")
        blast(daemon.port, messages=args.bounce, prefix="b")
        blast(daemon.port, messages=args.destinations, prefix="r", domains=args.destinations)
        report["load_seconds"] = round(time.monotonic() - t, 1)
        log("loaded in %.0f s; daemon RSS %.0f MiB" % (report["load_seconds"], daemon.rss_kib() / 1024))
        # Every r-domain's first attempt (a DNS failure) happens at once; wait for them.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, body = admin(daemon.socket, "GET", "/v1/summary?top=100000")
            destinations = json.loads(body)["destinations"]
            if len(destinations) >= args.destinations and all(d["deferred"] == d["recipients"] or d["domain"][0] != "r"
                                                                for d in destinations):
                break
            time.sleep(1)
        report["destinations_queued"] = len(destinations) + 0
        times = []
        for _ in range(20):
            start = time.monotonic()
            status, body = admin(daemon.socket, "GET", "/v1/summary?top=50")
            times.append((time.monotonic() - start) * 1000)
            assert status == 200
        report["summary_ms"] = {"median": round(statistics.median(times), 2), "max": round(max(times), 2)}
        log("summary over %d destinations: median %.1f ms, worst %.1f ms" %
            (report["destinations_queued"], report["summary_ms"]["median"], report["summary_ms"]["max"]))

        windows = []
        for i in range(3):
            for busy in (False, True):
                window = relay_window(daemon, busy, args.window)
                windows.append(window)
                log("%s window: %.0f accepted/s, %.0f delivered/s, %.1f ms CPU per 1k, RSS +%.1f MiB%s" %
                    ("busy " if busy else "quiet", window["accepted_per_second"], window["delivered_per_second"],
                     window["daemon_cpu_ms_per_1k_accepted"], window["rss_peak_above_mib"],
                     " (listed %d jobs, %d summaries)" % (window["jobs_listed"], window["summaries"]) if busy else ""))
        report["windows"] = windows
        quiet = [w["accepted_per_second"] for w in windows if not w["busy"]]
        busy = [w["accepted_per_second"] for w in windows if w["busy"]]
        report["busy_over_quiet_accepted"] = round(statistics.mean(busy) / statistics.mean(quiet), 4)
        report["busy_over_quiet_delivered"] = round(
            statistics.mean(w["delivered_per_second"] for w in windows if w["busy"]) /
            statistics.mean(w["delivered_per_second"] for w in windows if not w["busy"]), 4)
        report["listing_rss_peak_above_mib"] = round(max(w["rss_peak_above_mib"] for w in windows if w["busy"]), 1)

        before = settle_rss(daemon)
        sampler = RssSampler(daemon)
        sampler.start()
        start = time.monotonic()
        status, body = admin(daemon.socket, "POST", "/v1/bounce", {"domain": "b0.blast.test", "reason": "bench"})
        report["bounce_seconds"] = round(time.monotonic() - start, 2)
        report["bounce_answer"] = json.loads(body)
        report["bounce_rss_peak_above_mib"] = round((sampler.stop() - before) / 1024, 1)
        log("bounce --domain over %d: %.1f s, RSS +%.1f MiB: %s" %
            (args.bounce, report["bounce_seconds"], report["bounce_rss_peak_above_mib"], body.decode().strip()))
        print(json.dumps(report, indent=1))
    finally:
        if daemon is not None:
            daemon.stop()
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=30)
        if os.environ.get("KEEP_WORK"):
            log("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
