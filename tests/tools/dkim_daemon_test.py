#!/usr/bin/python3
"""DKIM end to end (RFC 6376, RFC 8463, RFC 8601): ringpost signs mail of its relay
networks at reception and Debian's python3-dkim (dkimpy) verifies what reaches a real
ringpost-sink, with the keys published by a dnsmasq this test starts; the other way,
mail signed by dkimpy and received from outside the relay networks gets ringpost's
Authentication-Results. Run by Debian's interpreter (python3-dkim is installed for it).

    /usr/bin/python3 tests/tools/dkim_daemon_test.py [--bin_dir build/release/tools]
"""
import base64
import os
import re
import signal
import smtplib
import subprocess
import tempfile
import unittest
import urllib.request

import dkim
import dns.resolver

import delivery_test
from delivery_test import DeliveryTestCase, Dnsmasq, free_udp_port, wait_for
import smtp_server_test as harness


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, check=True).stdout


def new_key(folder, name, algorithm):
    """A private key file and its DKIM key record (RFC 6376 §3.6.1, RFC 8463 §4)."""
    path = os.path.join(folder, name + ".pem")
    if algorithm == "rsa":
        pem = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    else:
        pem = openssl("genpkey", "-algorithm", "ed25519")
    with open(path, "wb") as f:
        f.write(pem)
    der = openssl("pkey", "-pubout", "-outform", "DER", data=pem)
    if algorithm == "ed25519":
        der = der[-32:]  # the raw public key ends the SubjectPublicKeyInfo
    record = "v=DKIM1; k=%s; p=%s" % (algorithm, base64.b64encode(der).decode())
    return path, record, pem


def txt_record(name, record):
    """dnsmasq's --txt-record, the text cut into character-strings of at most 255 bytes."""
    return "--txt-record=%s,%s" % (name, ",".join(record[i:i + 255] for i in range(0, len(record), 255)))


def headers_of(message):
    return message.split(b"\r\n\r\n", 1)[0]


MESSAGES = {
    "folded": b"From: Joe <joe@news.example.com>\r\nTo: a@dest.example,\r\n\tb@dest.example\r\n"
              b"Subject: a subject that is\r\n  folded over   lines\r\n\r\nbody\r\n",
    "8bit": b"From: joe@example.com\r\nSubject: 8 bits\r\n\r\n\xc3\xa9t\xc3\xa9 \xe2\x82\xac\r\n",
    "empty body": b"From: joe@example.com\r\nSubject: empty\r\n\r\n",
    "trailing blank lines": b"From: joe@example.com\r\nSubject: blank\r\n\r\nx  \t y\r\n\r\n\r\n\r\n",
    "long line": b"From: joe@example.com\r\nSubject: long\r\n\r\n" + b"L" * 3000 + b"\r\nend\r\n",
    "dots": b"From: joe@example.com\r\nSubject: dots\r\n\r\n.one\r\n..two\r\n.\r\n...\r\nend\r\n",
}


