#!/usr/bin/env python3
"""Outbound delivery from the outside: the real daemon relaying to real SMTP peers.

Every test starts ringpost (two shards, a fresh spool, port chosen by the kernel) with
static routes (--routes) to next hops on 127.0.0.1: ringpost-sink (which records every
message it accepts and can inject faults) and Postfix's smtp-sink. The tests read what
the peers received, the accounting log (one JSON line per attempt outcome) and the
daemon's log. Waits are on conditions with deadlines, never fixed sleeps.

Usage: delivery_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import argparse
import email
import email.policy
import glob
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtp_server_test as harness  # noqa: E402  (Daemon: one ringpost process)

HOSTNAME = harness.HOSTNAME


def wait_for(condition, timeout, what, details=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s%s" % (timeout, what, details()))


class Sink:
    """ringpost-sink on a kernel-chosen port, recording into its own folder."""

    LISTENING_RE = re.compile(r"listening 127\.0\.0\.\d+:(\d+)")

    def __init__(self, *flags, port=0, listen_host="127.0.0.1"):
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-delivery-sink-")
        self.record_dir = self.dir_holder.name
        argv = [os.path.join(harness.BIN_DIR, "ringpost-sink"), "--listen=%s:%d" % (listen_host, port), "--json",
                "--record_dir=" + self.record_dir, "--hostname=sink.test"] + list(flags)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = self.LISTENING_RE.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError("ringpost-sink did not start: %r" % line)
        self.port = int(match.group(1))

    def messages(self):
        """[(envelope dict, body bytes)] of every message recorded so far."""
        found = []
        # The sink renames the .eml into place last: once it is there, its .json is
        # whole (a .json alone may still be being written).
        for path in sorted(glob.glob(os.path.join(self.record_dir, "*.eml"))):
            with open(path[:-len(".eml")] + ".json") as f:
                envelope = json.load(f)
            with open(path, "rb") as f:
                found.append((envelope, f.read()))
        return found

    def counters(self):
        """SIGUSR1: the counters so far (the sink prints them as a line of JSON)."""
        self.proc.send_signal(signal.SIGUSR1)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return None
            if line.startswith("{"):
                return json.loads(line)

    def stop(self):
        """SIGTERM; returns the final counters (connections, peak_connections, ...)."""
        if self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.dir_holder.cleanup()


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DeliveryTestCase(unittest.TestCase):
    def setUp(self):
        self.sinks = []
        self.daemons = []

    def tearDown(self):
        for daemon in self.daemons:
            daemon.close()
        for sink in self.sinks:
            sink.close()

    def sink(self, *flags, port=0):
        sink = Sink(*flags, port=port)
        self.sinks.append(sink)
        return sink

    def daemon(self, **flags):
        settings = {"retry_initial": "1s", "retry_max": "2s", "outbound_idle_timeout": "1s"}
        settings.update(flags)
        daemon = harness.Daemon(**settings)
        self.daemons.append(daemon)
        return daemon

    OUTCOMES = ("delivery", "transient", "bounce", "expiration")

    def accounting(self, daemon, types=OUTCOMES):
        """The accounting log's records of `types` (by default a recipient's outcomes)."""
        path = os.path.join(daemon.spool, "accounting.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            records = [json.loads(line) for line in f if line.endswith("\n")]
        return [r for r in records if r["type"] in types]

    def wait_accounting(self, daemon, predicate, count, what, timeout=30):
        return wait_for(lambda: [e for e in self.accounting(daemon) if predicate(e)][count - 1:] and
                        [e for e in self.accounting(daemon) if predicate(e)],
                        timeout, what, lambda: "\n" + daemon.log_text())

    def send(self, daemon, sender, recipients, body):
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            refused = client.sendmail(sender, recipients, body)
            self.assertEqual(refused, {})


MESSAGE = (b"From: a@src.example\r\nSubject: relay %d\r\n\r\n"
           b"line one\r\n.leading dot\r\n..two dots\r\n.\r\nx\r\n"
           b"\xc3\xa9t\xc3\xa9 in 8 bits\r\n")


class RelayTest(DeliveryTestCase):
    def test_bodies_reach_sinks_byte_identical_across_many_domains(self):
        """RFC 5321 §4.5.2: lines starting with dots survive the hop; the message leaves byte
        for byte as stored (DESIGN.md), to ringpost-sink and Postfix's smtp-sink at once."""
        recording = self.sink()
        routes = ["*=127.0.0.1:%d" % recording.port]
        postfix = None
        if os.path.exists("/usr/sbin/smtp-sink"):
            port = free_port()
            postfix = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody", "127.0.0.1:%d" % port, "64"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            self.addCleanup(lambda: (postfix.kill(), postfix.wait()))
            wait_for(lambda: self._listening(port), 10, "smtp-sink to listen")
            routes.append("postfix.example=127.0.0.1:%d" % port)
        daemon = self.daemon(routes=",".join(routes))
        sent = {}
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            for i in range(40):
                body = MESSAGE % i
                rcpts = ["user%d@d%d.example" % (i, i % 10)]
                if postfix is not None and i % 4 == 0:
                    rcpts.append("pf%d@postfix.example" % i)
                client.sendmail("a@src.example", rcpts, body, mail_options=["BODY=8BITMIME"])
                sent["user%d@d%d.example" % (i, i % 10)] = body
        wait_for(lambda: len(recording.messages()) == 40, 30, "40 messages at the recording sink",
                 lambda: "\n" + daemon.log_text())
        for envelope, stored in recording.messages():
            self.assertEqual(len(envelope["rcpt_to"]), 1)
            rcpt = envelope["rcpt_to"][0]
            self.assertEqual(envelope["mail_from"], "a@src.example")
            self.assertEqual(envelope["helo"], HOSTNAME, "outbound EHLO uses --hostname")
            self.assertTrue(stored.startswith(b"Received: from "), stored[:80])
            self.assertTrue(stored.endswith(sent[rcpt]), "body of %s changed in transit" % rcpt)
            self.assertEqual(stored.count(b"Received:"), 1)
        if postfix is not None:
            delivered = self.wait_accounting(
                daemon, lambda e: e["domain"] == "postfix.example" and e["type"] == "delivery", 10,
                "10 deliveries to smtp-sink")
            self.assertEqual(len(delivered), 10)
        entries = self.accounting(daemon)
        by_rcpt = {e["rcpt"]: e for e in entries}
        first = by_rcpt["user0@d0.example"]
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertRegex(first["queue_id"], r"^[0-9A-Z]{15}$")
        self.assertEqual((first["from"], first["domain"], first["host"]),
                         ("a@src.example", "d0.example", "127.0.0.1:%d" % recording.port))
        self.assertEqual((first["type"], first["code"], first["status"], first["attempt"]),
                         ("delivery", 250, "2.0.0", 1))
        self.assertGreaterEqual(first["queued_seconds"], 0)
        self.assertLess(first["queued_seconds"], 30)
        self.assertIn("queued as", first["text"])
        self.assertEqual((first["tls"], first["tls_verified"], first["possible_duplicate"]), ("none", False, False))
        self.assertTrue(all(e["type"] == "delivery" and e["code"] == 250 for e in entries), entries[:3])
        self.assertEqual(daemon.terminate(), 0)

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def test_connection_reuse_500_messages_at_most_2_connections(self):
        """--domain_max_connections=2: 500 messages for one domain share at most two
        connections (reused up to --max_messages_per_connection each)."""
        recording = self.sink("--record_dir=")
        daemon = self.daemon(routes="bulk.example=127.0.0.1:%d" % recording.port, domain_max_connections=2,
                             max_messages_per_connection=1000)
        threads = []
        errors = []

        def client(offset):
            try:
                with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as c:
                    for i in range(125):
                        c.sendmail("a@src.example", ["r%d@bulk.example" % (offset + i)],
                                   b"Subject: bulk\r\n\r\nbody\r\n")
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)

        for k in range(4):
            threads.append(threading.Thread(target=client, args=(k * 1000,)))
            threads[-1].start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 500, "500 deliveries")
        counters = recording.stop()
        print("\n500 messages to one domain: connections used=%d, peak concurrent=%d" %
              (counters["connections"], counters["peak_connections"]), file=sys.stderr)
        self.assertEqual(counters["messages"], 500)
        self.assertLessEqual(counters["peak_connections"], 2)
        self.assertGreaterEqual(counters["connections"], 1)


    def test_domains_behind_one_smarthost_share_its_connections(self):
        """Connections are to hosts, not domains: 12 domains through one smarthost with
        --host_max_connections=2 (one per shard) use at most 2 at once, handed from
        domain to domain instead of closed and reopened."""
        recording = self.sink("--record_dir=")
        daemon = self.daemon(routes="*=127.0.0.1:%d" % recording.port, host_max_connections=2,
                             outbound_idle_timeout="10s")
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client:
            for i in range(120):
                client.sendmail("a@src.example", ["r%d@d%d.example" % (i, i % 12)], b"Subject: s\r\n\r\nx\r\n")
        self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 120, "120 deliveries")
        counters = recording.stop()
        print("\n120 messages to 12 domains via one smarthost: connections used=%d, peak concurrent=%d" %
              (counters["connections"], counters["peak_connections"]), file=sys.stderr)
        self.assertEqual(counters["messages"], 120)
        self.assertLessEqual(counters["peak_connections"], 2)
        self.assertLessEqual(counters["connections"], 4)


