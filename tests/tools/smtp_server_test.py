#!/usr/bin/env python3
"""The ringpost ESMTP server from the outside: real clients against the real daemon.

Every test starts its own daemon (two shards, a fresh temporary spool, a kernel-chosen
port on 127.0.0.1), talks SMTP to it, and usually ends with SIGKILL followed by
`ringpost-queue` reading the spool: a "250 ... queued as ID" is only worth something if
the message is on disk when the process dies without warning (RFC 5321 §6.1).

Most tests use RawSmtp (below) rather than smtplib, so that they see the exact reply
codes and can send things a polite client never would. On failure, every assertion
prints the transcripts of the connections involved and the tail of the daemon's log.

Usage: smtp_server_test.py --bin_dir BUILD/tools [unittest arguments, e.g. -v or a test name]
"""

import argparse
import json
import os
import re
import selectors
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accounting_schema  # noqa: E402  (docs/accounting.schema.json)

BIN_DIR = None  # set from --bin_dir in main()

HOSTNAME = "mx.test"
CRLF = b"\r\n"
# A queue id as the daemon prints it (15 characters, e.g. 3B2KR300000029N).
QUEUE_ID = rb"[0-9A-Za-z]{15}"
QUEUED_RE = re.compile(rb"^250 2\.0\.0 Ok: queued as (" + QUEUE_ID + rb")$")
# RFC 5322 §3.3 date-time, as the daemon writes it (always UTC).
DATE_RE = rb"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000"


def received_header_re(helo, queue_id, recipient=None, protocol="ESMTP"):
    """The Received: header (RFC 5321 §4.4) the daemon prepends to every stored message."""
    pattern = (rb"Received: from " + re.escape(helo.encode()) + rb" \(\[127\.0\.0\.1\]\)\r\n"
               rb"\tby " + re.escape(HOSTNAME.encode()) + rb" \(ringpost\) with " + protocol.encode() +
               rb" id " + re.escape(queue_id.encode()))
    if recipient is not None:
        pattern += rb"\r\n\tfor <" + re.escape(recipient.encode()) + rb">"
    return re.compile(pattern + rb"; " + DATE_RE + rb"\r\n")


def dot_stuff(body):
    """RFC 5321 §4.5.2: the client doubles a leading dot on every line of the data."""
    return re.sub(rb"(?m)^\.", b"..", body)


def show(data, limit=200):
    """Printable form of wire bytes for transcripts: the middle of a long run is elided."""
    if len(data) > limit:
        return "%r ...(%d bytes in all)... %r" % (data[:60], len(data), data[-30:])
    return repr(data)


class Reply:
    """One complete SMTP reply (RFC 5321 §4.2): one or more lines with the same code."""

    def __init__(self, lines):
        self.lines = lines  # str, without CRLF
        self.code = int(lines[-1][:3])
        match = re.match(r"\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b", lines[-1])
        self.enhanced = match.group(1) if match else None  # RFC 2034 / RFC 3463
        self.text = "\n".join(lines)

    def queue_id(self):
        match = QUEUED_RE.match(self.lines[-1].encode())
        return match.group(1).decode() if match else None

    def __repr__(self):
        return "Reply(%r)" % self.text


class SmtpProtocolError(AssertionError):
    pass