@unittest.skipUnless(subprocess.run(["which", "dnsmasq"], capture_output=True).returncode == 0, "no dnsmasq")
class DkimTestCase(DeliveryTestCase):
    def setUp(self):
        super().setUp()
        self.folder_holder = tempfile.TemporaryDirectory(prefix="ringpost-dkim-test-")
        self.folder = self.folder_holder.name
        self.keys = {name: new_key(self.folder, name, algorithm)
                     for name, algorithm in (("rsa", "rsa"), ("ed", "ed25519"), ("new", "ed25519"),
                                             ("outside", "rsa"))}
        self.dns_port = free_udp_port()
        # Key records live 300 s (dnsmasq gives its own records a TTL of 0 by default).
        self.keys["esp"] = new_key(self.folder, "esp", "rsa")  # a sending service's own domain
        self.dns = Dnsmasq(self.dns_port, ["--local=/example.com/", "--local=/esp.example/", "--local-ttl=300",
                                           txt_record("esp._domainkey.esp.example", self.keys["esp"][1])] + [
            txt_record("%s._domainkey.example.com" % name, record) for name, (_, record, _) in self.keys.items()
            if name != "esp"])

    def tearDown(self):
        self.dns.close()
        super().tearDown()
        self.folder_holder.cleanup()

    def dnsfunc(self, name, timeout=5):
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.dns_port
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        return b"".join(answer[0].strings)

    def verified_selectors(self, message):
        """The selectors of the signatures dkimpy verifies, in order."""
        verifier = dkim.DKIM(message)
        count = len(re.findall(rb"(?im)^DKIM-Signature:", headers_of(message)))
        passed = []
        for i in range(count):
            if verifier.verify(idx=i, dnsfunc=self.dnsfunc):
                passed.append(verifier.signature_fields[b"s"].decode())
        return passed

    def write_table(self, *lines):
        path = os.path.join(self.folder, "keys.table")
        with open(path, "w") as f:
            f.write("# signing-domain selector key-file [algorithm]\n" + "".join(line + "\n" for line in lines))
        return path


