#!/usr/bin/env python3
"""The Google Benchmark suites in one run, saved, and two saved runs compared.

  python3 bench/micro.py run [--build_dir build/release] [--out FILE] [--min_time 0.2]
      runs every engine suite (SMTP server engine, queue log, handoff queue, timers, DNS)
      with bounded time, and writes one JSON file (default bench/results/micro-DATE-COMMIT.json)
      holding each suite's Google Benchmark JSON plus the machine, kernel and commit.
  python3 bench/micro.py compare OLD.json NEW.json [--threshold 5]
      prints a markdown table: each benchmark's rate (items/s, else bytes/s, else 1/time)
      in both runs and the change; changes past the threshold (percent) are marked.

This machine is shared and noisy: compare runs made close together, and read a change of
a few percent as noise.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

SUITES = ["smtp_server_benchmark", "line_scan_benchmark", "log_benchmark", "spsc_queue_benchmark",
          "timer_wheel_benchmark", "dns_benchmark", "tls_benchmark", "dkim_benchmark", "shaping_policy_benchmark"]


def git_commit(root):
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "none"
    except OSError:
        return "none"


def run(args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench_dir = os.path.join(args.build_dir, "bench")
    result = {
        "context": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "commit": git_commit(root),
        },
        "suites": {},
    }
    for suite in SUITES:
        binary = os.path.join(bench_dir, suite)
        if not os.access(binary, os.X_OK):
            sys.exit("micro.py: no %s (build the release preset first)" % binary)
        argv = [binary, "--benchmark_format=json", "--benchmark_min_time=%s" % args.min_time]
        if args.filter:
            argv.append("--benchmark_filter=" + args.filter)
        print("running %s" % suite, file=sys.stderr)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not done.stdout.strip():
            if args.filter:  # the filter matched nothing in this suite
                continue
            sys.exit("micro.py: %s failed (%d): %s" % (suite, done.returncode, done.stderr[-2000:]))
        result["suites"][suite] = json.loads(done.stdout)
    path = args.out or os.path.join(root, "bench", "results", "micro-%s-%s.json" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S"), result["context"]["commit"]))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(path)


def rates(saved):
    """{"suite/benchmark": (rate, unit)} from a saved run: the most telling rate each has."""
    found = {}
    for suite, data in saved.get("suites", {}).items():
        for bench in data.get("benchmarks", []):
            if bench.get("run_type") == "aggregate" or "error_occurred" in bench:
                continue
            name = "%s/%s" % (suite, bench["name"])
            if "items_per_second" in bench:
                found[name] = (float(bench["items_per_second"]), "items/s")
            elif "bytes_per_second" in bench:
                found[name] = (float(bench["bytes_per_second"]), "bytes/s")
            elif bench.get("real_time"):
                scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}[bench.get("time_unit", "ns")]
                found[name] = (scale / float(bench["real_time"]), "runs/s")
    return found


def human(value):
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return "%.2f%s" % (value / limit, suffix)
    return "%.2f" % value


def compare_table(old, new, threshold):
    """The markdown comparison of two saved runs (a list of lines)."""
    a, b = rates(old), rates(new)
    lines = ["old: %s (%s)  new: %s (%s)" % (old["context"].get("commit"), old["context"].get("date"),
                                             new["context"].get("commit"), new["context"].get("date")),
             "", "| benchmark | unit | old | new | change |", "|---|---|---|---|---|"]
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            where = "new only" if name not in a else "old only"
            value = (b if name in b else a)[name]
            lines.append("| %s | %s | %s | %s | %s |" % (name, value[1], human(a[name][0]) if name in a else "-",
                                                       human(b[name][0]) if name in b else "-", where))
            continue
        change = (b[name][0] / a[name][0] - 1) * 100 if a[name][0] > 0 else 0.0
        mark = " **" + ("faster" if change > 0 else "slower") + "**" if abs(change) >= threshold else ""
        lines.append("| %s | %s | %s | %s | %+.1f%%%s |" % (name, a[name][1], human(a[name][0]), human(b[name][0]),
                                                          change, mark))
    return lines


def compare(args):
    with open(args.old) as f:
        old = json.load(f)
    with open(args.new) as f:
        new = json.load(f)
    print("\n".join(compare_table(old, new, args.threshold)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--build_dir", default="build/release")
    r.add_argument("--out")
    r.add_argument("--min_time", default="0.2")
    r.add_argument("--filter", default="")
    c = sub.add_parser("compare")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--threshold", type=float, default=5.0)
    args = parser.parse_args()
    run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    main()