class ShutdownTest(DeliveryTestCase):
    def test_sigterm_lets_a_message_in_flight_finish_and_records_it(self):
        """SIGTERM while the next hop has the message but has not answered the final dot:
        the session gets the grace period, the message counts as delivered (not a possible
        duplicate), and its result is on disk before the process exits."""
        slow = self.sink("--data_delay_ms=1500")  # records the message, then waits to answer
        daemon = self.daemon(routes="*=127.0.0.1:%d" % slow.port)
        self.send(daemon, "a@src.example", ["r@slow.example"], b"Subject: slow\r\n\r\nx\r\n")
        wait_for(lambda: slow.messages(), 20, "the message at the sink", lambda: "\n" + daemon.log_text())
        self.assertEqual(daemon.terminate(), 0)
        self.assertEqual([e["type"] for e in self.accounting(daemon)], ["delivery"], daemon.log_text())
        self.assertEqual(daemon.queued(), {}, "the delivered result was durable before the exit")


class RetryAndBounceTest(DeliveryTestCase):
    def test_451_twice_then_delivered_on_the_third_attempt(self):
        """RFC 5321 §4.5.4.1: a 4xx reply is retried later; --retry_initial=1s here."""
        flaky = self.sink("--tempfail_pattern=retry", "--tempfail_times=2")
        daemon = self.daemon(routes="flaky.example=127.0.0.1:%d" % flaky.port)
        self.send(daemon, "a@src.example", ["retry@flaky.example"], b"Subject: again\r\n\r\nthird time\r\n")
        entries = self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 1, "the delivery", timeout=30)
        self.assertEqual(entries[0]["attempt"], 3)
        deferred = [e for e in self.accounting(daemon) if e["type"] == "transient"]
        self.assertEqual([e["attempt"] for e in deferred], [1, 2])
        self.assertTrue(all(e["code"] == 451 for e in deferred), deferred)
        self.assertEqual(len(flaky.messages()), 1)
        self.assertTrue(flaky.messages()[0][1].endswith(b"third time\r\n"))

    def test_a_connection_lost_after_the_final_dot_is_deferred_as_a_possible_duplicate(self):
        """RFC 5321 §4.1.1.4 (and RFC 1047): without a reply to the final dot the next hop
        may have the message: it is deferred, never lost, and the accounting log flags the
        attempt as a possible duplicate so an operator can tell where a duplicate came from."""
        dropping = self.sink("--disconnect_rate=1", "--disconnect_at=dot")
        daemon = self.daemon(routes="*=127.0.0.1:%d" % dropping.port)
        self.send(daemon, "a@src.example", ["r@drop.example"], b"Subject: lost reply\r\n\r\nx\r\n")
        entries = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 2, "two deferrals")
        for entry in entries[:2]:
            self.assertEqual((entry["rcpt"], entry["code"], entry["possible_duplicate"]),
                             ("r@drop.example", 0, True), entry)
        self.assertEqual([e["attempt"] for e in entries[:2]], [1, 2])
        self.assertIn("possible duplicate", daemon.log_text())
        self.assertEqual(daemon.terminate(), 0)
        self.assertEqual(len(daemon.queued()), 1, "the message stays queued")

    def test_550_bounces_to_the_sender_with_an_rfc3464_report(self):
        """RFC 3464: the DSN goes from <> to the sender's route, naming the failed recipient."""
        refusing = self.sink("--rcpt_permfail_rate=1")
        home = self.sink()
        daemon = self.daemon(routes="bad.example=127.0.0.1:%d,src.example=127.0.0.1:%d" %
                             (refusing.port, home.port))
        original = b"From: sender@src.example\r\nSubject: doomed\r\nMessage-ID: <m1@src.example>\r\n\r\nbody\r\n"
        self.send(daemon, "sender@src.example", ["nobody@bad.example"], original)
        wait_for(lambda: home.messages(), 30, "the DSN at the sender's sink", lambda: "\n" + daemon.log_text())
        envelope, dsn = home.messages()[0]
        self.assertEqual(envelope["mail_from"], "", "a DSN comes from the null sender")
        self.assertEqual(envelope["rcpt_to"], ["sender@src.example"])
        message = email.message_from_bytes(dsn, policy=email.policy.compat32)
        self.assertEqual(message.get_content_type(), "multipart/report")
        self.assertEqual(message.get_param("report-type"), "delivery-status")
        parts = message.get_payload()
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        text = dsn.decode("utf-8", "replace")
        self.assertIn("Reporting-MTA: dns; " + HOSTNAME, text)
        self.assertIn("Final-Recipient: rfc822; nobody@bad.example", text)
        self.assertIn("Action: failed", text)
        self.assertIn("Status: 5.1.1", text)
        self.assertRegex(text, r"Diagnostic-Code: smtp; 550 5\.1\.1")
        self.assertIn("Subject: doomed", text, "the original's headers are quoted")
        bounced = [e for e in self.accounting(daemon) if e["type"] == "bounce"]
        self.assertEqual(len(bounced), 1)
        self.assertEqual(bounced[0]["code"], 550)

    def test_internationalised_message_to_a_hop_without_smtputf8_bounces_5_6_7(self):
        """RFC 6531 §3.4 / DESIGN.md: a next hop that lacks SMTPUTF8 never receives an
        internationalised message; it bounces with 5.6.7."""
        plain = self.sink("--smtputf8=false")
        home = self.sink()
        daemon = self.daemon(routes="old.example=127.0.0.1:%d,src.example=127.0.0.1:%d" % (plain.port, home.port))
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.sendmail("sender@src.example", ["j\u00fcrgen@old.example"],
                            "Subject: gr\u00fc\u00dfe\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8"])
        wait_for(lambda: home.messages(), 30, "the DSN", lambda: "\n" + daemon.log_text())
        self.assertIn("Status: 5.6.7", home.messages()[0][1].decode("utf-8", "replace"))
        self.assertEqual(plain.messages(), [])

    def test_null_sender_failure_is_dropped_and_logged_not_bounced(self):
        """RFC 5321 §6.1: never a DSN for a message whose sender is null."""
        refusing = self.sink("--rcpt_permfail_rate=1")
        home = self.sink()
        daemon = self.daemon(routes="bad.example=127.0.0.1:%d,*=127.0.0.1:%d" % (refusing.port, home.port))
        self.send(daemon, "", ["nobody@bad.example"], b"Subject: a bounce that fails\r\n\r\nx\r\n")
        self.wait_accounting(daemon, lambda e: e["type"] == "bounce", 1, "the refusal")
        wait_for(lambda: any(re.search(r"\] bounce id=\S+ to <nobody@bad\.example> failed: .*; not reported "
                                       r"further \(null sender\)$", line) for line in daemon.log_lines()), 10,
                 "the log line saying the report went no further", lambda: "\n" + daemon.log_text())
        self.assertEqual(daemon.terminate(), 0)
        self.assertFalse(any("report queued" in line for line in daemon.log_lines()))
        self.assertEqual(home.messages(), [])

    def test_unreachable_next_hop_defers_then_expires_and_bounces(self):
        """A refused connection is a temporary failure (deferred); past --max_queue_lifetime
        the recipient expires and the sender gets a DSN with status 5.4.7."""
        home = self.sink()
        dead = free_port()
        daemon = self.daemon(routes="down.example=127.0.0.1:%d,src.example=127.0.0.1:%d" % (dead, home.port),
                             max_queue_lifetime="3s")
        self.send(daemon, "sender@src.example", ["x@down.example"], b"Subject: late\r\n\r\nx\r\n")
        wait_for(lambda: home.messages(), 30, "the expiry DSN", lambda: "\n" + daemon.log_text())
        text = home.messages()[0][1].decode()
        self.assertIn("Status: 5.4.7", text)
        self.assertIn("Final-Recipient: rfc822; x@down.example", text)
        results = [e["type"] for e in self.accounting(daemon) if e["rcpt"] == "x@down.example"]
        self.assertEqual(results[-1], "expiration")
        self.assertIn("transient", results)