class RawSmtp:
    """A minimal SMTP client over a socket, for exact codes and hostile input.

    Every byte in either direction goes into `transcript`; every read has a deadline.
    """

    REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")

    def __init__(self, port, name="client", timeout=10.0):
        self.name = name
        self.timeout = timeout
        self.transcript = []  # (direction, bytes): "C" client sent, "S" server sent, "*" event
        self.buffer = b""
        self.eof = False
        self.context = None  # set by SmtpTestCase: all transcripts and the daemon's log
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.note("connected from port %d" % self.sock.getsockname()[1])

    def error(self, problem):
        details = self.context() if self.context else "\n" + self.transcript_text()
        return SmtpProtocolError("%s: %s%s" % (self.name, problem, details))

    def note(self, event):
        self.transcript.append(("*", event.encode()))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes into the buffer; False at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self.error("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise self.error("timed out waiting for the server") from None
        except ConnectionResetError:
            self.note("connection reset by the server")
            data = b""
        if not data:
            if not self.eof:
                self.note("server closed the connection")
            self.eof = True
            return False
        self.transcript.append(("S", data))
        self.buffer += data
        return True

    def reply(self, timeout=None):
        """Reads one complete reply: "ddd-" lines continue it, a "ddd " line ends it."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        lines = []
        while True:
            while CRLF not in self.buffer:
                if self.eof or not self._fill(deadline):
                    raise self.error("connection closed in the middle of a reply")
            line, self.buffer = self.buffer.split(CRLF, 1)
            match = self.REPLY_LINE.match(line)
            if not match or (lines and match.group(1) != lines[0][:3].encode()):
                raise self.error("malformed reply line %r" % line)
            lines.append(line.decode("utf-8", "replace"))
            if match.group(2) == b" ":
                return Reply(lines)

    def command(self, line, timeout=None):
        """Sends one command line (CRLF added) and returns its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + CRLF)
        return self.reply(timeout)

    def replies_until_close(self, timeout=None):
        """All the replies the server still sends, up to its closing the connection."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        replies = []
        while True:
            if CRLF in self.buffer:
                replies.append(self.reply(max(0.001, deadline - time.monotonic())))
                continue
            if self.eof or not self._fill(deadline):
                if self.buffer:
                    raise self.error("%r left without CRLF at close" % self.buffer)
                return replies

    def silent_for(self, seconds):
        """True when the server sends nothing (and does not close) for `seconds`."""
        if self.buffer:
            return False
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        self.transcript.append(("S", data) if data else ("*", b"server closed the connection"))
        self.buffer += data
        self.eof = self.eof or not data
        return False

    def transcript_text(self):
        out = ["--- transcript of %s (in the order the test sent and read) ---" % self.name]
        for direction, data in self.transcript:
            if direction == "*":
                out.append("   [%s]" % data.decode())
                continue
            # One transcript line per protocol line (a huge chunk is elided in one piece).
            pieces = [data] if len(data) > 4000 else [p for p in re.split(rb"(?<=\n)", data) if p]
            out.extend("%s: %s" % (direction, show(piece)) for piece in pieces)
        return "\n".join(out)


VALIDATOR = accounting_schema.load_validator()


class Daemon:
    """One ringpost process on its own temporary spool, its stderr collected by a thread."""

    STARTED_RE = re.compile(r"ringpost \S+ started: .*\blisten=([0-9.]+):(\d+)\b")

    def __init__(self, **flags):
        self.spool_holder = tempfile.TemporaryDirectory(prefix="ringpost-smtp-test-")
        self.spool = self.spool_holder.name
        settings = {
            "listen": "127.0.0.1:0",
            "shards": "2",
            "spool_dir": self.spool,
            "hostname": HOSTNAME,
            "pin_threads": "false",
            "shutdown_grace": "5s",
            # The default (256 MiB of free space or 452 4.3.1) is for production; a test
            # should not fail because a build machine's disk is nearly full.
            "spool_reserve_bytes": "0",
            # Delivery's files stay in the test's folder (the defaults are relative to
            # the working directory).
            "accounting_log": os.path.join(self.spool, "accounting.jsonl"),
            # Accepted mail stays queued unless a test routes it: DNS goes to a port where
            # nothing answers (a temporary failure).
            "dns_servers": "127.0.0.1:9",
            "maildir_root": os.path.join(self.spool, "mail"),
            # Every daemon serves /metrics on a port of its own (the default 9025 is one
            # per machine).
            "metrics_listen": "127.0.0.1:0",
            # The admin API's socket, in the test's folder (the default is relative to
            # the working directory).
            "admin_socket": os.path.join(self.spool, "admin.sock"),
            # Tests compare what was stored or relayed with what they sent; loopback is a
            # relay network, so its mail would get Date: and Message-ID: added
            # (submission_test.py checks that default, passing None to drop a setting).
            "add_missing_headers": "false",
        }
        settings.update({name: str(value) for name, value in flags.items() if value is not None})
        for name in [name for name, value in flags.items() if value is None]:
            settings.pop(name, None)
        self.argv = [os.path.join(BIN_DIR, "ringpost")] + ["--%s=%s" % kv for kv in settings.items()]
        self.lines = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        # Drain stderr all the time: the daemon logs a line per message, and a full pipe
        # would block it.
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        self.port = self._wait_for_start(timeout=15)
        started = [line for line in self.lines if self.STARTED_RE.search(line)]
        metrics = re.search(r"\bmetrics=[0-9.]+:(\d+)\b", started[0]) if started else None
        self.metrics_port = int(metrics.group(1)) if metrics else None

    def _drain(self):
        for raw in self.proc.stderr:
            with self.changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("[stderr closed]")
            self.changed.notify_all()

    def _wait_for_start(self, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    match = self.STARTED_RE.search(line)
                    if match:
                        return int(match.group(2))
                if self.lines and self.lines[-1] == "[stderr closed]":
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.wait(remaining)
        self.kill()
        raise AssertionError("ringpost did not start: %s\n%s" % (" ".join(self.argv), self.log_text()))

    def log_text(self, last=60):
        with self.changed:
            lines = list(self.lines)
        head = "--- ringpost log (%d lines%s) ---" % (len(lines), ", last %d" % last if len(lines) > last else "")
        return "\n".join([head] + lines[-last:])

    def log_lines(self):
        with self.changed:
            return list(self.lines)

    def running(self):
        return self.proc.poll() is None

    def settled_rss_kib(self, timeout=5.0):
        """VmRSS once two readings 100 ms apart agree (the daemon has caught up)."""
        deadline = time.monotonic() + timeout
        last = self.rss_kib()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.rss_kib()
            if now == last:
                return now
            last = now
        return last

    def rss_kib(self):
        """The daemon's resident memory (VmRSS) in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

    def validate_accounting(self):
        """Every accounting line this daemon wrote matches docs/accounting.schema.json."""
        path = dict(arg[2:].split("=", 1) for arg in self.argv[1:]).get("accounting_log", "")
        for name in [path] + ["%s.%d" % (path, k) for k in range(1, 5)]:
            if name and os.path.exists(name):
                accounting_schema.validate_file(name, VALIDATOR)

    def kill(self):
        """SIGKILL: no chance to flush anything that was not already durable."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=5)

    def terminate(self, timeout=15):
        """SIGTERM (graceful stop); returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("ringpost ignored SIGTERM for %ds\n%s" % (timeout, self.log_text()))
        self.reader.join(timeout=5)
        return status

    def close(self):
        try:
            self.kill()
            self.validate_accounting()
        finally:
            self.proc.stderr.close()
            self.spool_holder.cleanup()

    # The spool, read with ringpost-queue (only once the daemon is gone: it takes the lock).

    def queue_tool(self, *args):
        self.assert_stopped()
        # This daemon's admin socket (gone with it): ringpost-queue asks a running daemon
        # first, and another test's daemon may be listening on the default one.
        settings = dict(arg[2:].split("=", 1) for arg in self.argv[1:])
        admin_socket = settings.get("admin_socket") or os.path.join(self.spool, "admin.sock")
        argv = [os.path.join(BIN_DIR, "ringpost-queue"), "--spool_dir=" + self.spool,
                "--admin_socket=" + admin_socket] + list(args)
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" %
                                 (" ".join(argv), result.returncode, show(result.stdout, 2000),
                                  result.stderr.decode("utf-8", "replace")))
        return result.stdout

    def assert_stopped(self):
        if self.proc.poll() is None:
            raise AssertionError("the daemon must be stopped before ringpost-queue runs")

    def queued(self):
        """`ringpost-queue --json list` as {queue id: {"shard": K, "bytes": N, "recipients": R}}
        (a message's jobs, one per destination domain, added up)."""
        out = self.queue_tool("--json", "list").decode()
        messages = {}
        for line in out.splitlines():
            job = json.loads(line)
            entry = messages.setdefault(job["queue_id"], {"shard": job["shard"], "bytes": job["size"],
                                                          "recipients": 0})
            entry["recipients"] += len(job["recipients"])
        text = self.queue_tool("list").decode().splitlines()
        if text[-1] != "%d job%s" % (len(out.splitlines()), "" if len(out.splitlines()) == 1 else "s"):
            raise AssertionError("`ringpost-queue list` counts disagree:\n" + "\n".join(text))
        return messages

    def stored(self, queue_id):
        """`ringpost-queue cat ID`: the stored message, Received: header included."""
        return self.queue_tool("cat", queue_id)


