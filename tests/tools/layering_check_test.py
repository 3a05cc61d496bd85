#!/usr/bin/env python3
"""cmake/check_layering.py, the build step that holds every include to the library
graph: it passes a tree that follows the graph and fails, naming file, line and
library, one where a pure engine reaches a socket or the queue, or inbound reaches
outbound."""
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cmake", "check_layering.py")


class LayeringCheckTest(unittest.TestCase):
    def setUp(self):
        self.scratch = tempfile.TemporaryDirectory()
        self.addCleanup(self.scratch.cleanup)
        self.root = self.scratch.name
        # core (base), queue, net/smtp (pure), net/inbound, net/outbound.
        self.libraries = [
            ("ringpost_base", "core", ["log.cc"], [], [], False),
            ("ringpost_queue", "queue", ["log_writer.cc"], [], ["ringpost_base"], False),
            ("ringpost_smtp", "net/smtp", ["smtp_server.cc"], [], ["ringpost_base"], True),
            ("ringpost_outbound", "net/outbound", ["driver.cc"], [], ["ringpost_smtp", "ringpost_queue"], False),
            ("ringpost_inbound", "net/inbound", ["session.cc"], [], ["ringpost_smtp", "ringpost_queue"], False),
        ]
        for _, folder, sources, _, _, _ in self.libraries:
            os.makedirs(os.path.join(self.root, folder), exist_ok=True)
            for source in sources:
                stem = os.path.join(self.root, folder, source[:-3])
                self.write(stem + ".h", "#pragma once\n")
                self.write(stem + ".cc", '#include "%s/%s.h"\n' % (folder, source[:-3]))
        self.write("core/log.h", "#pragma once\n#include <unistd.h>\n")  # base is not pure
        self.write("net/inbound/session.cc", '#include "net/inbound/session.h"\n#include "net/smtp/smtp_server.h"\n'
                   '#include "queue/log_writer.h"\n#include "core/log.h"\n')

    def write(self, path, text):
        with open(os.path.join(self.root, path), "w") as f:
            f.write(text)

    def check(self):
        manifest = os.path.join(self.root, "manifest.tsv")
        with open(manifest, "w") as f:
            for name, folder, sources, headers, deps, pure in self.libraries:
                f.write("\t".join([name, folder, ",".join(sources), ",".join(headers), ",".join(deps),
                                   "1" if pure else "0"]) + "\n")
        result = subprocess.run([sys.executable, CHECKER, self.root, manifest], capture_output=True, text=True)
        return result.returncode, result.stderr

    def test_a_tree_that_follows_the_graph_passes(self):
        self.assertEqual(self.check(), (0, ""))

    def test_a_pure_engine_that_includes_a_socket_header_fails(self):
        self.write("net/smtp/smtp_server.cc", '#include "net/smtp/smtp_server.h"\n\n#include <sys/socket.h>\n')
        code, errors = self.check()
        self.assertEqual(code, 1)
        self.assertIn("net/smtp/smtp_server.cc:3: ringpost_smtp is pure but includes <sys/socket.h>", errors)

    def test_a_pure_engine_that_reads_the_clock_fails(self):
        self.write("net/smtp/smtp_server.h", '#pragma once\n#include "absl/time/clock.h"\n')
        code, errors = self.check()
        self.assertEqual(code, 1)
        self.assertIn('net/smtp/smtp_server.h:2: ringpost_smtp is pure but includes "absl/time/clock.h"', errors)

    def test_a_pure_engine_that_includes_the_queue_fails(self):
        self.write("net/smtp/smtp_server.h", '#pragma once\n#include "queue/log_writer.h"\n')
        code, errors = self.check()
        self.assertEqual(code, 1)
        self.assertIn("net/smtp/smtp_server.h:2: ringpost_smtp includes queue/log_writer.h (ringpost_queue), "
                      "which ringpost_smtp does not depend on", errors)

    def test_inbound_that_reaches_outbound_fails(self):
        self.write("net/inbound/session.h", '#pragma once\n#include "net/outbound/driver.h"\n')
        code, errors = self.check()
        self.assertEqual(code, 1)
        self.assertIn("ringpost_inbound includes net/outbound/driver.h (ringpost_outbound)", errors)

    def test_a_header_no_library_owns_fails(self):
        self.libraries.append(("ringpost_core", "core", ["ring.cc"], [], ["ringpost_base"], False))
        self.write("core/ring.cc", "")
        self.write("core/loose.h", "#pragma once\n")
        code, errors = self.check()
        self.assertEqual(code, 1)
        self.assertIn("core/loose.h belongs to none of ringpost_base, ringpost_core", errors)


if __name__ == "__main__":
    unittest.main()
