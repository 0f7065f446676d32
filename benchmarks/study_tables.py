"""The key tables of a study's write-up, printed from its report's CSV files.

Reads ``<experiment>/report/summary.csv`` and ``paired_tests.csv`` (written by ``gencal report``)
and prints Markdown tables: the main metrics per loss for a few calibrators (mean ± std over
seeds), the per-group accuracy and ECE (studies with class groups), the paired tests against the reference loss and the
study's comparisons with their Holm-adjusted p-values. Nothing is recomputed: the numbers are
the report's.

Usage:
    python benchmarks/study_tables.py docs/results/cpu_cifar10_jpeg_lt
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

MAIN = [
    ("accuracy", "acc %", 100),
    ("balanced_accuracy", "bal acc %", 100),
    ("ece", "ECE-15 %", 100),
    ("ece_20b", "ECE-20 %", 100),
    ("adaece", "AdaECE %", 100),
    ("classwise_ece", "cw-ECE %", 100),
    ("nll", "NLL", 1),
    ("brier", "Brier", 1),
]
GROUPS = [("accuracy@many", "acc many %"), ("accuracy@medium", "acc medium %"),
          ("ece@many", "ECE many %"), ("ece@medium", "ECE medium %")]  # fmt: skip


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _cell(rows: dict, key: tuple, scale: float, digits: int) -> str:
    r = rows.get(key)
    if r is None:
        return "–"
    mean, std, n = float(r["mean"]) * scale, float(r["std"]) * scale, int(r["n"])
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if n > 1 and math.isfinite(std) else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    ap.add_argument(
        "experiment_dir",
        type=Path,
        nargs="?",
        default=here / "docs" / "results" / "cpu_cifar10_jpeg_lt",
        help="a study folder with a report/ (default: the CIFAR-10-LT CPU study)",
    )
    ap.add_argument("--calibrators", default="none,ts,ats,ts_bal,ats_bal,la+ts,vector_bal")
    args = ap.parse_args(argv)
    rep = args.experiment_dir / "report"
    summary = _read(rep / "summary.csv")
    rows = {(r["loss"], r["calibrator"], r["metric"]): r for r in summary}
    losses = list(dict.fromkeys(r["loss"] for r in summary))
    cals = [c for c in args.calibrators.split(",") if any(r["calibrator"] == c for r in summary)]
    seeds = {r["loss"]: r["seeds"] for r in summary if r["metric"] == "accuracy"}
    print("Seeds per row: " + "; ".join(f"{lo}: {seeds[lo]}" for lo in losses) + "\n")
    for cal in cals:
        print(f"#### after `{cal}`\n")
        print("| loss | " + " | ".join(h for _, h, _ in MAIN) + " |")
        print("|---|" + "---|" * len(MAIN))
        for lo in losses:
            cells = [_cell(rows, (lo, cal, m), s, 2 if s == 100 else 3) for m, _, s in MAIN]
            print(f"| {lo} | " + " | ".join(cells) + " |")
        print()
    if any(key[2] == m for key in rows for m, _ in GROUPS):  # a balanced study has no groups
        print("#### per class group (many: > 100 training images, medium: 20-100)\n")
        print("| loss | calibrator | " + " | ".join(h for _, h in GROUPS) + " |")
        print("|---|---|" + "---|" * len(GROUPS))
        for cal in cals:
            for lo in losses:
                cells = [_cell(rows, (lo, cal, m), 100, 2) for m, _ in GROUPS]
                print(f"| {lo} | {cal} | " + " | ".join(cells) + " |")
        print()
    tests = _read(rep / "paired_tests.csv")
    by = defaultdict(list)
    for t in tests:
        if t["metric"] in ("accuracy", "ece", "nll"):
            by[(t["loss"], t["calibrator"], t["reference"], t["reference_calibrator"])].append(t)
    print("#### paired tests (Δ = row − reference; p raw / Holm)\n")
    print("| row | vs | n | Δ acc (pts) | Δ ECE-15 (pts) | Δ NLL |")
    print("|---|---|---|---|---|---|")
    for (lo, cal, ref, rcal), ts in by.items():
        if cal not in cals and rcal not in cals:
            continue
        m = {t["metric"]: t for t in ts}

        def fmt(metric: str, scale: float, m: dict = m) -> str:
            t = m.get(metric)
            if t is None:
                return "–"
            p, ph = float(t["p_value"]), float(t["p_holm"])
            ptxt = "" if math.isnan(p) else f" (p={p:.2g} / {ph:.2g})"
            return f"{float(t['mean_diff']) * scale:+.2f}{ptxt}"

        n = next(iter(m.values()))["n"]
        print(
            f"| {lo}+{cal} | {ref}+{rcal} | {n} | {fmt('accuracy', 100)} | "
            f"{fmt('ece', 100)} | {fmt('nll', 1)} |"
        )


if __name__ == "__main__":
    main()
