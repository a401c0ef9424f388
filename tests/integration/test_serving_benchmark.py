"""The serving benchmark runs against the local endpoint and reports every path and ratio.

No timing is asserted here: numbers belong to benchmark runs, not to tests.
"""

import json
from pathlib import Path

import pytest

from benchmarks.serving.bench import main
from model_serving.endpoint_server import ServedEndpoints, serve_in_background


def test_benchmark_reports_all_paths_with_ratios(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    assert (
        main(
            [
                "--concurrency",
                "1,4",
                "--requests-per-worker",
                "2",
                "--max-tokens",
                "8",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    report = json.loads(output.read_text())
    assert [level["concurrency"] for level in report["levels"]] == [1, 4]
    for level in report["levels"]:
        for path in ("direct", "openai", "sagemaker"):
            summary = level[path]
            assert summary["errors"] == 0
            assert summary["requests"] == level["concurrency"] * 2
            assert summary["ttft_p50_ms"] is not None and summary["tokens_per_s"] > 0
        assert set(level["ratios_vs_direct"]) == {"openai", "sagemaker"}


def test_unreachable_target_counts_errors_instead_of_crashing(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    assert (
        main(
            [
                "--target",
                "openai:http://127.0.0.1:9",
                "--concurrency",
                "2",
                "--requests-per-worker",
                "1",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    (level,) = json.loads(output.read_text())["levels"]
    assert level["target"]["errors"] == 2 and level["target"]["requests"] == 0


def test_sagemaker_protocol_target(tmp_path: Path) -> None:
    served = ServedEndpoints({("eu-west-3", "llm-fr")})
    server = serve_in_background(served)
    try:
        output = tmp_path / "report.json"
        target = f"sagemaker:{server.url}@eu-west-3/llm-fr"
        assert (
            main(
                [
                    "--target",
                    target,
                    "--concurrency",
                    "2",
                    "--requests-per-worker",
                    "2",
                    "--output",
                    str(output),
                ]
            )
            == 0
        )
    finally:
        server.stop()
    (level,) = json.loads(output.read_text())["levels"]
    assert level["target"]["requests"] == 4 and level["target"]["errors"] == 0
    assert served.invocations == [("eu-west-3", "llm-fr")] * 4


def test_malformed_target_is_refused() -> None:
    with pytest.raises(SystemExit, match="bad --target"):
        main(["--target", "sagemaker:http://x", "--concurrency", "1"])
