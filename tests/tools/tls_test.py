#!/usr/bin/env python3
"""STARTTLS (RFC 3207) from the outside: the real daemon against real TLS peers.

Server side: `openssl s_client -starttls smtp`, `swaks --tls` and Python's
`smtplib.starttls` send mail over TLS 1.3 and 1.2; a raw client checks that plaintext
pipelined behind STARTTLS is never answered (CVE-2011-0411) and that the session is
reset; a failed handshake closes only its own session; SIGHUP swaps the certificate
for new sessions while an established one goes on.

Client side: ringpost delivers over TLS to a second ringpost that has a certificate
(sessions resumed across connections); by MX through dnsmasq the server name (SNI) is
the MX host and the certificate verifies against --tls_ca_file; --outbound_tls=required
towards a next hop without STARTTLS defers; a next hop whose handshake fails gets the
mail in plaintext on a fresh connection; bytes a next hop sends after its 220 to
STARTTLS are dropped (CVE-2021-38371).

Certificates are made with `openssl` in each test's folder. Waits are on conditions
with deadlines.

Usage: tls_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, Dnsmasq, DeliveryTestCase, wait_for)
import smtp_server_test as harness  # noqa: E402  (Daemon, RawSmtp)

wait_for = delivery.wait_for


def make_certificate(directory, name):
    """A self-signed EC certificate for `name` (CN and subjectAltName); returns (cert, key)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name], check=True, capture_output=True)
    return cert, key


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(maximum=None):
    """Opportunistic, as MTAs are: encrypt, do not verify."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.maximum_version = maximum
    return context


class TlsTestCase(delivery.DeliveryTestCase):
    def setUp(self):
        super().setUp()
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-tls-test-")
        self.dir = self.dir_holder.name
        self.cert, self.key = make_certificate(self.dir, "mx.tls.test")
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        super().tearDown()
        self.dir_holder.cleanup()

    def tls_daemon(self, **flags):
        return self.daemon(tls_cert=self.cert, tls_key=self.key, **flags)

    def raw(self, daemon, name="client"):
        client = harness.RawSmtp(daemon.port, name)
        self.clients.append(client)
        self.assertEqual(client.reply().code, 220)
        return client

    def start_tls(self, client, context=None):
        """EHLO, STARTTLS, handshake; returns the EHLO reply before TLS."""
        ehlo = client.command("EHLO client.test")
        self.assertIn("250-STARTTLS", ehlo.text)
        reply = client.command("STARTTLS")
        self.assertEqual(reply.lines, ["220 2.0.0 Ready to start TLS"])
        self.assertEqual(client.buffer, b"")
        client.sock = (context or client_context()).wrap_socket(client.sock)
        return ehlo

    def memory_tls(self, client):
        """STARTTLS with TLS over memory, so a test decides what goes into each TCP
        segment; returns (socket, SSLObject, incoming BIO, outgoing BIO)."""
        client.command("EHLO client.test")
        self.assertEqual(client.command("STARTTLS").code, 220)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(incoming, outgoing)
        sock = client.sock
        sock.settimeout(10)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                data = sock.recv(65536)
                self.assertTrue(data, "the server closed during the handshake")
                incoming.write(data)
        sock.sendall(outgoing.read())  # the client's Finished
        return sock, tls, incoming, outgoing

    def last_words_over_tls(self, daemon, commands):
        """On a fresh STARTTLS session, `commands` and the client's close_notify go in one
        TCP segment; returns the plaintext the server wrote back until it closed."""
        sock, tls, incoming, outgoing = self.memory_tls(self.raw(daemon))
        tls.write(commands)
        try:
            tls.unwrap()  # queues close_notify; the server's own is not awaited
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read())
        plaintext = b""
        while True:  # until the server closes (a timeout here fails the test)
            data = sock.recv(65536)
            if not data:
                break
            incoming.write(data)
            try:
                while True:
                    plaintext += tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
        return plaintext

    def send_over(self, client, recipient="b@far.test"):
        """One message on an open (EHLO'd) session; returns the queue id."""
        self.assertEqual(client.command("MAIL FROM:<a@src.test>").code, 250)
        self.assertEqual(client.command("RCPT TO:<%s>" % recipient).code, 250)
        self.assertEqual(client.command("DATA").code, 354)
        reply = client.command(b"Subject: over tls\r\n\r\nhello\r\n.")
        self.assertIsNotNone(reply.queue_id(), reply)
        return reply.queue_id()


class ServerTlsTest(TlsTestCase):
    def test_openssl_s_client_starttls_tls13_and_tls12_received_says_esmtps(self):
        daemon = self.tls_daemon()
        queued = []
        for version, flag in (("TLSv1.3", "-tls1_3"), ("TLSv1.2", "-tls1_2")):
            script = (b"EHLO client.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<b@far.test>\r\nDATA\r\n"
                      b"Subject: s_client\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            proc = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                                   "127.0.0.1:%d" % daemon.port, flag, "-quiet", "-ign_eof"],
                                  input=script, capture_output=True, timeout=30)
            out = proc.stdout.decode(errors="replace")
            match = harness.re.search(r"250 2\.0\.0 Ok: queued as (\w+)", out)
            self.assertIsNotNone(match, out + proc.stderr.decode(errors="replace") + daemon.log_text())
            queued.append((version, match.group(1)))
        daemon.terminate()  # ringpost-queue reads the spool once the daemon is gone
        for version, queue_id in queued:
            self.assertRegex(daemon.stored(queue_id),
                             (rb"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test "
                              rb"\(ringpost\) with ESMTPS \(using " + version.encode() +
                              rb" with cipher [A-Z0-9_-]+\) id " + queue_id.encode()))

    def test_swaks_tls(self):
        daemon = self.tls_daemon()
        proc = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(daemon.port), "--tls",
                               "--helo", "swaks.test", "--from", "a@src.test", "--to", "b@far.test",
                               "--body", "swaks over tls"], capture_output=True, timeout=60)
        out = proc.stdout.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, out + proc.stderr.decode(errors="replace"))
        self.assertIn("TLS started", out)
        self.assertRegex(out, r"<~ +250 2\.0\.0 Ok: queued as \w+")
        wait_for(lambda: "proto=ESMTPS tls=TLSv1." in daemon.log_text(200), 10, "the accepted line")

    def test_smtplib_starttls_then_ehlo_again_without_starttls(self):
        daemon = self.tls_daemon()
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.test")
            self.assertTrue(client.has_extn("starttls"))
            code, _ = client.starttls(context=client_context())
            self.assertEqual(code, 220)
            client.ehlo("client.test")
            # RFC 3207 §4.2: not offered again once TLS is on.
            self.assertFalse(client.has_extn("starttls"))
            self.assertEqual(client.sendmail("a@src.test", ["b@far.test"], b"Subject: smtplib\r\n\r\nx\r\n"), {})
        wait_for(lambda: "tls=TLSv1.3/" in daemon.log_text(200), 10, "the accepted line with TLS")

    def test_rfc3207_4_2_plaintext_after_starttls_gets_no_reply_and_the_session_is_reset(self):
        daemon = self.tls_daemon()
        client = self.raw(daemon)
        client.command("EHLO client.test")
        # CVE-2011-0411: commands injected behind STARTTLS, in the same segment.
        client.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@src.test>\r\n")
        self.assertEqual(client.reply().lines, ["220 2.0.0 Ready to start TLS"])
        self.assertTrue(client.silent_for(0.3))  # no reply to RSET or MAIL in plaintext
        client.sock = client_context().wrap_socket(client.sock)
        # Nothing of the injection runs under TLS either: the first reply is to NOOP.
        self.assertEqual(client.command("NOOP").lines, ["250 2.0.0 Ok"])
        # The session was reset: EHLO first (RFC 3207 §4.2).
        self.assertEqual(client.command("MAIL FROM:<a@src.test>").lines, ["503 5.5.1 Error: send HELO/EHLO first"])
        client.command("EHLO client.test")
        self.send_over(client)

    def test_starttls_without_a_certificate_is_454(self):
        daemon = self.daemon()
        client = self.raw(daemon)
        self.assertNotIn("STARTTLS", client.command("EHLO client.test").text)
        self.assertEqual(client.command("STARTTLS").lines, ["454 4.7.0 TLS not available"])
        self.assertEqual(client.command("NOOP").code, 250)

    def test_a_failed_handshake_closes_only_its_session(self):
        daemon = self.tls_daemon()
        bystander = self.raw(daemon, "bystander")
        bystander.command("EHLO bystander.test")
        victim = self.raw(daemon, "victim")
        victim.command("EHLO client.test")
        self.assertEqual(victim.command("STARTTLS").code, 220)
        victim.send(b"this is not a ClientHello\r\n")
        victim.sock.settimeout(10)
        received = b""
        while True:  # a TLS alert (binary), then the close
            data = victim.sock.recv(65536)
            if not data:
                break
            received += data
        self.assertTrue(received == b"" or received[0] == 0x15, received)  # 0x15: alert (RFC 8446 §5.1)
        wait_for(lambda: "tls handshake failed client=127.0.0.1" in daemon.log_text(100), 10, "the log line")
        self.assertEqual(bystander.command("NOOP").code, 250)
        self.send_over(bystander)
        fresh = self.raw(daemon, "fresh")
        self.start_tls(fresh)
        self.assertEqual(fresh.command("EHLO again.test").code, 250)

    def test_close_notify_then_plaintext_is_not_read(self):
        """TLS ended by the client's close_notify, then plaintext in the same segment: the
        server reads nothing after the close_notify (no plaintext reply) and closes."""
        daemon = self.tls_daemon()
        sock, tls, _, outgoing = self.memory_tls(self.raw(daemon))
        try:
            tls.unwrap()  # queues close_notify; the server's own is not awaited
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read() + b"NOOP\r\n")
        received = b""
        while True:  # the server closes (a timeout here fails the test)
            data = sock.recv(65536)
            if not data:
                break
            received += data
        self.assertNotIn(b"250 2.0.0 Ok\r\n", received)  # NOOP was not answered in plaintext
        self.assertEqual(self.raw(daemon, "next").command("NOOP").code, 250)

    def test_rfc5321_4_1_1_10_quit_and_close_notify_in_one_segment_still_get_221(self):
        """RFC 5321 §4.1.1.10: QUIT is answered 221 before the channel closes, even when
        the client's close_notify arrives in the same segment (it has stopped sending,
        not reading; RFC 8446 §6.1 lets the server go on writing until its own)."""
        plaintext = self.last_words_over_tls(self.tls_daemon(), b"QUIT\r\n")
        self.assertTrue(plaintext.startswith(b"221 "), plaintext)

    def test_a_message_quit_and_close_notify_in_one_segment_get_250_and_221(self):
        """The 250 is written once the message is durable, after the close_notify arrived:
        the channel still writes, and the session waits for the commit before closing."""
        plaintext = self.last_words_over_tls(
            self.tls_daemon(), b"EHLO client.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<b@far.test>\r\nDATA\r\n"
            b"Subject: over tls\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        codes = [line[:3] for line in plaintext.split(b"\r\n") if line[3:4] == b" "]
        self.assertEqual(codes, [b"250", b"250", b"250", b"354", b"250", b"221"], plaintext)
        self.assertIn(b"queued as", plaintext)

    def test_starttls_read_after_the_clients_eof_gets_its_220_and_the_session_ends(self):
        """STARTTLS queued behind a commit and then EOF: once the message is durable the
        STARTTLS is answered, but no handshake can follow a close, so the server closes
        at once instead of waiting for a handshake until the idle timeout."""
        daemon = self.tls_daemon(smtp_idle_timeout="60s")
        client = self.raw(daemon)
        client.send(b"EHLO client.test\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<b@far.test>\r\nDATA\r\n"
                    b"Subject: then tls\r\n\r\nhello\r\n.\r\nSTARTTLS\r\n")
        client.sock.shutdown(socket.SHUT_WR)
        codes = [r.code for r in client.replies_until_close(timeout=20)]
        self.assertEqual(codes, [250, 250, 250, 354, 250, 220])

    def test_sighup_reloads_the_certificate_and_established_sessions_go_on(self):
        cert_path = os.path.join(self.dir, "live.crt")
        key_path = os.path.join(self.dir, "live.key")
        shutil.copy(self.cert, cert_path)
        shutil.copy(self.key, key_path)
        daemon = self.daemon(tls_cert=cert_path, tls_key=key_path)
        before = self.raw(daemon, "before")
        self.start_tls(before)
        self.assertEqual(before.sock.getpeercert(binary_form=True), der(self.cert))
        before.command("EHLO before.test")

        new_cert, new_key = make_certificate(self.dir, "new.tls.test")
        shutil.copy(new_cert, cert_path)
        shutil.copy(new_key, key_path)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: TLS certificate reloaded" in daemon.log_text(100), 10, "the reload")
        after = self.raw(daemon, "after")
        self.start_tls(after)
        self.assertEqual(after.sock.getpeercert(binary_form=True), der(new_cert))
        self.send_over(before)  # the session from before the reload was not dropped

        # A broken file is refused and the certificate in use stays.
        with open(key_path, "w") as f:
            f.write("not a key\n")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificate not reloaded" in daemon.log_text(100), 10, "the refusal")
        last = self.raw(daemon, "last")
        self.start_tls(last)
        self.assertEqual(last.sock.getpeercert(binary_form=True), der(new_cert))


class FakeNextHop:
    """A next hop written for faults ringpost-sink does not have. It offers STARTTLS;
    after its 220 it either sends a plaintext reply in the same segment and then does
    TLS ("inject": CVE-2021-38371), or sends garbage and closes ("broken"). Messages are
    recorded with whether they came over TLS."""

    def __init__(self, mode, cert, key):
        self.mode = mode
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.messages = []  # (tls, data)
        self.starttls = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(30)
        buffer = b""
        tls = False

        def line():
            nonlocal buffer
            while b"\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return None
                buffer += data
            out, buffer = buffer.split(b"\r\n", 1)
            return out

        try:
            conn.sendall(b"220 fake.test ESMTP\r\n")
            while True:
                command = line()
                if command is None:
                    return
                verb = command[:8].upper()
                if verb.startswith(b"EHLO"):
                    conn.sendall(b"250-fake.test\r\n250-8BITMIME\r\n" + (b"" if tls else b"250-STARTTLS\r\n") +
                                 b"250 PIPELINING\r\n")
                elif verb.startswith(b"STARTTLS"):
                    with self.lock:
                        self.starttls += 1
                    if self.mode == "broken":  # the handshake fails on bytes that are not TLS
                        conn.sendall(b"220 2.0.0 go ahead\r\n")
                        conn.recv(65536)  # the ClientHello
                        conn.sendall(b"this is not TLS\r\n" * 4)
                        return
                    conn.sendall(b"220 2.0.0 go ahead\r\n250 2.0.0 injected after the 220\r\n")
                    conn = self.context.wrap_socket(conn, server_side=True)
                    buffer = b""
                    tls = True
                elif verb.startswith(b"DATA"):
                    conn.sendall(b"354 go on\r\n")
                    while b"\r\n.\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    data, buffer = buffer.split(b"\r\n.\r\n", 1)
                    with self.lock:
                        self.messages.append((tls, data))
                    conn.sendall(b"250 2.0.0 recorded\r\n")
                elif verb.startswith(b"QUIT"):
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 ok\r\n")
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self):
        self.listener.close()


