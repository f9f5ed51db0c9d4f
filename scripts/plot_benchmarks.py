#!/usr/bin/env python3
"""Plots block relay throughput against payload size from the bench's JSON.

    python3 scripts/plot_benchmarks.py target/bench/benchmarks.json docs/block_relay_throughput.png

Draws the engine, raw TCP and raw TCP with Bitcoin checksums (median with the range of
the repetitions), and the 70%-of-raw target. Needs matplotlib.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

MIB = 1024 * 1024


def series(rows, median_key, samples_key):
    medians = [row[median_key] for row in rows]
    lows = [m - min(row[samples_key]) for m, row in zip(medians, rows)]
    highs = [max(row[samples_key]) - m for m, row in zip(medians, rows)]
    return medians, [lows, highs]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, output = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        document = json.load(f)
    block = document["figures"]["block_relay"]
    rows = block["rows"]
    sizes = [row["payload_bytes"] / MIB for row in rows]

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    lines = [
        ("engine_mb_s", "engine_samples_mb_s", "p2pnet engine A→B", "tab:red", "o-"),
        ("raw_tcp_mb_s", "raw_tcp_samples_mb_s", "raw tokio TCP (baseline)", "tab:gray", "s-"),
        (
            "raw_tcp_with_checksums_mb_s",
            "raw_tcp_with_checksums_samples_mb_s",
            "raw TCP + SHA-256d frame checksums",
            "tab:blue",
            "^--",
        ),
    ]
    for key, samples, label, color, style in lines:
        medians, err = series(rows, key, samples)
        ax.errorbar(sizes, medians, yerr=err, fmt=style, color=color, label=label, capsize=3)
    ratio = rows[0]["target"]["target"] if rows else ""
    ax.plot(
        sizes,
        [0.7 * row["raw_tcp_mb_s"] for row in rows],
        ":",
        color="tab:green",
        label=f"target: {ratio}",
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} MiB"))
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("block payload")
    ax.set_ylabel("throughput, MB/s (10⁶ bytes/s, log scale)")
    machine = document.get("machine", {})
    ax.set_title(
        "Block relay over loopback: broadcast → inv → getdata → block → callback\n"
        f"median of {block['repetitions']} (bars: min–max), "
        f"{machine.get('cores', '?')} cores, {machine.get('cpu', '')}",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
