#!/usr/bin/env python3
"""Trusted edges from the outside, against the real daemon over real sockets: SMTP AUTH
(swaks, smtplib and a hydra run as the clients, users hashed by libcrypt's own tools),
and ringpost behind a real HAProxy that sends the PROXY protocol (versions 1 and 2).

HAProxy (Debian's package, started by the test with a configuration of its own) listens
on 127.0.0.1 and connects to ringpost from 127.0.0.2, the only address in
--proxy_protocol_networks. Test clients connect to HAProxy from other loopback
addresses (127.0.0.5, 127.0.0.6), so the address the header names is never the one
ringpost sees on the socket.

Usage: edge_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import base64
import json
import os
import re
import shutil
import smtplib
import ssl
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, free_port, the daemon harness)
import tls_test  # noqa: E402  (make_certificate)

harness = delivery.harness
wait_for = delivery.wait_for
BALANCER = "127.0.0.2"
V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"


def listening(port):
    """True once something listens on 127.0.0.1:port (asked of the kernel, no connection)."""
    result = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True, text=True)
    return "127.0.0.1:%d" % port in result.stdout


class HaProxy:
    """haproxy in the foreground: one frontend per PROXY version, each to ringpost."""

    def __init__(self, mta_port):
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-edge-haproxy-")
        self.v1_port, self.v2_port = delivery.free_port(), delivery.free_port()
        config = os.path.join(self.dir_holder.name, "haproxy.cfg")
        with open(config, "w") as f:
            f.write("defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n")
            for version, port, option in ((1, self.v1_port, "send-proxy"), (2, self.v2_port, "send-proxy-v2")):
                f.write("frontend v%d\n  bind 127.0.0.1:%d\n  default_backend mta_v%d\n" % (version, port, version))
                f.write("backend mta_v%d\n  server mta 127.0.0.1:%d %s source %s\n" %
                        (version, mta_port, option, BALANCER))
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wait_for(lambda: listening(self.v1_port) and listening(self.v2_port), 15, "haproxy's listeners")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.proc.stdout.close()
        self.dir_holder.cleanup()


@unittest.skipUnless(shutil.which("haproxy"), "no haproxy (tools/install_deps.sh installs it)")
class ProxyProtocolTest(delivery.DeliveryTestCase):
    def setUp(self):
        super().setUp()
        self.hop = self.sink()
        # Only 127.0.0.5 may relay; the balancer itself may not.
        self.mta = self.daemon(proxy_protocol_networks=BALANCER + "/32", proxy_timeout="1s",
                               relay_networks="127.0.0.5/32", routes="*=127.0.0.1:%d" % self.hop.port)
        self.haproxy = HaProxy(self.mta.port)

    def tearDown(self):
        self.haproxy.close()
        super().tearDown()

    def send_through(self, port, source, rcpt):
        with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
            client.ehlo("client.test")
            client.mail("a@src.example")
            code, reply = client.rcpt(rcpt)
            if code != 250:
                return code, reply
            return client.data(b"Subject: through the balancer\r\n\r\nx\r\n")

    def received_from(self, rcpt):
        messages = wait_for(lambda: [m for m in self.hop.messages() if m[0]["rcpt_to"] == [rcpt]], 30,
                            "the message at the next hop", lambda: "\n" + self.mta.log_text())
        return [line for line in messages[0][1].split(b"\r\n") if line.startswith(b"Received: from")][0]

    def test_the_client_named_by_a_v1_or_v2_header_is_the_client(self):
        for version, port in ((1, self.haproxy.v1_port), (2, self.haproxy.v2_port)):
            rcpt = "v%d@dest.example" % version
            code, reply = self.send_through(port, "127.0.0.5", rcpt)
            self.assertEqual(code, 250, reply)
            self.assertEqual(self.received_from(rcpt), b"Received: from client.test ([127.0.0.5])", version)
            # The same balancer, another client: not a relay network, so relaying is refused.
            code, reply = self.send_through(port, "127.0.0.6", "x%d@dest.example" % version)
            self.assertEqual(code, 554, reply)  # RFC 5321 §3.6.2: relaying denied
        accepted = [line for line in self.mta.log_lines() if "] accepted id=" in line]
        self.assertEqual(len(accepted), 2)
        self.assertTrue(all(" client=127.0.0.5 " in line for line in accepted), accepted)
        self.assertEqual(self.mta.terminate(), 0)

    def direct(self, source, data):
        """What ringpost answers a connection from `source` that sends `data` first."""
        with socket.create_connection(("127.0.0.1", self.mta.port), timeout=10, source_address=(source, 0)) as s:
            if data:
                s.sendall(data)
            received = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return received
                received += chunk
                if data == V2_LOCAL and received.endswith(b"\r\n"):
                    return received

    def refusals(self):
        return [line for line in self.mta.log_lines() if "refused connection from %s:" % BALANCER in line]

    def test_a_balancer_without_a_good_header_is_closed_without_a_greeting(self):
        # Something else first, a malformed header, or nothing within --proxy_timeout (1s).
        self.assertEqual(self.direct(BALANCER, b"EHLO client.test\r\n"), b"")
        self.assertEqual(self.direct(BALANCER, b"PROXY TCP4 127.0.0.5 127.0.0.1 1 99999\r\n"), b"")
        self.assertEqual(self.direct(BALANCER, b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x10" + bytes(12) +
                                     b"\x01\x00\x09x"), b"")  # a TLV that overruns the header
        started = time.monotonic()
        self.assertEqual(self.direct(BALANCER, b""), b"")
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        lines = wait_for(lambda: len(self.refusals()) == 4 and self.refusals(), 10, "four refusals",
                         lambda: "\n" + self.mta.log_text())
        self.assertTrue(lines[0].endswith(": the connection did not start with a PROXY header"), lines[0])
        self.assertTrue(lines[1].endswith(": a PROXY v1 header with an address or port that is not IPv4"), lines[1])
        self.assertTrue(lines[2].endswith(": a PROXY v2 TLV overruns the header"), lines[2])
        self.assertTrue(lines[3].endswith(": no PROXY header within --proxy_timeout"), lines[3])
        metrics = wait_for(lambda: "ringpost_proxy_headers_refused_total 4\n" in self.metrics() and self.metrics(),
                           10, "the refusals counted")
        self.assertIn("ringpost_proxy_headers_refused_total 4\n", metrics)

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mta.metrics_port, timeout=10) as r:
            return r.read().decode()

    def test_a_v2_local_header_is_the_balancers_own_connection(self):
        # A health check: LOCAL, so the socket's address is the client (and gets a greeting).
        self.assertTrue(self.direct(BALANCER, V2_LOCAL).startswith(b"220 "))

    def test_no_other_peer_is_believed_when_it_sends_a_header(self):
        with socket.create_connection(("127.0.0.1", self.mta.port), timeout=10, source_address=("127.0.0.6", 0)) as s:
            greeting = s.recv(4096)
            self.assertTrue(greeting.startswith(b"220 "), greeting)
            s.sendall(b"PROXY TCP4 127.0.0.5 127.0.0.1 4000 25\r\n")
            reply = s.recv(4096)
        self.assertRegex(reply, rb"^5\d\d ")  # an unknown command, not a header


def crypt_hash(method, password):
    """A libcrypt hash made by the system's own tools, as an operator would make it."""
    if method == "sha512":
        argv = ["openssl", "passwd", "-6", password]
    else:
        argv = ["mkpasswd", "-m", method, password]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@unittest.skipUnless(shutil.which("swaks") and shutil.which("mkpasswd"), "no swaks or mkpasswd (install_deps)")
