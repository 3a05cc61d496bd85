#!/usr/bin/env python3
"""Live queue control from the outside: the real daemon's admin API, used through
ringpost-queue and through raw HTTP on its Unix socket (and on a TCP port with a bearer
token).

Every test starts ringpost (two shards, a fresh spool) with static routes (--routes) to
next hops on 127.0.0.1: a ringpost-sink that records what it accepts, or a port where
nothing listens (every attempt is refused and the mail is deferred). The tests look at
the queue (summary, list, show, cat, suspensions), steer it (suspend, resume, flush,
hold, release, delete, bounce) and check what the next hops then receive, what the
accounting log records (receptions, outcomes, the operators' commands), that standing
orders survive SIGKILL, that hostile admin clients get HTTP errors without hurting the
daemon, and that ringpost-queue reads a stopped daemon's spool. Waits are on conditions
with deadlines; where a test shows that something does NOT happen it watches for a
short, bounded window.

Usage: admin_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import collections
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (Sink, wait_for, free_port, the daemon harness)
import smtp_server_test as harness  # noqa: E402

wait_for = delivery.wait_for
free_port = delivery.free_port

# How long a test watches for something that must not happen (an attempt to a suspended
# domain, delivery of a held or deleted message). Unhindered, such mail reaches the sink
# on 127.0.0.1 within milliseconds, and refused attempts come back every 1-2 s
# (retry_initial=1s, retry_max=2s): two seconds is more than one whole retry period.
QUIET_SECONDS = 2

QUEUE_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def not_queued(queue_id):
    """What the API and the tool say for an id the queue does not hold (finished mail leaves it)."""
    return queue_id + " is not queued (finished mail leaves the queue: see the accounting log)"


def message(subject, message_id, text="hello"):
    return ("From: a@src.example\r\nTo: someone@elsewhere.example\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n"
            % (subject, message_id, text)).encode()


def parse_http(data):
    """(status, {lower-case field: value}, body bytes) of one HTTP/1.1 response."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("not an HTTP response: %r" % data[:300])
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"^HTTP/1\.1 (\d{3}) ", lines[0])
    if not match:
        raise AssertionError("bad status line: %r" % lines[0])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(match.group(1)), fields, body


def exchange(sock, data, timeout=10):
    """Sends `data`, then reads until the server closes; the bytes it sent back."""
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # it answered and closed before reading everything (too large): read the answer
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    sock.close()
    return out


def http_request(method, target, body=None, fields=()):
    request = "%s %s HTTP/1.1\r\nHost: ringpost\r\nConnection: close\r\n" % (method, target)
    for field in fields:
        request += field + "\r\n"
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        request += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
    return request.encode() + b"\r\n" + payload


