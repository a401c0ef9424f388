"""The anchor-cost benchmark, small, on the suite's LocalStack: both paths measured, the report
complete. The full run is `python -m benchmarks.audit_write`."""

from __future__ import annotations

from benchmarks.audit_write.bench import run
from sovgw.local.localstack import health
from sovgw.local.stack import LocalSovereignStack


def test_the_benchmark_measures_both_paths(stack: LocalSovereignStack) -> None:
    report = run(20, stack.localstack_venv, stack.localstack_port)
    assert report["records_per_path"] == 20
    for path in ("plain", "anchored", "anchor_only"):
        assert 0 < report["write"][path]["p50_ms"] <= report["write"][path]["p99_ms"]
    assert report["ratio_p50"] > 0
    assert stack.localstack is not None
    assert health(stack.localstack.url) is not None, "the suite's LocalStack is not stopped"
