#!/usr/bin/env python3
"""What outside probes try, against the real daemon over real sockets: mail to
<postmaster> from a stranger, a spool whose disk fills up, lines past RFC 5322's 998
octets, clients that drip bytes, invented local users, a second daemon on a taken
port, clean restarts, a shard that cannot start, ringpost-queue on a missing spool, a
BDAT chunk over the size limit, and the TLS 1.2 suites the server offers.

Usage: hardening_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, the daemon harness)
import smtp_server_test as harness  # noqa: E402

wait_for = delivery.wait_for


def read_reply(sock, timeout=10):
    """One whole SMTP reply (every line up to the one with a space after the code)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(line) >= 4 and line[3:4] == b" " for line in lines[:-1]):
            return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def connect(daemon):
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    greeting = read_reply(sock)
    assert greeting.startswith(b"220 "), greeting
    return sock


class HardeningTestCase(delivery.DeliveryTestCase):
    pass


class PostmasterTest(HardeningTestCase):
    def test_rfc5321_4_5_1_a_strangers_postmaster_mail_stays_here(self):
        """<postmaster> (any case, source-routed too) from a client that may not relay
        is this host's postmaster: it lands in the postmaster's Maildir and never reaches
        the '*' smarthost."""
        smarthost = self.sink()
        daemon = self.daemon(relay_networks="192.0.2.0/24", local_domains="local.test",
                             routes="*=127.0.0.1:%d" % smarthost.port)
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("stranger.test")
            client.mail("someone@elsewhere.test")
            self.assertEqual(client.rcpt("<Postmaster>")[0], 250)
            self.assertEqual(client.rcpt("<@relay.test:postmaster>")[0], 250)
            self.assertEqual(client.rcpt("someone@elsewhere.test")[0], 554)  # no relaying, still
            code, _ = client.data(b"Subject: for the postmaster\r\n\r\nhello\r\n")
            self.assertEqual(code, 250)
        new_dir = os.path.join(daemon.spool, "mail", "local.test", "postmaster", "new")
        files = wait_for(lambda: os.path.isdir(new_dir) and os.listdir(new_dir), 20, "the postmaster's mail",
                         lambda: "\n" + daemon.log_text())
        with open(os.path.join(new_dir, files[0]), "rb") as f:
            self.assertIn(b"Delivered-To: postmaster@local.test\n", f.read())
        time.sleep(0.5)
        self.assertEqual(smarthost.messages(), [])
        self.assertEqual(daemon.terminate(), 0)

    def test_without_a_postmaster_it_is_refused_naming_the_setting(self):
        smarthost = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % smarthost.port)
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail("a@src.test")
            code, text = client.rcpt("<postmaster>")
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", text)
            self.assertIn(b"--postmaster", text)


class LocalRecipientsTest(HardeningTestCase):
    def test_only_existing_maildirs_are_accepted_unless_told_otherwise(self):
        daemon = self.daemon(local_domains="local.test")
        os.makedirs(os.path.join(daemon.spool, "mail", "local.test", "alice", "new"))
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail("a@src.test")
            self.assertEqual(client.rcpt("alice@local.test")[0], 250)
            code, text = client.rcpt("invented1234@local.test")
            self.assertEqual((code, b"5.1.1" in text), (550, True))
        self.assertFalse(os.path.exists(os.path.join(daemon.spool, "mail", "local.test", "invented1234")))
        # Not valid UTF-8: refused whatever --create_maildirs says.
        creating = self.daemon(local_domains="local.test", create_maildirs="true")
        sock = connect(creating)
        sock.sendall(b"EHLO client.test\r\n")
        read_reply(sock)
        sock.sendall(b"MAIL FROM:<a@src.test> SMTPUTF8\r\n")
        self.assertTrue(read_reply(sock).startswith(b"250 "))
        sock.sendall(b"RCPT TO:<anyone@local.test>\r\n")
        self.assertTrue(read_reply(sock).startswith(b"250 "))
        sock.sendall(b"RCPT TO:<bad\xff\xfe@local.test>\r\n")
        self.assertTrue(read_reply(sock).startswith(b"550 5.1.1"))
        sock.close()