class AuthTest(delivery.DeliveryTestCase):
    # Submission listeners need users to log in; both need TLS.
    def test_submission_listeners_need_auth_users(self):
        run = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost"), "--submission_listen=127.0.0.1:0",
                              "--listen=127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        self.assertEqual((run.returncode, run.stderr),
                         (1, "ringpost: --submission_listen and --submissions_listen need --auth_users: no mail "
                             "is taken there before a login\n"))

    """RFC 4954 AUTH PLAIN and LOGIN under STARTTLS; loopback is not a relay network here,
    so only a login lets a client relay."""

    USERS = {"alice": ("yescrypt", "correct horse"), "bob": ("sha512", "battery staple"),
             "carol": ("bcrypt", "tr0ub4dor")}

    def setUp(self):
        super().setUp()
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-edge-auth-")
        folder = self.dir_holder.name
        self.cert, self.key = tls_test.make_certificate(folder, "mx.test")
        self.users = os.path.join(folder, "users")
        with open(self.users, "w") as f:
            f.write("# user:hash\n")
            for user, (method, password) in self.USERS.items():
                f.write("%s:%s\n" % (user, crypt_hash(method, password)))
        self.hop = self.sink()
        self.mta = self.daemon(tls_cert=self.cert, tls_key=self.key, auth_users=self.users,
                               relay_networks="192.0.2.0/24", routes="*=127.0.0.1:%d" % self.hop.port,
                               auth_failure_limit=3, auth_failure_delay="200ms",
                               submission_listen="127.0.0.1:0", submissions_listen="127.0.0.1:0",
                               proxy_protocol_networks=BALANCER + "/32")
        started = [line for line in self.mta.log_lines() if self.mta.STARTED_RE.search(line)][0]
        self.submission_port = int(re.search(r" submission=127\.0\.0\.1:(\d+) ", started).group(1))
        self.submissions_port = int(re.search(r" submissions=127\.0\.0\.1:(\d+) ", started).group(1))

    def tearDown(self):
        super().tearDown()
        self.dir_holder.cleanup()

    def swaks(self, *args, port=None):
        return subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port or self.mta.port), "--from",
                               "a@src.example", "--helo", "client.test"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_swaks_logs_in_with_plain_and_login_over_starttls_and_may_relay(self):
        for user, mechanism in (("alice", "PLAIN"), ("bob", "LOGIN")):
            run = self.swaks("--to", "%s-out@dest.example" % user, "--tls", "--auth", mechanism,
                             "--auth-user", user, "--auth-password", self.USERS[user][1])
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            self.assertIn("<~  235 2.7.0 Authentication successful", run.stdout)
        # bcrypt, through Python's client.
        with smtplib.SMTP("127.0.0.1", self.mta.port, timeout=30) as client:
            client.starttls()
            client.ehlo("client.test")
            self.assertEqual(client.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])
            self.assertEqual(client.login("carol", "tr0ub4dor")[0], 235)
            self.assertEqual(client.sendmail("a@src.example", ["carol-out@dest.example"], b"Subject: c\r\n\r\nx\r\n"),
                             {})
        messages = wait_for(lambda: len(self.hop.messages()) == 3 and self.hop.messages(), 30, "three messages")
        for envelope, body in messages:
            self.assertRegex(body.split(b"\r\n\r\n")[0], rb"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n"
                             rb"\tby mx\.test \(ringpost\) with ESMTPSA \(using TLSv1\.3")
        path = os.path.join(self.mta.spool, "accounting.jsonl")
        with open(path) as f:
            receptions = [json.loads(line) for line in f if '"reception"' in line]
        self.assertEqual(sorted((r["auth_user"], r["rcpts"][0], r["protocol"]) for r in receptions),
                         [("alice", "alice-out@dest.example", "ESMTPSA"), ("bob", "bob-out@dest.example", "ESMTPSA"),
                          ("carol", "carol-out@dest.example", "ESMTPSA")])
        self.assertEqual(len([line for line in self.mta.log_lines() if re.search(r"\] login client=127\.0\.0\.1 user=", line)]),
                         3)

    def test_no_login_no_relay_and_no_password_before_tls(self):
        run = self.swaks("--to", "x@dest.example", "--tls")
        self.assertIn("<~* 554 5.7.1 <x@dest.example>: Relay access denied", run.stdout)  # under TLS
        with smtplib.SMTP("127.0.0.1", self.mta.port, timeout=30) as client:
            client.ehlo("client.test")
            self.assertNotIn("auth", client.esmtp_features)  # RFC 4954 §4: not offered in plaintext
            plain = base64.b64encode(b"\0alice\0correct horse").decode()
            self.assertEqual(client.docmd("AUTH", "PLAIN " + plain),
                             (538, b"5.7.11 Encryption required for requested authentication mechanism"))
        self.assertFalse(any("] login" in line for line in self.mta.log_lines()))

    def test_submission_ports_take_mail_only_after_a_login(self):
        # RFC 6409 on the submission port: STARTTLS, then no MAIL before AUTH.
        run = self.swaks("--to", "x@dest.example", "--tls", port=self.submission_port)
        self.assertIn("<~* 530 5.7.0 Authentication required", run.stdout)
        run = self.swaks("--to", "sub@dest.example", "--tls", "--auth", "PLAIN", "--auth-user", "alice",
                         "--auth-password", "correct horse", port=self.submission_port)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        # RFC 8314 on port 465: TLS from the first byte (swaks --tlsc), the greeting inside it,
        # no STARTTLS offered, AUTH offered.
        run = self.swaks("--to", "subs@dest.example", "--tlsc", "--auth", "LOGIN", "--auth-user", "bob",
                         "--auth-password", "battery staple", port=self.submissions_port)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("<~  220 mx.test ESMTP ringpost", run.stdout)
        self.assertIn("<~  250-AUTH PLAIN LOGIN", run.stdout)
        self.assertNotIn("STARTTLS", run.stdout)
        wait_for(lambda: len(self.hop.messages()) == 2, 30, "both messages")
        self.assertEqual(sorted(m[0]["rcpt_to"][0] for m in self.hop.messages()),
                         ["sub@dest.example", "subs@dest.example"])
        # A plaintext client on 465 gets nothing it can read, and no session.
        with socket.create_connection(("127.0.0.1", self.submissions_port), timeout=10) as s:
            s.sendall(b"EHLO client.test\r\n")
            self.assertFalse(s.recv(4096).startswith(b"220"))

    @unittest.skipUnless(shutil.which("haproxy"), "no haproxy (tools/install_deps.sh installs it)")
    def test_port_465_behind_a_balancer(self):
        # The PROXY header, then at once the client's TLS ClientHello (HAProxy may send
        # both in one segment): the handshake starts right after the header.
        balancer = HaProxy(self.submissions_port)
        try:
            for port in (balancer.v1_port, balancer.v2_port):
                run = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "a@src.example",
                                      "--helo", "client.test", "--to", "lb%d@dest.example" % port, "--tlsc",
                                      "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "correct horse"],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        finally:
            balancer.close()
        logins = [line for line in self.mta.log_lines() if "] login client=" in line]
        self.assertEqual(len(logins), 2)
        self.assertTrue(all(" client=127.0.0.1 user=alice" in line for line in logins), logins)  # HAProxy's client

    def test_a_header_and_the_client_hello_in_one_segment(self):
        """Deterministically what a balancer may do on port 465: the PROXY header and the
        ClientHello in one write. The handshake completes and the greeting comes inside TLS."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="mx.test")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        with socket.create_connection(("127.0.0.1", self.submissions_port), timeout=10,
                                      source_address=(BALANCER, 0)) as s:
            s.sendall(b"PROXY TCP4 127.0.0.9 127.0.0.1 4000 465\r\n" + outgoing.read())
            greeting = b""
            while not greeting.endswith(b"\r\n"):
                data = s.recv(65536)
                self.assertTrue(data, "closed before the greeting")
                incoming.write(data)
                try:
                    tls.do_handshake()
                    greeting += tls.read(4096)
                except ssl.SSLWantReadError:
                    pass
                if outgoing.pending:
                    s.sendall(outgoing.read())
        self.assertEqual(greeting, b"220 mx.test ESMTP ringpost\r\n")

    def test_wrong_passwords_are_delayed_and_a_guesser_is_cut_off(self):
        with smtplib.SMTP("127.0.0.1", self.mta.port, timeout=30) as client:
            client.starttls()
            client.ehlo("client.test")
            started = time.monotonic()
            with self.assertRaises(smtplib.SMTPAuthenticationError) as refused:
                client.login("alice", "wrong")
            self.assertEqual(refused.exception.smtp_code, 535)
            self.assertGreaterEqual(time.monotonic() - started, 0.2)  # one failure: one delay unit
        # A dictionary run: 20 guesses, limit 3: the fourth failure is answered 421 and
        # the address is blocked, so hydra gets through at most three more checks.
        words = os.path.join(self.dir_holder.name, "words")
        with open(words, "w") as f:
            f.write("".join("guess%02d\n" % i for i in range(20)))
        hydra = subprocess.run(["hydra", "-l", "alice", "-P", words, "-t", "1", "-s", str(self.mta.port),
                                "-m", "TLS:PLAIN", "smtp://127.0.0.1"], capture_output=True, text=True, timeout=120)
        self.assertNotIn("password: ", hydra.stdout)  # it found nothing
        failures = [line for line in self.mta.log_lines() if "] login failed client=127.0.0.1 user=alice" in line]
        self.assertEqual(len(failures), 4, "\n".join(failures))  # 1 + 2 more within the limit, 1 past it
        self.assertTrue(failures[-1].endswith("(too many failures: blocked)"), failures[-1])
        # Blocked: a new connection from the address is refused at once.
        with socket.create_connection(("127.0.0.1", self.mta.port), timeout=10) as s:
            self.assertEqual(s.recv(4096),
                             b"421 4.7.0 mx.test Error: too many failed logins from 127.0.0.1\r\n")


class SmarthostLoginTest(delivery.DeliveryTestCase):
    """--route_auth: ringpost logs in to a smarthost (a ringpost-sink with --auth_users,
    which offers AUTH only under STARTTLS) and never over plaintext. Reports for the
    sender go to another sink on 127.0.0.2, which needs no login."""

    def setUp(self):
        super().setUp()
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-edge-smarthost-")
        folder = self.dir_holder.name
        self.cert, self.key = tls_test.make_certificate(folder, "smarthost.test")
        self.sink_users = os.path.join(folder, "sink_users")
        with open(self.sink_users, "w") as f:
            f.write("relay-user:s3cret\n")
        with socket.socket() as probe:  # a port free on 127.0.0.2
            probe.bind(("127.0.0.2", 0))
            home_port = probe.getsockname()[1]
        self.home = delivery.Sink(port=home_port, listen_host="127.0.0.2")
        self.sinks.append(self.home)

    def tearDown(self):
        super().tearDown()
        self.dir_holder.cleanup()

    def route_auth(self, password):
        secret = os.path.join(self.dir_holder.name, "password")
        with open(secret, "w") as f:
            f.write(password + "\n")
        table = os.path.join(self.dir_holder.name, "route_auth")
        with open(table, "w") as f:
            f.write("# host user password-file\n127.0.0.1 relay-user %s\n" % secret)
        return table

    def relay(self, smarthost, password):
        daemon = self.daemon(routes="src.example=127.0.0.2:%d,*=127.0.0.1:%d" % (self.home.port, smarthost.port),
                             route_auth=self.route_auth(password), max_queue_lifetime="1h")
        self.send(daemon, "s@src.example", ["r@far.example"], b"Subject: via the smarthost\r\n\r\nx\r\n")
        return daemon

    def test_logs_in_under_starttls_and_delivers(self):
        smarthost = self.sink("--tls_cert=" + self.cert, "--tls_key=" + self.key, "--auth_users=" + self.sink_users)
        daemon = self.relay(smarthost, "s3cret")
        messages = wait_for(smarthost.messages, 30, "the message at the smarthost", lambda: "\n" + daemon.log_text())
        self.assertEqual((messages[0][0]["rcpt_to"], messages[0][0]["auth_user"]), (["r@far.example"], "relay-user"))
        delivered = self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 1, "the delivery")
        self.assertTrue(delivered[0]["tls"].startswith("TLSv1."), delivered[0])

    def test_a_refused_login_bounces_with_the_servers_reply(self):
        smarthost = self.sink("--tls_cert=" + self.cert, "--tls_key=" + self.key, "--auth_users=" + self.sink_users)
        daemon = self.relay(smarthost, "wrong")
        bounced = self.wait_accounting(daemon, lambda e: e["type"] == "bounce", 1, "the bounce")
        self.assertEqual((bounced[0]["code"], bounced[0]["status"], bounced[0]["text"]),
                         (535, "5.7.8", "Authentication credentials invalid"))
        dsn = wait_for(self.home.messages, 30, "the DSN", lambda: "\n" + daemon.log_text())[0][1].decode()
        self.assertIn("Diagnostic-Code: smtp; 535 5.7.8 Authentication credentials invalid", dsn)
        self.assertEqual(smarthost.messages(), [])

    def test_no_tls_no_login_and_the_mail_waits(self):
        plaintext = self.sink()  # offers neither STARTTLS nor AUTH
        daemon = self.relay(plaintext, "s3cret")
        deferred = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 1, "the deferral")
        self.assertEqual((deferred[0]["code"], deferred[0]["status"]), (0, "4.7.10"))
        self.assertIn("TLS is needed to log in", deferred[0]["text"])
        self.assertEqual(plaintext.messages(), [])

    def test_route_auth_needs_outbound_tls(self):
        run = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost"), "--listen=127.0.0.1:0",
                              "--outbound_tls=none", "--route_auth=" + self.route_auth("x")],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual((run.returncode, run.stderr),
                         (1, "ringpost: --route_auth needs outbound TLS (--outbound_tls=opportunistic or required): "
                             "a login is only ever sent under TLS\n"))


def main():
    delivery.run_tests(__doc__, "edge_test", ("ringpost", "ringpost-sink"))


if __name__ == "__main__":
    main()