class SmtpTestCase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.clients = []
        self.daemons = []

    def start_daemon(self, **flags):
        daemon = Daemon(**flags)
        self.daemons.append(daemon)
        self.addCleanup(daemon.close)
        return daemon

    def connect(self, daemon, name=None, greet=True, timeout=10.0):
        client = RawSmtp(daemon.port, name or "client %d" % (len(self.clients) + 1), timeout)
        client.context = self.context
        self.clients.append(client)
        self.addCleanup(client.close)
        if greet:
            self.check(client.reply(), 220, text="220 %s ESMTP ringpost" % HOSTNAME)
        return client

    def context(self):
        """Everything that explains a failure: transcripts and the daemon's log."""
        parts = [c.transcript_text() for c in self.clients]
        parts += [d.log_text() for d in self.daemons]
        return "\n" + "\n".join(parts)

    def fail_with_context(self, message):
        self.fail(message + self.context())

    def check(self, reply, code, enhanced=None, text=None, contains=None):
        """Asserts a reply's code (and enhanced code, RFC 3463; exact or contained text)."""
        problems = []
        if reply.code != code:
            problems.append("code %d, want %d" % (reply.code, code))
        if enhanced is not None and reply.enhanced != enhanced:
            problems.append("enhanced code %s, want %s" % (reply.enhanced, enhanced))
        if text is not None and reply.text != text:
            problems.append("text %r, want %r" % (reply.text, text))
        if contains is not None and contains not in reply.text:
            problems.append("text %r does not contain %r" % (reply.text, contains))
        if problems:
            self.fail_with_context("unexpected reply %r: %s" % (reply.text, "; ".join(problems)))
        return reply

    def ehlo(self, client, helo="client.test"):
        reply = self.check(client.command("EHLO " + helo), 250)
        return [line[4:] for line in reply.lines[1:]]  # the extension keywords (RFC 5321 §4.1.1.1)

    def transaction(self, client, sender, recipients, body):
        """MAIL, RCPT..., DATA, body (stuffed here), "." — returns the queue id."""
        self.check(client.command("MAIL FROM:<%s>" % sender), 250, "2.1.0")
        for recipient in recipients:
            self.check(client.command("RCPT TO:<%s>" % recipient), 250, "2.1.5")
        self.check(client.command("DATA"), 354)
        client.send(dot_stuff(body) + b".\r\n")
        reply = self.check(client.reply(), 250, "2.0.0")
        queue_id = reply.queue_id()
        if queue_id is None:
            self.fail_with_context("no queue id in %r" % reply.text)
        return queue_id

    def assert_stored(self, daemon, queue_id, helo, body, recipient=None):
        """The spool holds exactly the Received: header and then `body`, byte for byte."""
        stored = daemon.stored(queue_id)
        match = received_header_re(helo, queue_id, recipient).match(stored)
        if not match:
            self.fail_with_context("stored message %s does not start with the expected Received: header:\n%s"
                                   % (queue_id, show(stored, 1000)))
        self.assertEqual(stored[match.end():], body,
                         "stored body of %s differs from what the client sent%s" % (queue_id, self.context()))

    def assert_queue(self, daemon, queue_ids):
        """After a stop: the spool holds exactly these messages."""
        queued = daemon.queued()
        if set(queued) != set(queue_ids):
            self.fail_with_context("spool holds %s, replies said %s" % (sorted(queued), sorted(queue_ids)))
        return queued


