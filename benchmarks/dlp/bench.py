"""Accuracy (precision/recall/F1 per type, exact spans) and one-core throughput of the
DLP engine on the labelled corpus, as JSON. Also the classify handler's import time in a
fresh interpreter (Lambda cold start share)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.dlp.corpus import generate
from sovgw.domain import dlp


def score(records: list[Any]) -> tuple[dict[str, dict[str, float]], list[float]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    latencies = []
    for record in records:
        started = time.perf_counter()
        found = {
            (f.entity.value, f.start, f.end)
            for f in dlp.detect(record.text)
            if f.entity is not dlp.EntityType.PRIVILEGED
        }
        latencies.append(time.perf_counter() - started)
        gold = set(record.spans)
        for kind, *_ in found & gold:
            tp[kind] += 1
        for kind, *_ in found - gold:
            fp[kind] += 1
        for kind, *_ in gold - found:
            fn[kind] += 1
    per_type = {}
    for kind in sorted(set(tp) | set(fp) | set(fn)):
        precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 0.0
        recall = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_type[kind] = {
            "tp": tp[kind],
            "fp": fp[kind],
            "fn": fn[kind],
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
        }
    return per_type, latencies


def import_time_ms(module: str, runs: int = 5) -> float:
    """Median wall time of ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return round(1000 * statistics.median(samples), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dlp", description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    records = generate(args.records, args.seed)
    megabytes = sum(len(r.text.encode()) for r in records) / 1e6
    started = time.perf_counter()
    per_type, latencies = score(records)
    elapsed = time.perf_counter() - started
    latencies.sort()
    report = {
        "benchmark": "dlp",
        "records": len(records),
        "seed": args.seed,
        "per_type": per_type,
        "throughput": {
            "records_per_s": round(len(records) / elapsed, 1),
            "mb_per_s": round(megabytes / elapsed, 3),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 3),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3),
        },
        "cold_start_import_ms": {
            "functions.classify.handler": import_time_ms("functions.classify.handler")
        },
        "presidio": "not run: no spaCy English model is installable here (not on PyPI)",
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0