class SpoolTest(DeliveryTestCase):
    def test_delivered_mail_frees_its_segments(self):
        """Disk use stays bounded under a steady flow: once every message in a sealed
        segment is delivered, the home shard deletes (or recycles) the file."""
        self.check_segments_freed(log_heads=1)

    def test_delivered_mail_frees_its_segments_with_two_log_heads(self):
        """The same with --log_heads=2: results go to the newest head and the heads roll
        together, so no head pins older segments; a restart finds nothing left to send."""
        self.check_segments_freed(log_heads=2)

    def check_segments_freed(self, log_heads):
        recording = self.sink("--record_dir=")
        daemon = self.daemon(routes="*=127.0.0.1:%d" % recording.port, segment_bytes=65536, log_heads=log_heads)
        self.assertIn("log_heads=%d" % log_heads, daemon.log_text(5))
        body = b"Subject: fill\r\n\r\n" + b"x" * 4000 + b"\r\n"
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client:
            for i in range(400):
                client.sendmail("a@src.example", ["r%d@d%d.example" % (i, i % 7)], body)
        self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 400, "400 deliveries")

        def segment_files():
            return glob.glob(os.path.join(daemon.spool, "shard-*", "*.log"))
        # ~1.6 MB went through 64 KiB segments (25 or more of them); what stays is each
        # shard's head segments and the few files kept for reuse.
        wait_for(lambda: len(segment_files()) <= 12, 20, "sealed segments to be freed",
                 lambda: "\n%s\n%s" % (sorted(segment_files()), daemon.log_text()))
        self.assertEqual(daemon.terminate(), 0)
        self.assertEqual(daemon.queued(), {})  # every message was delivered: nothing comes back

    def test_long_deferred_mail_is_compacted_forward_and_its_old_segment_goes(self):
        """A message deferred past --compaction_age is copied forward (a new queue id with
        the deferred recipients and their retry state); its old segment is then freed
        although the mail is still queued, and a restart finds only the copy."""
        sink = self.sink("--tempfail_pattern=slow", "--tempfail_times=100000")
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, segment_bytes=16384, compaction_age="1s",
                             shards=1)
        body = b"Subject: fill\r\n\r\n" + b"x" * 2000 + b"\r\n"
        self.send(daemon, "s@src.test", ["slow@far.test", "fast@other.test"], body)
        first = sorted(glob.glob(os.path.join(daemon.spool, "shard-0", "*.log")))
        self.assertEqual(len(first), 1, first)
        original = self.wait_accounting(daemon, lambda e: e["rcpt"] == "fast@other.test", 1, "fast delivered")
        old_id = original[0]["queue_id"]
        compacted = wait_for(lambda: re.search(r"compacted id=%s into id=(\w+)" % old_id, daemon.log_text(300)),
                             30, "the compaction", lambda: "\n" + daemon.log_text())
        new_id = compacted.group(1)
        # A flow of other mail rolls segments; the first one no longer holds anything live.
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client:
            for i in range(40):
                client.sendmail("s@src.test", ["r%d@far.test" % i], body)
        self.wait_accounting(daemon, lambda e: e["rcpt"].startswith("r") and e["type"] == "delivery", 40,
                             "40 deliveries")
        wait_for(lambda: not os.path.exists(first[0]), 20, "the first segment to be freed",
                 lambda: "\n%s" % sorted(glob.glob(os.path.join(daemon.spool, "shard-0", "*.log"))))
        # Attempts go on under the new id.
        self.wait_accounting(daemon, lambda e: e["queue_id"] == new_id, 1, "an attempt under the new id")
        later = [e for e in self.accounting(daemon) if e["rcpt"] == "slow@far.test"]
        self.assertTrue(all(e["type"] == "transient" for e in later), later)
        self.assertEqual(daemon.terminate(), 0)
        # Deferred again past the age, the copy is copied again: follow the chain.
        moves = dict(re.findall(r"compacted id=(\w+) into id=(\w+)", daemon.log_text(10000)))
        current = new_id
        while current in moves:
            current = moves[current]
        queued = daemon.queued()
        self.assertEqual(list(queued), [current])  # every older copy is finished: relocated
        self.assertEqual(queued[current]["recipients"], 1)
        self.assertIn(b"Subject: fill", daemon.stored(current))

    def test_hostname_must_be_fully_qualified(self):
        """The outbound EHLO needs a fully qualified name (RFC 5321 §4.1.1.1)."""
        with tempfile.TemporaryDirectory(prefix="ringpost-delivery-fqdn-") as spool:
            argv = [os.path.join(harness.BIN_DIR, "ringpost"), "--hostname=nodots", "--listen=127.0.0.1:0",
                    "--spool_dir=" + spool]
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(b"--hostname", result.stderr)
        self.assertIn(b"fully qualified", result.stderr)


