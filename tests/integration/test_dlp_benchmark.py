"""The DLP benchmark, small: its report is complete and the cold start is timed as packaged.

The full run, side by side with Presidio, is `make bench-dlp`.
"""

import json
from pathlib import Path

from benchmarks.dlp.bench import main


def test_a_small_run_reports_accuracy_throughput_and_both_import_times(tmp_path: Path) -> None:
    output = tmp_path / "dlp.json"
    assert main(["--records", "300", "--import-runs", "2", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["records"] == 300
    assert report["f1_target_met"] is True
    assert set(report["per_type"]) >= {"EMAIL", "IBAN", "CREDIT_CARD", "NATIONAL_ID", "SECRET"}
    assert report["throughput"]["records_per_s"] > 0
    imports = report["cold_start_import"]
    assert imports["environment"] == {"PYDANTIC_DISABLE_PLUGINS": "__all__"}
    assert imports["with_bytecode"]["median_ms"] > 0 and imports["source_only"]["median_ms"] > 0
    assert "not run" in report["side_by_side"]
