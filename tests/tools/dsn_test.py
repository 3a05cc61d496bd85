#!/usr/bin/env python3
"""Delivery status notifications (RFC 3461-3464) from the outside: Python's smtplib sends
every DSN parameter to the real daemon, a DSN-capable ringpost-sink shows what was passed
on, and the reports that come back are parsed by Python's email package (relayed,
delivered, delayed, failed; RET=HDRS and RET=FULL; NOTIFY=NEVER).

Usage: dsn_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import email
import email.policy
import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, the daemon harness)

wait_for = delivery.wait_for


class DsnTest(delivery.DeliveryTestCase):
    def setUp(self):
        super().setUp()
        self.home = self.sink()                      # src.test: where the reports go
        self.with_dsn = self.sink("--dsn=true")      # dsnhop.test: takes the parameters on
        self.plain = self.sink()                     # plainhop.test: offers no DSN
        self.refusing = self.sink("--rcpt_permfail_rate=1")  # failhop.test: 550 to everyone
        routes = ["src.test=127.0.0.1:%d" % self.home.port, "dsnhop.test=127.0.0.1:%d" % self.with_dsn.port,
                  "plainhop.test=127.0.0.1:%d" % self.plain.port, "failhop.test=127.0.0.1:%d" % self.refusing.port,
                  "deadhop.test=127.0.0.1:%d" % delivery.free_port()]
        self.daemon_ = self.daemon(routes=",".join(routes), local_domains="local.test", create_maildirs="true",
                                   delay_warning_time="2s", retry_initial="1s", retry_max="1s")

    def send(self, to, envid, mail_options=(), rcpt_options=(), subject="dsn"):
        with smtplib.SMTP("127.0.0.1", self.daemon_.port, timeout=30) as client:
            client.ehlo("client.test")
            self.assertTrue(client.has_extn("dsn"))
            message = ("From: s@src.test\r\nSubject: %s\r\nMessage-ID: <%s@src.test>\r\n\r\nthe body\r\n"
                       % (subject, envid)).encode()
            self.assertEqual(client.mail("s@src.test", ["ENVID=" + envid] + list(mail_options))[0], 250)
            self.assertEqual(client.rcpt(to, list(rcpt_options))[0], 250)
            code, reply = client.data(message)
            self.assertEqual(code, 250, reply)
            return re.search(rb"queued as (\S+)", reply).group(1).decode()

    def reports_queued(self, queue_id):
        """How many reports the daemon queued for the message (its log says so)."""
        return sum(1 for line in self.daemon_.log_lines()
                   if "report queued:" in line and " for id=%s " % queue_id in line)

    def expect_no_report(self, queue_id, rcpt):
        """Waits until the message is finished, then checks that no report was queued for
        it: a report is durable before the results that finish a message."""
        self.wait_accounting(self.daemon_, lambda e: e["rcpt"] == rcpt and e["type"] in ("delivery", "bounce"), 1,
                             "the outcome of " + rcpt)
        tool = [os.path.join(delivery.harness.BIN_DIR, "ringpost-queue"),
                "--admin_socket=" + os.path.join(self.daemon_.spool, "admin.sock"), "show", queue_id]
        wait_for(lambda: subprocess.run(tool, capture_output=True).returncode == 1, 20,
                 "message %s finished" % queue_id)
        self.assertEqual(self.reports_queued(queue_id), 0, self.daemon_.log_text())

    def attempts(self, rcpt):
        return len([e for e in self.accounting(self.daemon_) if e["rcpt"] == rcpt and e["type"] == "transient"])

    def reports(self, envid):
        """The reports at the sender's sink for ENVID: [(message, per-recipient blocks)]."""
        found = []
        for _, body in self.home.messages():
            report = email.message_from_bytes(body, policy=email.policy.default)
            if report.get_content_type() != "multipart/report":
                continue
            status = list(report.iter_parts())[1].get_payload()
            if status[0]["Original-Envelope-Id"] == envid:
                found.append((report, status[1:]))
        return found

    def one_report(self, envid):
        return wait_for(lambda: self.reports(envid), 30, "the report for " + envid,
                        lambda: "\n" + self.daemon_.log_text())[0]

    def test_rfc3461_5_2_a_next_hop_with_dsn_gets_the_parameters_and_no_report_comes_from_here(self):
        queue_id = self.send("x@dsnhop.test", "E1", ["RET=HDRS"],
                             ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig+40example.org"])
        envelope, _ = wait_for(self.with_dsn.messages, 20, "the message at the DSN-capable hop")[0]
        self.assertRegex(envelope["mail_params"], r"^SIZE=\d+ RET=HDRS ENVID=E1$")
        self.assertEqual(envelope["rcpt_params"], ["NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40example.org"])
        self.expect_no_report(queue_id, "x@dsnhop.test")

    def test_rfc3464_relayed_to_a_hop_without_dsn_and_delivered_here(self):
        self.send("y@plainhop.test", "E2", [], ["NOTIFY=SUCCESS", "ORCPT=rfc822;first+2Blast@example.org"])
        envelope, _ = wait_for(self.plain.messages, 20, "the message at the plain hop")[0]
        self.assertRegex(envelope["mail_params"], r"^SIZE=\d+$")  # nothing a hop without DSN cannot take
        self.assertEqual(envelope["rcpt_params"], [""])
        report, recipients = self.one_report("E2")
        self.assertEqual(report["Subject"], "Successful Mail Delivery Report")
        self.assertEqual(report["To"].addresses[0].addr_spec, "s@src.test")
        self.assertEqual([(r["Action"], r["Status"], r["Final-Recipient"], r["Original-Recipient"])
                          for r in recipients],
                         [("relayed", "2.0.0", "rfc822; y@plainhop.test", "rfc822; first+last@example.org")])
        self.send("user@local.test", "E3", [], ["NOTIFY=SUCCESS,FAILURE"])
        _, recipients = self.one_report("E3")
        self.assertEqual([(r["Action"], r["Final-Recipient"]) for r in recipients],
                         [("delivered", "rfc822; user@local.test")])

    def test_rfc3464_failed_with_ret_hdrs_and_ret_full_and_never_with_notify_never(self):
        self.send("a@failhop.test", "E4", ["RET=HDRS"])  # NOTIFY absent: failures are reported
        report, recipients = self.one_report("E4")
        self.assertEqual(report["Subject"], "Undelivered Mail Returned to Sender")
        self.assertEqual([(r["Action"], r["Status"]) for r in recipients], [("failed", "5.1.1")])
        parts = list(report.iter_parts())
        self.assertEqual(parts[2].get_content_type(), "text/rfc822-headers")
        self.assertNotIn("the body", parts[2].get_content())
        self.send("b@failhop.test", "E5", ["RET=FULL"], ["NOTIFY=FAILURE"])
        report, _ = self.one_report("E5")
        original = list(report.iter_parts())[2]
        self.assertEqual(original.get_content_type(), "message/rfc822")
        self.assertEqual(original.get_payload()[0].get_content().strip(), "the body")
        queue_id = self.send("c@failhop.test", "E6", [], ["NOTIFY=NEVER"])
        self.expect_no_report(queue_id, "c@failhop.test")

    def test_delay_warning_time_sends_one_delayed_report_unless_notify_leaves_delay_out(self):
        warned = self.send("w@deadhop.test", "E7")
        not_warned = self.send("v@deadhop.test", "E8", [], ["NOTIFY=FAILURE"])
        report, recipients = self.one_report("E7")
        self.assertEqual(report["Subject"], "Delayed Mail (still being retried)")
        self.assertEqual([(r["Action"], r["Status"][0]) for r in recipients], [("delayed", "4")])
        # Retried every second: three more attempts of w, and five of v (the fourth ends
        # past the 2 s warning time), each one's report queued before the next began.
        later = self.attempts("w@deadhop.test") + 3
        wait_for(lambda: self.attempts("w@deadhop.test") >= later and self.attempts("v@deadhop.test") >= 5, 30,
                 "more attempts", lambda: "\n" + self.daemon_.log_text())
        self.assertEqual(self.reports_queued(warned), 1)
        self.assertEqual(self.reports_queued(not_warned), 0)
        # The daemon log names what the report says: a delay, not a bounce.
        self.assertTrue(any(line.endswith(" for id=%s to=<s@src.test> delayed=1" % warned)
                            for line in self.daemon_.log_lines() if "report queued:" in line), self.daemon_.log_text())

    def test_ringpost_sendmail_asks_with_dash_n_and_dash_v(self):
        env = dict(os.environ, RINGPOST_SMTP="127.0.0.1:%d" % self.daemon_.port)
        result = subprocess.run([os.path.join(delivery.harness.BIN_DIR, "ringpost-sendmail"), "-f", "s@src.test",
                                 "-N", "success,failure", "-R", "hdrs", "-V", "batch 9", "z@plainhop.test"],
                                input=b"Subject: from a program\n\nhello\n", env=env, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        _, recipients = self.one_report("batch 9")  # the ENVID comes back decoded
        self.assertEqual([r["Action"] for r in recipients], ["relayed"])

    def test_malformed_parameters_get_501(self):
        with smtplib.SMTP("127.0.0.1", self.daemon_.port, timeout=30) as client:
            client.ehlo("client.test")
            code, text = client.mail("s@src.test", ["RET=EVERYTHING"])
            self.assertEqual((code, text), (501, b"5.5.4 Bad DSN parameter: RET is FULL or HDRS"))
            self.assertEqual(client.mail("s@src.test")[0], 250)
            code, text = client.rcpt("x@plainhop.test", ["NOTIFY=NEVER,SUCCESS"])
            self.assertEqual((code, text),
                             (501, b"5.5.4 Bad DSN parameter: NOTIFY is NEVER, or any of SUCCESS, FAILURE, DELAY"))


def main():
    delivery.run_tests(__doc__, "dsn_test", ("ringpost", "ringpost-sink", "ringpost-sendmail"))


if __name__ == "__main__":
    main()
