#!/usr/bin/env python3
"""Traffic shaping from the outside (--shaping, docs/SHAPING.md): the real daemon relays
to ringpost-sink, which answers a provider's throttling reply (421 4.7.28 ... rate
limited) for chosen recipients; the accounting log's times show the destination
suspended, coming back and ramping up while other destinations go on, and a message
rate pacing delivery. A shaping file that does not parse stops the start (status 2,
naming file, line and key); SIGHUP reloads it, keeping the old one when the new one is bad.

Usage: shaping_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
import time
import urllib.request
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, the daemon harness)
import smtp_server_test as harness  # noqa: E402

wait_for = delivery.wait_for

GMAIL_421 = ("421 4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating "
             "from your IP address. To protect our users from spam, mail sent from your IP address has been "
             "temporarily rate limited.")


def when(record):
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


YAHOO_TSS04 = b"421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected volume\r\n"


class RefusingServer:
    """A loopback SMTP server that refuses every connection in its greeting, as Yahoo does
    with [TSS04] (RFC 5321 §3.1 lets a server refuse service there); counts connections."""

    def __init__(self, greeting):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.greeting = greeting
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.greeting)
                conn.settimeout(2)
                try:
                    conn.recv(1024)  # QUIT
                except OSError:
                    pass

    def close(self):
        self.listener.close()


class ShapingTest(delivery.DeliveryTestCase):
    def shaping_file(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        self.addCleanup(lambda: os.path.exists(f.name) and os.unlink(f.name))
        f.write(text)
        f.close()
        return f.name

    def send_many(self, daemon, recipients):
        """One message per recipient, on one connection."""
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            for n, rcpt in enumerate(recipients):
                self.assertEqual(client.sendmail("s@src.test", [rcpt], delivery.MESSAGE % n), {})

    def metrics_text(self, daemon):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % daemon.metrics_port, timeout=10) as response:
            return response.read().decode()

    def metric(self, daemon, name):
        for line in self.metrics_text(daemon).splitlines():
            if line.startswith(name + " "):
                return float(line.split(" ")[1])
        return None

    def deliveries(self, daemon, domain):
        return sorted(when(r) for r in self.accounting(daemon, ("delivery",)) if r["domain"] == domain)

    def test_throttling_reply_suspends_the_destination_which_comes_back_gradually(self):
        throttling = self.sink("--tempfail_pattern=slowdown", "--tempfail_times=1", "--tempfail_reply=" + GMAIL_421)
        other = self.sink()
        shaping = self.shaping_file('''
# Suspend for 5 s on Gmail's throttling reply, then 2/s doubling each second to 16/s.
[[automation]]
name = "rate-limited"
code = 421
enhanced = "4.7.28"
text = "rate limited"
action = "suspend"
duration = "5s"
ramp_from = "2/s"
ramp_interval = "1s"
ramp_to = "16/s"
''')
        daemon = self.daemon(shards=1, shaping=shaping,
                             routes="throttled.test=127.0.0.1:%d,other.test=127.0.0.1:%d" % (throttling.port,
                                                                                           other.port))
        self.send_many(daemon, ["slowdown@throttled.test"])
        shaping_records = wait_for(lambda: self.accounting(daemon, ("shaping",)), 30, "the rule's record",
                                   lambda: "\n" + daemon.log_text())
        record = shaping_records[0]
        self.assertEqual((record["action"], record["rule"], record["destination"], record["domain"],
                          record["code"], record["status"], record["ramp_from"]),
                         ("suspend", "rate-limited", "throttled.test", "throttled.test", 421, "4.7.28", "2/s"))
        until = when({"time": record["until"]})
        self.assertAlmostEqual(until - when(record), 5.0, delta=0.01)
        # While it is suspended: 12 messages wait for throttled.test; other.test's go.
        self.send_many(daemon, ["r%d@throttled.test" % n for n in range(12)] + ["a@other.test", "b@other.test"])
        wait_for(lambda: len(self.deliveries(daemon, "other.test")) == 2, 30, "other.test's deliveries")
        self.assertLess(max(self.deliveries(daemon, "other.test")), until)  # not held up
        suspended = wait_for(lambda: [l for l in daemon.log_lines() if "shaping rule=rate-limited" in l], 10,
                             "the log line")[0]
        self.assertIn("action=suspend destination=throttled.test until=", suspended)
        self.assertIn("ramp_from=2/s reply=\"421 [192.0.2.1] Our system", suspended)
        # Then: nothing before the suspension's end, and the 12 (and the retried one)
        # come back at 2/s, 4/s, 8/s: spread over seconds, not all at once.
        times = wait_for(lambda: len(self.deliveries(daemon, "throttled.test")) == 13 and
                         self.deliveries(daemon, "throttled.test"), 60, "throttled.test's deliveries",
                         lambda: "\n" + daemon.log_text())
        self.assertGreaterEqual(times[0], until - 0.01)
        self.assertLessEqual(len([t for t in times if t < times[0] + 1.0]), 4)  # 2/s and its burst
        self.assertGreaterEqual(times[-1] - times[0], 1.5)
        self.assertEqual(len(throttling.messages()), 13)
        wait_for(lambda: self.metric(daemon, "ringpost_shaping_suspend_total") == 1, 10, "the metric",
                 lambda: "\n" + self.metrics_text(daemon))
        self.assertGreater(self.metric(daemon, "ringpost_shaping_waits_total"), 0)
        daemon.validate_accounting()

    def test_a_throttling_greeting_suspends_the_destination(self):
        server = RefusingServer(YAHOO_TSS04)
        self.addCleanup(server.close)
        daemon = self.daemon(shards=1, routes="yahoo.test=127.0.0.1:%d" % server.port)
        self.send_many(daemon, ["r%d@yahoo.test" % n for n in range(3)])
        actions = delivery.wait_for(lambda: self.accounting(daemon, ("shaping",)), 30, "a shaping action",
                                    lambda: "\n" + daemon.log_text())
        self.assertEqual(actions[0]["rule"], "yahoo-tss04")
        self.assertEqual(actions[0]["action"], "suspend")
        self.assertEqual(actions[0]["domain"], "yahoo.test")
        self.assertEqual(actions[0]["code"], 421)
        self.assertIn("[TSS04]", actions[0]["text"])
        # Suspended for 15 minutes: with retries every second, no more connections come.
        seen = server.connections
        time.sleep(3)
        self.assertEqual(server.connections, seen)
        self.assertLessEqual(seen, 3)
        self.assertEqual(len(self.accounting(daemon, ("shaping",))), 1)

    @unittest.skipUnless(subprocess.run(["which", "dnsmasq"], capture_output=True).returncode == 0, "no dnsmasq")
    def test_a_rules_suspension_of_a_site_holds_its_domains_on_every_shard(self):
        # s0.test and s1.test share one MX host (so one site) and live on shards 0 and 1
        # (FNV-1a of the name, modulo 2). The reply to s0.test's mail suspends the site;
        # s1.test's mail, on the other shard, waits too.
        sink = self.sink("--tempfail_pattern=slowdown", "--tempfail_times=1", "--tempfail_reply=" + GMAIL_421)
        dns = delivery.Dnsmasq(delivery.free_udp_port(), [
            "--mx-host=s0.test,mx1.site.test,10", "--mx-host=s1.test,mx1.site.test,10",
            "--host-record=mx1.site.test,127.0.0.1"])
        self.addCleanup(dns.close)
        shaping = self.shaping_file('''
[destination."mx:*.site.test"]
max_message_rate = "100/s"

[[automation]]
name = "site-rate-limited"
code = 421
enhanced = "4.7.28"
action = "suspend"
duration = "4s"
''')
        daemon = self.daemon(shards=2, shaping=shaping, dns_servers="127.0.0.1:%d" % dns.port,
                             outbound_port=sink.port, dns_timeout="300ms", dns_tries=1)
        self.send_many(daemon, ["slowdown@s0.test"])
        actions = delivery.wait_for(lambda: self.accounting(daemon, ("shaping",)), 30, "the site suspended",
                                    lambda: "\n" + daemon.log_text())
        self.assertEqual(actions[0]["destination"], "mx:*.site.test")
        until = datetime.fromisoformat(actions[0]["until"].replace("Z", "+00:00")).timestamp()
        self.send_many(daemon, ["r@s1.test"])
        delivery.wait_for(lambda: self.deliveries(daemon, "s1.test"), 30, "s1.test delivered",
                          lambda: "\n" + daemon.log_text())
        # Delivered once the suspension ended (the accounting times are to the millisecond).
        self.assertGreaterEqual(self.deliveries(daemon, "s1.test")[0], until - 0.01, daemon.log_text())
        self.assertIn("(another shard's share)", daemon.log_text(300))

    def test_message_rate_paces_delivery_to_a_destination(self):
        sink = self.sink()
        shaping = self.shaping_file('[destination."paced.test"]\nmax_message_rate = "20/s"\n'
                                    'max_recipients_per_transaction = 1\n')
        daemon = self.daemon(shards=2, shaping=shaping, routes="*=127.0.0.1:%d" % sink.port)
        self.send_many(daemon, ["r%d@paced.test" % n for n in range(40)] + ["x@free.test"])
        times = wait_for(lambda: len(self.deliveries(daemon, "paced.test")) == 40 and
                         self.deliveries(daemon, "paced.test"), 60, "40 deliveries", lambda: "\n" + daemon.log_text())
        # 40 at 20/s with a burst of two (50 ms worth, or one interval): at least 1.9 s.
        self.assertGreaterEqual(times[-1] - times[0], 1.85)
        self.assertLess(self.deliveries(daemon, "free.test")[0], times[-1])
        self.assertEqual(len(sink.messages()), 41)

    def test_sighup_reloads_the_shaping_file_and_keeps_it_when_the_new_one_is_bad(self):
        sink = self.sink()
        shaping = self.shaping_file('[destination."held.test"]\nmax_message_rate = 0  # suspended\n')
        daemon = self.daemon(shaping=shaping, routes="*=127.0.0.1:%d" % sink.port)
        self.send_many(daemon, ["a@held.test", "b@held.test", "c@open.test"])
        wait_for(lambda: len(self.deliveries(daemon, "open.test")) == 1, 30, "open.test's delivery")
        self.assertEqual(self.deliveries(daemon, "held.test"), [])
        # A bad file: logged, and the rate of 0 stays.
        with open(shaping, "w") as f:
            f.write('[destination."held.test"]\nmax_message_rate = "fast"\n')
        before = len(daemon.log_lines())
        daemon.proc.send_signal(signal.SIGHUP)
        line = wait_for(lambda: [l for l in daemon.log_lines()[before:] if "SIGHUP: --shaping" in l], 15,
                        "the reload's error")[0]
        self.assertIn("SIGHUP: --shaping: %s:2: max_message_rate: 'fast' is not a rate" % shaping, line)
        self.assertTrue(line.endswith("(the previous policy stays)"), line)
        # A good one: the held mail goes.
        with open(shaping, "w") as f:
            f.write('[destination."held.test"]\nmax_message_rate = "100/s"\n')
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(self.deliveries(daemon, "held.test")) == 2, 30, "held.test's deliveries",
                 lambda: "\n" + daemon.log_text())
        self.assertEqual(len(sink.messages()), 3)

    def test_a_bad_shaping_file_stops_the_start_with_status_2_naming_file_line_and_key(self):
        with tempfile.TemporaryDirectory(prefix="ringpost-shaping-test-") as folder:
            cases = [
                ('[default]\nconnection_limit = 5\nretries = 3\n', ":3: retries: unknown key in default"),
                ('[[automation]]\nname = "x"\naction = "bounce"\ntext = "(unclosed"\n',
                 ":1: automation \"x\": invalid regular expression '(unclosed'"),
                ('[destination."mx:*.google.com"]\nmax_message_rate = "ten/s"\n',
                 ":2: max_message_rate: 'ten/s' is not a rate"),
                ('[default\n', ":1: "),
            ]
            for text, expected in cases:
                path = os.path.join(folder, "shaping.toml")
                with open(path, "w") as f:
                    f.write(text)
                result = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost"), "--shaping=" + path,
                                         "--spool_dir=" + os.path.join(folder, "spool"), "--listen=127.0.0.1:0"],
                                        capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertTrue(result.stderr.startswith("ringpost: --shaping: " + path + expected), result.stderr)


def main():
    delivery.run_tests(__doc__, "shaping_test", ("ringpost", "ringpost-sink"))


if __name__ == "__main__":
    main()