class LocalDeliveryTest(DeliveryTestCase):
    def test_maildir_delivery_with_return_path_and_delivered_to(self):
        """Maildir: tmp/ then new/, Return-Path: and Delivered-To: on top, Unix line endings."""
        recipients = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        recipients.write("# known users\nbob@local.example\n")
        recipients.close()
        self.addCleanup(os.unlink, recipients.name)
        daemon = self.daemon(local_domains="local.example", local_recipients=recipients.name)
        self.send(daemon, "a@src.example", ["Bob@Local.Example"], b"Subject: hi\r\n\r\nhello bob\r\n")
        new_dir = os.path.join(daemon.spool, "mail", "local.example", "bob", "new")
        files = wait_for(lambda: os.path.isdir(new_dir) and os.listdir(new_dir), 20, "a file in " + new_dir,
                         lambda: "\n" + daemon.log_text())
        self.assertEqual(len(files), 1)
        with open(os.path.join(new_dir, files[0]), "rb") as f:
            stored = f.read()
        self.assertTrue(stored.startswith(b"Return-Path: <a@src.example>\nDelivered-To: Bob@Local.Example\n"),
                        stored[:120])
        self.assertIn(b"Received: from ", stored)
        self.assertTrue(stored.endswith(b"\n\nhello bob\n"), stored[-40:])
        self.assertNotIn(b"\r\n", stored)
        self.assertEqual(os.listdir(os.path.join(daemon.spool, "mail", "local.example", "bob", "tmp")), [])
        # An unknown local user is refused at RCPT (550 5.1.1), not bounced later.
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail("a@src.example")
            code, text = client.rcpt("stranger@local.example")
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", text)


