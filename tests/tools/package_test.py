#!/usr/bin/env python3
"""The Debian package as an operator meets it (CI runs this as root; it installs and
purges a system package, so it is not part of ctest).

`make deb` builds it; `systemd-analyze verify` lints the unit; `dpkg -i` installs it
and makes the ringpost user and /var/spool/ringpost. With no systemd on this machine,
the daemon is started the way the unit starts it: as the ringpost user, with only
CAP_NET_BIND_SERVICE and no new privileges, on the packaged flag file (a privileged
loopback port and a route to ringpost-sink given after it). One message goes through
it, the admin socket answers root, SIGTERM stops it with status 0, and `dpkg --purge`
removes the files, the logs and the emptied spool.

Usage: package_test.py [unittest arguments]
"""

import json
import os
import pwd
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FLAGS = "/etc/ringpost/ringpost.flags"
SPOOL = "/var/spool/ringpost"


def run(*argv, **kwargs):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=kwargs.pop("timeout", 600), **kwargs)


def free_privileged_port():
    """A port below 1024 that nothing on loopback holds: binding it needs the capability."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port below 1024 on 127.0.0.1")


def read_text(path):
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class PackageTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (dpkg -i)")
        self.assertNotEqual(run("dpkg", "-s", "ringpost").returncode, 0, "a ringpost package is already installed")
        built = run("bash", os.path.join(ROOT, "tools", "package", "build_deb.sh"), timeout=3600)
        self.assertEqual(built.returncode, 0, built.stderr[-3000:])
        self.package = built.stdout.strip().splitlines()[-1]
        self.assertRegex(os.path.basename(self.package), r"^ringpost_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")
        self.addCleanup(lambda: run("dpkg", "--purge", "ringpost"))

    def test_install_run_as_the_packaged_user_and_purge(self):
        info = run("dpkg-deb", "--field", self.package, "Depends")
        self.assertIn("android-libboringssl", info.stdout)  # found by dpkg-shlibdeps
        self.assertIn("liburing2", info.stdout)
        installed = run("dpkg", "-i", self.package)
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)

        verified = run("systemd-analyze", "verify", "/lib/systemd/system/ringpost.service")
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        user = pwd.getpwnam("ringpost")
        self.assertEqual(user.pw_shell, "/usr/sbin/nologin")
        for folder in (SPOOL, "/var/log/ringpost"):
            self.assertEqual(os.stat(folder).st_uid, user.pw_uid, folder)
        checked = run("/usr/sbin/ringpost", "--flagfile=" + FLAGS, "--print_config")
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("--spool_dir=/var/spool/ringpost\n", checked.stdout)

        with tempfile.TemporaryDirectory(prefix="ringpost-package-test-") as folder:
            os.chmod(folder, 0o755)
            sink = subprocess.Popen(["/usr/bin/ringpost-sink", "--listen=127.0.0.1:0", "--json",
                                     "--record_dir=" + folder, "--hostname=sink.test"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.addCleanup(lambda: (sink.kill(), sink.wait(), sink.stdout.close()))
            sink_port = int(re.search(r"listening 127\.0\.0\.1:(\d+)", sink.stdout.readline()).group(1))

            # What RuntimeDirectory= makes under systemd.
            os.makedirs("/run/ringpost", mode=0o750, exist_ok=True)
            os.chown("/run/ringpost", user.pw_uid, user.pw_gid)
            port = free_privileged_port()
            log_path = os.path.join(folder, "ringpost.log")
            with open(log_path, "w") as log:
                daemon = subprocess.Popen(
                    # The unit's LimitNOFILE= and LimitMEMLOCK= are systemd's to set (raising a
                    # hard limit needs CAP_SYS_RESOURCE): here the daemon lives within this
                    # machine's limits.
                    ["setpriv", "--reuid=ringpost", "--regid=ringpost", "--init-groups",
                     "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
                     "--bounding-set=-all,+net_bind_service", "--no-new-privs",
                     "/usr/sbin/ringpost", "--flagfile=" + FLAGS,
                     "--listen=127.0.0.1:%d" % port, "--metrics_listen=127.0.0.1:0", "--pin_threads=false",
                     "--hostname=mx.package.test", "--relay_domains=package.test",
                     "--routes=package.test=127.0.0.1:%d" % sink_port],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd="/")
            self.addCleanup(lambda: (daemon.kill(), daemon.wait()))

            def log_text():
                return read_text(log_path)
            wait_for(lambda: " started: " in log_text() or daemon.poll() is not None, 30, "the start")
            self.assertIsNone(daemon.poll(), log_text())
            with open("/proc/%d/status" % daemon.pid) as f:
                status = f.read()
            self.assertRegex(status, r"\nUid:\t%d\t" % user.pw_uid)
            self.assertRegex(status, r"\nCapEff:\t0000000000000400\n")  # CAP_NET_BIND_SERVICE alone

            sent = run("swaks", "--server", "127.0.0.1:%d" % port, "--from", "sender@example.com",
                       "--to", "someone@package.test", "--header", "Subject: packaged", "--body", "hello",
                       timeout=60)
            self.assertEqual(sent.returncode, 0, sent.stdout)
            self.assertRegex(sent.stdout, r"<-  250 2\.0\.0 Ok: queued as [0-9A-Z]+")
            # The sink renames the .eml into place last: its .json is whole by then.
            stored = wait_for(lambda: [n for n in os.listdir(folder) if n.endswith(".eml")], 30,
                              "the message at the sink")
            with open(os.path.join(folder, stored[0][:-len(".eml")] + ".json")) as f:
                self.assertEqual(json.load(f)["rcpt_to"], ["someone@package.test"])
            wait_for(lambda: '"type":"delivery"' in read_text("/var/log/ringpost/accounting.jsonl"), 30,
                     "the delivery in the accounting log")
            summary = run("/usr/bin/ringpost-queue", "--admin_socket=/run/ringpost/admin.sock", "--json", "summary")
            self.assertEqual(summary.returncode, 0, summary.stderr)
            self.assertEqual(json.loads(summary.stdout)["destinations"], [])

            daemon.terminate()
            self.assertEqual(daemon.wait(60), 0, log_text())
            self.assertIn("ringpost stopped", log_text())

        purged = run("dpkg", "--purge", "ringpost")
        self.assertEqual(purged.returncode, 0, purged.stdout + purged.stderr)
        for path in ("/usr/sbin/ringpost", "/usr/bin/ringpost-queue", FLAGS, "/lib/systemd/system/ringpost.service",
                     "/var/log/ringpost", SPOOL, "/run/ringpost"):
            self.assertFalse(os.path.exists(path), path + " is left after the purge")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