class SessionTest(SmtpTestCase):
    """Well-behaved clients: the RFC example, smtplib and swaks."""

    def test_rfc5321_d1_session_is_durable(self):
        # RFC 5321 Appendix D.1 ("A Typical SMTP Transaction Scenario"), over a raw socket.
        # D.1 has three RCPTs, and foo.com refuses Green with 550. Here the client is on
        # loopback, inside the default --relay_networks, so every RCPT is accepted, and the
        # codes are: 220, 250 (EHLO, one multi-line reply), 250 (MAIL), 250 x3 (RCPT),
        # 354 (DATA), 250 (end of data), 221 (QUIT).
        daemon = self.start_daemon()
        client = self.connect(daemon, greet=False)
        greeting = self.check(client.reply(), 220, text="220 %s ESMTP ringpost" % HOSTNAME)
        codes = [greeting.code]
        ehlo = client.command("EHLO bar.com")
        codes.append(ehlo.code)
        # RFC 5321 §4.1.1.1: the first line names the server; then the extensions.
        self.assertEqual(ehlo.lines[0], "250-" + HOSTNAME, self.context())
        keywords = {line[4:].split(" ")[0] for line in ehlo.lines[1:]}
        for extension in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"):
            self.assertIn(extension, keywords, "EHLO does not advertise %s%s" % (extension, self.context()))
        self.assertIn("250-SIZE 52428800", ehlo.lines, self.context())
        for command in ("MAIL FROM:<Smith@bar.com>", "RCPT TO:<Jones@foo.com>", "RCPT TO:<Green@foo.com>",
                        "RCPT TO:<Brown@foo.com>", "DATA"):
            codes.append(client.command(command).code)
        # The message as the user wrote it. Lines starting with "." go out stuffed
        # (RFC 5321 §4.5.2) and must be stored unstuffed; "..." shows a run of dots, and
        # the lone "." line would end the data if the client did not stuff it.
        body = (b"From: Smith <Smith@bar.com>\r\n"
                b"Subject: D.1\r\n"
                b"\r\n"
                b"Blah blah blah...\r\n"
                b"...etc. etc. etc.\r\n"
                b".\r\n"
                b". \r\n"
                b"..two dots\r\n"
                b"end\r\n")
        wire = dot_stuff(body)
        self.assertIn(b"\r\n....etc.", wire)  # the test itself: a line starting with ".." is sent
        client.send(wire + b".\r\n")
        end_of_data = client.reply()
        codes.append(end_of_data.code)
        codes.append(client.command("QUIT").code)
        self.assertEqual(codes, [220, 250, 250, 250, 250, 250, 354, 250, 221],
                         "RFC 5321 D.1 reply codes" + self.context())
        queue_id = end_of_data.queue_id()
        self.assertIsNotNone(queue_id, "no queue id in %r%s" % (end_of_data.text, self.context()))
        self.assertEqual(client.replies_until_close(), [], "the server must close after 221" + self.context())
        # SIGKILL, not SIGTERM: the 250 must have meant "on disk" already.
        daemon.kill()
        queued = self.assert_queue(daemon, [queue_id])
        self.assertEqual(queued[queue_id]["recipients"], 3, self.context())
        self.assert_stored(daemon, queue_id, "bar.com", body)  # three recipients: no "for" clause
        show_out = daemon.queue_tool("show", queue_id).decode()
        for expected in ("from: <Smith@bar.com>", "to: <Jones@foo.com>", "to: <Green@foo.com>",
                         "to: <Brown@foo.com>", "helo: bar.com", "client: 127.0.0.1"):
            self.assertIn(expected, show_out, "ringpost-queue show %s:\n%s" % (queue_id, show_out))

    def test_smtplib_two_messages_on_one_connection_and_swaks(self):
        daemon = self.start_daemon()

        class RecordingSmtp(smtplib.SMTP):
            """smtplib.SMTP.sendmail drops the reply to the data; keep it."""
            data_replies = []

            def data(self, msg):
                code, text = super().data(msg)
                self.data_replies.append((code, text))
                return code, text

        first = (b"From: b@example.net\r\nTo: a@example.org\r\nSubject: one\r\n\r\n"
                 b"first message\r\n.leading dot (smtplib stuffs it, the server unstuffs it)\r\n")
        second = b"From: b@example.net\r\nSubject: two\r\n\r\nsecond message\r\n"
        with RecordingSmtp("127.0.0.1", daemon.port, local_hostname="smtplib.test", timeout=10) as smtp:
            refused = smtp.sendmail("b@example.net", ["a@example.org"], first)
            self.assertEqual(refused, {})
            refused = smtp.sendmail("b@example.net", ["c@example.org", "d@example.com"], second)
            self.assertEqual(refused, {})
            # smtplib declared SIZE= on MAIL (RFC 1870) since the server advertises it.
            self.assertTrue(smtp.has_extn("size"))
        ids = []
        for code, text in RecordingSmtp.data_replies:
            match = QUEUED_RE.match(b"%d " % code + text)
            self.assertIsNotNone(match, "reply to the data: %d %r%s" % (code, text, self.context()))
            ids.append(match.group(1).decode())
        self.assertEqual(len(ids), 2)
        self.assertNotEqual(ids[0], ids[1], "two messages got one queue id" + self.context())

        # swaks, with PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write.
        swaks = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % daemon.port, "--to", "a@example.org", "--from",
             "b@example.net", "--pipeline", "--timeout", "10"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        output = swaks.stdout.decode("utf-8", "replace") + swaks.stderr.decode("utf-8", "replace")
        self.assertEqual(swaks.returncode, 0, "swaks failed:\n%s%s" % (output, self.context()))
        match = re.search(r"<-  250 2\.0\.0 Ok: queued as (\S+)", output)
        self.assertIsNotNone(match, "swaks output has no 'queued as':\n%s%s" % (output, self.context()))
        ids.append(match.group(1))

        daemon.kill()
        queued = self.assert_queue(daemon, ids)
        self.assertEqual([queued[i]["recipients"] for i in ids], [1, 2, 1])
        self.assert_stored(daemon, ids[0], "smtplib.test", first, recipient="a@example.org")
        self.assert_stored(daemon, ids[1], "smtplib.test", second)