class SigningTest(DkimTestCase):
    def signing_daemon(self, sink, **flags):
        return self.daemon(routes="*=127.0.0.1:%d" % sink.port, **flags)

    def test_rfc6376_rfc8463_both_algorithms_both_canonicalizations_verified_by_dkimpy(self):
        """Every message gets one signature per key of its From: domain (or the nearest parent
        the table names); dkimpy verifies each, through the keys dnsmasq publishes."""
        table = self.write_table("example.com rsa rsa.pem rsa-sha256", "example.com ed %s" % self.keys["ed"][0])
        for mode in ("relaxed/relaxed", "simple/simple"):
            sink = self.sink()
            daemon = self.signing_daemon(sink, dkim_key_table=table, dkim_canonicalization=mode)
            for name, message in MESSAGES.items():
                self.send(daemon, "s@example.com", ["r@dest.example"], message)
            wait_for(lambda: len(sink.messages()) == len(MESSAGES), 30, "the messages", lambda: daemon.log_text())
            for envelope, body in sink.messages():
                subject = re.search(rb"Subject: ([a-z0-9 ]+)", body).group(1)
                self.assertEqual(len(re.findall(rb"(?im)^DKIM-Signature:", headers_of(body))), 2, body[:600])
                self.assertIn(("c=" + mode).encode(), body)
                self.assertEqual(self.verified_selectors(body), ["rsa", "ed"], (mode, subject, body[:800]))
                tampered = body.replace(b"\r\nSubject: ", b"\r\nSubject: changed ", 1)
                self.assertEqual(self.verified_selectors(tampered), [], (mode, subject))
            daemon.close()

    def test_signed_once_at_reception_so_every_copy_carries_the_same_signature(self):
        """Two destinations, two deliveries, one signature: a message is signed before its
        250 and the signature is stored with it."""
        table = self.write_table("example.com ed ed.pem")
        sink = self.sink()
        daemon = self.signing_daemon(sink, dkim_key_table=table)
        self.send(daemon, "s@example.com", ["a@one.example", "b@two.example"], MESSAGES["folded"])
        wait_for(lambda: len(sink.messages()) == 2, 30, "two deliveries", lambda: daemon.log_text())
        first, second = [body for _, body in sink.messages()]
        signature = re.compile(rb"DKIM-Signature:.*?b=[^;]+?\r\n(?=[^ \t])", re.S)
        self.assertEqual(signature.search(first).group(0), signature.search(second).group(0))
        self.assertTrue(first.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;"), first[:200])

    def test_extra_domains_sign_beside_the_author(self):
        """--dkim_extra_domains: a sending service's domain signs every message too; a message
        whose author has no key carries that signature alone and is logged as unsigned."""
        table = self.write_table("example.com ed ed.pem", "esp.example esp esp.pem")
        sink = self.sink()
        daemon = self.signing_daemon(sink, dkim_key_table=table, dkim_extra_domains="ESP.example")
        self.send(daemon, "s@example.com", ["r@dest.example"], MESSAGES["folded"])
        wait_for(lambda: len(sink.messages()) == 1, 30, "the first message")
        self.send(daemon, "s@other.example", ["r@dest.example"], b"From: x@other.example\r\nSubject: o\r\n\r\nx\r\n")
        wait_for(lambda: len(sink.messages()) == 2, 30, "the second message")
        verified = sorted(self.verified_selectors(body) for _, body in sink.messages())
        self.assertEqual(verified, [["ed", "esp"], ["esp"]])
        wait_for(lambda: [l for l in daemon.log_lines() if l.endswith(
            ": no DKIM key for other.example (signed for esp.example only)")], 10, "the log line", daemon.log_text)

    def test_no_key_leaves_unsigned_and_dkim_required_refuses_451_4_7_5(self):
        with open(os.path.join(self.folder, "broken.pem"), "w") as f:
            f.write("not a key\n")
        table = self.write_table("example.com rsa rsa.pem", "broken.example brk broken.pem")
        sink = self.sink()
        daemon = self.signing_daemon(sink, dkim_key_table=table)
        self.send(daemon, "s@other.example", ["r@dest.example"], b"From: x@other.example\r\nSubject: s\r\n\r\nx\r\n")
        wait_for(lambda: sink.messages(), 30, "the message")
        self.assertNotIn(b"DKIM-Signature", sink.messages()[0][1])
        self.assertTrue(wait_for(lambda: [l for l in daemon.log_lines() if "unsigned id=" in l and
                                          l.endswith(": no DKIM key for other.example")], 10, "the log line"))
        strict = self.signing_daemon(sink, dkim_key_table=table, dkim_required="true")
        with smtplib.SMTP("127.0.0.1", strict.port, timeout=30) as client:
            with self.assertRaises(smtplib.SMTPDataError) as refused:
                client.sendmail("s@other.example", ["r@dest.example"], b"From: x@other.example\r\n\r\nx\r\n")
            self.assertEqual(refused.exception.smtp_code, 451)
            self.assertEqual(refused.exception.smtp_error, b"4.7.5 no DKIM key for other.example")
            # A key that does not read is refused the same way, naming the key, and logged
            # naming its file.
            with self.assertRaises(smtplib.SMTPDataError) as refused:
                client.sendmail("s@broken.example", ["r@dest.example"], b"From: x@broken.example\r\n\r\nx\r\n")
            self.assertEqual(refused.exception.smtp_error,
                             b"4.7.5 the DKIM key for d=broken.example s=brk does not read")
        wait_for(lambda: [l for l in strict.log_lines()
                          if l.endswith("DKIM key %s/broken.pem: not a PEM private key" % self.folder)], 10,
                 "the key's error", strict.log_text)
        # The refused were never queued: the one reception record is a signed message's, sent after them.
        self.send(strict, "s@example.com", ["r@dest.example"], MESSAGES["8bit"])
        receptions = wait_for(lambda: self.accounting(strict, types=("reception",)), 10, "the reception record")
        self.assertEqual([r["from"] for r in receptions], ["s@example.com"])

    def test_sighup_rotates_keys_and_a_bad_table_keeps_the_old_one(self):
        table = self.write_table("example.com rsa rsa.pem")
        sink = self.sink()
        daemon = self.signing_daemon(sink, dkim_key_table=table)
        self.send(daemon, "s@example.com", ["r@dest.example"], MESSAGES["8bit"])
        wait_for(lambda: len(sink.messages()) == 1, 30, "the first message")
        self.write_table("example.com new new.pem ed25519-sha256")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: [l for l in daemon.log_lines() if "SIGHUP: DKIM keys reloaded" in l and "(1 key)" in l],
                 10, "the reload", lambda: daemon.log_text())
        self.send(daemon, "s@example.com", ["r@dest.example"], MESSAGES["dots"])
        wait_for(lambda: len(sink.messages()) == 2, 30, "the second message")
        selectors = sorted(self.verified_selectors(body)[0] for _, body in sink.messages())
        self.assertEqual(selectors, ["new", "rsa"])
        self.write_table("example.com", "broken line")
        daemon.proc.send_signal(signal.SIGHUP)
        line = wait_for(lambda: [l for l in daemon.log_lines() if "SIGHUP: DKIM keys not reloaded" in l], 10,
                        "the refusal")[0]
        self.assertIn("keys.table:2: expected 'signing-domain selector key-file", line)
        self.send(daemon, "s@example.com", ["r@dest.example"], MESSAGES["8bit"])
        wait_for(lambda: len(sink.messages()) == 3, 30, "the third message")
        self.assertEqual(sorted(self.verified_selectors(body)[0] for _, body in sink.messages()),
                         ["new", "new", "rsa"])

    def test_a_bad_key_table_refuses_the_start_naming_file_and_line(self):
        table = self.write_table("example.com rsa rsa.pem sha1")
        run = subprocess.run([os.path.join(harness.BIN_DIR, "ringpost"), "--listen=127.0.0.1:0", "--metrics_listen=",
                              "--admin_socket=", "--spool_dir=" + os.path.join(self.folder, "spool"),
                              "--dkim_key_table=" + table], capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 1)  # as every refused start (Abseil's flag errors too)
        self.assertEqual(run.stderr, "ringpost: --dkim_key_table: %s:2: unknown algorithm 'sha1' "
                                     "(rsa-sha256 or ed25519-sha256)\n" % table)


