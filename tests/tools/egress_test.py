#!/usr/bin/env python3
"""Egress sources and pools from the outside (--egress_sources, --egress_pools,
--egress_sender_pools): the real daemon relays to ringpost-sink, which records each
message's peer address and EHLO name. A message leaves from its pool's source (127.0.0.2
or 127.0.0.3, with that source's EHLO name): chosen by its sender's domain, or by an
X-Ringpost-Pool: field from a relay network, which never leaves the host; a pool of two
sources shares its mail by weight. A source address that is not this machine's stops
the start.

Usage: egress_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import os
import smtplib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, the daemon harness)
import smtp_server_test as harness  # noqa: E402

SOURCES = "a=127.0.0.2/mta-a.example.com,b=127.0.0.3/mta-b.example.com"


def message(sender, n, pool=None):
    header = b"X-Ringpost-Pool: %s\r\n" % pool.encode() if pool else b""
    return (b"From: " + sender.encode() + b"\r\n" + header +
            b"Subject: egress %d\r\nX-Number: %d\r\n\r\nbody %d\r\n" % (n, n, n))


class EgressTest(delivery.DeliveryTestCase):
    def start(self, sink, **flags):
        settings = dict(egress_sources=SOURCES, egress_pools="bulk=a,news=b,mixed=a:1+b:1",
                        egress_sender_pools="news.example=news,*=bulk",
                        routes="dest.test=127.0.0.1:%d" % sink.port)
        settings.update(flags)
        return self.daemon(**settings)

    def sent_from(self, sink, count):
        """{X-Number: (peer, helo)} once `count` messages arrived."""
        delivery.wait_for(lambda: len(sink.messages()) >= count, 30, "%d messages at the sink" % count)
        found = {}
        for envelope, body in sink.messages():
            self.assertNotIn(b"x-ringpost-pool", body.lower(), "the pool field left the host")
            number = int(body.split(b"X-Number: ")[1].split(b"\r\n")[0])
            found[number] = (envelope["peer"], envelope["helo"])
        return found

    def test_each_pool_leaves_from_its_source_with_its_ehlo_name(self):
        sink = self.sink()
        daemon = self.start(sink)
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            # By the sender's domain: * is bulk (a), news.example is news (b).
            client.sendmail("s@plain.example", ["r@dest.test"], message("s@plain.example", 1))
            client.sendmail("s@news.example", ["r@dest.test"], message("s@news.example", 2))
            # By the header, from a relay network (loopback): it overrides the sender's.
            client.sendmail("s@plain.example", ["r@dest.test"], message("s@plain.example", 3, "news"))
            client.sendmail("s@news.example", ["r@dest.test"], message("s@news.example", 4, "bulk"))
            # A pool that does not exist: the sender's pool.
            client.sendmail("s@news.example", ["r@dest.test"], message("s@news.example", 5, "nope"))
        a = ("127.0.0.2", "mta-a.example.com")
        b = ("127.0.0.3", "mta-b.example.com")
        self.assertEqual(self.sent_from(sink, 5), {1: a, 2: b, 3: b, 4: a, 5: b})
        self.assertIn("pool header ignored", daemon.log_text(200))
        # The accounting log names the source of each delivery.
        records = self.wait_accounting(daemon, lambda r: r["type"] == "delivery", 5, "5 deliveries")
        self.assertEqual(sorted(r["source"] for r in records), ["a", "a", "b", "b", "b"])
        # The size received is the size stored: without the fields taken out.
        sizes = sorted(len(body) for _, body in sink.messages())
        receptions = delivery.wait_for(lambda: self.accounting(daemon, ("reception",))[4:] and
                                       self.accounting(daemon, ("reception",)), 30, "5 receptions")
        self.assertEqual(sorted(r["size"] for r in receptions), sizes)

    def test_a_pool_of_two_sources_shares_its_mail_by_weight(self):
        sink = self.sink()
        daemon = self.start(sink)
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            for n in range(8):
                client.sendmail("s@plain.example", ["r@dest.test"], message("s@plain.example", n, "mixed"))
        peers = [peer for peer, _ in self.sent_from(sink, 8).values()]
        self.assertEqual(peers.count("127.0.0.2"), 4)
        self.assertEqual(peers.count("127.0.0.3"), 4)

    def test_the_header_from_outside_the_relay_networks_is_removed_but_not_obeyed(self):
        sink = self.sink()
        daemon = self.start(sink, relay_networks="127.0.0.1/32", relay_domains="dest.test")
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30, source_address=("127.0.0.5", 0)) as client:
            client.sendmail("s@plain.example", ["r@dest.test"], message("s@plain.example", 1, "news"))
        self.assertEqual(self.sent_from(sink, 1), {1: ("127.0.0.2", "mta-a.example.com")})
        self.assertIn("not from --relay_networks or a login", daemon.log_text(200))

    def test_a_source_that_is_not_this_machines_or_a_pool_of_unknown_sources_stops_the_start(self):
        with tempfile.TemporaryDirectory(prefix="ringpost-egress-test-") as folder:
            cases = [
                ({"egress_sources": "far=192.0.2.9/far.example.com", "egress_pools": "p=far"},
                 "ringpost: --egress_sources: far=192.0.2.9: not an address of this machine"),
                ({"egress_sources": SOURCES, "egress_pools": "p=a+c"},
                 "ringpost: --egress_pools: pool p: 'c' is not a source of --egress_sources"),
                ({"egress_sources": SOURCES, "egress_pools": "p=a", "egress_sender_pools": "x.example=q"},
                 "ringpost: --egress_sender_pools: 'q' is not a pool of --egress_pools"),
                ({"egress_sources": SOURCES},
                 "ringpost: --egress_sources: no --egress_pools uses them"),
            ]
            for flags, expected in cases:
                argv = [os.path.join(harness.BIN_DIR, "ringpost"), "--spool_dir=" + os.path.join(folder, "spool"),
                        "--listen=127.0.0.1:0"] + ["--%s=%s" % kv for kv in flags.items()]
                result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                self.assertNotEqual(result.returncode, 0, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertTrue(result.stderr.startswith(expected), result.stderr)


def main():
    delivery.run_tests(__doc__, "egress_test", ("ringpost", "ringpost-sink"))


if __name__ == "__main__":
    main()