class ClientTlsTest(TlsTestCase):
    def test_delivery_over_tls_to_a_second_ringpost_with_resumed_sessions(self):
        receiver = self.tls_daemon()
        sender = self.daemon(routes="*=127.0.0.1:%d" % receiver.port, max_messages_per_connection=1)
        # The first delivery finishes (and stores its session) before the others start: sent
        # together, the pool may open all three connections before any ticket has arrived.
        self.send(sender, "s@src.test", ["r0@far.test"], b"Subject: hop 0\r\n\r\nbody\r\n")
        self.wait_accounting(sender, lambda e: e["type"] == "delivery", 1, "the first delivery")
        for i in range(1, 3):
            self.send(sender, "s@src.test", ["r%d@far.test" % i], b"Subject: hop %d\r\n\r\nbody\r\n" % i)
        entries = self.wait_accounting(sender, lambda e: e["type"] == "delivery", 3, "3 deliveries")
        for entry in entries:
            self.assertTrue(entry["tls"].startswith("TLSv1.3 "), entry)
            self.assertFalse(entry["tls_verified"], entry)  # a route by address: no name to verify
        log = receiver.log_text(200)
        self.assertGreaterEqual(log.count("tls client=127.0.0.1 version=TLSv1.3"), 3, log)
        self.assertIn("resumed=yes", log)  # the later connections resumed the first one's session
        receiver.terminate()
        queued = receiver.queued()
        self.assertEqual(len(queued), 3)
        for queue_id in queued:
            self.assertIn(b"with ESMTPS (using TLSv1.3 with cipher", receiver.stored(queue_id))

    def test_required_towards_a_next_hop_without_starttls_defers(self):
        sink = self.sink()
        sender = self.daemon(routes="*=127.0.0.1:%d" % sink.port, outbound_tls="required")
        self.send(sender, "s@src.test", ["r@far.test"], b"Subject: required\r\n\r\nbody\r\n")
        entries = self.wait_accounting(sender, lambda e: e["type"] == "transient", 1, "a deferral")
        self.assertIn("does not offer STARTTLS", entries[0]["text"])
        self.assertEqual(sink.messages(), [])
        sender.terminate()
        self.assertEqual(len(sender.queued()), 1)

    def test_opportunistic_without_starttls_delivers_in_plaintext(self):
        sink = self.sink()
        sender = self.daemon(routes="*=127.0.0.1:%d" % sink.port)
        self.send(sender, "s@src.test", ["r@far.test"], b"Subject: plain\r\n\r\nbody\r\n")
        entries = self.wait_accounting(sender, lambda e: e["type"] == "delivery", 1, "a delivery")
        self.assertEqual(entries[0]["tls"], "none")

    def test_a_failed_handshake_is_retried_in_plaintext_on_a_fresh_connection(self):
        hop = FakeNextHop("broken", self.cert, self.key)
        self.addCleanup(hop.close)
        sender = self.daemon(routes="*=127.0.0.1:%d" % hop.port)
        self.send(sender, "s@src.test", ["r@far.test"], b"Subject: fallback\r\n\r\nbody\r\n")
        entries = self.wait_accounting(sender, lambda e: e["type"] == "delivery", 1, "a plaintext delivery")
        self.assertEqual(entries[0]["tls"], "none")
        self.assertEqual(hop.starttls, 1)
        self.assertEqual([tls for tls, _ in hop.messages], [False])
        self.assertIn("outbound tls handshake failed", sender.log_text(100))

    def test_replies_after_the_220_to_starttls_are_dropped_cve_2021_38371(self):
        hop = FakeNextHop("inject", self.cert, self.key)
        self.addCleanup(hop.close)
        sender = self.daemon(routes="*=127.0.0.1:%d" % hop.port)
        self.send(sender, "s@src.test", ["r@far.test"], b"Subject: injected\r\n\r\nbody\r\n")
        entries = self.wait_accounting(sender, lambda e: e["type"] == "delivery", 1, "a delivery over TLS")
        self.assertTrue(entries[0]["tls"].startswith("TLSv1."), entries[0])
        self.assertEqual([tls for tls, _ in hop.messages], [True])
        self.assertEqual(entries[0]["text"], "recorded")  # the reply to the data, not the injected one


