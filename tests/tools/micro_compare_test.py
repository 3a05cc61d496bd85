#!/usr/bin/env python3
"""bench/micro.py compare: the table two saved runs make (synthetic runs, no benchmark)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import micro  # noqa: E402


def saved(commit, benchmarks):
    return {"context": {"commit": commit, "date": "2026-11-29T12:00:00+00:00"},
            "suites": {"dns_benchmark": {"benchmarks": benchmarks}}}


class CompareTest(unittest.TestCase):
    def test_rates_prefer_items_then_bytes_then_time(self):
        found = micro.rates(saved("a", [
            {"name": "BM_Items", "run_type": "iteration", "items_per_second": 2e6, "bytes_per_second": 1},
            {"name": "BM_Bytes", "run_type": "iteration", "bytes_per_second": 3e9},
            {"name": "BM_Time", "run_type": "iteration", "real_time": 250, "time_unit": "ns"},
            {"name": "BM_Mean", "run_type": "aggregate", "items_per_second": 1},
            {"name": "BM_Broken", "run_type": "iteration", "error_occurred": True},
        ]))
        self.assertEqual(found["dns_benchmark/BM_Items"], (2e6, "items/s"))
        self.assertEqual(found["dns_benchmark/BM_Bytes"], (3e9, "bytes/s"))
        self.assertEqual(found["dns_benchmark/BM_Time"], (4e6, "runs/s"))
        self.assertNotIn("dns_benchmark/BM_Mean", found)
        self.assertNotIn("dns_benchmark/BM_Broken", found)

    def test_table_marks_changes_past_the_threshold(self):
        old = saved("old1", [{"name": "BM_A", "items_per_second": 100.0}, {"name": "BM_B", "items_per_second": 100.0},
                             {"name": "BM_Gone", "items_per_second": 1.0}])
        new = saved("new2", [{"name": "BM_A", "items_per_second": 120.0}, {"name": "BM_B", "items_per_second": 98.0},
                             {"name": "BM_New", "items_per_second": 5.0}])
        lines = micro.compare_table(old, new, threshold=5)
        text = "\n".join(lines)
        self.assertIn("old: old1", lines[0])
        self.assertIn("| dns_benchmark/BM_A | items/s | 100.00 | 120.00 | +20.0% **faster** |", text)
        self.assertIn("| dns_benchmark/BM_B | items/s | 100.00 | 98.00 | -2.0% |", text)
        self.assertIn("BM_Gone | items/s | 1.00 | - | old only |", text)
        self.assertIn("BM_New | items/s | - | 5.00 | new only |", text)


if __name__ == "__main__":
    unittest.main()