class LoadTest(SmtpTestCase):
    """Many clients at once."""

    CLIENTS = 1000

    class Client:
        """One non-blocking SMTP client, stepped by LoadTest's selector loop."""

        def __init__(self, index, port):
            self.index = index
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            status = self.sock.connect_ex(("127.0.0.1", port))
            self.error = None if status in (0, 115) else "connect: %s" % os.strerror(status)  # EINPROGRESS
            body = b"Subject: load %d\r\n\r\nmessage %d\r\n" % (index, index)
            # (what to send, the reply code that must answer it); the first is the greeting.
            self.script = [
                (None, 220),
                (b"EHLO load%d.test\r\n" % index, 250),
                (b"MAIL FROM:<sender%d@load.test>\r\n" % index, 250),
                (b"RCPT TO:<rcpt%d@example.org>\r\n" % index, 250),
                (b"DATA\r\n", 354),
                (body + b".\r\n", 250),
                (b"QUIT\r\n", 221),
            ]
            self.step = 0
            self.inbuf = b""
            self.outbuf = b""
            self.lines = []  # of the reply being read
            self.replies = []
            self.queue_id = None
            self.done = False

        def describe(self):
            return "client %d: step %d, error %s, replies %r, unparsed %r" % (
                self.index, self.step, self.error, self.replies, self.inbuf)

    def test_thousand_concurrent_clients(self):
        daemon = self.start_daemon(max_connections=5000, max_connections_per_ip=2000)
        selector = selectors.DefaultSelector()
        deadline = time.monotonic() + 60
        start = time.monotonic()
        clients = [self.Client(i, daemon.port) for i in range(self.CLIENTS)]
        self.addCleanup(lambda: [c.sock.close() for c in clients])
        for client in clients:
            selector.register(client.sock, selectors.EVENT_READ, client)
        greeted = 0
        released = False  # every client holds its session open until all are greeted
        active = [c for c in clients if c.error is None]

        def finish(client, error=None):
            client.error = error
            client.done = error is None
            try:
                selector.unregister(client.sock)
            except (KeyError, ValueError):
                pass
            client.sock.close()

        def queue_send(client, data):
            client.outbuf += data
            flush(client)

        def flush(client):
            try:
                sent = client.sock.send(client.outbuf)
            except BlockingIOError:
                sent = 0
            except OSError as e:
                return finish(client, "send: %s" % e)
            client.outbuf = client.outbuf[sent:]
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbuf else 0)
            selector.modify(client.sock, events, client)

        def on_reply(client, reply):
            nonlocal greeted
            client.replies.append(reply.text)
            want = client.script[client.step][1]
            if reply.code != want:
                return finish(client, "step %d: got %r, want %d" % (client.step, reply.text, want))
            if client.step == 5:
                client.queue_id = reply.queue_id()
            client.step += 1
            if client.step == len(client.script):
                return finish(client)
            if client.step == 1:
                greeted += 1  # and it waits for the others (EHLO goes at the release)
                return
            queue_send(client, client.script[client.step][0])

        while time.monotonic() < deadline:
            awaiting_greeting = sum(1 for c in active if c.step == 0 and c.error is None)
            if not released and awaiting_greeting == 0:
                # All sessions are open at once (the server holds them all): go.
                released = True
                all_greeted_after = time.monotonic() - start
                for client in active:
                    if not client.done and client.error is None and client.step == 1:
                        queue_send(client, client.script[1][0])
            if all(c.done or c.error is not None for c in clients):
                break
            for key, events in selector.select(timeout=0.5):
                client = key.data
                if client.error is not None or client.done:
                    continue
                if events & selectors.EVENT_WRITE:
                    flush(client)
                    if client.error is not None:
                        continue
                if not events & selectors.EVENT_READ:
                    continue
                try:
                    data = client.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    finish(client, "recv: %s" % e)
                    continue
                if not data:
                    finish(client, "server closed the connection")
                    continue
                client.inbuf += data
                while CRLF in client.inbuf and client.error is None and not client.done:
                    line, client.inbuf = client.inbuf.split(CRLF, 1)
                    if not re.match(rb"^\d{3}[ -]", line):
                        finish(client, "malformed reply line %r" % line)
                        break
                    client.lines.append(line.decode("utf-8", "replace"))
                    if line[3:4] == b" ":
                        reply, client.lines = Reply(client.lines), []
                        on_reply(client, reply)
        selector.close()
        elapsed = time.monotonic() - start

        failed = [c for c in clients if not c.done]
        if failed:
            self.fail_with_context("%d of %d clients did not complete in %.1fs (greeted: %d); first failures:\n%s"
                                   % (len(failed), self.CLIENTS, elapsed, greeted,
                                      "\n".join(c.describe() for c in failed[:10])))
        self.assertTrue(released)
        ids = [c.queue_id for c in clients]
        self.assertNotIn(None, ids)
        self.assertEqual(len(set(ids)), self.CLIENTS, "queue ids are not unique" + self.context())
        daemon.kill()
        queued = self.assert_queue(daemon, ids)
        self.assertEqual(len(queued), self.CLIENTS)
        # SO_REUSEPORT spreads 1000 connections over both shards (all on one: p = 2^-999).
        shards = {m["shard"] for m in queued.values()}
        self.assertEqual(shards, {0, 1}, "messages by shard: %s" % shards)
        print("\n  %d clients: all greeted after %.2fs, all queued after %.2fs" %
              (self.CLIENTS, all_greeted_after, elapsed), file=sys.stderr)


