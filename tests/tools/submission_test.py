#!/usr/bin/env python3
"""Local submission from the outside, against the real daemon over real sockets: the
session a person types into telnet (bare addresses), trusted clients that open many
connections at once, and the Date:/Message-ID: headers added to their mail.

Usage: submission_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import email
import email.utils
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, the daemon harness)
import hardening_test as hardening  # noqa: E402  (read_reply)

wait_for = delivery.wait_for
read_reply = hardening.read_reply


class TypedSessionTest(delivery.DeliveryTestCase):
    """The session a reader types by hand, one line at a time, each reply read first."""

    ARTICLE = [
        (b"HELO client.example\r\n", b"250 "),
        (b"MAIL FROM: aryamansharda@example.com\r\n", b"250 2.1.0"),
        (b"RCPT TO: steve@apple.com\r\n", b"250 2.1.5"),
        (b"DATA\r\n", b"354 "),
        (b"Subject: typed by hand\r\n\r\nHello Steve.\r\n.\r\n", b"250 2.0.0 Ok: queued as "),
        (b"QUIT\r\n", b"221 "),
    ]

    def type_session(self, daemon, lines):
        replies = []
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
            self.assertTrue(read_reply(sock).startswith(b"220 "))
            for line, _ in lines:
                sock.sendall(line)
                replies.append(read_reply(sock))
        return replies

    def test_rfc5321_4_1_2_bare_addresses_as_typed_are_taken_and_relayed_in_brackets(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port)
        replies = self.type_session(daemon, self.ARTICLE)
        for (line, expected), reply in zip(self.ARTICLE, replies):
            self.assertTrue(reply.startswith(expected), "%r answered %r" % (line, reply))
        messages = wait_for(sink.messages, 20, "the typed message at the sink", lambda: "\n" + daemon.log_text())
        envelope, body = messages[0]
        self.assertEqual(envelope["mail_from"], "aryamansharda@example.com")
        self.assertEqual(envelope["rcpt_to"], ["steve@apple.com"])
        self.assertIn(b"\r\n\r\nHello Steve.\r\n", body)

    def test_strict_envelope_refuses_bare_addresses_with_501(self):
        daemon = self.daemon(strict_envelope="true")
        lines = [(b"HELO client.example\r\n", b"250 "),
                 (b"MAIL FROM: aryamansharda@example.com\r\n", b"501 5.1.7 Bad sender address syntax"),
                 (b"MAIL FROM:<aryamansharda@example.com>\r\n", b"250 2.1.0"),
                 (b"RCPT TO: steve@apple.com\r\n", b"501 5.1.3 Bad recipient address syntax")]
        for (line, expected), reply in zip(lines, self.type_session(daemon, lines)):
            self.assertTrue(reply.startswith(expected), "%r answered %r" % (line, reply))


class TrustedClientsTest(delivery.DeliveryTestCase):
    def open_greeted(self, port, count):
        """Opens `count` connections at once; returns (greeted, refused) counts."""
        socks, greetings = [], []
        try:
            for _ in range(count):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=20))
            for sock in socks:
                greetings.append(read_reply(sock, timeout=20))
        finally:
            for sock in socks:
                sock.close()
        greeted = sum(1 for g in greetings if g.startswith(b"220 "))
        refused = sum(1 for g in greetings if g.startswith(b"421 4.7.0"))
        return greeted, refused

    def test_500_connections_from_the_relay_networks_are_all_greeted(self):
        daemon = self.daemon()  # --max_connections_per_ip=100, loopback is a relay network
        self.assertEqual(self.open_greeted(daemon.port, 500), (500, 0))

    def test_strangers_and_an_emptied_exemption_are_held_to_the_per_address_cap(self):
        stranger = self.daemon(relay_networks="192.0.2.0/24", max_connections_per_ip="20")
        self.assertEqual(self.open_greeted(stranger.port, 30), (20, 10))
        not_exempt = self.daemon(limit_exempt_networks="none", max_connections_per_ip="20")
        self.assertEqual(self.open_greeted(not_exempt.port, 30), (20, 10))
        exempt = self.daemon(relay_networks="192.0.2.0/24", limit_exempt_networks="127.0.0.0/8",
                             max_connections_per_ip="20")
        self.assertEqual(self.open_greeted(exempt.port, 30), (30, 0))


class MissingHeadersTest(delivery.DeliveryTestCase):
    def relayed(self, daemon, sink, body, recipient="user@dest.test"):
        """The message as the sink got it (found by its Subject:, which must be unique)."""
        self.send(daemon, "sender@src.test", [recipient], body)
        subject = email.message_from_bytes(body)["Subject"]

        def arrived():
            found = [email.message_from_bytes(m[1]) for m in sink.messages()]
            return [m for m in found if m["Subject"] == subject]
        return wait_for(arrived, 20, "the message at the sink", lambda: "\n" + daemon.log_text())[0]

    def test_rfc5322_3_6_mail_from_the_relay_networks_gets_date_and_message_id(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, add_missing_headers=None)  # the default
        message = self.relayed(daemon, sink, b"Subject: no date\r\n\r\nbody\r\n")
        self.assertEqual(message["Subject"], "no date")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(message["Date"]))
        self.assertRegex(message["Message-ID"], r"^<\d{14}\.[0-9A-Z]{15}@mx\.test>$")
        self.assertEqual(message.get_payload(), "body\r\n")
        reception = [r for r in self.accounting(daemon, ("reception",))]
        self.assertEqual(reception[-1]["message_id"], message["Message-ID"])
        # Headers that are there are kept, and nothing is added twice.
        kept = self.relayed(daemon, sink, b"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <k@src.test>\r\n"
                                          b"Subject: kept\r\n\r\nbody\r\n")
        self.assertEqual(kept.get_all("Date"), ["Tue, 1 Dec 2026 10:00:00 +0000"])
        self.assertEqual(kept.get_all("Message-ID"), ["<k@src.test>"])

    def test_strangers_mail_and_add_missing_headers_false_are_stored_as_sent(self):
        sink = self.sink()
        stranger = self.daemon(routes="*=127.0.0.1:%d" % sink.port, relay_networks="192.0.2.0/24",
                               relay_domains="dest.test", add_missing_headers=None)
        message = self.relayed(stranger, sink, b"Subject: as sent\r\n\r\nbody\r\n")
        self.assertIsNone(message["Date"])
        self.assertIsNone(message["Message-ID"])
        sink2 = self.sink()
        off = self.daemon(routes="*=127.0.0.1:%d" % sink2.port, add_missing_headers="false")
        message = self.relayed(off, sink2, b"Subject: as sent\r\n\r\nbody\r\n")
        self.assertIsNone(message["Date"])
        self.assertIsNone(message["Message-ID"])


class SendmailTest(delivery.DeliveryTestCase):
    """ringpost-sendmail as programs call /usr/sbin/sendmail, submitting to the daemon."""

    def sendmail(self, daemon_port, args, message):
        env = dict(os.environ, RINGPOST_SMTP="127.0.0.1:%d" % daemon_port)
        return subprocess.run([os.path.join(delivery.harness.BIN_DIR, "ringpost-sendmail")] + args,
                              input=message, env=env, capture_output=True, timeout=60)

    def test_dash_t_reads_recipients_from_the_headers_and_bcc_never_leaves(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, add_missing_headers=None)
        result = self.sendmail(daemon.port, ["-t", "-i", "-f", "app@src.test", "-F", "The App"],
                               b"To: Ann <ann@dest.test>, bob@dest.test\nBcc: hidden@dest.test\n"
                               b"Subject: from a program\n\n.\nthe dot above is text with -i\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        messages = wait_for(sink.messages, 20, "the message at the sink", lambda: "\n" + daemon.log_text())
        envelope, body = messages[0]
        self.assertEqual(envelope["mail_from"], "app@src.test")
        self.assertEqual(sorted(envelope["rcpt_to"]), ["ann@dest.test", "bob@dest.test", "hidden@dest.test"])
        message = email.message_from_bytes(body)
        self.assertEqual(message["From"], '"The App" <app@src.test>')
        self.assertIsNone(message["Bcc"])
        self.assertIsNotNone(message["Message-ID"])  # added by the daemon: loopback is trusted
        self.assertEqual(message.get_payload(), ".\r\nthe dot above is text with -i\r\n")

    def test_sysexits_75_when_the_daemon_is_down_and_67_for_a_refused_recipient(self):
        down = self.sendmail(delivery.free_port(), ["user@dest.test"], b"Subject: x\n\nbody\n")
        self.assertEqual(down.returncode, 75, down.stderr)  # EX_TEMPFAIL: the caller retries
        self.assertIn(b"cannot reach the ringpost daemon", down.stderr)
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port, relay_networks="192.0.2.0/24",
                             relay_domains="dest.test")
        refused = self.sendmail(daemon.port, ["user@dest.test", "user@elsewhere.test"], b"Subject: x\n\nbody\n")
        self.assertEqual(refused.returncode, 67, refused.stderr)  # EX_NOUSER
        self.assertIn(b"recipient <user@elsewhere.test> refused: 554 5.7.1", refused.stderr)
        usage = self.sendmail(daemon.port, ["-bs"], b"")
        self.assertEqual(usage.returncode, 64, usage.stderr)  # EX_USAGE
        # Nothing was sent unless every recipient was taken: no message was ever accepted
        # (ringpost-sendmail has exited, so nothing is under way).
        self.assertEqual(self.accounting(daemon, ("reception",)), [])
        self.assertEqual(sink.messages(), [])

    @unittest.skipUnless(shutil.which("bsd-mailx"), "no bsd-mailx")
    def test_bsd_mailx_submits_through_it(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port)
        with tempfile.TemporaryDirectory(prefix="ringpost-mailx-") as home:
            mailrc = os.path.join(home, "mailrc")
            with open(mailrc, "w") as f:
                f.write("set sendmail=%s\n" % os.path.join(delivery.harness.BIN_DIR, "ringpost-sendmail"))
            env = dict(os.environ, RINGPOST_SMTP="127.0.0.1:%d" % daemon.port, MAILRC=mailrc, HOME=home)
            result = subprocess.run(["bsd-mailx", "-s", "hello from mailx", "friend@dest.test"],
                                    input=b"sent with mail -s\n", env=env, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        messages = wait_for(sink.messages, 20, "mailx's message at the sink", lambda: "\n" + daemon.log_text())
        envelope, body = messages[0]
        self.assertEqual(envelope["rcpt_to"], ["friend@dest.test"])
        message = email.message_from_bytes(body)
        self.assertEqual(message["Subject"], "hello from mailx")
        self.assertIn("sent with mail -s", message.get_payload())
        self.assertIsNotNone(message["From"])


def main():
    delivery.run_tests(__doc__, "submission_test", ("ringpost", "ringpost-sink", "ringpost-sendmail"))


if __name__ == "__main__":
    main()
