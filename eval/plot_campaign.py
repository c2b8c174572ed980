"""Plot a training campaign's quality against CPU-hours (for the model cards).

    python -m eval.plot_campaign eval/campaign/speech_ladder.tsv [-o OUT.png]

The TSV has one row per measurement on the dev set: cumulative CPU-hours of training when the
model was exported, what that training was, the tier, its actual kbit/s, PESQ-WB and ViSQOL.
One line per tier shows how each tier's scores moved as the campaign went on.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tsv", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    a = ap.parse_args()
    series: dict[str, list[dict]] = defaultdict(list)
    with a.tsv.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            series[row["tier"]].append(row)
    # a metric no row has (PESQ-WB in a music campaign) gets no panel
    metrics = [(m, label) for m, label in (("pesq_wb", "PESQ-WB"), ("visqol", "ViSQOL"))
               if any(r[m] for rows in series.values() for r in rows)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4),
                             constrained_layout=True, squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics, strict=True):
        for tier, rows in series.items():
            ax.plot([float(r["cpu_hours"]) for r in rows], [float(r[metric]) for r in rows],
                    "o-", label=tier)
        ax.set_xlabel("cumulative training CPU-hours")
        ax.set_ylabel(f"{label} (held-out set)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{a.tsv.stem}: quality against training compute")
    out = a.out or a.tsv.with_suffix(".png")
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