class LongLinesTest(HardeningTestCase):
    def test_rfc5322_2_1_1_a_45_mib_line_reaches_the_next_hop_in_lines_of_998_octets(self):
        sink = self.sink()
        daemon = self.daemon(routes="*=127.0.0.1:%d" % sink.port)
        body = b"Subject: one long line\r\n\r\n" + b"x" * (45 << 20) + b"\r\nend\r\n"
        self.send(daemon, "a@src.test", ["r@far.test"], body)
        messages = wait_for(lambda: sink.messages(), 60, "the message at the sink", lambda: "\n" + daemon.log_text())
        stored = messages[0][1]
        lines = stored.split(b"\r\n")
        self.assertLessEqual(max(len(line) for line in lines), 998)
        # Broken as RFC 5322 folds: CRLF and a space; nothing lost.
        self.assertEqual(stored.split(b"\r\n\r\n", 1)[1].count(b"x"), 45 << 20)
        self.assertTrue(stored.endswith(b"\r\nend\r\n"))
        body_lines = stored.split(b"\r\n\r\n", 1)[1].split(b"\r\n")  # x..., " x...", ..., "end", ""
        self.assertEqual(len(body_lines[0]), 998)
        self.assertTrue(all(line.startswith(b" x") for line in body_lines[1:-2]), "continuations start with a space")

    def test_with_long_lines_reject_the_message_is_refused_550_5_6_0(self):
        daemon = self.daemon(long_lines="reject")
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            with self.assertRaises(smtplib.SMTPDataError) as refused:
                client.sendmail("a@src.test", ["r@far.test"], b"Subject: x\r\n\r\n" + b"y" * 999 + b"\r\n")
            self.assertEqual(refused.exception.smtp_code, 550)
            self.assertIn(b"5.6.0", refused.exception.smtp_error)
            client.sendmail("a@src.test", ["r@far.test"], b"Subject: x\r\n\r\n" + b"y" * 998 + b"\r\n")


class SlowClientTest(HardeningTestCase):
    def test_a_client_dripping_a_command_line_is_cut_off_at_its_deadline(self):
        """Postfix's per-request deadline: the whole line must arrive within the idle
        timeout of its first byte, however often single bytes come."""
        daemon = self.daemon(smtp_idle_timeout="2s")
        sock = connect(daemon)
        started = time.monotonic()
        reply = b""
        for byte in b"EHLO slowloris.test and on and on and on\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.4)
            try:
                reply = sock.recv(4096)
            except socket.timeout:
                continue
            break
        self.assertTrue(reply.startswith(b"421 4.4.2"), reply)
        self.assertLess(time.monotonic() - started, 4.0)
        sock.close()

    def test_a_slow_but_steady_message_is_accepted(self):
        """Message data earns time as it arrives (--smtp_min_data_rate): 400 KB at about
        100 KB/s takes four times --smtp_data_timeout and is still accepted."""
        daemon = self.daemon(smtp_data_timeout="1s")
        sock = connect(daemon)
        sock.sendall(b"EHLO steady.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<r@far.test>\r\nDATA\r\n")
        reply = b""
        while b"354 " not in reply:
            reply += read_reply(sock)
        line = b"z" * 98 + b"\r\n"
        for _ in range(40):  # 40 x 10 KB, a tenth of a second apart
            sock.sendall(line * 100)
            time.sleep(0.1)
        sock.sendall(b".\r\n")
        self.assertTrue(read_reply(sock, timeout=10).startswith(b"250 2.0.0 Ok: queued as"))
        sock.close()


class SecondDaemonTest(HardeningTestCase):
    def test_a_second_daemon_on_a_taken_port_exits_1_and_the_first_keeps_all_the_mail(self):
        first = self.daemon(listen="127.0.0.1:%d" % delivery.free_port())
        other_spool = tempfile.TemporaryDirectory(prefix="ringpost-second-")
        self.addCleanup(other_spool.cleanup)
        result = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost"), "--listen=127.0.0.1:%d" % first.port,
                                 "--spool_dir=" + other_spool.name, "--hostname=mx.test",
                                 "--metrics_listen=", "--accounting_log="],
                                capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.decode().strip(),
                         "ringpost: 127.0.0.1:%d is already in use (another ringpost?)" % first.port)
        for i in range(20):
            self.send(first, "a@src.test", ["r%d@far.test" % i], b"Subject: %d\r\n\r\nx\r\n" % i)
        self.assertEqual(first.terminate(), 0)
        self.assertEqual(len(first.queued()), 20)
        # Ids carry the spool's node part: two spools never issue the same one.
        with open(os.path.join(first.spool, "node_id")) as f:
            self.assertRegex(f.read(), r"^\d+\n$")


