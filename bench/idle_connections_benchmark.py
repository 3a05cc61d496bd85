#!/usr/bin/env python3
"""Resident memory of the ringpost daemon per idle SMTP connection.

Starts the daemon (2 shards), reads its VmRSS when idle, opens N connections from
127.0.0.1 that each read the greeting and then stay silent, reads VmRSS again and prints
the growth per connection. The daemon's pools (receive buffer ring, slots) are part of
its idle figure; the growth is what each connection costs on top.

  python3 bench/idle_connections_benchmark.py [--connections 10000] [--bin_dir build/release/tools]
"""
import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--bin_dir", default="build/release/tools")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.connections + 100 > hard:
        raise SystemExit(f"the hard file limit ({hard}) is too low for {args.connections} connections")
    spool = tempfile.mkdtemp(prefix="ringpost-idle-")
    daemon = subprocess.Popen(
        [os.path.join(args.bin_dir, "ringpost"), "--listen=127.0.0.1:0", "--shards=2", "--pin_threads=false",
         f"--spool_dir={spool}", f"--max_connections={args.connections + 100}",
         f"--max_connections_per_ip={args.connections + 100}", "--log_level=warning"],
        stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 10
        while port is None and time.time() < deadline:
            # warning level prints no start line: find the listening port from /proc
            time.sleep(0.2)
            out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
            for line in out.splitlines():
                if f"pid={daemon.pid}," in line:
                    port = int(line.split()[3].rsplit(":", 1)[1])
        assert port, "the daemon did not start"
        time.sleep(0.5)
        idle = rss_kib(daemon.pid)
        sockets = []
        started = time.time()
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port))
            sockets.append(s)
        greeted = 0
        for s in sockets:
            s.settimeout(10)
            if s.recv(512).startswith(b"220 "):
                greeted += 1
        time.sleep(1.0)
        loaded = rss_kib(daemon.pid)
        per = (loaded - idle) * 1024 / args.connections
        print(f"connections={args.connections} greeted={greeted} idle_rss_kib={idle} loaded_rss_kib={loaded} "
              f"growth_bytes_per_connection={per:.0f} open_seconds={time.time() - started:.1f}")
        for s in sockets:
            s.close()
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    main()
