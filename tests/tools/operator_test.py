#!/usr/bin/env python3
"""The operator's view of the real daemon: the log line per recipient outcome, the
configuration shown and checked (--print_config, --flagfile, the flags set at start,
start-up checks), flags that read like the README (sizes, --version, --help, Postfix
parameter names), SIGHUP re-reading --local_recipients, and the service manager told
of the start, reloads and the stop (sd_notify).

Usage: operator_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, free_port, the daemon harness)

harness = delivery.harness
wait_for = delivery.wait_for
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def run_tool(tool, *flags, timeout=30):
    """One run of a built program that is expected to end by itself."""
    return subprocess.run([os.path.join(harness.BIN_DIR, tool)] + list(flags), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ringpost(*flags, timeout=30):
    return run_tool("ringpost", *flags, timeout=timeout)


class OutcomeLogTest(delivery.DeliveryTestCase):
    """At info, one line per recipient outcome, as a maillog says status=sent, deferred or
    bounced: the queue id, sender, recipient, next hop, attempt, time in queue, enhanced
    status (RFC 3463) and the reply, and for a deferral when the next attempt is."""

    def wait_log(self, daemon, pattern, what):
        regex = re.compile(pattern)
        return wait_for(lambda: [line for line in daemon.log_lines() if regex.search(line)], 30, what,
                        lambda: "\n" + daemon.log_text())

    def send_one(self, daemon, sender, rcpt):
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail(sender)
            client.rcpt(rcpt)
            code, reply = client.data(b"Subject: outcome\r\n\r\nx\r\n")
        self.assertEqual(code, 250, reply)
        return re.search(rb"queued as (\S+)", reply).group(1).decode()

    def test_delivered_deferred_bounced_and_expired_each_say_so(self):
        ok = self.sink()
        tempfail = self.sink("--rcpt_tempfail_rate=1")
        refusing = self.sink("--rcpt_permfail_rate=1")
        home = self.sink()
        dead = delivery.free_port()
        routes = {"ok.example": ok.port, "dead.example": dead, "temp.example": tempfail.port,
                  "bad.example": refusing.port, "src.example": home.port}
        # No route for dns.example: its MX lookup goes to a DNS port where nothing answers.
        daemon = self.daemon(routes=",".join("%s=127.0.0.1:%d" % kv for kv in routes.items()),
                             max_queue_lifetime="4s", dns_timeout="300ms", dns_tries=1)
        ids = {rcpt: self.send_one(daemon, "s@src.example", rcpt)
               for rcpt in ("a@ok.example", "b@dead.example", "c@temp.example", "d@dns.example", "e@bad.example")}
        null_id = self.send_one(daemon, "", "f@bad.example")
        common = r" from=<s@src\.example> rcpt=<%s> host=%s attempt=%d delay=\d+\.\d\ds status=%s reply=\"%s\""

        self.wait_log(daemon, r"I .*\] delivered id=%s" % ids["a@ok.example"] +
                      common % ("a@ok\\.example", "127\\.0\\.0\\.1:%d" % ok.port, 1, r"2\.0\.0", "250 [^\"]+") + "$",
                      "the delivered line")
        next_attempt = r" next_attempt=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+\.\d\ds\)$"
        self.wait_log(daemon, r"\] deferred id=%s" % ids["b@dead.example"] +
                      common % ("b@dead\\.example", "none", 1, r"4\.4\.1",
                                "connection to 127\\.0\\.0\\.1:%d failed: connect: Connection refused" % dead) +
                      " class=connection_failure" + next_attempt,
                      "the deferred line for a refused connection")
        self.wait_log(daemon, r"\] deferred id=%s" % ids["c@temp.example"] +
                      common % ("c@temp\\.example", "127\\.0\\.0\\.1:%d" % tempfail.port, 1, r"4\.\d\.\d+",
                                r"45\d [^\"]+") + " class=other" + next_attempt,
                      "the deferred line for a 4xx reply")
        self.wait_log(daemon, r"\] deferred id=%s" % ids["d@dns.example"] +
                      common % ("d@dns\\.example", "none", 1, r"4\.4\.3", r"[^\"]+") + " class=dns_failure" +
                      next_attempt,
                      "the deferred line for a DNS failure")
        self.wait_log(daemon, r"\] bounced id=%s" % ids["e@bad.example"] +
                      common % ("e@bad\\.example", "127\\.0\\.0\\.1:%d" % refusing.port, 1, r"5\.\d\.\d+",
                                r"55\d [^\"]+") + " class=invalid_recipient$",
                      "the bounced line")
        self.wait_log(daemon, r"\] report queued: id=\S+ for id=%s to=<s@src\.example> failed=1$" %
                      ids["e@bad.example"], "the DSN the bounce caused")
        # Past --max_queue_lifetime the refused and the temporarily failing recipients expire.
        for rcpt, bounce_class in (("b@dead.example", "connection_failure"), ("c@temp.example", "other")):
            self.wait_log(daemon, r"\] expired id=%s from=<s@src\.example> rcpt=<%s> host=\S+ attempt=\d+ "
                          r"delay=\d+\.\d\ds status=\S+ reply=\"[^\"]+\" class=%s$" % (ids[rcpt], re.escape(rcpt),
                                                                                   bounce_class),
                          "the expired line for " + rcpt)
        # RFC 5321 §6.1: a report (mail from <>) that fails goes no further, and the log says why.
        self.wait_log(daemon, r"\] bounce id=%s to <f@bad\.example> failed: 5\.\d\.\d+ 55\d [^;]+; "
                      r"not reported further \(null sender\)$" % null_id, "the null sender's failure")
        self.assertEqual(daemon.terminate(), 0)


class ConfigurationTest(unittest.TestCase):
    """The configuration an operator can see (--print_config as postconf -n shows it,
    --flagfile, the flags set at start) and the mistakes refused before anything starts."""

    def setUp(self):
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-operator-test-")
        self.dir = self.dir_holder.name

    def tearDown(self):
        self.dir_holder.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_print_config_round_trips_through_a_flagfile(self):
        printed = ringpost("--max_message_size=10M", "--routes=*=127.0.0.1:2526", "--retry_initial=90s",
                           "--relay_domains=example.org", "--spool_dir=" + self.path("spool"), "--print_config")
        self.assertEqual((printed.returncode, printed.stderr), (0, ""))
        lines = printed.stdout.splitlines()
        self.assertRegex(lines[0], r"^# ringpost \d+\.\d+\.\d+ \(commit \S+\): the configuration")
        # What differs from the defaults is in force, in the flags' own forms, by name.
        active = [line for line in lines if not line.startswith("#")]
        self.assertEqual(active, ["--max_message_size=10MiB", "--relay_domains=example.org",
                                  "--retry_initial=90s", "--routes=*=127.0.0.1:2526",
                                  "--spool_dir=" + self.path("spool")])
        self.assertIn("# --max_recipients=1000", lines)
        self.assertIn("# --spool_reserve_bytes=256MiB", lines)
        self.assertRegex(lines[-1], r"^# Decided at start on this machine: --hostname=\S+\.\S+ --shards=[1-9]\d* "
                                    r"--dns_servers=\S+:\d+")
        self.assertFalse(any(re.search(r"--(print_config|flagfile)=", line) for line in lines[1:]), lines)
        with open(self.path("ringpost.flags"), "w") as f:
            f.write(printed.stdout)
        again = ringpost("--flagfile=" + self.path("ringpost.flags"), "--print_config")
        self.assertEqual((again.returncode, again.stdout), (0, printed.stdout))
        self.assertFalse(os.path.exists(self.path("spool")), "--print_config starts nothing")

    def test_the_documented_example_flagfile_is_a_valid_configuration(self):
        example = os.path.join(DOCS, "ringpost.flags")
        with open(example) as f:
            documented = {line.strip() for line in f if line.startswith("--")}
        recipients = self.path("local_recipients")
        with open(recipients, "w") as f:
            f.write("alice@example.com\n")
        # The example names files of a real installation; the recipients list is read
        # when the configuration is checked, so it is pointed at one that exists.
        printed = ringpost("--flagfile=" + example, "--local_recipients=" + recipients, "--print_config")
        self.assertEqual((printed.returncode, printed.stderr), (0, ""))
        lines = printed.stdout.splitlines()
        active = {line for line in lines if not line.startswith("#")}
        documented = {line.replace("--max_message_size=50M", "--max_message_size=50MiB") for line in documented
                      if not line.startswith("--local_recipients=")} | {"--local_recipients=" + recipients}
        # Every documented line is in force: set, or a default written out (a comment then).
        for line in documented:
            self.assertTrue(line in active or "# " + line in lines, line)
        self.assertLessEqual(active, documented)
        self.assertIn("--routes=example.org=10.0.0.25:25", active)

    def test_flags_set_and_absolute_paths_are_logged_and_sizes_take_suffixes(self):
        cwd = os.getcwd()
        os.chdir(self.dir)  # relative paths are relative to where the daemon starts
        try:
            daemon = harness.Daemon(max_message_size="1M", accounting_log="var/log/accounting.jsonl",
                                    maildir_root="var/mail")
        finally:
            os.chdir(cwd)
        try:
            flags_line = [line for line in daemon.log_lines() if "] flags set: " in line][0]
            self.assertIn(" --max_message_size=1MiB ", flags_line + " ")
            self.assertIn(" --accounting_log=var/log/accounting.jsonl ", flags_line + " ")
            started = [line for line in daemon.log_lines() if daemon.STARTED_RE.search(line)][0]
            self.assertIn(" accounting_log=%s " % self.path("var/log/accounting.jsonl"), started + " ")
            self.assertIn(" maildir_root=%s" % self.path("var/mail"), started)
            self.assertIn(" spool=%s " % daemon.spool, started)
            with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
                client.ehlo("client.test")
                self.assertEqual(client.esmtp_features["size"], "1048576")  # RFC 1870: 1M is 1048576 bytes
            self.assertEqual(daemon.terminate(), 0)
        finally:
            daemon.close()

    def test_version_and_help_exit_0(self):
        version = ringpost("--version")
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^ringpost \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)\n$")
        for flag in ("--help", "--helpfull"):
            shown = ringpost(flag)
            self.assertEqual((shown.returncode, shown.stderr), (0, ""), flag)
            self.assertIn("\n  --max_message_size=50MiB\n      largest message", shown.stdout)
            self.assertNotIn("ringpost: ringpost:", shown.stdout)
            self.assertEqual("\n  --flagfile=\n" in shown.stdout, flag == "--helpfull", flag)  # Abseil's own
        # The operator's other tools answer the same way, each listing its own flags.
        for tool, own_flag in (("ringpost-queue", "--older_than="), ("ringpost-sink", "--rcpt_tempfail_rate="),
                               ("ringpost-blast", "--connections=")):
            version = run_tool(tool, "--version")
            self.assertEqual(version.returncode, 0, tool)
            self.assertRegex(version.stdout, r"^%s \d+\.\d+\.\d+ \(commit \S+\)\n$" % tool)
            shown = run_tool(tool, "--help")
            self.assertEqual((shown.returncode, shown.stderr), (0, ""), tool)
            self.assertTrue(shown.stdout.startswith(version.stdout.rstrip("\n") + ": "), shown.stdout[:200])
            self.assertIn("\n  " + own_flag, shown.stdout, tool)
            self.assertNotIn("%s: %s:" % (tool, tool), shown.stdout)

    def refused(self, *flags):
        """A start refused with one line on stderr and exit status 1 or 2, before any
        port is bound (nothing reaches the 'started' line)."""
        run = ringpost("--spool_dir=" + self.path("spool"), "--listen=127.0.0.1:0", "--metrics_listen=",
                       "--admin_socket=", *flags)
        self.assertIn(run.returncode, (1, 2), run)
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertNotIn("started", run.stderr)
        return lines[0]

    def test_mistakes_are_one_line_each_before_anything_starts(self):
        self.assertEqual(self.refused("--max_message_size=50 MB"),
                         "ERROR: Illegal value '50 MB' specified for flag 'max_message_size'; expected a size in "
                         "bytes, alone or with a suffix in powers of 1024: 1048576, 100k, 50M, 64MiB, 1G")
        self.assertEqual(self.refused("--relayhost=[smtp.example.com]:587"),
                         "ringpost: unknown flag --relayhost: that is Postfix's relayhost; ringpost's is "
                         "--routes='*=HOST:PORT' (a smarthost for every domain)")
        self.assertEqual(self.refused("--myhostname", "mx.example.com"),
                         "ringpost: unknown flag --myhostname: that is Postfix's myhostname; ringpost's is --hostname")
        self.assertEqual(self.refused("-mynetworks=10.0.0.0/8"),
                         "ringpost: unknown flag --mynetworks: that is Postfix's mynetworks; ringpost's is "
                         "--relay_networks")
        with open(self.path("postfix.flags"), "w") as f:
            f.write("# typed from main.cf\n--message_size_limit=10240000\n")
        self.assertEqual(self.refused("--flagfile=" + self.path("postfix.flags")),
                         "ringpost: unknown flag --message_size_limit (in %s): that is Postfix's message_size_limit; "
                         "ringpost's is --max_message_size (50M, 64MiB, bytes)" % self.path("postfix.flags"))
        self.assertEqual(self.refused("--routes=nonsense"), "ringpost: --routes: 'nonsense' is not domain=host:port")
        self.assertEqual(self.refused("--local_domains=example.net", "--relay_domains=Example.NET."),
                         "ringpost: --local_domains and --relay_domains both name example.net: a domain is "
                         "delivered here (local) or relayed onward, not both")
        # A Maildir root that cannot be made (a file is in the way) would fail every local delivery.
        with open(self.path("in-the-way"), "w"):
            pass
        self.assertEqual(self.refused("--local_domains=example.net", "--maildir_root=" + self.path("in-the-way/mail")),
                         "ringpost: --maildir_root %s cannot be created: Not a directory" % self.path("in-the-way/mail"))
        self.assertEqual(self.refused("--local_domains=example.net", "--local_recipients=" + self.path("missing")),
                         "ringpost: --local_recipients: cannot read " + self.path("missing"))


class ReloadTest(delivery.DeliveryTestCase):
    """SIGHUP re-reads --local_recipients (and the TLS files) and says what it did."""

    def rcpt_code(self, daemon, rcpt):
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail("s@src.example")
            return client.rcpt(rcpt)[0]

    def hup_and_wait(self, daemon, text):
        before = len(daemon.log_lines())
        daemon.proc.send_signal(signal.SIGHUP)
        return wait_for(lambda: [line for line in daemon.log_lines()[before:] if text in line], 15,
                        "'%s' after SIGHUP" % text, lambda: "\n" + daemon.log_text())[0]

    def test_sighup_rereads_local_recipients_and_keeps_them_when_the_file_is_bad(self):
        with tempfile.TemporaryDirectory(prefix="ringpost-operator-test-") as folder:
            listed = os.path.join(folder, "local_recipients")
            with open(listed, "w") as f:
                f.write("alice@example.net\n")
            daemon = self.daemon(local_domains="example.net", local_recipients=listed)
            self.assertEqual(self.rcpt_code(daemon, "alice@example.net"), 250)
            self.assertEqual(self.rcpt_code(daemon, "bob@example.net"), 550)  # RFC 5321 §3.3: unknown user
            with open(listed, "w") as f:
                f.write("# bob joined, alice left\nBob@Example.net\ncarol@example.net\n")
            line = self.hup_and_wait(daemon, "SIGHUP: local recipients")
            self.assertTrue(line.endswith("SIGHUP: local recipients reloaded from %s (2 addresses)" % listed), line)
            self.assertEqual(self.rcpt_code(daemon, "bob@example.net"), 250)
            self.assertEqual(self.rcpt_code(daemon, "alice@example.net"), 550)
            os.remove(listed)
            line = self.hup_and_wait(daemon, "SIGHUP: local recipients")
            self.assertTrue(line.endswith("SIGHUP: local recipients not reloaded (the previous 2 stay): "
                                          "--local_recipients: cannot read " + listed), line)
            self.assertEqual(self.rcpt_code(daemon, "carol@example.net"), 250)
            self.assertEqual(daemon.terminate(), 0)

    def test_sighup_with_nothing_to_reload_says_so(self):
        daemon = self.daemon()
        line = self.hup_and_wait(daemon, "SIGHUP:")
        self.assertTrue(line.endswith("SIGHUP: nothing to reload (no --tls_cert, no --local_recipients, no --auth_users, no --dkim_key_table, no --shaping, no --bounce_rules)"),
                        line)
        self.assertEqual(daemon.terminate(), 0)

    def test_the_service_manager_hears_ready_reloading_and_stopping(self):
        """systemd's Type=notify protocol (sd_notify(3)), as the packaged unit uses it:
        a datagram on $NOTIFY_SOCKET says READY=1 once the daemon listens, RELOADING=1
        then READY=1 around a SIGHUP, and STOPPING=1 when SIGTERM begins the stop."""
        with tempfile.TemporaryDirectory(prefix="ringpost-notify-") as folder:
            path = os.path.join(folder, "notify.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
                listener.bind(path)
                listener.settimeout(15)
                os.environ["NOTIFY_SOCKET"] = path
                try:
                    daemon = self.daemon()
                finally:
                    del os.environ["NOTIFY_SOCKET"]
                ready = listener.recv(4096).decode()
                self.assertEqual(ready, "READY=1\nSTATUS=accepting mail on 127.0.0.1:%d; recovered 0 queued messages"
                                 % daemon.port)
                daemon.proc.send_signal(signal.SIGHUP)
                self.assertRegex(listener.recv(4096).decode(), r"^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$")
                self.assertEqual(listener.recv(4096).decode(), "READY=1")
                daemon.proc.send_signal(signal.SIGTERM)
                self.assertEqual(listener.recv(4096).decode(), "STOPPING=1")
                self.assertEqual(daemon.proc.wait(30), 0)


def main():
    delivery.run_tests(__doc__, "operator_test", ("ringpost", "ringpost-sink", "ringpost-queue", "ringpost-blast"))


if __name__ == "__main__":
    main()