class HostileInputTest(SmtpTestCase):
    """Clients that try to confuse the server."""

    # SMTP smuggling (CVE-2023-51764 and friends): an end of data that some other MTA
    # might take for <CRLF>.<CRLF>. Only <CRLF>.<CRLF> ends the data (RFC 5321 §4.1.1.4),
    # so none of these may end the first message and start a second.
    SMUGGLING_VARIANTS = [
        ("LF.LF", b"\n.\n"),
        ("LF.CRLF", b"\n.\r\n"),
        ("CRLF.LF", b"\r\n.\n"),
        ("CR.CR", b"\r.\r"),
        ("CRLF NUL.CRLF", b"\r\n\x00.\r\n"),
    ]

    def test_smtp_smuggling(self):
        daemon = self.start_daemon()
        smuggled = (b"MAIL FROM:<evil@x.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
                    b"Subject: smuggled\r\n\r\nsecond\r\n.\r\n")
        queued_by_variant = {}
        for name, variant in self.SMUGGLING_VARIANTS:
            client = self.connect(daemon, name="smuggling " + name)
            self.ehlo(client)
            self.check(client.command("MAIL FROM:<sender@example.net>"), 250)
            self.check(client.command("RCPT TO:<victim@example.org>"), 250)
            self.check(client.command("DATA"), 354)
            # One write: the first message, the fake end, a whole second transaction, QUIT.
            client.send(b"Subject: a\r\n\r\nfirst" + variant + smuggled + b"QUIT\r\n")
            replies = client.replies_until_close()
            ids = [r.queue_id() for r in replies if r.queue_id()]
            if len(ids) > 1:
                self.fail_with_context("%s: %d messages queued from one DATA" % (name, len(ids)))
            # Nothing of the smuggled text may run as a command.
            for reply in replies:
                if reply.enhanced in ("2.1.0", "2.1.5") or reply.code == 354:
                    self.fail_with_context("%s: smuggled command answered: %r" % (name, reply.text))
            if not replies or replies[-1].code != 221:
                self.fail_with_context("%s: QUIT was not answered with 221" % name)
            queued_by_variant[name] = ids
        daemon.kill()
        all_ids = [i for ids in queued_by_variant.values() for i in ids]
        self.assert_queue(daemon, all_ids)
        for name, ids in queued_by_variant.items():
            for queue_id in ids:
                stored = daemon.stored(queue_id)
                headers, _, body = stored.partition(b"\r\n\r\n")
                if b"smuggled" in headers or not re.search(rb"\r\nSubject: a$", headers):
                    self.fail_with_context("%s: stored message %s has the wrong headers:\n%s"
                                           % (name, queue_id, show(stored, 2000)))
                # The fake transaction stays inside the first message's body.
                if b"MAIL FROM:<evil@x.org>" not in body or b"Subject: smuggled" not in body:
                    self.fail_with_context("%s: the smuggled text is not in the body of %s:\n%s"
                                           % (name, queue_id, show(stored, 2000)))

    def test_rfc5321_4_1_1_10_pipelined_commands_then_eof_are_all_answered(self):
        """A client that writes its last commands and QUIT and then shuts its sending side
        (EOF right behind the data) still reads every reply, QUIT's 221 last
        (RFC 5321 §4.1.1.10: 221, then the receiver closes)."""
        daemon = self.start_daemon()
        for round_ in range(20):  # the EOF may arrive in the same loop turn as the data
            client = self.connect(daemon, name="half-close %d" % round_)
            client.send(b"EHLO client.test\r\nNOOP\r\nRSET\r\nQUIT\r\n")
            client.sock.shutdown(socket.SHUT_WR)
            codes = [r.code for r in client.replies_until_close()]
            if codes != [250, 250, 250, 221]:
                self.fail_with_context("round %d: replies %r, not EHLO, NOOP, RSET, QUIT" % (round_, codes))
            client.close()

    def test_rfc5321_4_1_1_10_a_message_and_quit_then_eof_get_250_and_221(self):
        """The whole transaction, QUIT and EOF in one go: the 250 comes once the message is
        durable (after the EOF arrived), then the 221, and the message is queued."""
        daemon = self.start_daemon()
        client = self.connect(daemon, name="message then eof")
        client.send(b"EHLO client.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                    b"Subject: half-close\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        client.sock.shutdown(socket.SHUT_WR)
        replies = client.replies_until_close()
        codes = [r.code for r in replies]
        if codes != [250, 250, 250, 354, 250, 221]:
            self.fail_with_context("replies %r" % codes)
        queue_id = replies[4].queue_id()
        self.assertIsNotNone(queue_id)
        daemon.kill()
        self.assert_queue(daemon, [queue_id])

    def test_a_client_that_never_reads_its_replies_is_held_back(self):
        # RFC 2920 §3.1 lets a client pipeline, not make the server buffer without end:
        # up to 16 MB of HELP (each answered by ~80 bytes, never an error) from a client
        # that reads nothing. Unbounded, the daemon would hold ~200 MB of replies; held
        # back, it stops reading once the socket buffers and 64 KiB of its own are full.
        # (The bound leaves room for sanitizer allocators, which keep freed memory.)
        daemon = self.start_daemon()
        flood = self.connect(daemon, name="never reads")
        rss_before = daemon.rss_kib()
        flood.sock.setblocking(False)
        sent = 0
        deadline = time.time() + 3
        chunk = b"HELP\r\n" * 10000
        while sent < 16 * 1024 * 1024 and time.time() < deadline:
            try:
                sent += flood.sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)  # the server stopped reading: that is the point
        growth_kib = daemon.settled_rss_kib() - rss_before
        self.assertLess(growth_kib, 64 * 1024, "daemon grew %d KiB for %d bytes of unread pipelining%s"
                        % (growth_kib, sent, self.context()))
        self.assertLess(sent, 16 * 1024 * 1024, "the daemon read all 16 MB without its replies being read")
        normal = self.connect(daemon, name="normal client")
        self.ehlo(normal)
        self.check(normal.command("NOOP"), 250, "2.0.0")

    def test_long_command_line_does_not_disturb_others(self):
        # RFC 5321 §4.5.3.1.4/§4.5.3.1.5: a 100 KiB "command" gets 500 5.5.2 (limit: 2048),
        # once, and none of it runs as a command. Meanwhile another session goes on.
        daemon = self.start_daemon()
        flood = self.connect(daemon, name="100 KiB line")
        normal = self.connect(daemon, name="normal client")
        line = b"X" * (100 * 1024) + CRLF
        chunks = [line[i:i + 10 * 1024] for i in range(0, len(line), 10 * 1024)]
        steps = [
            (normal.command, "EHLO normal.test", 250),
            (normal.command, "MAIL FROM:<a@example.net>", 250),
            (normal.command, "RCPT TO:<b@example.org>", 250),
            (normal.command, "DATA", 354),
        ]
        flood_error = None
        for index, chunk in enumerate(chunks):
            try:
                flood.send(chunk)
            except OSError as e:  # the server may close on it (then the rest cannot go)
                flood_error = e
                flood.note("send failed: %s" % e)
                break
            if index < len(steps):
                method, argument, code = steps[index]
                self.check(method(argument), code)
            time.sleep(0.02)  # slowly: the server sees the line in many reads
        normal.send(b"Subject: meanwhile\r\n\r\nbody\r\n.\r\n")
        queue_id = self.check(normal.reply(), 250, "2.0.0").queue_id()
        self.check(normal.command("QUIT"), 221)

        first = self.check(flood.reply(), 500, "5.5.2")
        if flood_error is None and not flood.eof:
            # The session may go on: the next command is answered normally, and the 500
            # was the only reply to the whole line.
            try:
                flood.send(b"NOOP\r\n")
                follow = flood.reply()
            except (OSError, SmtpProtocolError):
                follow = None  # the server closed after the 500: also acceptable
            if follow is not None:
                self.check(follow, 250, "2.0.0")
        daemon.kill()
        self.assert_queue(daemon, [queue_id])