class AdminTestCase(delivery.DeliveryTestCase):
    maxDiff = 6000

    # --- the admin socket ---------------------------------------------------------

    @staticmethod
    def socket_path(daemon):
        return os.path.join(daemon.spool, "admin.sock")

    def unix_raw(self, path, data, timeout=10):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return exchange(sock, data, timeout)

    def http(self, daemon, method, target, body=None, fields=()):
        """One request on the daemon's admin socket: (status, fields, body)."""
        return parse_http(self.unix_raw(self.socket_path(daemon), http_request(method, target, body, fields)))

    def http_json(self, daemon, method, target, body=None, status=200):
        code, fields, payload = self.http(daemon, method, target, body)
        self.assertEqual(code, status, "%s %s answered %d: %r%s" % (method, target, code, payload, daemon.log_text()))
        self.assertEqual(fields["content-type"], "application/json")
        return json.loads(payload)

    # --- ringpost-queue -----------------------------------------------------------

    def tool(self, daemon, *args, status=0, socket_path=None, connect=()):
        """ringpost-queue on the daemon's admin socket (or `connect`, other endpoint flags);
        asserts its exit status."""
        argv = [os.path.join(harness.BIN_DIR, "ringpost-queue")]
        argv += list(connect) or ["--admin_socket=" + (socket_path or self.socket_path(daemon))]
        argv += list(args)
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if status is not None and result.returncode != status:
            self.fail("%s exited %d, want %d\nstdout: %s\nstderr: %s%s" %
                      (" ".join(argv), result.returncode, status, harness.show(result.stdout, 3000),
                       result.stderr.decode("utf-8", "replace"), daemon.log_text() if daemon else ""))
        return result

    def tool_json(self, daemon, *args, **kwargs):
        return json.loads(self.tool(daemon, "--json", *args, **kwargs).stdout)

    def tool_lines(self, daemon, *args, **kwargs):
        return [json.loads(line) for line in self.tool(daemon, "--json", *args, **kwargs).stdout.splitlines()]

    def refused(self, daemon, *args, status):
        """A ringpost-queue call that must fail: its one line on stderr (nothing on stdout)."""
        result = self.tool(daemon, *args, status=status)
        self.assertEqual(result.stdout, b"")
        err = result.stderr.decode()
        self.assertTrue(err.endswith("\n") and err.count("\n") == 1, "want one line on stderr, got %r" % err)
        return err[:-1]

    # --- mail ---------------------------------------------------------------------

    def submit(self, daemon, sender, recipients, body):
        """Sends one message; its queue id (from the 250 reply)."""
        with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
            client.ehlo("client.example")
            self.assertEqual(client.mail(sender)[0], 250)
            for rcpt in recipients:
                self.assertEqual(client.rcpt(rcpt)[0], 250)
            code, text = client.data(body)
            self.assertEqual(code, 250, text)
        match = re.search(rb"queued as (" + harness.QUEUE_ID + rb")", text)
        self.assertIsNotNone(match, text)
        return match.group(1).decode()

    def submit_deferred(self, daemon, domains, sends):
        """Submits `sends` ([(recipients, body)]) to `domains` behind a dead next hop so that
        every job is tried exactly once; their queue ids. A refused connection rests the
        whole domain (the breaker), so mail arriving after a first failure would wait
        untried: the domains are suspended while the mail comes, then resumed, and the
        first refused connection defers every job of its domain at once. The daemon needs
        retry_initial=1h: nothing moves afterwards."""
        for domain in domains:
            self.tool(daemon, "suspend", "--domain", domain)
        ids = [self.submit(daemon, "a@src.example", rcpts, body) for rcpts, body in sends]
        for domain in domains:
            self.tool(daemon, "resume", "--domain", domain)
        total = sum(len(rcpts) for rcpts, _ in sends)
        transients = self.wait_accounting(daemon, lambda e: e["type"] == "transient", total,
                                          "%d refused attempts" % total)
        self.assertEqual(sorted(e["rcpt"] for e in transients), sorted(r for rcpts, _ in sends for r in rcpts))
        return ids

    def records(self, daemon, kind):
        return self.accounting(daemon, types=(kind,))

    def delivered_ids(self, sink):
        """The queue ids of the messages a sink received (from their Received: headers)."""
        ids = []
        for _, body in sink.messages():
            match = re.search(rb"\(ringpost\) with \S+ id (" + harness.QUEUE_ID + rb")", body)
            ids.append(match.group(1).decode() if match else "?")
        return sorted(ids)

    def admin_records(self, daemon):
        """The admin records without their time (checked by the schema)."""
        out = []
        for record in self.records(daemon, "admin"):
            record = dict(record)
            self.assertRegex(record.pop("time"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            out.append(record)
        return out


class QueueViewTest(AdminTestCase):
    def test_summary_list_show_and_cat_describe_a_deferred_queue(self):
        """Two domains behind a dead next hop: the summary counts their recipients and
        deferrals, deepest first (not by name), over the CLI and over HTTP; list, show and
        cat see each message as stored."""
        dead = free_port()
        # Long retries: after the first (refused) attempt nothing moves, so the counts are exact.
        daemon = self.daemon(routes="dead.example=127.0.0.1:%d,aaa.example=127.0.0.1:%d" % (dead, dead),
                             retry_initial="1h", retry_max="2h")
        rcpts = ["r0@dead.example", "r1@dead.example", "r2@dead.example", "r0@aaa.example"]
        sent = {rcpt: message("view %s" % rcpt, "<view-%s>" % rcpt) for rcpt in rcpts}
        ids = dict(zip(rcpts, self.submit_deferred(daemon, ["dead.example", "aaa.example"],
                                                   [([rcpt], sent[rcpt]) for rcpt in rcpts])))
        refused_text = self.records(daemon, "transient")[0]["text"]
        self.assertEqual(refused_text, "connection to 127.0.0.1:%d failed: connect: Connection refused" % dead)

        summary = self.tool_json(daemon, "summary")
        self.assertRegex(summary["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        rows = summary["destinations"]
        self.assertEqual([row["domain"] for row in rows], ["dead.example", "aaa.example"])
        for count, row in zip((3, 1), rows):
            self.assertEqual({k: row[k] for k in ("recipients", "messages", "in_flight", "deferred", "held")},
                             {"recipients": count, "messages": count, "in_flight": 0, "deferred": count, "held": 0},
                             row["domain"])
            self.assertGreater(row["oldest_age_seconds"], 0)
            self.assertEqual(row["last_reply"], refused_text)
            self.assertNotIn("suspended_until", row)
        # Over HTTP; ?top=1 keeps the deepest only.
        top = self.http_json(daemon, "GET", "/v1/summary?top=1")
        self.assertEqual([(r["domain"], r["recipients"], r["deferred"]) for r in top["destinations"]],
                         [("dead.example", 3, 3)])
        text = self.tool(daemon, "summary").stdout.decode().splitlines()
        self.assertTrue(text[0].startswith("DOMAIN "), text)
        self.assertEqual([line.split()[:5] for line in text[1:]],
                         [["dead.example", "3", "0", "3", "0"], ["aaa.example", "1", "0", "1", "0"]])

        # list: every job, deferred; filtered by domain; the text form counts them.
        jobs = self.tool_lines(daemon, "list")
        self.assertEqual(sorted((j["queue_id"], j["domain"]) for j in jobs),
                         sorted((qid, rcpt.split("@")[1]) for rcpt, qid in ids.items()))
        for job in jobs:
            self.assertEqual((job["state"], job["from"], len(job["recipients"]), job["recipients"][0]["attempts"]),
                             ("deferred", "a@src.example", 1, 1))
        # The text form is mailq's: a header, each job with its last reply under it, the count.
        listing = self.tool(daemon, "list").stdout.decode().splitlines()
        self.assertEqual((len(listing), listing[-1]), (10, "4 jobs"), listing)
        for job_line, reason in zip(listing[1:-1:2], listing[2:-1:2]):
            self.assertEqual(job_line.split()[1], "deferred", job_line)
            self.assertRegex(reason, r"^ {16}\(%s; next attempt in \d+[mh]" % re.escape(refused_text), reason)
        code, fields, body = self.http(daemon, "GET", "/v1/messages?domain=aaa.example")
        self.assertEqual((code, fields["content-type"]), (200, "application/x-ndjson"))
        self.assertEqual([json.loads(line)["queue_id"] for line in body.splitlines()], [ids["r0@aaa.example"]])

        # show: the envelope and the recipient's state.
        qid = ids["r1@dead.example"]
        shown = self.tool_json(daemon, "show", qid)
        self.assertEqual((shown["queue_id"], shown["from"], shown["client"], shown["helo"], shown["protocol"]),
                         (qid, "a@src.example", "127.0.0.1", "client.example", "ESMTP"))
        self.assertEqual([(j["domain"], j["state"], [(r["address"], r["attempts"]) for r in j["recipients"]])
                          for j in shown["jobs"]],
                         [("dead.example", "deferred", [("r1@dead.example", 1)])])

        # cat: the stored message byte for byte (the Received: header first).
        stored = self.tool(daemon, "cat", qid).stdout
        self.assertTrue(stored.startswith(b"Received: from client.example"), stored[:100])
        self.assertTrue(stored.endswith(sent["r1@dead.example"]), stored)
        self.assertIn(b"\r\nSubject: view r1@dead.example\r\n", stored)
        self.assertEqual(shown["size"], len(stored))
        code, fields, body = self.http(daemon, "GET", "/v1/messages/%s/body" % qid)
        self.assertEqual((code, fields["content-type"], int(fields["content-length"]), body),
                         (200, "message/rfc822", len(stored), stored))


class SuspendTest(AdminTestCase):
    def test_a_suspended_domain_gets_no_attempt_until_resumed(self):
        """Suspended before the mail comes: a live next hop sees no connection at all; the
        suspension is listed with its reason; resume delivers everything; resuming again
        is 'not found'."""
        first = self.sink()
        port = first.port
        daemon = self.daemon(routes="paused.example=127.0.0.1:%d" % port)
        out = self.tool(daemon, "suspend", "--domain", "paused.example", "--reason", "maintenance window").stdout
        self.assertEqual(out, b"suspended paused.example until resumed\n")
        ids = sorted(self.submit(daemon, "a@src.example", ["r%d@paused.example" % i],
                                 message("paused %d" % i, "<paused-%d@src.example>" % i)) for i in range(2))
        # Nothing may happen: watch for a few retry periods (see QUIET_SECONDS).
        time.sleep(QUIET_SECONDS)
        self.assertEqual(first.messages(), [])
        self.assertEqual(self.accounting(daemon), [])  # not even a refused attempt
        self.assertEqual(self.tool_json(daemon, "suspensions"),
                         {"suspensions": [{"domain": "paused.example", "until": None,
                                           "reason": "maintenance window"}]})
        self.assertEqual(self.tool(daemon, "suspensions").stdout,
                         b"paused.example until resumed (maintenance window)\n")
        row = self.tool_json(daemon, "summary")["destinations"][0]
        self.assertEqual((row["domain"], row["recipients"], row["deferred"], row["suspended_until"],
                          row["suspension_reason"]), ("paused.example", 2, 0, None, "maintenance window"))
        self.assertEqual([j["state"] for j in self.tool_lines(daemon, "list")], ["due", "due"])
        counters = first.stop()
        self.assertEqual(counters["connections"], 0, counters)

        second = self.sink(port=port)
        self.assertEqual(self.tool(daemon, "resume", "--domain", "paused.example").stdout,
                         b"resumed paused.example\n")
        wait_for(lambda: self.delivered_ids(second) == ids, 15, "both messages delivered after resume",
                 lambda: "\n" + daemon.log_text())
        error = self.refused(daemon, "resume", "--domain", "paused.example", status=1)
        self.assertEqual(error, "ringpost-queue: paused.example is not suspended")
        self.assertEqual(self.http_json(daemon, "POST", "/v1/resume", {"domain": "paused.example"}, status=404),
                         {"error": "paused.example is not suspended"})
        self.assertEqual(self.tool(daemon, "suspensions").stdout, b"no suspended destinations\n")

    def test_a_suspension_survives_sigkill_and_still_holds_the_mail(self):
        """suspend --duration 1h is a standing order in the spool: after SIGKILL and a
        restart on the same spool (and the same, now stale, admin socket) it is listed
        with its reason and end, and the domain's mail waits until it is resumed."""
        state = tempfile.TemporaryDirectory(prefix="ringpost-admin-kill-")
        self.addCleanup(state.cleanup)
        sink = self.sink()
        flags = dict(spool_dir=os.path.join(state.name, "spool"), admin_socket=os.path.join(state.name, "admin.sock"),
                     routes="kept.example=127.0.0.1:%d" % sink.port)
        path = flags["admin_socket"]
        daemon = self.daemon(**flags)
        self.tool(daemon, "suspend", "--domain", "kept.example", "--duration", "1h", "--reason", "abuse desk",
                  socket_path=path)
        before = self.tool_json(daemon, "suspensions", socket_path=path)["suspensions"]
        self.assertEqual([(s["domain"], s["reason"]) for s in before], [("kept.example", "abuse desk")])
        until = before[0]["until"]
        self.assertRegex(until, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        qid = self.submit(daemon, "a@src.example", ["r@kept.example"], message("kept", "<kept@src.example>"))
        daemon.kill()
        self.assertTrue(os.path.exists(path), "SIGKILL leaves the socket behind")

        restarted = self.daemon(**flags)
        self.assertEqual(self.tool_json(restarted, "suspensions", socket_path=path),
                         {"suspensions": [{"domain": "kept.example", "until": until, "reason": "abuse desk"}]})
        # Nothing may happen: watch for a few retry periods (see QUIET_SECONDS).
        time.sleep(QUIET_SECONDS)
        self.assertEqual(sink.messages(), [])
        self.assertEqual(self.accounting(restarted), [])
        self.tool(restarted, "resume", "--domain", "kept.example", socket_path=path)
        wait_for(lambda: self.delivered_ids(sink) == [qid], 15, "the message delivered after resume",
                 lambda: "\n" + restarted.log_text())


class FlushTest(AdminTestCase):
    def test_flush_tries_at_once_what_would_wait_an_hour(self):
        port = free_port()
        daemon = self.daemon(routes="later.example=127.0.0.1:%d" % port, retry_initial="1h", retry_max="2h")
        qid = self.submit(daemon, "a@src.example", ["r@later.example"], message("later", "<later@src.example>"))
        first = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 1, "the refused first attempt")[0]
        self.assertEqual((first["queue_id"], first["attempt"]), (qid, 1))
        self.assertGreater(first["next_attempt"], time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1800)))
        sink = self.sink(port=port)
        error = self.refused(daemon, "flush", status=2)
        self.assertIn("flush needs a selector", error)
        started = time.monotonic()
        out = self.tool(daemon, "flush", "--domain", "later.example").stdout
        self.assertEqual(out, b"flushed 1 recipient in 1 job (a job: a message's recipients in one domain)\n")
        wait_for(lambda: self.delivered_ids(sink) == [qid], 10, "the flushed message delivered",
                 lambda: "\n" + daemon.log_text())
        self.assertLess(time.monotonic() - started, 10)
        delivered = self.wait_accounting(daemon, lambda e: e["type"] == "delivery", 1, "the delivery record")
        self.assertEqual((delivered[0]["queue_id"], delivered[0]["attempt"]), (qid, 2))
        self.assertEqual(self.tool_json(daemon, "flush", "--all"),
                         {"action": "flush", "jobs": 0, "recipients": 0})
        # The refused flush without a selector is not in the accounting log.
        self.assertEqual([(r["action"], r["selector"], r["jobs"], r["recipients"], r["client"])
                          for r in self.admin_records(daemon)],
                         [("flush", {"domain": "later.example"}, 1, 1, "unix"), ("flush", {"all": True}, 0, 0, "unix")])


class HoldTest(AdminTestCase):
    def test_a_held_message_stays_queued_until_released(self):
        """Held while its domain is suspended: resume delivers the other message, the held
        one stays (listed as held) until release."""
        sink = self.sink()
        daemon = self.daemon(routes="held.example=127.0.0.1:%d" % sink.port)
        self.tool(daemon, "suspend", "--domain", "held.example")
        held = self.submit(daemon, "a@src.example", ["h@held.example"], message("held", "<held@src.example>"))
        free = self.submit(daemon, "a@src.example", ["f@held.example"], message("free", "<free@src.example>"))
        out = self.tool(daemon, "hold", held).stdout
        self.assertEqual(out, b"held 1 recipient in 1 job (a job: a message's recipients in one domain)\n")
        self.tool(daemon, "resume", "--domain", "held.example")
        wait_for(lambda: self.delivered_ids(sink) == [free], 15, "the message not held delivered",
                 lambda: "\n" + daemon.log_text())
        # The held one must not follow: watch for a few retry periods (see QUIET_SECONDS).
        time.sleep(QUIET_SECONDS)
        self.assertEqual(self.delivered_ids(sink), [free])
        jobs = self.tool_lines(daemon, "list")
        self.assertEqual([(j["queue_id"], j["state"]) for j in jobs], [(held, "held")])
        row = self.tool_json(daemon, "summary")["destinations"]
        self.assertEqual([(r["domain"], r["recipients"], r["held"]) for r in row], [("held.example", 1, 1)])
        self.assertEqual(self.tool_json(daemon, "release", held), {"action": "release", "jobs": 1, "recipients": 1})
        wait_for(lambda: self.delivered_ids(sink) == sorted([free, held]), 15, "the released message delivered",
                 lambda: "\n" + daemon.log_text())
        self.assertEqual(self.tool_lines(daemon, "list"), [])
        actions = [(r["action"], r["selector"], r["jobs"], r["recipients"]) for r in self.admin_records(daemon)]
        self.assertEqual(actions, [("suspend", {"domain": "held.example"}, 0, 0),
                                   ("hold", {"queue_id": held}, 1, 1),
                                   ("resume", {"domain": "held.example"}, 0, 0),
                                   ("release", {"queue_id": held}, 1, 1)])


class DeleteAndBounceTest(AdminTestCase):
    def test_a_deleted_message_is_gone_for_good_even_after_a_restart(self):
        """delete: no DSN, not listed, and not brought back by recovery: after a restart
        with a live next hop only the other message arrives."""
        state = tempfile.TemporaryDirectory(prefix="ringpost-admin-delete-")
        self.addCleanup(state.cleanup)
        dead = free_port()
        sender_hop = self.sink()
        spool = os.path.join(state.name, "spool")
        daemon = self.daemon(spool_dir=spool,
                             routes="gone.example=127.0.0.1:%d,src.example=127.0.0.1:%d" % (dead, sender_hop.port))
        doomed = self.submit(daemon, "a@src.example", ["d@gone.example"], message("doomed", "<doomed@src.example>"))
        kept = self.submit(daemon, "a@src.example", ["k@gone.example"], message("kept", "<kept@src.example>"))
        self.assertEqual(self.tool_json(daemon, "delete", doomed), {"action": "delete", "jobs": 1, "recipients": 1})
        self.assertEqual([j["queue_id"] for j in self.tool_lines(daemon, "list")], [kept])
        self.assertEqual(self.refused(daemon, "show", doomed, status=1), "ringpost-queue: " + not_queued(doomed))
        self.assertEqual(daemon.terminate(), 0)
        # A delete writes no recipient outcome (refused attempts before it are transient).
        self.assertEqual([r["type"] for r in self.accounting(daemon) if r["queue_id"] == doomed and
                          r["type"] != "transient"], [])
        self.assertEqual([(r["action"], r["selector"], r["jobs"]) for r in self.admin_records(daemon)],
                         [("delete", {"queue_id": doomed}, 1)])

        live = self.sink()
        restarted = self.daemon(spool_dir=spool, routes="gone.example=127.0.0.1:%d,src.example=127.0.0.1:%d" %
                                (live.port, sender_hop.port))
        wait_for(lambda: self.delivered_ids(live) == [kept], 15, "the kept message after the restart",
                 lambda: "\n" + restarted.log_text())
        # The deleted one must not follow, nor a DSN: watch for a few retry periods.
        time.sleep(QUIET_SECONDS)
        self.assertEqual(self.delivered_ids(live), [kept])
        self.assertEqual(sender_hop.messages(), [])
        self.assertEqual(self.tool_lines(restarted, "list"), [])

    def test_bounce_returns_the_message_to_its_sender_with_the_reason(self):
        dead = free_port()
        sender_hop = self.sink()
        daemon = self.daemon(routes="stuck.example=127.0.0.1:%d,src.example=127.0.0.1:%d" % (dead, sender_hop.port),
                             retry_initial="1h", retry_max="2h")
        qid = self.submit(daemon, "a@src.example", ["x@stuck.example", "y@stuck.example"],
                          message("returned", "<returned@src.example>"))
        self.wait_accounting(daemon, lambda e: e["type"] == "transient", 2, "two refused attempts")
        out = self.tool(daemon, "bounce", qid, "--reason", "policy violation").stdout
        self.assertEqual(out, b"bounced 2 recipients in 1 job (a job: a message's recipients in one domain)\n")
        dsns = wait_for(lambda: sender_hop.messages(), 15, "the DSN at the sender's next hop",
                        lambda: "\n" + daemon.log_text())
        self.assertEqual(len(dsns), 1)
        envelope, body = dsns[0]
        self.assertEqual((envelope["mail_from"], envelope["rcpt_to"]), ("", ["a@src.example"]))
        self.assertIn(b"Subject: Undelivered Mail Returned to Sender\r\n", body)
        self.assertIn(b"X-Ringpost-Queue-ID: " + qid.encode() + b"\r\n", body)
        for rcpt in (b"x@stuck.example", b"y@stuck.example"):
            self.assertIn(b"<" + rcpt + b">: returned by the operator: policy violation\r\n", body)
            self.assertIn(b"Final-Recipient: rfc822; " + rcpt + b"\r\nAction: failed\r\nStatus: 5.0.0\r\n", body)
        self.assertIn(b"Subject: returned\r\n", body)  # the original's header section
        self.assertEqual(self.tool_lines(daemon, "list", "--domain", "stuck.example"), [])
        bounces = self.records(daemon, "bounce")
        self.assertEqual(sorted((b["rcpt"], b["queue_id"], b["status"], b["code"], b["text"], b["attempt"],
                                 b.get("by_operator")) for b in bounces),
                         [(r, qid, "5.0.0", 0, "returned by the operator: policy violation", 1, True)
                          for r in ("x@stuck.example", "y@stuck.example")])
        self.assertEqual([(r["action"], r["selector"], r["jobs"], r["recipients"], r["reason"], r["client"])
                          for r in self.admin_records(daemon)],
                         [("bounce", {"queue_id": qid}, 1, 2, "policy violation", "unix")])


class HostileClientTest(AdminTestCase):
    def test_unknown_ids_missing_selectors_and_bad_values_are_refused_by_name(self):
        dead = free_port()
        daemon = self.daemon(routes="bad.example=127.0.0.1:%d" % dead)
        qid = self.submit(daemon, "a@src.example", ["r@bad.example"], message("bad", "<bad@src.example>"))
        # A well-formed id that is not queued (another node's bits).
        last = QUEUE_ID_ALPHABET[(QUEUE_ID_ALPHABET.index(qid[-1]) + 1) % 32]
        unknown = qid[:-1] + last
        for target in ("/v1/messages/" + unknown, "/v1/messages/%s/body" % unknown):
            self.assertEqual(self.http_json(daemon, "GET", target, status=404),
                             {"error": not_queued(unknown)})
        self.assertEqual(self.http_json(daemon, "POST", "/v1/hold", {"queue_id": unknown}, status=404),
                         {"error": not_queued(unknown)})
        for verb in ("show", "cat", "delete"):
            self.assertEqual(self.refused(daemon, verb, unknown, status=1),
                             "ringpost-queue: " + not_queued(unknown), verb)
        self.assertEqual(self.http_json(daemon, "GET", "/v1/messages/NOT-AN-ID", status=400),
                         {"error": "not a queue id: 'NOT-AN-ID'"})

        for verb in ("hold", "release", "delete", "bounce", "flush"):
            error = self.http_json(daemon, "POST", "/v1/" + verb, {}, status=400)["error"]
            self.assertTrue(error.startswith(verb + " needs a selector"), error)
            self.assertTrue(self.refused(daemon, verb, status=2).startswith("ringpost-queue: %s needs a selector" %
                                                                            verb))
        self.assertEqual(self.http_json(daemon, "POST", "/v1/hold", {"domain": "bad domain"}, status=400),
                         {"error": "not a domain: 'bad domain'"})
        self.assertEqual(self.refused(daemon, "hold", "--domain", "bad domain", status=2),
                         "ringpost-queue: not a domain: 'bad domain'")
        self.assertEqual(self.http_json(daemon, "POST", "/v1/suspend",
                                        {"domain": "bad.example", "duration": "1 hour"}, status=400),
                         {"error": "not a duration: duration='1 hour' (like 30m, 4h, 2d)"})
        self.assertEqual(self.refused(daemon, "suspend", "--domain", "bad.example", "--duration", "1 hour", status=2),
                         "ringpost-queue: not a duration: duration='1 hour' (like 30m, 4h, 2d)")
        self.assertEqual(self.http_json(daemon, "GET", "/v1/messages?older_than=soon", status=400),
                         {"error": "not a duration: older_than='soon' (like 30m, 4h, 2d)"})
        self.assertEqual(self.http_json(daemon, "GET", "/v1/summary?top=0", status=400),
                         {"error": "not a count: top='0'"})
        self.assertEqual(self.http_json(daemon, "GET", "/v1/nothing-here", status=404),
                         {"error": "no such endpoint: /v1/nothing-here"})
        self.assertEqual(self.http_json(daemon, "GET", "/v1/hold", status=405), {"error": "/v1/hold takes POST"})
        self.assertEqual(self.http_json(daemon, "POST", "/v1/summary", {}, status=405),
                         {"error": "/v1/summary takes GET"})
        # Nothing of that touched the queue, and the accounting log has no admin record of
        # it (a command on an unknown id did nothing).
        self.assertEqual([(j["queue_id"], j["state"] == "held") for j in self.tool_lines(daemon, "list")],
                         [(qid, False)])
        self.assertEqual(self.admin_records(daemon), [])

    def test_oversized_and_garbage_requests_get_http_errors(self):
        daemon = self.daemon()
        path = self.socket_path(daemon)
        cases = [
            ("a head over 8 KiB", b"GET /v1/summary HTTP/1.1\r\nX-Filler: " + b"a" * 9000 + b"\r\n\r\n",
             431, "request line over 2 KiB or head over 8 KiB"),
            ("a request line over 2 KiB", b"GET /v1/summary?top=1&" + b"x" * 3000 + b" HTTP/1.1\r\n\r\n",
             431, "request line over 2 KiB or head over 8 KiB"),
            ("Content-Length 100000", b"POST /v1/hold HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
             413, "request body over 64 KiB"),
            ("garbage", b"\x16\x03\x01\x02\x00\xff\xfe garbage\r\n\r\n", 400, "not an HTTP/1.1 request"),
            ("a body that is not JSON", b"POST /v1/hold HTTP/1.1\r\nContent-Length: 5\r\n\r\n{{{{{",
             400, "bad JSON body at byte 1: expected a string"),
        ]
        for what, request, status, error in cases:
            code, fields, body = parse_http(self.unix_raw(path, request))
            self.assertEqual(code, status, "%s: %r" % (what, body))
            self.assertEqual((fields["content-type"], json.loads(body)), ("application/json", {"error": error}), what)
        self.assertTrue(daemon.running())
        self.assertEqual(self.tool_json(daemon, "summary")["destinations"], [])

    def test_beyond_64_admin_connections_get_503_and_smtp_goes_on(self):
        daemon = self.daemon()
        path = self.socket_path(daemon)
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])

        def connected():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            try:
                sock.connect(path)
            except BlockingIOError:  # the listen backlog (64) is full until the daemon accepts
                sock.close()
                return None
            return sock

        for i in range(70):
            idle.append(wait_for(connected, 10, "admin connection %d accepted" % (i + 1)))

        def answered():
            got = []
            for sock in idle:
                sock.setblocking(False)
                try:
                    data = sock.recv(4096, socket.MSG_PEEK)
                except BlockingIOError:
                    data = None
                if data:
                    got.append(data)
            return got

        replies = wait_for(lambda: len(answered()) >= 6 and answered(), 10, "the connections over the limit refused")
        # The other 64 wait silently for their request (up to the daemon's 10 s deadline).
        self.assertEqual(len(replies), 6, replies)
        for reply in replies:
            self.assertTrue(reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), reply)
        # The daemon still takes mail meanwhile.
        self.send(daemon, "a@src.example", ["r@busy.example"], message("busy", "<busy@src.example>"))
        # ringpost-queue, refused, says so. The daemon answers 503 at once and closes, maybe
        # before the tool has written its request, so that is tried 20 times (a few ms
        # each); checked last, so that the rest of the test runs whatever they show.
        argv = [os.path.join(harness.BIN_DIR, "ringpost-queue"), "--admin_socket=" + path, "summary"]
        refusals = [subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
                    for _ in range(20)]
        for sock in idle:
            sock.close()
        idle.clear()
        summary = wait_for(lambda: self.tool(daemon, "--json", "summary", status=None).returncode == 0 and
                           self.tool_json(daemon, "summary"), 10, "the admin socket answering again",
                           lambda: "\n" + daemon.log_text())
        self.assertEqual([(r["domain"], r["recipients"]) for r in summary["destinations"]], [("busy.example", 1)])
        # {(exit status, stdout, stderr): how many times}; a negative status is a signal.
        self.assertEqual(dict(collections.Counter((r.returncode, r.stdout, r.stderr) for r in refusals)),
                         {(1, b"", b"ringpost-queue: too many admin connections; try again\n"): 20})


