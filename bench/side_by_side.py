#!/usr/bin/env python3
"""make bench: ringpost beside Postfix on the same load, in one run.

For every configuration (message size x connections x recipient spread over 1,000
domains, uniform or Zipf 1.1) it runs, with the MTA on one CPU and the load tools on
another (taskset):
  ceiling          ringpost-blast → ringpost-sink (what the tools can do)
  ringpost accept  ringpost-blast → ringpost (fsync on, every message held: nothing
                   delivered, no route looked up)
  ringpost relay   ringpost-blast → ringpost → ringpost-sink (--routes='*=sink')
  postfix relay    ringpost-blast → a private Postfix → ringpost-sink (relayhost)
Accept rates are accepted messages over the run's time; relay rates count from the
first message until the sink holds every accepted one. CPU seconds come from a
cpuacct cgroup around the MTA's processes (all of Postfix's); peak RSS is VmHWM
(Postfix: summed over its processes alive at the end); p99 is blast's latency from the
final dot to the reply. Writes bench/results/bench-DATE-COMMIT.md (the table, with
machine, kernel and commit) and two PNG charts, and copies them to bench/results/latest*.
With --baseline=PATH (an older ringpost binary) each configuration also runs
"baseline accept" and "baseline relay" with it: a change's before and after in one run
(the tables then go only to bench-DATE-COMMIT.md, not latest).

  python3 bench/side_by_side.py [--seconds 5] [--smoke] [--out_dir bench/results]
      [--sizes 1k,10k,100k] [--connections 16,256] [--spreads uniform,zipf] [--baseline PATH]
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "release", "tools")
CGROUP_ROOT = "/sys/fs/cgroup/cpuacct"
SIZES = {"1k": "1k", "10k": "10k", "100k": "100k"}


def free_port():
    while True:
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


class CpuGroup:
    """A cpuacct cgroup (v1) the MTA's processes run in; usage() in seconds (None without cgroups)."""

    def __init__(self, name):
        self.path = os.path.join(CGROUP_ROOT, "ringpost-bench-%s-%d" % (name, os.getpid()))
        self.ok = os.path.isdir(CGROUP_ROOT)
        if self.ok:
            os.makedirs(self.path, exist_ok=True)

    def wrap(self, argv, cpu):
        if not self.ok:
            return ["taskset", "-c", str(cpu)] + argv
        return ["bash", "-c", 'echo $$ > "$0/tasks"; exec taskset -c %d "$@"' % cpu, self.path] + argv

    def usage(self):
        if not self.ok:
            return None
        with open(os.path.join(self.path, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9

    def pids(self):
        """The processes in the group (cgroup.procs: not their threads, which would count
        a process's memory once per thread)."""
        if not self.ok:
            return []
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            return [int(line) for line in f if line.strip()]

    def close(self):
        if self.ok:
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    return
                except OSError:
                    time.sleep(0.1)


def vm_hwm_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024 if total else None


class Sink:
    def __init__(self, work, cpu):
        self.port = free_port()
        self.out = os.path.join(work, "sink-%d.out" % self.port)
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu), os.path.join(BIN, "ringpost-sink"),
                                      "--listen=127.0.0.1:%d" % self.port, "--shards=1", "--json"],
                                     stdout=open(self.out, "w"), stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def messages(self):
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.05)
        with open(self.out, errors="replace") as f:
            lines = [line for line in f if line.startswith("{")]
        return json.loads(lines[-1])["messages"] if lines else 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)


def blast(port, size, conns, spread, seconds, cpu):
    argv = ["taskset", "-c", str(cpu), os.path.join(BIN, "ringpost-blast"), "--target=127.0.0.1:%d" % port,
            "--connections=%d" % conns, "--duration=%ds" % seconds, "--size=%s" % size, "--domains=1000",
            "--progress=false", "--json"]
    if spread == "zipf":
        argv.append("--zipf=1.1")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    return json.loads(out)