class RestartTest(DeliveryTestCase):
    def test_restart_delivers_what_was_deferred_and_nothing_twice(self):
        """After a stop (SIGTERM) and after SIGKILL, every unfinished recipient is tried
        again on restart; what was delivered is not sent again."""
        up = self.sink()
        later_port = free_port()
        spool = tempfile.TemporaryDirectory(prefix="ringpost-delivery-restart-")
        self.addCleanup(spool.cleanup)
        flags = dict(spool_dir=spool.name, accounting_log=os.path.join(spool.name, "accounting.jsonl"),
                     routes="up.example=127.0.0.1:%d,later.example=127.0.0.1:%d" % (up.port, later_port),
                     retry_initial="4s", retry_max="4s")
        first = self.daemon(**flags)
        first.spool = spool.name
        self.send(first, "a@src.example", ["one@up.example", "two@later.example"], b"Subject: split\r\n\r\nx\r\n")
        self.wait_accounting(first, lambda e: e["type"] == "delivery", 1, "one@up.example delivered")
        self.wait_accounting(first, lambda e: e["type"] == "transient", 1, "two@later.example deferred")
        self.assertEqual(first.terminate(), 0)

        # The next hop comes up; the restarted daemon tries at the recorded retry time.
        later = self.sink(port=later_port)
        flags["retry_initial"] = "1s"
        flags["retry_max"] = "2s"
        second = self.daemon(**flags)
        second.spool = spool.name
        wait_for(lambda: later.messages(), 30, "the deferred recipient after the restart",
                 lambda: "\n" + second.log_text())
        # Then a crash with mail accepted but not yet delivered: nothing answered 250 is lost.
        later.stop()
        self.send(second, "a@src.example", ["three@later.example"], b"Subject: crash\r\n\r\ny\r\n")
        self.wait_accounting(second, lambda e: e["rcpt"] == "three@later.example", 1, "an attempt for three@")
        second.kill()
        later_again = self.sink(port=later_port)
        third = self.daemon(**flags)
        third.spool = spool.name
        wait_for(lambda: later_again.messages(), 30, "three@ after SIGKILL and restart",
                 lambda: "\n" + third.log_text())
        self.assertEqual(third.terminate(), 0)
        self.assertEqual(len(up.messages()), 1, "one@up.example was delivered once")
        self.assertEqual([m[0]["rcpt_to"] for m in later.messages()], [["two@later.example"]])
        self.assertEqual([m[0]["rcpt_to"] for m in later_again.messages()], [["three@later.example"]])

    def test_results_written_by_another_shard_outlive_its_reclaimed_segments(self):
        """A message's recipients are delivered by the shards that own their domains; each
        result lives in the message's own (home) log. Here the message stays queued for a
        deferred recipient while a flow of other mail rolls and reclaims the other shard's
        segments: the recipients that shard delivered stay delivered after a restart, and
        nothing is sent twice."""
        up = self.sink()
        later_port = free_port()
        spool = tempfile.TemporaryDirectory(prefix="ringpost-delivery-results-home-")
        self.addCleanup(spool.cleanup)
        flags = dict(spool_dir=spool.name, shards=2, segment_bytes=65536,
                     routes="later.example=127.0.0.1:%d,*=127.0.0.1:%d" % (later_port, up.port),
                     retry_initial="5s", retry_max="5s")

        def run():
            daemon = self.daemon(**flags)
            daemon.spool = spool.name
            return daemon
        first = run()
        # Eight domains: with two shards, about half are delivered by the shard that is
        # not the message's home.
        early = ["one@up%d.example" % i for i in range(8)]
        self.send(first, "a@src.example", early + ["two@later.example"], b"Subject: split\r\n\r\nx\r\n")
        wait_for(lambda: len(up.messages()) == 8, 30, "8 early recipients delivered", lambda: "\n" + first.log_text())
        self.assertEqual(first.terminate(), 0)
        queued = first.queued()
        self.assertEqual([entry["recipients"] for entry in queued.values()], [1], queued)
        (message_id,) = queued
        other_shard = os.path.join(spool.name, "shard-%d" % (1 - queued[message_id]["shard"]))

        second = run()
        body = b"Subject: fill\r\n\r\n" + b"x" * 8000 + b"\r\n"

        def client(offset):
            with smtplib.SMTP("127.0.0.1", second.port, timeout=60) as c:
                for i in range(offset, offset + 25):
                    c.sendmail("a@src.example", ["r%d@d%d.example" % (i, i % 7)], body)
        # Sixteen connections: SO_REUSEPORT spreads them over both shards.
        threads = [threading.Thread(target=client, args=(k * 25,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: len(up.messages()) == 408, 60, "400 more deliveries", lambda: "\n" + second.log_text())

        def reclaimed():  # segments the other shard made and deleted (or kept for reuse)
            numbers = [int(os.path.basename(p)[:-4]) for p in glob.glob(os.path.join(other_shard, "*.log"))]
            return numbers and max(numbers) - len(numbers) >= 3
        # 3.2 MB through 64 KiB segments: the other shard's segments come and go, while
        # the queued message keeps its home shard's.
        wait_for(reclaimed, 20, "the other shard to reclaim segments",
                 lambda: "\n%s" % sorted(os.listdir(other_shard)))
        self.assertEqual(second.terminate(), 0)
        self.assertEqual({k: v["recipients"] for k, v in second.queued().items()}, {message_id: 1})

        later = self.sink(port=later_port)
        flags.update(retry_initial="1s", retry_max="2s")
        third = run()
        wait_for(lambda: later.messages(), 30, "the deferred recipient after the restart",
                 lambda: "\n" + third.log_text())
        self.assertEqual(third.terminate(), 0)
        delivered_early = sorted(m[0]["rcpt_to"][0] for m in up.messages() if m[0]["rcpt_to"][0] in early)
        self.assertEqual(delivered_early, sorted(early), "each early recipient exactly once")

class Dnsmasq:
    """A real dnsmasq on 127.0.0.1:PORT serving the test zone, logging every query."""

    def __init__(self, port, records):
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-dnsmasq-")
        self.log_path = os.path.join(self.dir_holder.name, "queries.log")
        self.port = port
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=",
                "--user=root", "--log-queries", "--log-facility=" + self.log_path, "--local=/test/"] + records
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_for(lambda: self._answers() or self.proc.poll() is not None, 10, "dnsmasq to answer")
        if self.proc.poll() is not None:
            log = open(self.log_path, errors="replace").read() if os.path.exists(self.log_path) else ""
            raise AssertionError("dnsmasq exited: %s%s" % (self.proc.stderr.read().decode(), log))

    def _answers(self):
        probe = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x04test\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(probe, ("127.0.0.1", self.port))
                return len(s.recv(512)) > 0
            except OSError:
                return False

    def queries(self, qtype, name):
        """How many times dnsmasq was asked for `name` of type `qtype` (from its log)."""
        if not os.path.exists(self.log_path):
            return 0
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if "query[%s] %s from" % (qtype, name) in line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stderr.close()
        self.dir_holder.cleanup()


ZONE = [
    "--mx-host=mx.test,mx1.mx.test,10", "--host-record=mx1.mx.test,127.0.0.2",
    "--mx-host=two.test,mxb.two.test,10", "--host-record=mxb.two.test,127.0.0.3",
    "--host-record=implicit.test,127.0.0.3",
    "--dns-rr=nullmx.test,15,000000",  # RFC 7505: preference 0, exchange "."
    # An MX naming an alias (RFC 5321 §5.1: followed, not refused).
    "--mx-host=alias.test,other.mx.test,10", "--cname=other.mx.test,mx1.mx.test",
    # The preferred MX host does not answer: the next one takes the mail.
    "--mx-host=fallback.test,dead.fallback.test,10", "--mx-host=fallback.test,mxb.two.test,20",
    "--host-record=dead.fallback.test,127.0.0.4",
    # This host (--hostname) is among the MXs: only more preferred ones are tried; here
    # none, which is a configuration error that bounces.
    "--mx-host=loop.test,%s,10" % HOSTNAME,
    # The preferred MX is this host by address (127.0.0.1 at the delivery port).
    "--mx-host=selfaddr.test,me.selfaddr.test,10", "--host-record=me.selfaddr.test,127.0.0.1",
    "--mx-host=selfaddr.test,mxb.two.test,20",
    # A --routes next hop by name: its own address (127.0.0.3) is used, never its MX.
    "--host-record=smarthost.test,127.0.0.3", "--mx-host=smarthost.test,mx1.mx.test,10",
    # An MX set too big for one UDP answer (over 1232 bytes): truncated, asked again over TCP.
    "--mx-host=big.test,mx1.mx.test,1",
    # An international domain, known to DNS only by its A-labels (bücher.test).
    "--mx-host=xn--bcher-kva.test,mxb.two.test,10",
] + ["--mx-host=big.test,backup-mail-exchanger-number-%02d.with-a-long-name.big.test,%d" % (i, 10 + i)
     for i in range(60)]


@unittest.skipUnless(subprocess.run(["which", "dnsmasq"], capture_output=True).returncode == 0, "no dnsmasq")
class DnsRoutingTest(DeliveryTestCase):
    """RFC 5321 §5.1 MX routing through a real dnsmasq; sinks on 127.0.0.2 and 127.0.0.3."""

    def setUp(self):
        super().setUp()
        with socket.socket() as s:  # one port free on both sink addresses
            s.bind(("127.0.0.2", 0))
            self.smtp_port = s.getsockname()[1]
        self.sink2 = Sink(port=self.smtp_port, listen_host="127.0.0.2")
        self.sink3 = Sink(port=self.smtp_port, listen_host="127.0.0.3")
        self.sinks += [self.sink2, self.sink3]
        self.home = self.sink()
        self.dns_port = free_udp_port()
        self.dns = None

    def tearDown(self):
        if self.dns is not None:
            self.dns.close()
        super().tearDown()

    def start_dns(self):
        self.dns = Dnsmasq(self.dns_port, ZONE)

    def mx_daemon(self, **flags):
        return self.daemon(dns_servers="127.0.0.1:%d" % self.dns_port, outbound_port=self.smtp_port,
                           routes="src.test=127.0.0.1:%d" % self.home.port, dns_timeout="300ms", dns_tries=1,
                           **flags)

    def test_mx_implicit_mx_null_mx_and_nxdomain(self):
        self.start_dns()
        daemon = self.mx_daemon()
        self.send(daemon, "s@src.test", ["a@mx.test"], b"Subject: mx\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["b@two.test"], b"Subject: two\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["c@implicit.test"], b"Subject: implicit\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["d@nullmx.test"], b"Subject: null\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["e@nothing.test"], b"Subject: nx\r\n\r\nx\r\n")
        wait_for(lambda: len(self.sink2.messages()) == 1 and len(self.sink3.messages()) == 2 and
                 len(self.home.messages()) == 2, 30, "deliveries and two DSNs", lambda: "\n" + daemon.log_text())
        self.assertEqual(self.sink2.messages()[0][0]["rcpt_to"], ["a@mx.test"])
        self.assertEqual(sorted(m[0]["rcpt_to"][0] for m in self.sink3.messages()),
                         ["b@two.test", "c@implicit.test"])
        dsns = [m[1].decode() for m in self.home.messages()]
        null_mx = [d for d in dsns if "d@nullmx.test" in d][0]
        self.assertIn("Status: 5.1.10", null_mx)  # RFC 7505 §4.2: 556 5.1.10
        self.assertIn("556 5.1.10", null_mx)
        nxdomain = [d for d in dsns if "e@nothing.test" in d][0]
        self.assertIn("Status: 5.1.2", nxdomain)

    def test_cname_mx_fallback_to_the_next_mx_and_mx_naming_this_host(self):
        self.start_dns()
        daemon = self.mx_daemon()
        self.send(daemon, "s@src.test", ["a@alias.test"], b"Subject: alias\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["b@fallback.test"], b"Subject: fallback\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["c@loop.test"], b"Subject: loop\r\n\r\nx\r\n")
        wait_for(lambda: len(self.sink2.messages()) == 1 and len(self.sink3.messages()) == 1 and
                 len(self.home.messages()) == 1, 30, "two deliveries and a DSN", lambda: "\n" + daemon.log_text())
        self.assertEqual(self.sink2.messages()[0][0]["rcpt_to"], ["a@alias.test"])
        self.assertEqual(self.sink3.messages()[0][0]["rcpt_to"], ["b@fallback.test"])
        dsn = self.home.messages()[0][1].decode()
        self.assertIn("Final-Recipient: rfc822; c@loop.test", dsn)
        self.assertIn("Status: 5.4.6", dsn)

    def test_mx_that_is_this_host_by_address_bounces(self):
        """RFC 5321 §5.1: an MX host with an address this MTA receives mail on (at the
        delivery port) is this host: less preferred hosts are not tried."""
        self.start_dns()
        daemon = self.mx_daemon(listen="127.0.0.1:%d" % self.smtp_port)
        self.send(daemon, "s@src.test", ["x@selfaddr.test"], b"Subject: self\r\n\r\nx\r\n")
        wait_for(lambda: self.home.messages(), 30, "the DSN", lambda: "\n" + daemon.log_text())
        self.assertIn("Status: 5.4.6", self.home.messages()[0][1].decode())
        self.assertEqual(self.sink3.messages(), [])

    def test_address_literal_and_an_mx_answer_that_needs_tcp(self):
        """RFC 5321 §4.1.3: mail for u@[IP] goes to that IP, without DNS. An MX answer over
        the UDP size (EDNS0 1232 bytes) comes truncated and is fetched over TCP."""
        self.start_dns()
        daemon = self.mx_daemon()
        self.send(daemon, "s@src.test", ["lit@[127.0.0.3]"], b"Subject: literal\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["a@big.test"], b"Subject: big\r\n\r\nx\r\n")
        wait_for(lambda: len(self.sink3.messages()) == 1 and len(self.sink2.messages()) == 1, 30,
                 "both deliveries", lambda: "\n" + daemon.log_text())
        self.assertEqual(self.sink3.messages()[0][0]["rcpt_to"], ["lit@[127.0.0.3]"])
        self.assertEqual(self.sink2.messages()[0][0]["rcpt_to"], ["a@big.test"])

    def test_rfc5890_an_international_domain_is_looked_up_by_its_a_labels(self):
        """The U-label domain bücher.test is converted to xn--bcher-kva.test (UTS #46,
        libidn2) for DNS; the next hop gets the address as written (SMTPUTF8). A name
        IDNA refuses (a snowman) bounces with 5.1.2."""
        self.start_dns()
        daemon = self.mx_daemon()
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            self.assertEqual(client.sendmail("s@src.test", ["user@b\u00fccher.test"],
                                             "Subject: idn\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8"]), {})
            self.assertEqual(client.sendmail("s@src.test", ["user@\u2603.test"],
                                             "Subject: snowman\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8"]),
                             {})
        wait_for(lambda: self.sink3.messages() and self.home.messages(), 30, "the delivery and the DSN",
                 lambda: "\n" + daemon.log_text())
        self.assertEqual(self.sink3.messages()[0][0]["rcpt_to"], ["user@b\u00fccher.test"])
        self.assertGreaterEqual(self.dns.queries("MX", "xn--bcher-kva.test"), 1)
        dsn = self.home.messages()[0][1].decode("utf-8", "replace")
        self.assertIn("Status: 5.1.2", dsn)
        self.assertIn("not a valid international domain name", dsn)

    def test_route_to_a_host_name_goes_to_its_address_and_never_bounces(self):
        """DESIGN.md --routes "domain=host:port": the host's A record is used (not its MX,
        which points elsewhere here), at the route's port. A route host without an
        address defers the mail (4.4.4); it is the operator's to fix, never a bounce."""
        self.start_dns()
        daemon = self.daemon(dns_servers="127.0.0.1:%d" % self.dns_port, dns_timeout="300ms", dns_tries=1,
                             routes="src.test=127.0.0.1:%d,routed.test=smarthost.test:%d,lost.test=gone.test:%d"
                             % (self.home.port, self.smtp_port, self.smtp_port))
        self.send(daemon, "s@src.test", ["a@routed.test"], b"Subject: routed\r\n\r\nx\r\n")
        self.send(daemon, "s@src.test", ["b@lost.test"], b"Subject: lost\r\n\r\nx\r\n")
        wait_for(lambda: self.sink3.messages(), 30, "delivery to smarthost.test", lambda: "\n" + daemon.log_text())
        self.assertEqual(self.sink3.messages()[0][0]["rcpt_to"], ["a@routed.test"])
        deferred = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 1, "the deferral")
        self.assertEqual(deferred[0]["rcpt"], "b@lost.test")
        self.assertEqual(deferred[0]["status"], "4.4.4")
        self.assertIn("route host gone.test", deferred[0]["text"])
        self.assertEqual(self.sink2.messages(), [])  # smarthost.test's MX was never used
        self.assertEqual(self.dns.queries("MX", "smarthost.test"), 0)
        self.assertGreaterEqual(self.dns.queries("A", "smarthost.test"), 1)
        self.assertEqual(self.home.messages(), [])  # no DSN

    def test_one_query_for_many_messages_to_one_domain(self):
        """Caching and coalescing: 40 messages to one domain cause one MX query."""
        self.start_dns()
        daemon = self.mx_daemon()
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client:
            for i in range(40):
                client.sendmail("s@src.test", ["r%d@mx.test" % i], b"Subject: many\r\n\r\nx\r\n")
        wait_for(lambda: len(self.sink2.messages()) == 40, 30, "40 deliveries", lambda: "\n" + daemon.log_text())
        print("\n40 messages to mx.test: %d MX queries, %d A queries for its host" %
              (self.dns.queries("MX", "mx.test"), self.dns.queries("A", "mx1.mx.test")), file=sys.stderr)
        self.assertEqual(self.dns.queries("MX", "mx.test"), 1)
        self.assertEqual(self.dns.queries("A", "mx1.mx.test"), 1)

    def test_deferred_while_dns_is_down_delivered_once_it_is_back(self):
        daemon = self.mx_daemon()  # nothing listens on the DNS port yet
        self.send(daemon, "s@src.test", ["late@mx.test"], b"Subject: wait\r\n\r\nx\r\n")
        deferred = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 1, "a deferral")
        self.assertEqual(deferred[0]["status"], "4.4.3")
        self.start_dns()
        wait_for(lambda: self.sink2.messages(), 30, "delivery once DNS is back", lambda: "\n" + daemon.log_text())