class TcpAdminTest(AdminTestCase):
    def test_tcp_admin_needs_the_bearer_token(self):
        folder = tempfile.TemporaryDirectory(prefix="ringpost-admin-token-")
        self.addCleanup(folder.cleanup)
        token = "k7Qm2xZp9LwR4tVb8NcY3hJd6FsG5aEu"
        self.assertEqual(len(token), 32)
        token_file = os.path.join(folder.name, "token")
        wrong_file = os.path.join(folder.name, "wrong")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        wrong = token[:-1] + "X"
        with open(wrong_file, "w") as f:
            f.write(wrong + "\n")
        port = free_port()
        daemon = self.daemon(admin_listen="127.0.0.1:%d" % port, admin_token_file=token_file)
        started = [line for line in daemon.log_lines() if " started: " in line][0]
        self.assertIn(",127.0.0.1:%d " % port, started)

        def tcp(fields=(), method="GET", target="/v1/summary", body=None):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            return parse_http(exchange(sock, http_request(method, target, body, fields)))

        for what, fields in [("no token", ()), ("a wrong token", ("Authorization: Bearer " + wrong,)),
                             ("a short token", ("Authorization: Bearer " + token[:16],)),
                             ("not bearer", ("Authorization: Basic " + token,))]:
            code, head, body = tcp(fields)
            self.assertEqual(code, 401, what)
            self.assertEqual(head["www-authenticate"], 'Bearer realm="ringpost"', what)
            self.assertEqual(json.loads(body), {"error": "needs Authorization: Bearer <token> (--admin_token_file)"})
        code, _, body = tcp(("Authorization: Bearer " + token,))
        self.assertEqual((code, json.loads(body)["destinations"]), (200, []))

        over_tcp = ["--admin_listen=127.0.0.1:%d" % port, "--admin_token_file=" + token_file]
        summary = json.loads(self.tool(daemon, "--json", "summary", connect=over_tcp).stdout)
        self.assertEqual(summary["destinations"], [])
        self.tool(daemon, "suspend", "--domain", "tcp.example", connect=over_tcp)
        records = self.admin_records(daemon)
        self.assertEqual(len(records), 1)
        self.assertEqual((records[0]["action"], records[0]["selector"]), ("suspend", {"domain": "tcp.example"}))
        self.assertRegex(records[0]["client"], r"^127\.0\.0\.1:\d+$")
        # The Unix socket needs no token.
        self.assertEqual([s["domain"] for s in self.tool_json(daemon, "suspensions")["suspensions"]], ["tcp.example"])
        # A wrong token through ringpost-queue: exit 1 and the daemon's reason, in words
        # like every other refusal of the tool.
        result = self.tool(daemon, "summary", status=1,
                           connect=["--admin_listen=127.0.0.1:%d" % port, "--admin_token_file=" + wrong_file])
        self.assertEqual((result.stdout, result.stderr.decode()),
                         (b"", "ringpost-queue: needs Authorization: Bearer <token> (--admin_token_file)\n"))

    def test_admin_off_loopback_without_a_token_does_not_start(self):
        folder = tempfile.TemporaryDirectory(prefix="ringpost-admin-open-")
        self.addCleanup(folder.cleanup)
        port = free_port()
        sock_path = os.path.join(folder.name, "admin.sock")
        argv = [os.path.join(harness.BIN_DIR, "ringpost"), "--listen=127.0.0.1:0", "--spool_dir=" + folder.name,
                "--hostname=mx.test", "--metrics_listen=", "--accounting_log=", "--admin_socket=" + sock_path,
                "--admin_listen=0.0.0.0:%d" % port, "--spool_reserve_bytes=0"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("ringpost started with --admin_listen=0.0.0.0:%d and no --admin_token_file" % port)
        self.assertEqual(proc.returncode, 1, err)
        self.assertEqual(err.decode().strip(), "ringpost: --admin_listen: 0.0.0.0:%d is not a loopback address, "
                                               "so --admin_token_file is required" % port)
        self.assertFalse(os.path.exists(sock_path))


class AccountingTest(AdminTestCase):
    def test_receptions_and_operators_commands_are_in_the_accounting_log(self):
        """A reception record per accepted message (recipients, stored size, Message-ID);
        an admin record per command, with its selector, what it touched and "unix"."""
        dead = free_port()
        daemon = self.daemon(routes="one.example=127.0.0.1:%d,two.example=127.0.0.1:%d" % (dead, dead),
                             retry_initial="1h", retry_max="2h")
        sends = [(["a@one.example", "b@two.example", "c@one.example"], message("first", "<first.1234@src.example>")),
                 (["d@two.example"], message("second", "<second.1234@src.example>"))]
        first, second = [self.submit(daemon, "a@src.example", rcpts, body) for rcpts, body in sends]
        receptions = wait_for(lambda: len(self.records(daemon, "reception")) == 2 and self.records(daemon, "reception"),
                              10, "two reception records", lambda: "\n" + daemon.log_text())
        self.assertEqual([r["queue_id"] for r in receptions], [first, second])
        for record, (rcpts, body), name in zip(receptions, sends, ("first", "second")):
            self.assertEqual((record["from"], record["rcpts"], record["message_id"], record["client"],
                              record["helo"], record["protocol"], record["tls"]),
                             ("a@src.example", rcpts, "<%s.1234@src.example>" % name, "127.0.0.1",
                              "client.example", "ESMTP", "none"))
            # The size stored: the message as received with the Received: header in front.
            stored = self.tool(daemon, "cat", record["queue_id"]).stdout
            self.assertTrue(stored.endswith(body))
            self.assertEqual(record["size"], len(stored))
        # Jobs in an attempt count as touched too: these counts do not depend on timing.
        self.tool(daemon, "hold", "--domain", "two.example")
        self.tool(daemon, "release", "--domain", "two.example")
        self.tool(daemon, "suspend", "--domain", "one.example", "--duration", "30m", "--reason", "a test")
        self.tool(daemon, "resume", "--domain", "one.example")
        self.tool(daemon, "hold", first)
        records = self.admin_records(daemon)
        until = records[2].pop("until", "missing")
        self.assertRegex(until, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(records, [
            {"type": "admin", "action": "hold", "selector": {"domain": "two.example"}, "jobs": 2, "recipients": 2,
             "client": "unix"},
            {"type": "admin", "action": "release", "selector": {"domain": "two.example"}, "jobs": 2,
             "recipients": 2, "client": "unix"},
            {"type": "admin", "action": "suspend", "selector": {"domain": "one.example"}, "jobs": 0, "recipients": 0,
             "reason": "a test", "client": "unix"},
            {"type": "admin", "action": "resume", "selector": {"domain": "one.example"}, "jobs": 0, "recipients": 0,
             "client": "unix"},
            {"type": "admin", "action": "hold", "selector": {"queue_id": first}, "jobs": 2, "recipients": 3,
             "client": "unix"},
        ])


class OfflineTest(AdminTestCase):
    def test_a_stopped_daemons_spool_shows_what_the_live_daemon_showed(self):
        dead = free_port()
        daemon = self.daemon(routes="far.example=127.0.0.1:%d,near.example=127.0.0.1:%d" % (dead, dead),
                             retry_initial="1h", retry_max="2h")
        # The first message's refused attempt rests far.example (for an hour): the second
        # message's far.example job stays untried, its near.example one is refused.
        ids = [self.submit(daemon, "a@src.example", ["x@far.example", "y@far.example"],
                           message("offline 0", "<offline-0@src.example>"))]
        self.wait_accounting(daemon, lambda e: e["type"] == "transient", 2, "x and y refused")
        ids.append(self.submit(daemon, "a@src.example", ["z@far.example", "w@near.example"],
                               message("offline 1", "<offline-1@src.example>")))
        transients = self.wait_accounting(daemon, lambda e: e["type"] == "transient", 3, "w refused")
        self.assertEqual([e["rcpt"] for e in transients], ["x@far.example", "y@far.example", "w@near.example"])
        self.tool(daemon, "hold", ids[1])
        self.tool(daemon, "suspend", "--domain", "near.example", "--reason", "offline check")
        live_summary = self.tool_json(daemon, "summary")["destinations"]
        live_jobs = self.tool_lines(daemon, "list")
        live_suspensions = self.tool_json(daemon, "suspensions")
        live_show = self.tool_json(daemon, "show", ids[0])
        live_body = self.tool(daemon, "cat", ids[0]).stdout
        self.assertEqual(daemon.terminate(), 0)
        path = self.socket_path(daemon)
        self.assertFalse(os.path.exists(path), "a clean stop removes the admin socket")

        def offline(*args, status=0):
            return self.tool(None, "--spool_dir=" + daemon.spool, *args, socket_path=path, status=status)

        def comparable(rows, drop):
            return [{k: v for k, v in row.items() if k not in drop} for row in rows]

        summary = json.loads(offline("--json", "summary").stdout)["destinations"]
        self.assertEqual([(r["domain"], r["recipients"], r["messages"], r["deferred"], r["held"]) for r in summary],
                         [("far.example", 3, 2, 2, 1), ("near.example", 1, 1, 1, 1)])
        # Ages move on, and what the last attempt answered is only known to a running daemon.
        volatile = ("oldest_age_seconds", "age_seconds", "last_reply")
        self.assertEqual(comparable(summary, volatile), comparable(live_summary, volatile))
        jobs = [json.loads(line) for line in offline("--json", "list").stdout.splitlines()]
        self.assertEqual(sorted(comparable(jobs, volatile), key=json.dumps),
                         sorted(comparable(live_jobs, volatile), key=json.dumps))
        self.assertEqual(offline("list").stdout.decode().splitlines()[-1], "3 jobs")
        self.assertEqual(json.loads(offline("--json", "suspensions").stdout), live_suspensions)
        shown = json.loads(offline("--json", "show", ids[0]).stdout)
        self.assertEqual(comparable([shown], volatile + ("jobs",)), comparable([live_show], volatile + ("jobs",)))
        self.assertEqual(offline("cat", ids[0]).stdout, live_body)
        for args in (("hold", "--all"), ("resume", "--domain", "near.example"), ("flush", "--all")):
            result = offline(*args, status=1)
            self.assertEqual(result.stderr.decode(), "ringpost-queue: %s needs the running daemon (its admin socket "
                                                     "did not answer)\n" % args[0])
        result = offline("hold", "--domain", "bad domain", status=2)
        self.assertEqual(result.stderr.decode(), "ringpost-queue: not a domain: 'bad domain'\n")

    def test_right_after_sigkill_the_tool_reads_the_spool(self):
        # A daemon killed a moment ago can still take a connection on its admin socket:
        # its io_uring requests hold the listening socket until the kernel tears the ring
        # down, after the process is gone, and that resets what was queued. The tool asks
        # again rather than fail, and the spool is read once nothing answers. The window
        # is a few milliseconds, so several rounds.
        for round_ in range(40):
            daemon = self.daemon(retry_initial="1h", retry_max="2h")
            queue_id = self.submit(daemon, "a@src.example", ["x@far.example"],
                                   message("after kill %d" % round_, "<kill-%d@src.example>" % round_))
            daemon.kill()
            jobs = [json.loads(line) for line in self.tool(daemon, "--spool_dir=" + daemon.spool, "--json",
                                                           "list").stdout.splitlines()]
            self.assertEqual([(job["queue_id"], job["recipients"][0]["address"]) for job in jobs],
                             [(queue_id, "x@far.example")], "round %d" % round_)


def main():
    delivery.run_tests(__doc__, "admin_test", ("ringpost", "ringpost-sink", "ringpost-queue"))


if __name__ == "__main__":
    main()
