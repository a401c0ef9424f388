"""The DLP benchmark, small: its report is complete and the cold start is timed as packaged.

The full run, side by side with Presidio, is `make bench-dlp`.
"""

import json
from pathlib import Path

from benchmarks.dlp.bench import main


def test_a_small_run_reports_accuracy_throughput_and_both_import_times(tmp_path: Path) -> None:
    output = tmp_path / "dlp.json"
    # A development seed of the independent corpus: the reported one is for reported runs.
    arguments = ["--records", "300", "--faker-records", "300", "--faker-seed", "2"]
    arguments += [
        "--throughput-records",
        "100",
        "--scan-records",
        "200",
        "--pass-rate-samples",
        "2000",
    ]
    arguments += ["--import-runs", "2", "--output", str(output)]
    assert main(arguments) == 0
    report = json.loads(output.read_text())
    assert report["records"] == 300
    assert report["f1_target_met"] is True
    assert set(report["per_type"]) >= {"EMAIL", "IBAN", "CREDIT_CARD", "NATIONAL_ID", "SECRET"}
    assert report["throughput"]["records_per_s"] > 0
    independent = report["independent_corpus"]
    assert independent["seed_is_the_reported_one"] is False
    assert set(independent["per_type"]) >= {"EMAIL", "PHONE", "IBAN", "NATIONAL_ID"}
    rates = report["unlabeled_pass_rates"]["rates"]
    assert rates["US_SSN (bare)"]["pass_rate"] > 0.9 > rates["NL_BSN"]["pass_rate"] > 0.05
    by_text = report["throughput_by_text"]
    assert by_text["ascii_only"]["mb_per_s"] > 0 and by_text["evasion_heavy"]["mb_per_s"] > 0
    assert by_text["evasion_heavy"]["unseen_records"] is True
    scan = report["whole_process"]
    assert scan["start_up_s"] > 0 and scan["evasion_heavy"]["bytes"] > 200 * 100
    assert scan["evasion_heavy"]["mb_per_s"] > 0 and scan["ascii_only"]["mb_per_s"] > 0
    floor = report["cost_floor"]
    assert floor["detection_us"] > floor["c_level_passes_us"] > 0
    assert floor["scan_without_detection_us"] > 0
    spent = floor["scan_without_detection_us"] + floor["c_level_passes_us"]
    assert abs(floor["us_per_line_at_target"] - spent - floor["left_for_the_rest_us"]) < 0.25
    imports = report["cold_start_import"]
    assert imports["environment"] == {"PYDANTIC_DISABLE_PLUGINS": "__all__"}
    assert imports["with_bytecode"]["median_ms"] > 0 and imports["source_only"]["median_ms"] > 0
    assert "not run" in report["side_by_side"]
