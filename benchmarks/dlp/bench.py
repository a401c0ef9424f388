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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.dlp.corpus import generate
from sovgw.domain import dlp

Detector = Callable[[str], set[tuple[str, int, int]]]


def sovgw_detector(text: str) -> set[tuple[str, int, int]]:
    return {
        (f.entity.value, f.start, f.end)
        for f in dlp.detect(text)
        if f.entity is not dlp.EntityType.PRIVILEGED
    }


# Presidio's entity names mapped to ours; its other types (URL, DATE_TIME, ...) are ignored,
# which can only help its precision.
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "NATIONAL_ID",
    "UK_NHS": "NATIONAL_ID",
    "US_ITIN": "NATIONAL_ID",
    "US_PASSPORT": "NATIONAL_ID",
    "US_DRIVER_LICENSE": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID",
    "IT_FISCAL_CODE": "NATIONAL_ID",
    "PL_PESEL": "NATIONAL_ID",
}


def presidio_detector() -> tuple[Detector, str]:
    """Presidio's AnalyzerEngine with its default recognizers on a blank English spaCy
    pipeline (no spaCy model is installable here); tldextract pinned to its bundled list."""
    import tempfile  # noqa: PLC0415

    import spacy  # noqa: PLC0415
    import tldextract  # noqa: PLC0415
    import tldextract.tldextract as tld  # noqa: PLC0415

    tld.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from presidio_analyzer import AnalyzerEngine  # noqa: PLC0415
    from presidio_analyzer.nlp_engine import NlpEngineProvider  # noqa: PLC0415

    model = tempfile.mkdtemp(prefix="blank-en-")
    spacy.blank("en").to_disk(model)
    configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model}],
    }
    provider = NlpEngineProvider(nlp_configuration=configuration)
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def detect(text: str) -> set[tuple[str, int, int]]:
        return {
            (PRESIDIO_TYPES[r.entity_type], r.start, r.end)
            for r in engine.analyze(text=text, language="en")
            if r.entity_type in PRESIDIO_TYPES
        }

    return (
        detect,
        f"presidio-analyzer with default recognizers, spaCy {spacy.__version__} blank 'en'",
    )


def score(
    records: list[Any], detector: Detector = sovgw_detector
) -> tuple[dict[str, dict[str, float]], list[float]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    latencies = []
    for record in records:
        started = time.perf_counter()
        found = detector(record.text)
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


def side_by_side(subset: list[Any]) -> dict[str, Any]:
    """Both engines on the same records, one after the other, in one process and one core."""
    presidio, description = presidio_detector()
    presidio(subset[0].text)  # warm-up (Presidio builds its registry lazily)
    results: dict[str, dict[str, Any]] = {}
    for name, detector in (("sovgw", sovgw_detector), ("presidio", presidio)):
        started = time.perf_counter()
        per_type, latencies = score(subset, detector)
        elapsed = time.perf_counter() - started
        results[name] = {
            "records_per_s": round(len(subset) / elapsed, 1),
            "p50_ms": round(1000 * sorted(latencies)[len(latencies) // 2], 3),
            "per_type": per_type,
        }
    ratio = results["sovgw"]["records_per_s"] / results["presidio"]["records_per_s"]
    return {
        "records": len(subset),
        "presidio": description,
        "results": results,
        "throughput_ratio_sovgw_over_presidio": round(ratio, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dlp", description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output")
    parser.add_argument(
        "--presidio",
        type=int,
        default=0,
        metavar="N",
        help="also run Presidio on the first N records, side by side",
    )
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
    }
    if args.presidio:
        report["side_by_side"] = side_by_side(records[: args.presidio])
    else:
        report["side_by_side"] = (
            "not run: use --presidio N where presidio-analyzer is installed (make bench-dlp)"
        )
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0