class CleanRestartTest(HardeningTestCase):
    def test_twenty_clean_stops_and_starts_set_nothing_aside(self):
        sink = self.sink()
        spool = tempfile.TemporaryDirectory(prefix="ringpost-restarts-")
        self.addCleanup(spool.cleanup)
        flags = dict(spool_dir=spool.name, routes="*=127.0.0.1:%d" % sink.port, segment_bytes=65536, shards=1)
        daemon = self.daemon(**flags)
        for i in range(40):  # enough to roll and recycle segments
            self.send(daemon, "a@src.test", ["r%d@far.test" % i], b"Subject: %d\r\n\r\n" % i + b"y" * 8000 + b"\r\n")
        wait_for(lambda: len(sink.messages()) == 40, 30, "40 deliveries", lambda: "\n" + daemon.log_text())
        self.assertEqual(daemon.terminate(), 0)
        for _ in range(20):
            daemon = self.daemon(**flags)
            started = [line for line in daemon.log_lines() if " started: " in line][0]
            self.assertIn(" quarantined=0 ", started)
            self.assertIn(" set_aside=0 ", started)
            self.assertEqual(daemon.terminate(), 0)
            self.assertNotIn("DATA_LOSS", daemon.log_text(last=1000))
            self.assertNotIn("moved aside", daemon.log_text(last=1000))
        quarantine = os.path.join(spool.name, "quarantine")
        self.assertFalse(os.path.exists(quarantine) and os.listdir(quarantine))


