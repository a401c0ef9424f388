"""The proxy benchmark runs both paths side by side and reports every level and target.

No timing is asserted here: numbers belong to benchmark runs, not to tests.
"""

import json
from pathlib import Path

from benchmarks.proxy.bench import PROMPT, main


def test_benchmark_reports_direct_and_proxy_for_each_level(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    assert (
        main(
            [
                *("--clients", "1,4", "--requests", "4", "--streams", "2"),
                *("--first-burst", "1", "--out", str(output)),
            ]
        )
        == 0
    )
    report = json.loads(output.read_text())
    assert report["prompt_bytes"] == len(PROMPT.encode()) >= 2000
    assert [(level["upstream"]["name"], level["clients"]) for level in report["levels"]] == [
        ("instant", 1),
        ("instant", 4),
        ("model-paced", 1),
        ("model-paced", 4),
    ]
    for level in report["levels"][2:]:  # the paced upstream really takes its time
        assert level["direct"]["ttfb"]["p50_ms"] >= 50
        assert level["direct"]["latency"]["p50_ms"] >= 50 + 24 * 5
    for level in report["levels"]:
        for path in ("direct", "proxy"):
            assert level[path]["latency"]["n"] > 0 and level[path]["ttfb"]["n"] > 0
            assert level[path]["ttfb"]["p50_ms"] <= level[path]["stream_total"]["p50_ms"]
        assert set(level["added"]) == {
            "latency_p50_ms", "latency_p99_ms", "ttfb_p50_ms", "ttfb_p99_ms"
        }  # fmt: skip
        assert set(level["targets_met"]) == {"added_p99_latency_le_5ms", "added_ttfb_le_2ms"}

    burst = report["first_burst"]
    assert burst["first_burst"]["n"] == 8 and burst["warm_bursts"]["n"] == 24
    assert burst["warm_bursts"]["p50_ms"] >= 50  # the model-paced upstream
    assert set(burst) >= {"p99_ratio", "target_ratio", "target_met"}