class ErrorReplyTest(SmtpTestCase):
    """Each refusal with its code (RFC 5321 §4.2.2, enhanced codes RFC 3463)."""

    def test_out_of_sequence_unknown_and_malformed_commands(self):
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("RCPT TO:<a@example.org>"), 503, "5.5.1")  # §4.1.4: needs MAIL
        self.check(client.command("DATA"), 503, "5.5.1")
        self.check(client.command("XYZZY frobnicate"), 500, "5.5.1")
        # RFC 5321 §2.3.8: CR and LF only as the CRLF pair; NUL never.
        self.check(client.command(b"NOOP\rX"), 501, "5.5.2")
        self.check(client.command(b"NOOP\x00"), 501, "5.5.2")
        self.check(client.command("NOOP"), 250, "2.0.0")  # the session goes on
        self.check(client.command("QUIT"), 221, "2.0.0")

    def test_too_many_recipients(self):
        daemon = self.start_daemon(max_recipients=2)
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<r1@example.org>"), 250)
        self.check(client.command("RCPT TO:<r2@example.org>"), 250)
        # RFC 5321 §4.5.3.1.10: 452 (temporary), the client sends the rest later.
        self.check(client.command("RCPT TO:<r3@example.org>"), 452, "4.5.3")
        self.check(client.command("DATA"), 354)
        client.send(b"Subject: two of three\r\n\r\nx\r\n.\r\n")
        queue_id = self.check(client.reply(), 250, "2.0.0").queue_id()
        daemon.kill()
        self.assertEqual(self.assert_queue(daemon, [queue_id])[queue_id]["recipients"], 2)

    def test_message_size_limit(self):
        daemon = self.start_daemon(max_message_size=1000)
        client = self.connect(daemon)
        self.assertIn("SIZE 1000", self.ehlo(client), "SIZE not advertised as 1000" + self.context())
        # RFC 1870 §6.1: a declared size over the limit is refused at MAIL...
        self.check(client.command("MAIL FROM:<a@example.net> SIZE=999999999"), 552, "5.3.4")
        # ... one within it is not ...
        self.check(client.command("MAIL FROM:<a@example.net> SIZE=500"), 250, "2.1.0")
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("DATA"), 354)
        # ... but the real size counts: 2000 bytes get 552 5.3.4, only after the dot.
        client.send(b"Subject: big\r\n\r\n" + b"y" * 78 + CRLF + (b"z" * 98 + CRLF) * 19)
        if not client.silent_for(0.3):
            self.fail_with_context("the server answered before the end of the data")
        client.send(b".\r\n")
        self.check(client.reply(), 552, "5.3.4")
        # The session goes on, and a message within the limit is accepted.
        queue_id = self.transaction(client, "a@example.net", ["b@example.org"], b"Subject: small\r\n\r\nok\r\n")
        self.check(client.command("QUIT"), 221)
        daemon.kill()
        self.assert_queue(daemon, [queue_id])  # the big one is not in the spool

    def test_relay_policy(self):
        # The client (127.0.0.1) is outside --relay_networks: only --relay_domains pass.
        daemon = self.start_daemon(relay_networks="10.0.0.0/8", relay_domains="gw.example")
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<rcpt@other.example>"), 554, "5.7.1",
                   text="554 5.7.1 <rcpt@other.example>: Relay access denied")
        self.check(client.command("RCPT TO:<rcpt@gw.example>"), 250, "2.1.5")
        self.check(client.command("DATA"), 354)
        client.send(b"Subject: gateway\r\n\r\nx\r\n.\r\n")
        queue_id = self.check(client.reply(), 250, "2.0.0").queue_id()
        daemon.kill()
        self.assertEqual(self.assert_queue(daemon, [queue_id])[queue_id]["recipients"], 1)
        self.assertTrue(any('refused RCPT client=127.0.0.1 reply="554 5.7.1' in line for line in daemon.log_lines()),
                        "the refusal is not logged" + self.context())

    def test_twenty_errors_close_the_session(self):
        daemon = self.start_daemon()
        client = self.connect(daemon)
        for i in range(1, 20):
            self.check(client.command("BOGUS%d" % i), 500, "5.5.1")
        # The 20th error is answered, then 421 4.7.0 and the server closes (RFC 5321 §3.8).
        self.check(client.command("BOGUS20"), 500, "5.5.1")
        replies = client.replies_until_close()
        if [(r.code, r.enhanced) for r in replies] != [(421, "4.7.0")]:
            self.fail_with_context("after the 20th error: %r, want one 421 4.7.0 and close" % replies)

    def test_talking_before_a_delayed_greeting(self):
        daemon = self.start_daemon(greeting_delay="1s")
        client = self.connect(daemon, greet=False)
        client.send(b"EHLO impatient.test\r\n")
        replies = client.replies_until_close(timeout=5)
        if [(r.code, r.enhanced) for r in replies] != [(554, "5.5.0")]:
            self.fail_with_context("talking first: %r, want only 554 5.5.0 and close" % replies)
        # A patient client gets the greeting after the delay (and the daemon is still up
        # after the first session's greeting timer fired: the wait below outlasts it).
        started = time.monotonic()
        patient = self.connect(daemon, name="patient client")
        waited = time.monotonic() - started
        self.assertGreaterEqual(waited, 0.9, "the greeting came after %.2fs, want 1s%s" % (waited, self.context()))
        self.ehlo(patient)
        self.check(patient.command("QUIT"), 221)
        self.assertTrue(daemon.running(), "the daemon died" + self.context())

    def test_connections_per_ip_limit(self):
        # Loopback is a relay network, exempt by default: take the exemption away.
        daemon = self.start_daemon(max_connections_per_ip=2, limit_exempt_networks="none")
        self.connect(daemon, name="first")
        second = self.connect(daemon, name="second")
        third = self.connect(daemon, name="third", greet=False)
        replies = third.replies_until_close()
        if [(r.code, r.enhanced) for r in replies] != [(421, "4.7.0")]:
            self.fail_with_context("third connection: %r, want only 421 4.7.0 and close" % replies)
        # A slot comes back when a session ends.
        self.check(second.command("QUIT"), 221)
        second.replies_until_close()
        deadline = time.monotonic() + 5
        while True:
            fourth = self.connect(daemon, name="fourth", greet=False)
            reply = fourth.reply()
            if reply.code == 220 or time.monotonic() > deadline:
                break
        self.check(reply, 220)

    def test_total_connection_limit(self):
        daemon = self.start_daemon(max_connections=2)
        self.connect(daemon, name="first")
        self.connect(daemon, name="second")
        third = self.connect(daemon, name="third", greet=False)
        replies = third.replies_until_close()
        if [(r.code, r.enhanced) for r in replies] != [(421, "4.7.0")]:
            self.fail_with_context("third connection: %r, want only 421 4.7.0 and close" % replies)

    def test_bare_lf_reject(self):
        daemon = self.start_daemon(bare_lf="reject")
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("DATA"), 354)
        client.send(b"Subject: bare\r\n\r\nline one\nline two\r\n.\r\n")
        self.check(client.reply(), 550, "5.5.2")
        # CRLF-clean mail still goes through.
        queue_id = self.transaction(client, "a@example.net", ["b@example.org"], b"Subject: clean\r\n\r\nok\r\n")
        self.check(client.command("QUIT"), 221)
        daemon.kill()
        self.assert_queue(daemon, [queue_id])

    def test_bare_lf_normalize(self):
        # The default: bare LF (and bare CR) become CRLF in the stored message.
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client, "norm.test")
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("DATA"), 354)
        client.send(b"Subject: bare\r\n\r\nline one\nline two\rline three\r\n.\r\n")
        queue_id = self.check(client.reply(), 250, "2.0.0").queue_id()
        daemon.kill()
        self.assert_stored(daemon, queue_id, "norm.test", b"Subject: bare\r\n\r\nline one\r\nline two\r\nline three\r\n",
                           recipient="b@example.org")

    def test_received_header_loop_limit(self):
        # RFC 5321 §6.3: too many Received: headers means a mail loop. 50 pass, 51 do not.
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client)

        def hops(n):
            return b"".join(b"Received: from hop%d.example by hop%d.example; Sun, 1 Nov 2026 00:00:00 +0000\r\n"
                            % (i, i + 1) for i in range(n))

        queue_id = self.transaction(client, "a@example.net", ["b@example.org"],
                                    hops(50) + b"Subject: fifty\r\n\r\nx\r\n")
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("DATA"), 354)
        client.send(hops(51) + b"Subject: fifty-one\r\n\r\nx\r\n.\r\n")
        self.check(client.reply(), 554, "5.4.6")
        self.check(client.command("QUIT"), 221)
        daemon.kill()
        self.assert_queue(daemon, [queue_id])

    def test_idle_timeout(self):
        daemon = self.start_daemon(smtp_idle_timeout="1s")
        client = self.connect(daemon)
        self.ehlo(client)
        started = time.monotonic()
        replies = client.replies_until_close(timeout=10)
        waited = time.monotonic() - started
        if [(r.code, r.enhanced) for r in replies] != [(421, "4.4.2")]:
            self.fail_with_context("idle session: %r, want only 421 4.4.2 and close" % replies)
        if not 0.8 <= waited <= 5:
            self.fail_with_context("the idle timeout (1s) came after %.2fs" % waited)

    def test_data_timeout(self):
        # Silence inside DATA: 421 4.4.2 after --smtp_data_timeout, and no message.
        daemon = self.start_daemon(smtp_data_timeout="1s")
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("DATA"), 354)
        client.send(b"Subject: never finished\r\n\r\nhalf a line")
        started = time.monotonic()
        replies = client.replies_until_close(timeout=10)
        waited = time.monotonic() - started
        if [(r.code, r.enhanced) for r in replies] != [(421, "4.4.2")]:
            self.fail_with_context("silent in DATA: %r, want only 421 4.4.2 and close" % replies)
        if not 0.8 <= waited <= 5:
            self.fail_with_context("the DATA timeout (1s) came after %.2fs" % waited)
        daemon.kill()
        self.assert_queue(daemon, [])

    def test_bdat(self):
        # RFC 3030 §2: BDAT chunks, pipelined (the chunk follows its command at once).
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client, "chunky.test")
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        client.send(b"BDAT 5\r\nhello" + b"BDAT 8 LAST\r\n world\r\n")
        self.check(client.reply(), 250, "2.0.0", text="250 2.0.0 5 octets received")
        queue_id = self.check(client.reply(), 250, "2.0.0").queue_id()
        self.assertIsNotNone(queue_id, self.context())
        self.check(client.command("QUIT"), 221)
        daemon.kill()
        self.assert_queue(daemon, [queue_id])
        # BDAT data is taken as is: no dot-unstuffing, nothing added.
        self.assert_stored(daemon, queue_id, "chunky.test", b"hello world\r\n", recipient="b@example.org")

    def test_rset_clears_the_transaction(self):
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client)
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)
        self.check(client.command("RCPT TO:<b@example.org>"), 250)
        self.check(client.command("RSET"), 250, "2.0.0")  # RFC 5321 §4.1.1.5
        self.check(client.command("DATA"), 503, "5.5.1")
        self.check(client.command("RCPT TO:<b@example.org>"), 503, "5.5.1")
        self.check(client.command("MAIL FROM:<a@example.net>"), 250)  # no "nested MAIL"
        self.check(client.command("QUIT"), 221)