@unittest.skipUnless(shutil.which("dnsmasq"), "no dnsmasq")
class MxTlsTest(TlsTestCase):
    def test_sni_is_the_mx_host_and_the_certificate_verifies(self):
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
            port = s.getsockname()[1]
        receiver = self.tls_daemon(listen="127.0.0.2:%d" % port)
        dns_port = delivery.free_udp_port()
        dns = delivery.Dnsmasq(dns_port, ["--mx-host=tls.test,mx.tls.test,10",
                                          "--host-record=mx.tls.test,127.0.0.2"])
        self.addCleanup(dns.close)
        sender = self.daemon(dns_servers="127.0.0.1:%d" % dns_port, outbound_port=port, tls_ca_file=self.cert,
                             routes="byaddress.test=127.0.0.2:%d,byname.test=mx.tls.test:%d" % (port, port),
                             dns_timeout="300ms", dns_tries=1)
        self.send(sender, "s@src.test", ["a@tls.test"], b"Subject: by mx\r\n\r\nbody\r\n")
        self.send(sender, "s@src.test", ["b@byaddress.test"], b"Subject: by route\r\n\r\nbody\r\n")
        self.send(sender, "s@src.test", ["c@byname.test"], b"Subject: by named route\r\n\r\nbody\r\n")
        entries = self.wait_accounting(sender, lambda e: e["type"] == "delivery", 3, "3 deliveries")
        by_domain = {e["domain"]: e for e in entries}
        self.assertTrue(by_domain["tls.test"]["tls_verified"], by_domain)
        self.assertFalse(by_domain["byaddress.test"]["tls_verified"], by_domain)
        # A route named by host name: that name is the SNI and what the certificate matches.
        self.assertTrue(by_domain["byname.test"]["tls_verified"], by_domain)
        self.assertIn("sni=mx.tls.test", receiver.log_text(100))


def main():
    delivery.run_tests(__doc__, "tls_test", ("ringpost", "ringpost-sink", "ringpost-queue"))


if __name__ == "__main__":
    main()