def run_system(system, size, conns, spread, args, work):
    """One row: system under the configuration's load."""
    row = {"size": size, "conns": conns, "spread": spread, "system": system, "sync": "fsync"}
    server_cpu, load_cpu = args.server_cpu, args.load_cpu
    sink = Sink(work, load_cpu if system != "ceiling" else server_cpu)
    group = CpuGroup(system.replace(" ", "-"))
    proc = None
    postfix_dir = None
    try:
        if system == "ceiling":
            target, row["sync"], mta_pids = sink.port, "none", [sink.proc.pid]
        else:
            target = free_port()
            if system.startswith("ringpost") or system.startswith("baseline"):
                spool = tempfile.mkdtemp(prefix="spool-", dir=work)
                binary = args.baseline if system.startswith("baseline") else os.path.join(BIN, "ringpost")
                argv = [binary, "--listen=127.0.0.1:%d" % target, "--shards=1",
                        "--pin_threads=false", "--spool_dir=" + spool, "--hostname=bench.ringpost.test",
                        "--log_level=warning", "--max_connections_per_ip=100000", "--dns_servers=127.0.0.1:9",
                        "--accounting_log=" + os.path.join(spool, "accounting.jsonl"),
                        "--host_max_connections=20", "--domain_max_connections=20"]
                if system.endswith("relay"):
                    argv.append("--routes=*=127.0.0.1:%d" % sink.port)
                else:
                    # Accept-only: a [default] rate of 0 holds all mail (no delivery,
                    # no route lookup), so the run measures receiving and storing alone.
                    hold = spool + "-hold.toml"
                    with open(hold, "w") as f:
                        f.write('[default]\nmax_message_rate = 0\n')
                    argv.append("--shaping=" + hold)
                proc = subprocess.Popen(group.wrap(argv, server_cpu), stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(work, "ringpost.log"), "a"))
            else:
                postfix_dir = os.path.join(work, "pf%d" % target)
                setup = 'source bench/bench_lib.sh; postfix_setup "$0" "$1" "relayhost = [127.0.0.1]:$2"'
                subprocess.run(["bash", "-c", setup, postfix_dir, str(target), str(sink.port)], cwd=ROOT,
                               check=True, capture_output=True, timeout=60)
                subprocess.run(group.wrap(["postfix", "-c", postfix_dir + "/etc", "start"], server_cpu),
                               check=True, capture_output=True, timeout=60)
            wait_port(target)
        cpu_before = group.usage() if system != "ceiling" else None
        started = time.monotonic()
        result = blast(target, SIZES[size], conns, spread, args.seconds, load_cpu)
        accepted = result["accepted"]
        elapsed = result["seconds"]
        if system.endswith("relay"):
            deadline = time.monotonic() + max(60, args.seconds * 10)
            while sink.messages() < accepted and time.monotonic() < deadline:
                time.sleep(0.1)
            delivered = sink.messages()
            elapsed = time.monotonic() - started
            row["rate"] = delivered / elapsed if delivered >= accepted else 0.0
            row["undelivered"] = max(0, accepted - delivered)
        else:
            row["rate"] = accepted / elapsed if elapsed > 0 else 0.0
        if cpu_before is not None:
            used = group.usage() - cpu_before
            row["cpu_per_1k"] = used / accepted * 1000 if accepted else None
        row["p99_ms"] = result["latency_us"]["p99"] / 1000
        pids = mta_pids if system == "ceiling" else group.pids()
        row["rss_mib"] = vm_hwm_mib(pids)
        row["messages"] = accepted
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if postfix_dir is not None:
            subprocess.run(["postfix", "-c", postfix_dir + "/etc", "stop"], capture_output=True, timeout=60)
            for _ in range(50):
                if not group.pids():
                    break
                time.sleep(0.1)
            # postfix_setup keeps Postfix's own log beside the instance, in /var/tmp.
            with contextlib.suppress(FileNotFoundError):
                os.remove("/var/tmp/%s.maillog" % os.path.basename(postfix_dir))
        sink.stop()
        group.close()
    print("  %-16s %6s %4d %-7s %10.0f msgs/s" % (system, size, conns, spread, row["rate"]), file=sys.stderr)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="blast time per run")
    parser.add_argument("--sizes", default="1k,10k,100k")
    parser.add_argument("--connections", default="16,256")
    parser.add_argument("--spreads", default="uniform,zipf")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 1k, 16 connections, uniform, 1 s")
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--baseline", default="", help="an older ringpost binary, run beside this build")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.sizes, args.connections, args.spreads = 1, "1k", "16", "uniform"
    cpus = os.cpu_count() or 1
    args.server_cpu, args.load_cpu = 0, (1 if cpus > 1 else 0)
    for tool in ("ringpost", "ringpost-blast", "ringpost-sink"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            sys.exit("side_by_side: build the release preset first (no %s)" % tool)
    if shutil.which("postfix") is None or shutil.which("gnuplot") is None:
        sys.exit("side_by_side: postfix and gnuplot are needed (tools/install_deps.sh installs them)")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "none"
    context = {"machine": platform.node(), "kernel": platform.release(), "cpus": cpus, "commit": commit,
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "server_cpu": args.server_cpu, "load_cpu": args.load_cpu, "seconds": args.seconds}
    rows = []
    work = tempfile.mkdtemp(prefix="ringpost-bench-", dir="/var/tmp")
    os.chmod(work, 0o755)  # Postfix's daemons run as the postfix user
    try:
        for size in args.sizes.split(","):
            for conns in [int(c) for c in args.connections.split(",")]:
                for spread in args.spreads.split(","):
                    systems = ["ceiling", "ringpost accept", "ringpost relay", "postfix relay"]
                    if args.baseline:
                        systems[1:1] = ["baseline accept", "baseline relay"]
                    for system in systems:
                        rows.append(run_system(system, size, conns, spread, args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = "bench-%s-%s" % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M"), commit)
    table = bench_report.markdown_table(rows, context)
    with open(os.path.join(args.out_dir, stem + ".md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out_dir, stem + ".json"), "w") as f:
        json.dump({"context": context, "rows": rows}, f, indent=1)
    charts = bench_report.write_charts(rows, args.out_dir, stem)
    if not args.smoke and not args.baseline:
        shutil.copy(os.path.join(args.out_dir, stem + ".md"), os.path.join(args.out_dir, "latest.md"))
        for chart in charts:
            shutil.copy(chart, os.path.join(args.out_dir, "latest" + chart[len(os.path.join(args.out_dir, stem)):]))
    print(table)
    print("written: %s.md, .json, %s" % (os.path.join(args.out_dir, stem), ", ".join(charts)))


if __name__ == "__main__":
    main()