class ShutdownTest(SmtpTestCase):

    def test_sigterm_closes_idle_sessions(self):
        daemon = self.start_daemon()
        client = self.connect(daemon)
        self.ehlo(client)
        status = daemon.terminate()
        replies = client.replies_until_close()
        # RFC 5321 §3.8: the server may close with 421 when it must shut down.
        if [r.code for r in replies] != [421]:
            self.fail_with_context("idle session at SIGTERM: %r, want one 421 and close" % replies)
        self.assertEqual(status, 0, "exit status after SIGTERM" + self.context())

    def test_sigterm_lets_a_transaction_finish(self):
        # A session inside DATA at SIGTERM may finish its message (within
        # --shutdown_grace): it gets the 250 and then 421.
        daemon = self.start_daemon()
        idle = self.connect(daemon, name="idle")
        busy = self.connect(daemon, name="busy")
        self.ehlo(busy, "busy.test")
        self.check(busy.command("MAIL FROM:<a@example.net>"), 250)
        self.check(busy.command("RCPT TO:<b@example.org>"), 250)
        self.check(busy.command("DATA"), 354)
        busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
        daemon.proc.send_signal(signal.SIGTERM)
        self.check(idle.reply(), 421)  # the stop has begun
        busy.send(b"second half\r\n.\r\n")
        queue_id = self.check(busy.reply(), 250, "2.0.0").queue_id()
        replies = busy.replies_until_close()
        if [r.code for r in replies] != [421]:
            self.fail_with_context("after the last message: %r, want one 421 and close" % replies)
        status = daemon.terminate()
        self.assertEqual(status, 0, self.context())
        self.assert_stored(daemon, queue_id, "busy.test", b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n",
                           recipient="b@example.org")


def main():
    global BIN_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release", "tools")
    parser.add_argument("--bin_dir", default=default_bin, help="directory with ringpost and ringpost-queue")
    args, rest = parser.parse_known_args()
    BIN_DIR = os.path.abspath(args.bin_dir)
    for tool in ("ringpost", "ringpost-queue"):
        if not os.access(os.path.join(BIN_DIR, tool), os.X_OK):
            sys.exit("smtp_server_test: no executable %s in %s (pass --bin_dir)" % (tool, BIN_DIR))
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
