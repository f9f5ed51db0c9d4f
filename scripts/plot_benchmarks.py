#!/usr/bin/env python3
"""Plots block relay throughput against payload size from the bench's JSON.

    python3 scripts/plot_benchmarks.py target/bench/benchmarks.json docs/block_relay_throughput.png

Draws the engine's two block figures (a block the node hands over, and a block relayed
on by a node that received it), the streaming-hash ceiling and raw TCP (median with the
range of the repetitions), btcd's peer package where it was measured, and the target
(0.85 × the ceiling). Needs matplotlib.
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
        ("relay_hop_mb_s", "relay_hop_samples_mb_s", "p2pnet relay hop (received block relayed on)", "tab:red", "o-"),
        ("engine_mb_s", "engine_samples_mb_s", "p2pnet broadcast (node's block, hashed first)", "tab:orange", "D-"),
        (
            "streaming_hash_ceiling_mb_s",
            "streaming_hash_ceiling_samples_mb_s",
            "ceiling: raw TCP, hashed as bytes arrive",
            "tab:blue",
            "^--",
        ),
        ("raw_tcp_mb_s", "raw_tcp_samples_mb_s", "raw tokio TCP", "tab:gray", "s-"),
    ]
    for key, samples, label, color, style in lines:
        medians, err = series(rows, key, samples)
        ax.errorbar(sizes, medians, yerr=err, fmt=style, color=color, label=label, capsize=3)
    btcd = block.get("btcd") or []
    if btcd:
        ax.plot(
            [row["btcd_block_bytes"] / MIB for row in btcd],
            [row["btcd_mb_s"] for row in btcd],
            "x:",
            color="tab:purple",
            label="btcd peer package (blocks ≤ 4,000,000 bytes)",
        )
    ratio = rows[0]["target"]["target"] if rows else ""
    ax.plot(
        sizes,
        [0.85 * row["streaming_hash_ceiling_mb_s"] for row in rows],
        ":",
        color="tab:green",
        label=f"target (relay hop): {ratio}",
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