class FullDiskTest(HardeningTestCase):
    """A spool on a small tmpfs, filled to its reserve: new mail gets 452 4.3.1 early
    enough that results still fit, and once the mail drains the daemon takes mail
    again by itself, also after a restart. Every message answered 250 is delivered."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mount = tempfile.mkdtemp(prefix="ringpost-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.mount], check=True)
        self.addCleanup(lambda: (subprocess.run(["umount", "-l", self.mount]), os.rmdir(self.mount)))

    def fill(self, daemon):
        """Four clients send 1 MB messages at once until each is refused; returns how many
        were accepted (every refusal must be 452 4.3.1, before or after the data)."""
        accepted = []
        errors = []
        body = (b"z" * 998 + b"\r\n") * 1000

        def client(k):
            for i in range(100):
                try:
                    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as smtp:
                        smtp.sendmail("a@src.test", ["c%d-%d@far.test" % (k, i)], b"Subject: %d\r\n\r\n" % i + body)
                    accepted.append((k, i))
                except smtplib.SMTPResponseException as refused:
                    if refused.smtp_code != 452 or b"4.3.1" not in refused.smtp_error:
                        errors.append((refused.smtp_code, refused.smtp_error))
                    return
                except smtplib.SMTPRecipientsRefused as refused:
                    codes = [code for code, _ in refused.recipients.values()]
                    if codes != [452]:
                        errors.append(codes)
                    return
            errors.append("client %d never saw the spool full" % k)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        return len(accepted)

    def test_a_full_spool_recovers_by_itself_once_mail_drains_and_after_a_restart(self):
        port = delivery.free_port()
        # Four reusable 4 MiB files take as much as the reserve leaves free once the queue
        # drains: counted as used, they would refuse mail for ever.
        flags = dict(spool_dir=os.path.join(self.mount, "spool"), spool_reserve_bytes=8 << 20,
                     segment_bytes=4 << 20, routes="*=127.0.0.1:%d" % port, shards=1)
        daemon = self.daemon(**flags)
        accepted = self.fill(daemon)  # the next hop is down: everything stays queued
        self.assertGreater(accepted, 8)
        sink = self.sink(port=port)
        wait_for(lambda: len(sink.messages()) == accepted, 60, "%d deliveries" % accepted,
                 lambda: "\n" + daemon.log_text())
        log = daemon.log_text(last=100000)
        self.assertNotIn("not durable", log)  # the reserve kept room for every result
        self.assertNotIn("451 4.3.0", log)
        # Drained: mail is taken again without a restart...
        time.sleep(0.3)  # the free-space look is at most every 100 ms
        self.send(daemon, "a@src.test", ["after@far.test"], b"Subject: after\r\n\r\nok\r\n")
        self.assertEqual(daemon.terminate(), 0)
        # ...and after one (reusable segment files count as free space).
        daemon = self.daemon(**flags)
        self.send(daemon, "a@src.test", ["restarted@far.test"], b"Subject: restarted\r\n\r\nok\r\n")
        wait_for(lambda: len(sink.messages()) == accepted + 2, 30, "the last two", lambda: "\n" + daemon.log_text())
        self.assertEqual(daemon.terminate(), 0)
        segments = [name for name in os.listdir(os.path.join(self.mount, "spool", "shard-0")) if name.endswith(".log")]
        self.assertLessEqual(len(segments), 3, segments)  # no trail of empty segments


class QueueToolTest(HardeningTestCase):
    def test_a_missing_spool_is_exit_2_with_its_absolute_path_and_nothing_is_created(self):
        missing = os.path.join(tempfile.gettempdir(), "ringpost-no-such-spool-%d" % os.getpid())
        # No daemon: its admin socket would be in the missing spool (another test's daemon may
        # hold the default one).
        result = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost-queue"), "--spool_dir=" + missing,
                                 "--admin_socket=" + os.path.join(missing, "admin.sock"), "list"],
                                capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn(os.path.abspath(missing), result.stderr.decode())
        self.assertFalse(os.path.exists(missing))


class BdatTest(HardeningTestCase):
    def test_rfc3030_a_chunk_over_the_size_limit_is_refused_at_once(self):
        daemon = self.daemon(max_message_size=100000)
        sock = connect(daemon)
        sock.sendall(b"EHLO c.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<r@far.test>\r\nBDAT 60000000 LAST\r\n")
        replies = b""
        deadline = time.monotonic() + 5
        while b"552 " not in replies and time.monotonic() < deadline:
            replies += read_reply(sock, timeout=5)
        self.assertIn(b"552 5.3.4", replies)
        sock.settimeout(5)
        self.assertEqual(sock.recv(100), b"")  # and the session ends
        sock.close()


@unittest.skipUnless(shutil.which("testssl") or shutil.which("testssl.sh"), "no testssl.sh")
class CipherTest(HardeningTestCase):
    def certificate(self):
        folder = tempfile.TemporaryDirectory(prefix="ringpost-cert-")
        self.addCleanup(folder.cleanup)
        cert, key = os.path.join(folder.name, "cert.pem"), os.path.join(folder.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=mx.test"],
                       check=True, capture_output=True)
        return cert, key

    def cbc_suites(self, daemon):
        """The CBC suites testssl.sh finds offered with TLS 1.2 over STARTTLS."""
        tool = shutil.which("testssl") or shutil.which("testssl.sh")
        result = subprocess.run([tool, "--quiet", "--color", "0", "--warnings", "off", "--starttls", "smtp",
                                 "--protocols", "--std", "127.0.0.1:%d" % daemon.port],
                                capture_output=True, timeout=300, text=True)
        return result.stdout

    def test_no_cbc_suite_is_offered_by_default(self):
        cert, key = self.certificate()
        daemon = self.daemon(tls_cert=cert, tls_key=key)
        report = self.cbc_suites(daemon)
        self.assertRegex(report, r"AEAD ciphers.*offered")
        self.assertRegex(report, r"Obsolete CBC ciphers \(AES, ARIA etc.\)\s+not offered")
        self.assertRegex(report, r"TLS 1.2\s+offered")
        legacy = self.daemon(tls_cert=cert, tls_key=key, tls_legacy_ciphers="true")
        self.assertRegex(self.cbc_suites(legacy), r"Obsolete CBC ciphers \(AES, ARIA etc.\)\s+offered")


def main():
    delivery.run_tests(__doc__, "hardening_test", ("ringpost", "ringpost-sink", "ringpost-queue"))


if __name__ == "__main__":
    main()
