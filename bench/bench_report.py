"""The side-by-side benchmark's report: the markdown table and the PNG charts.

Pure functions over result rows (dicts), so the table and the charts are tested without
running a benchmark (tests/tools/bench_report_test.py). Charts are drawn by gnuplot
(Debian's gnuplot-nox, installed by tools/install_deps.sh).
"""

import os
import subprocess

COLUMNS = ["size", "conns", "spread", "system", "msgs/s", "p99 ms", "CPU s/1k msgs", "peak RSS MiB",
           "vs Postfix", "vs ceiling", "sync"]


def config_key(row):
    return (row["size"], row["conns"], row["spread"])


def with_ratios(rows):
    """Adds `vs_postfix` (messages/s over the Postfix relay's in the same configuration)
    and `vs_ceiling` (over blast → sink) to each row; None where there is no peer row."""
    by_config = {}
    for row in rows:
        by_config.setdefault(config_key(row), {})[row["system"]] = row
    out = []
    for row in rows:
        peers = by_config[config_key(row)]
        row = dict(row)
        postfix = peers.get("postfix relay")
        ceiling = peers.get("ceiling")
        row["vs_postfix"] = row["rate"] / postfix["rate"] if postfix and postfix["rate"] > 0 else None
        row["vs_ceiling"] = row["rate"] / ceiling["rate"] if ceiling and ceiling["rate"] > 0 else None
        out.append(row)
    return out


def _fmt(value, pattern):
    return "n/a" if value is None else pattern % value


def markdown_table(rows, context):
    """The table (a string): a header naming machine, kernel and commit, then one line per row."""
    lines = ["Machine %s, kernel %s, %s CPUs, commit %s, %s; MTA on CPU %s, load on CPU %s; %ss per run." % (
        context["machine"], context["kernel"], context["cpus"], context["commit"], context["date"],
        context["server_cpu"], context["load_cpu"], context["seconds"]), "",
        "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in with_ratios(rows):
        lines.append("| %s | %d | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |" % (
            row["size"], row["conns"], row["spread"], row["system"], row["rate"], _fmt(row.get("p99_ms"), "%.1f"),
            _fmt(row.get("cpu_per_1k"), "%.3f"), _fmt(row.get("rss_mib"), "%.0f"), _fmt(row["vs_postfix"], "%.2f"),
            _fmt(row["vs_ceiling"], "%.2f"), row["sync"]))
    return "\n".join(lines) + "\n"


def write_charts(rows, out_dir, stem, gnuplot="gnuplot"):
    """Two PNG bar charts (messages/s and CPU seconds per 1,000 messages, per configuration
    and system). Returns the paths written."""
    systems = []
    for row in rows:
        if row["system"] not in systems:
            systems.append(row["system"])
    configs = []
    for row in rows:
        if config_key(row) not in configs:
            configs.append(config_key(row))
    paths = []
    for metric, title, ylabel, log in (("rate", "messages per second", "messages/s", True),
                                       ("cpu_per_1k", "MTA CPU seconds per 1,000 messages", "CPU s", True)):
        # Systems with no value for this metric (the ceiling has no MTA CPU) are left out.
        shown = [s for s in systems if any(r["system"] == s and (r.get(metric) or 0) > 0 for r in rows)]
        if not shown:
            continue
        data_path = os.path.join(out_dir, "%s-%s.dat" % (stem, metric))
        with open(data_path, "w") as f:
            f.write("config " + " ".join('"%s"' % s for s in shown) + "\n")
            for config in configs:
                values = []
                for system in shown:
                    match = [r for r in rows if config_key(r) == config and r["system"] == system]
                    value = match[0].get(metric) if match else None
                    values.append("NaN" if value is None or value <= 0 else "%g" % value)
                f.write('"%s/%d/%s" %s\n' % (config[0], config[1], config[2], " ".join(values)))
        png = os.path.join(out_dir, "%s-%s.png" % (stem, metric))
        script = "\n".join([
            "set terminal pngcairo size 1200,600 font ',10'",
            "set output '%s'" % png,
            "set title '%s'" % title,
            "set ylabel '%s'" % ylabel,
            "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.8",
            "set key top left", "set xtics rotate by -30", "set grid ytics",
            "set logscale y" if log else "",
            "plot " + ", ".join("'%s' using %d:xtic(1) title columnheader(%d)" % (data_path, i + 2, i + 2)
                                for i in range(len(shown))),
        ])
        done = subprocess.run([gnuplot], input=script, text=True, capture_output=True, timeout=60)
        os.unlink(data_path)
        if done.returncode != 0:
            raise RuntimeError("gnuplot failed: %s" % done.stderr[-2000:])
        paths.append(png)
    return paths