class VerificationTest(DkimTestCase):
    """A gateway: mail from 127.0.0.2 (outside --relay_networks) for example.net."""

    def gateway(self, sink):
        # One shard: one cache of key records (each shard keeps its own).
        return self.daemon(shards=1, relay_networks="127.0.0.1/32", relay_domains="example.net", dkim_verify="true",
                           routes="example.net=127.0.0.1:%d" % sink.port,
                           dns_servers="127.0.0.1:%d" % self.dns_port, dns_timeout="1s", dns_tries=1)

    def signed_by_dkimpy(self, message, selector):
        _, _, pem = self.keys[selector]
        if selector in ("ed", "new"):  # dkimpy takes an Ed25519 key as the base64 of its 32 bytes
            raw = openssl("pkey", "-outform", "DER", data=pem)[-32:]
            key, algorithm = base64.b64encode(raw), b"ed25519-sha256"
        else:
            key, algorithm = pem, b"rsa-sha256"
        signature = dkim.sign(message, selector.encode(), b"example.com", key, signature_algorithm=algorithm,
                              include_headers=[b"from", b"subject"])
        return signature.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + message

    def relay_from_outside(self, daemon, message):
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30, source_address=("127.0.0.2", 0)) as client:
            self.assertEqual(client.sendmail("s@example.com", ["r@example.net"], message), {})

    def metrics(self, daemon):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % daemon.metrics_port, timeout=10) as reply:
            lines = reply.read().decode().splitlines()
        return {line.split(" ")[0]: int(line.split(" ")[1]) for line in lines
                if line.startswith("ringpost_dkim_")}

    def results_of(self, body):
        """ringpost's Authentication-Results field, unfolded."""
        self.assertTrue(body.startswith(b"Authentication-Results: " + harness.HOSTNAME.encode() + b";"), body[:300])
        field = re.match(rb"Authentication-Results:.*?\r\n(?=[^ \t])", body, re.S).group(0)
        return re.sub(rb"\r\n[ \t]+", b" ", field).rstrip(b"\r\n").decode()

    def test_rfc8601_pass_fail_permerror_and_none(self):
        sink = self.sink()
        daemon = self.gateway(sink)
        base = b"From: Joe <joe@example.com>\r\nSubject: checked\r\n\r\nthe body\r\n"
        self.relay_from_outside(daemon, self.signed_by_dkimpy(base, "rsa"))
        self.relay_from_outside(daemon, self.signed_by_dkimpy(base, "ed"))
        self.relay_from_outside(daemon, self.signed_by_dkimpy(base, "rsa").replace(b"the body", b"THE BODY"))
        unknown = self.signed_by_dkimpy(base, "rsa").replace(b"s=rsa;", b"s=gone;")
        self.relay_from_outside(daemon, unknown)
        self.relay_from_outside(daemon, base)
        wait_for(lambda: len(sink.messages()) == 5, 30, "five messages", lambda: daemon.log_text())
        results = sorted(self.results_of(body) for _, body in sink.messages())
        prefix = "Authentication-Results: %s; " % harness.HOSTNAME
        self.assertEqual(len([r for r in results if r.startswith(prefix + "dkim=pass header.d=example.com "
                                                                          "header.s=rsa header.b=")]), 1, results)
        self.assertEqual(len([r for r in results if r.startswith(prefix + "dkim=pass header.d=example.com "
                                                                          "header.s=ed header.b=")]), 1, results)
        self.assertEqual(len([r for r in results if r.startswith(
            prefix + "dkim=fail (body hash did not verify) header.d=example.com header.s=rsa")]), 1, results)
        self.assertEqual(len([r for r in results if r.startswith(
            prefix + "dkim=permerror (no key) header.d=example.com header.s=gone")]), 1, results)
        self.assertIn(prefix + "dkim=none", results)
        self.assertEqual(self.dns.queries("TXT", "rsa._domainkey.example.com"), 1)  # the key record is cached
        expected = {"ringpost_dkim_pass_total": 2, "ringpost_dkim_fail_total": 1, "ringpost_dkim_permerror_total": 1,
                    "ringpost_dkim_none_total": 1, "ringpost_dkim_signed_total": 0}
        wait_for(lambda: {name: self.metrics(daemon).get(name) for name in expected} == expected, 10,
                 "the DKIM counters", lambda: str(self.metrics(daemon)))

    def test_rfc8601_5_results_claiming_this_host_are_removed_others_kept(self):
        sink = self.sink()
        daemon = self.gateway(sink)
        forged = ("Authentication-Results: %s; dkim=pass header.d=bank.example\r\n"
                  "Authentication-Results: other.example;\r\n dkim=pass header.d=example.com\r\n"
                  "authentication-results: (forged) %s;\r\n\tdkim=pass\r\n"
                  % (harness.HOSTNAME.upper(), harness.HOSTNAME)).encode()
        message = forged + b"From: joe@example.com\r\nSubject: forged\r\n\r\nx\r\n"
        self.relay_from_outside(daemon, message)
        wait_for(lambda: sink.messages(), 30, "the message", lambda: daemon.log_text())
        body = sink.messages()[0][1]
        self.assertEqual(self.results_of(body), "Authentication-Results: %s; dkim=none" % harness.HOSTNAME)
        self.assertEqual(body.count(b"bank.example"), 0)
        self.assertEqual(body.lower().count(b"authentication-results:"), 2)
        self.assertIn(b"Authentication-Results: other.example;\r\n dkim=pass header.d=example.com\r\n", body)

    def test_mail_of_the_relay_networks_is_not_verified(self):
        sink = self.sink()
        daemon = self.gateway(sink)
        self.send(daemon, "s@example.com", ["r@example.net"], b"From: joe@example.com\r\n\r\nx\r\n")
        wait_for(lambda: sink.messages(), 30, "the message")
        self.assertTrue(sink.messages()[0][1].startswith(b"Received: "))


def main():
    delivery_test.run_tests(__doc__, "dkim_daemon_test", ("ringpost", "ringpost-sink"))


if __name__ == "__main__":
    main()
