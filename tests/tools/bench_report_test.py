#!/usr/bin/env python3
"""bench/bench_report.py: the side-by-side table and the charts, from made-up rows."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import bench_report  # noqa: E402

CONTEXT = {"machine": "m", "kernel": "6.1", "cpus": 2, "commit": "abc1234", "date": "2026-11-29 12:00 UTC",
           "server_cpu": 0, "load_cpu": 1, "seconds": 5}


def row(system, rate, size="1k", conns=16, spread="uniform", cpu=None):
    return {"size": size, "conns": conns, "spread": spread, "system": system, "rate": rate, "p99_ms": 2.5,
            "cpu_per_1k": cpu, "rss_mib": 60.0, "sync": "none" if system == "ceiling" else "fsync"}


ROWS = [row("ceiling", 50000), row("ringpost accept", 20000, cpu=0.03), row("ringpost relay", 10000, cpu=0.06),
        row("postfix relay", 400, cpu=3.0),
        row("ceiling", 8000, size="100k"), row("ringpost relay", 1600, size="100k", cpu=0.4)]


class TableTest(unittest.TestCase):
    def test_ratios_are_per_configuration(self):
        rows = bench_report.with_ratios(ROWS)
        relay = [r for r in rows if r["system"] == "ringpost relay" and r["size"] == "1k"][0]
        self.assertAlmostEqual(relay["vs_postfix"], 25.0)
        self.assertAlmostEqual(relay["vs_ceiling"], 0.2)
        relay100k = [r for r in rows if r["system"] == "ringpost relay" and r["size"] == "100k"][0]
        self.assertIsNone(relay100k["vs_postfix"])  # no Postfix row in that configuration
        self.assertAlmostEqual(relay100k["vs_ceiling"], 0.2)

    def test_markdown_names_the_machine_and_formats_every_column(self):
        table = bench_report.markdown_table(ROWS, CONTEXT)
        lines = table.splitlines()
        self.assertIn("commit abc1234", lines[0])
        self.assertIn("kernel 6.1", lines[0])
        self.assertEqual(lines[2], "| " + " | ".join(bench_report.COLUMNS) + " |")
        self.assertIn("| 1k | 16 | uniform | ringpost relay | 10000 | 2.5 | 0.060 | 60 | 25.00 | 0.20 | fsync |", table)
        self.assertIn("| 1k | 16 | uniform | ceiling | 50000 | 2.5 | n/a | 60 | 125.00 | 1.00 | none |", table)
        self.assertEqual(len(lines), 4 + len(ROWS))


@unittest.skipUnless(shutil.which("gnuplot"), "gnuplot not installed")
class ChartTest(unittest.TestCase):
    def test_writes_two_png_charts(self):
        out = tempfile.mkdtemp(prefix="bench-report-test-")
        self.addCleanup(shutil.rmtree, out)
        paths = bench_report.write_charts(ROWS, out, "t")
        self.assertEqual([os.path.basename(p) for p in paths], ["t-rate.png", "t-cpu_per_1k.png"])
        for path in paths:
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertGreater(os.path.getsize(path), 1000)
        self.assertEqual(sorted(os.listdir(out)), ["t-cpu_per_1k.png", "t-rate.png"])  # no data files left


if __name__ == "__main__":
    unittest.main()
