#!/usr/bin/env python3
"""The README's "Try it", command for command, in one real bash session.

The commands are read from README.md's "Try it" section (its ```sh blocks) and must be
exactly the ones this test knows, in order: a change to the README fails here until
the test checks what the new commands promise. They run in a fresh folder (so the
relative defaults, ./var/spool and the rest, start empty) with three mechanical
changes, so the test never takes a port or a path someone else may use: the ports
2525, 2526 and 9025 become free ones, /tmp/ becomes the test's folder, and
build/release/tools is a folder whose `ringpost` runs the built daemon with those
ports. A queue id the README writes as ID is the one swaks was given.

Usage: readme_test.py --bin_dir BUILD/tools [unittest arguments]
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delivery_test as delivery  # noqa: E402  (wait_for, free_port, the harness's BIN_DIR)

harness = delivery.harness
wait_for = delivery.wait_for
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def try_it_commands():
    """Every command line of the README's "Try it" section, in order."""
    with open(README) as f:
        text = f.read()
    section = text[text.index("\n## Try it\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def without_comment(command):
    return command.split("   # ")[0].rstrip()


class Shell:
    """One bash process that runs commands one at a time, as a person at a terminal
    does. Each command's stdout and stderr (and those of what it starts in the
    background, a daemon's log say) go to files of its own."""

    def __init__(self, cwd, env):
        self.cwd = cwd
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.count = 0

    def run(self, command, timeout=60):
        """(stdout file path, stderr file path, exit status) of one command line."""
        self.count += 1
        out = os.path.join(self.cwd, "..", "stdout-%d" % self.count)
        err = os.path.join(self.cwd, "..", "stderr-%d" % self.count)
        marker = "@@done-%d" % self.count
        # The closing brace on its own line: the README's comment ends at the newline.
        self.proc.stdin.write("{ %s\n} >%s 2>%s\necho \"%s $?\"\n" %
                              (command, shlex.quote(out), shlex.quote(err), marker))
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("bash ended during: " + command)
            if line.startswith(marker + " "):
                return out, err, int(line.split()[1])
        raise AssertionError("no end of: " + command)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


class TryItTest(unittest.TestCase):
    def setUp(self):
        self.dir_holder = tempfile.TemporaryDirectory(prefix="ringpost-readme-test-")
        self.dir = self.dir_holder.name
        self.smtp_port, self.hop_port, self.metrics_port = (delivery.free_port() for _ in range(3))
        tools = os.path.join(self.dir, "tools")
        os.mkdir(tools)
        with open(os.path.join(tools, "ringpost"), "w") as f:
            f.write("#!/bin/sh\nexec %s --listen=127.0.0.1:%d --metrics_listen=127.0.0.1:%d \"$@\"\n" %
                    (shlex.quote(os.path.join(harness.BIN_DIR, "ringpost")), self.smtp_port, self.metrics_port))
        os.chmod(os.path.join(tools, "ringpost"), 0o755)
        for tool in ("ringpost-queue", "ringpost-sink"):
            os.symlink(os.path.join(harness.BIN_DIR, tool), os.path.join(tools, tool))
        self.work = os.path.join(self.dir, "work")
        os.mkdir(self.work)
        self.tools = tools
        self.shell = Shell(self.work, dict(os.environ))
        self.queue_id = None
        self.daemon_log = None

    def tearDown(self):
        # Whatever a failed step left running (the commands' own kills ran otherwise).
        self.shell.run("kill $daemon $sink 2>/dev/null; wait")
        self.shell.close()
        self.dir_holder.cleanup()

    def adapted(self, command):
        command = command.replace("/tmp/", self.dir + "/tmp-")  # the README's, before paths of ours appear
        command = command.replace("2525", str(self.smtp_port)).replace("2526", str(self.hop_port))
        command = command.replace("9025", str(self.metrics_port)).replace("build/release/tools", self.tools)
        if self.queue_id is not None:
            command = re.sub(r"\bshow ID\b", "show " + self.queue_id, command)
        return command

    def run_step(self, command):
        out, err, status = self.shell.run(self.adapted(command))
        return read(out), read(err), status, err

    def eventually(self, command, check, what):
        """Runs a command that only looks until its output satisfies `check`."""
        def attempt():
            out, err, status, _ = self.run_step(command)
            return check(out, err, status)
        return wait_for(attempt, 30, what, lambda: "\n" + (read(self.daemon_log) if self.daemon_log else ""))

    def started(self, err_path):
        self.daemon_log = err_path
        return wait_for(lambda: re.search(r"ringpost \S+ started: .*", read(err_path)), 15, "the start line",
                        lambda: "\n" + read(err_path)).group(0)

    def assert_queued(self, out):
        match = re.search(r"250 2\.0\.0 Ok: queued as (\S+)", out)
        self.assertIsNotNone(match, out)
        return match.group(1)

    def test_try_it_command_for_command(self):
        steps = [
            "R=build/release/tools",
            "$R/ringpost --routes='*=127.0.0.1:2526' --retry_initial=10m & daemon=$!",
            "swaks --server 127.0.0.1 --port 2525 --to user@example.org",
            "$R/ringpost-queue list",
            "$R/ringpost-queue show ID",
            "$R/ringpost-sink --listen=127.0.0.1:2526 --record_dir=/tmp/sink & sink=$!",
            "$R/ringpost-queue flush --all",
            "$R/ringpost-queue list",
            "$R/ringpost-queue show ID",
            "tail -1 var/log/accounting.jsonl",
            "curl -s 127.0.0.1:9025/metrics | grep '^ringpost_recipients_delivered_total'",
            "kill $daemon; wait $daemon",
            "$R/ringpost --local_domains=example.net --create_maildirs & daemon=$!",
            "swaks --server 127.0.0.1 --port 2525 --to alice@example.net",
            "ls var/mail/example.net/alice/new/",
            "$R/ringpost --local_domains=example.net --create_maildirs --print_config > ringpost.flags",
            "kill $daemon; wait $daemon",
            "$R/ringpost --flagfile=ringpost.flags & daemon=$!",
            "kill $daemon $sink; wait $daemon",
        ]
        commands = try_it_commands()
        self.assertEqual([without_comment(c) for c in commands], steps)
        run = iter(commands)

        # The daemon starts with the relay route; its start line names the port and the
        # absolute paths of its relative defaults.
        self.shell.run(self.adapted(next(run)))
        out, err, status, err_path = self.run_step(next(run))
        start = self.started(err_path)
        self.assertIn(" listen=127.0.0.1:%d " % self.smtp_port, start)
        self.assertIn(" spool=%s/var/spool " % self.work, start)
        self.assertIn(" accounting_log=%s/var/log/accounting.jsonl " % self.work, start)
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual(status, 0, out)
        self.queue_id = self.assert_queued(out)
        qid = self.queue_id

        # The message waits: nothing answers on the next hop's port.
        refused = "connection to 127.0.0.1:%d failed: connect: Connection refused" % self.hop_port
        listing = self.eventually(next(run), lambda out, err, status: " deferred " in out and out, "a deferred job")
        lines = listing.splitlines()
        self.assertTrue(lines[1].startswith(qid + " deferred "), listing)
        self.assertRegex(lines[2], r"^ {16}\(%s; next attempt in \d+m\d+s\)$" % re.escape(refused))
        self.assertEqual(lines[3], "1 job")
        self.assertRegex(read(self.daemon_log), r"\] deferred id=%s from=<\S+> rcpt=<user@example\.org> host=none "
                         r"attempt=1 delay=\S+ status=4\.4\.1 reply=\"%s\" class=connection_failure "
                         r"next_attempt=\S+ \(in (9|10)m" %
                         (qid, re.escape(refused)))
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual(status, 0, err)
        self.assertIn("id: %s\n" % qid, out)
        self.assertRegex(out, r"\narrival: \S+ \(\d+s ago\)\n")
        self.assertRegex(out, r"\nfrom: <[^>]+@[^>]+>")
        self.assertRegex(out, r"\nto: <user@example\.org> deferred attempts=1 next=\S+Z\n")
        self.assertIn("\nlast reply (example.org): %s\n" % refused, out)

        # The next hop comes up; a flush retries now.
        sink_out, sink_err, status = self.shell.run(self.adapted(next(run)))
        wait_for(lambda: "listening 127.0.0.1:%d" % self.hop_port in read(sink_out), 15, "the sink's start",
                 lambda: read(sink_err))
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual((status, out), (0, "flushed 1 recipient in 1 job (a job: a message's recipients in one "
                                            "domain)\n"), err)
        # Delivered: finished mail leaves the queue; the accounting log and metrics keep it.
        listing = self.eventually(next(run), lambda out, err, status: out.endswith("\n0 jobs\n") and out,
                                  "an empty queue")
        self.assertEqual(len(listing.splitlines()), 2, listing)  # the header and the count
        self.assertRegex(read(self.daemon_log), r"\] delivered id=%s from=<\S+> rcpt=<user@example\.org> "
                         r"host=127\.0\.0\.1:%d attempt=2 delay=\S+ status=2\.0\.0 reply=\"250 " % (qid, self.hop_port))
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual((status, out, err), (1, "", "ringpost-queue: %s is not queued (finished mail leaves the "
                                                     "queue: see the accounting log)\n" % qid))
        out, err, status, _ = self.run_step(next(run))
        record = json.loads(out)
        self.assertEqual((record["type"], record["queue_id"], record["rcpt"], record["host"], record["code"]),
                         ("delivery", qid, "user@example.org", "127.0.0.1:%d" % self.hop_port, 250))
        self.eventually(next(run), lambda out, err, status: out == "ringpost_recipients_delivered_total 1\n",
                        "the delivered counter (at most a second old)")
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual(status, 0, "the daemon's exit status")
        self.assertRegex(read(self.daemon_log), r"\] ringpost stopped\n")

        # A second daemon for local mail, on the same spool and port.
        out, err, status, err_path = self.run_step(next(run))
        self.assertIn(" maildir_root=%s/var/mail" % self.work, self.started(err_path))
        out, err, status, _ = self.run_step(next(run))
        self.assert_queued(out)
        out = self.eventually(next(run), lambda out, err, status: status == 0 and out, "the Maildir file")
        self.assertEqual(len(out.split()), 1, out)
        delivered = read(os.path.join(self.work, "var/mail/example.net/alice/new", out.strip()))
        self.assertRegex(delivered, r"^Return-Path: <[^>]*>\nDelivered-To: alice@example\.net\n")

        # The configuration as a file, and the same daemon again from it.
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual((status, out, err), (0, "", ""))
        with open(os.path.join(self.work, "ringpost.flags")) as f:
            saved = [line.rstrip("\n") for line in f if not line.startswith("#")]
        self.assertIn("--create_maildirs=true", saved)
        self.assertIn("--local_domains=example.net", saved)
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual(status, 0, "the second daemon's exit status")
        out, err, status, err_path = self.run_step(next(run))
        self.started(err_path)
        flags_set = re.search(r"\] flags set: (.*)", read(err_path)).group(1).split()
        self.assertIn("--create_maildirs=true", flags_set)
        self.assertIn("--local_domains=example.net", flags_set)
        out, err, status, _ = self.run_step(next(run))
        self.assertEqual(status, 0, "the third daemon's exit status")
        self.assertRegex(read(self.daemon_log), r"\] ringpost stopped\n")


def main():
    delivery.run_tests(__doc__, "readme_test", ("ringpost", "ringpost-sink", "ringpost-queue"))


if __name__ == "__main__":
    main()