class MetricsTest(DeliveryTestCase):
    """DESIGN.md --metrics_listen: GET /metrics in the Prometheus text format, names
    prefixed ringpost_, counters ending in _total, summed over the shards."""

    def get(self, daemon, path, method="GET"):
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (daemon.metrics_port, path), method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def raw(self, daemon, request, half_close=False):
        with socket.create_connection(("127.0.0.1", daemon.metrics_port), timeout=10) as s:
            s.sendall(request)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return reply.decode(errors="replace")
                reply += chunk

    def metrics(self, daemon):
        status, headers, body = self.get(daemon, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers)
        values = {}
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                self.assertTrue(name.startswith("ringpost_"), line)
                self.assertEqual(name.endswith("_total"), kind == "counter", line)
            elif line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)  # name{label="value"} value
                values[name] = float(value) if "." in value or "e" in value or "Inf" in value else int(value)
        return values

    def test_counters_follow_the_mail(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port)
        self.assertIsNotNone(daemon.metrics_port, "the started line names the metrics address")
        for i in range(3):
            self.send(daemon, "s@src.test", ["r%d@dst.test" % i], MESSAGE % i)
        wait_for(lambda: len(sink.messages()) == 3, 30, "3 deliveries", lambda: "\n" + daemon.log_text())
        # Each shard publishes once a second, on its own timer: wait until every figure
        # asserted here has been published.
        def settled():
            v = self.metrics(daemon)
            return v if (v["ringpost_recipients_delivered_total"] == 3 and
                         v["ringpost_messages_accepted_total"] == 3 and v["ringpost_log_commits_total"] >= 3 and
                         v["ringpost_delivery_attempts_total"] >= 3) else None
        values = wait_for(settled, 10, "the counters", lambda: str(self.metrics(daemon)))
        self.assertGreaterEqual(values["ringpost_log_syncs_total"], 1)
        self.assertGreater(values["ringpost_received_bytes_total"], 3 * len(MESSAGE))
        self.assertEqual(values["ringpost_recipients_bounced_total"], 0)
        self.assertEqual(values["ringpost_connections_refused_total"], 0)
        # Histograms: one time-in-queue sample per delivered recipient, one latency
        # sample per attempt; buckets are cumulative.
        self.assertEqual(values["ringpost_time_in_queue_seconds_count"], 3)
        self.assertEqual(values['ringpost_time_in_queue_seconds_bucket{le="+Inf"}'], 3)
        self.assertEqual(values['ringpost_time_in_queue_seconds_bucket{le="10"}'], 3)  # delivered at once
        self.assertGreater(values["ringpost_time_in_queue_seconds_sum"], 0)
        self.assertEqual(values["ringpost_delivery_latency_seconds_count"], values["ringpost_delivery_attempts_total"])
        buckets = [v for k, v in values.items() if k.startswith("ringpost_delivery_latency_seconds_bucket")]
        self.assertEqual(buckets, sorted(buckets))
        self.assertEqual(values["ringpost_destinations_suspended"], 0)

    def test_young_bodies_come_from_memory_and_a_restarted_queue_from_the_log(self):
        """A message delivered as it arrives has its body copied from the log writer's
        newest writes, still in memory; one queued across a restart is read from the
        segment file. Both arrive whole."""
        spool = tempfile.TemporaryDirectory(prefix="ringpost-delivery-bodies-")
        self.addCleanup(spool.cleanup)
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, shards=1, spool_dir=spool.name)
        for i in range(3):
            self.send(daemon, "s@src.test", ["r%d@dst.test" % i], MESSAGE % i)
        wait_for(lambda: len(sink.messages()) == 3, 30, "3 deliveries", lambda: "\n" + daemon.log_text())
        reads = lambda d: {k: self.metrics(d).get("ringpost_delivery_bodies_from_%s_total" % k) for k in ("memory", "log")}
        wait_for(lambda: reads(daemon) == {"memory": 3, "log": 0}, 10, "3 bodies from memory",
                 lambda: str(reads(daemon)))
        # Queued while its next hop refuses, then delivered by the next run.
        self.assertEqual(daemon.terminate(), 0)
        refusing = self.sink("--tempfail_pattern=later", "--tempfail_times=100000")
        daemon = self.daemon(routes="*=127.0.0.1:%d" % refusing.port, shards=1, spool_dir=spool.name)
        self.send(daemon, "s@src.test", ["later@dst.test"], MESSAGE % 9)
        self.wait_accounting(daemon, lambda e: e["rcpt"] == "later@dst.test" and e["type"] == "transient", 1,
                             "a deferral")
        self.assertEqual(daemon.terminate(), 0)
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, shards=1, spool_dir=spool.name)
        wait_for(lambda: len(sink.messages()) == 4, 30, "the queued message", lambda: "\n" + daemon.log_text())
        wait_for(lambda: reads(daemon) == {"memory": 0, "log": 1}, 10, "1 body from the log",
                 lambda: str(reads(daemon)))
        bodies = [body for _, body in sink.messages() if b"Subject: relay 9" in body]
        self.assertEqual(len(bodies), 1)
        self.assertTrue(bodies[0].startswith(b"Received: ") and bodies[0].endswith(b"\r\n" + MESSAGE % 9), bodies)

    def test_failures_are_classified_in_the_accounting_log_and_the_metrics(self):
        """Gmail's throttling reply (421 4.7.28) is rate_limited; a --bounce_rules line
        overrides the built-in class of a 550 5.1.1 (invalid_recipient). The built-in
        reply-driven rules are off here (they would suspend slow.test for ten minutes
        after that reply; shaping_daemon_test shows them)."""
        throttling = self.sink("--tempfail_pattern=slow", "--tempfail_times=1",
                               "--tempfail_reply=421 4.7.28 [192.0.2.1] Our system has detected an unusual rate "
                               "of unsolicited mail originating from your IP address.")
        refusing = self.sink("--rcpt_permfail_rate=1")
        rules = tempfile.NamedTemporaryFile("w", suffix=".rules", delete=False)
        self.addCleanup(os.unlink, rules.name)
        rules.write("# class code status [text]\nmailbox_full 550 5.1.1\n")
        rules.close()
        shaping = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        self.addCleanup(os.unlink, shaping.name)
        shaping.write("builtin_automation = false\n")
        shaping.close()
        daemon = self.daemon(routes="slow.test=127.0.0.1:%d,gone.test=127.0.0.1:%d" % (throttling.port, refusing.port),
                             bounce_rules=rules.name, shaping=shaping.name)
        self.send(daemon, "s@src.test", ["slow@slow.test"], MESSAGE % 1)
        self.send(daemon, "", ["x@gone.test"], MESSAGE % 2)  # from <>: no DSN to route
        self.wait_accounting(daemon, lambda e: e["type"] in ("delivery", "bounce"), 2, "the outcomes")
        outcomes = sorted((e["type"], e["rcpt"], e.get("class")) for e in self.accounting(daemon))
        self.assertEqual(outcomes, [("bounce", "x@gone.test", "mailbox_full"),
                                    ("delivery", "slow@slow.test", None),
                                    ("transient", "slow@slow.test", "rate_limited")])
        daemon.validate_accounting()
        expected = {'ringpost_delivery_failures_total{class="rate_limited"}': 1,
                    'ringpost_delivery_failures_total{class="mailbox_full"}': 1,
                    'ringpost_delivery_failures_total{class="invalid_recipient"}': 0}
        wait_for(lambda: {k: self.metrics(daemon).get(k) for k in expected} == expected, 10, "the failure counters",
                 lambda: str(self.metrics(daemon)))
        wait_for(lambda: [l for l in daemon.log_lines() if "deferred id=" in l and "class=rate_limited" in l], 10,
                 "the deferred line's class", daemon.log_text)

    def test_other_paths_methods_and_hostile_requests_get_http_errors(self):
        daemon = self.daemon()
        self.assertEqual(self.get(daemon, "/")[0], 404)
        self.assertEqual(self.get(daemon, "/metrics", method="POST")[0], 405)
        status, headers, body = self.get(daemon, "/metrics?x=1", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        self.assertIn("431 ", self.raw(daemon, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"))
        self.assertIn("400 ", self.raw(daemon, b"EHLO me\r\n\r\n"))
        self.assertIn("400 ", self.raw(daemon, b"GET metrics HTTP/1.1\r\n\r\n"))
        # A client that half-closes right after its request (nc -N) still gets the answer.
        self.assertIn("ringpost_log_syncs_total",
                      self.raw(daemon, b"GET /metrics HTTP/1.0\r\n\r\n", half_close=True))
        # The SMTP side is untouched.
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=10) as client:
            self.assertEqual(client.noop()[0], 250)


def free_udp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


def run_tests(doc, name, tools):
    """The command line of this file and of the tests built on it (tls_test.py)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release", "tools")
    parser.add_argument("--bin_dir", default=default_bin, help="directory with " + ", ".join(tools))
    args, rest = parser.parse_known_args()
    harness.BIN_DIR = os.path.abspath(args.bin_dir)
    for tool in tools:
        if not os.access(os.path.join(harness.BIN_DIR, tool), os.X_OK):
            sys.exit("%s: no executable %s in %s (pass --bin_dir)" % (name, tool, harness.BIN_DIR))
    unittest.main(module="__main__", argv=[sys.argv[0]] + rest)


def main():
    run_tests(__doc__, "delivery_test", ("ringpost", "ringpost-sink", "ringpost-queue"))


if __name__ == "__main__":
    main()
