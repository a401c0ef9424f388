"""The export benchmark's harness on a tiny export (the stack of the e2e tests): it seeds,
exports, scans with one and two worker processes, and its checks hold. The full run is
``make bench-export`` (1.1 GB)."""

from __future__ import annotations

from benchmarks.export.bench import run
from sovgw.local.stack import LocalSovereignStack


def test_the_benchmark_measures_a_reconciled_build_with_one_and_two_workers(
    stack: LocalSovereignStack,
) -> None:
    report = run(stack, megabytes=2.0, page_records=400)
    assert report["checks"] == {
        "all_reconciled": True,
        "no_failed_items": True,
        "manifests_identical": True,
    }
    large = report["large"]
    assert large["parts"] >= 3 and large["exported_mb"] >= 1.8
    assert [s["workers"] for s in large["scans"]] == [1, 2]
    assert all(s["mb_per_s_per_core"] > 0 for s in large["scans"])
    assert report["projection_100gb"]["scan_wall_s"] > 0
