"""``sovgw scan`` as a process: it streams (answers before its input ends) in bounded memory."""

import json
import subprocess
import sys
from pathlib import Path

SOVGW = str(Path(sys.executable).with_name("sovgw"))


def test_results_stream_out_before_input_ends() -> None:
    process = subprocess.Popen(
        [SOVGW, "scan", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write('{"id": "first", "text": "IBAN DE89 3704 0044 0532 0130 00"}\n')
    process.stdin.flush()
    first = json.loads(process.stdout.readline())
    assert first["id"] == "first" and first["findings"][0]["type"] == "IBAN"
    process.stdin.write('{"id": "second", "text": "none"}\n')
    process.stdin.close()
    assert json.loads(process.stdout.readline())["id"] == "second"
    assert process.wait(timeout=30) == 0


def test_memory_stays_bounded_on_a_large_input(tmp_path: Path) -> None:
    source = tmp_path / "big.jsonl"
    line = (
        json.dumps({"id": "r", "text": "call +49 151 2345 6789 or mail a@b.example " + "x" * 200})
        + "\n"
    )
    with source.open("w") as handle:
        for _ in range(40_000):  # about 11 MB
            handle.write(line)
    # A fresh interpreter runs the scan as its only child, so the peak is the scan's alone.
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stderr, file=sys.stderr)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", wrapper, SOVGW, "scan", str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    code, peak_kib = (int(part) for part in completed.stdout.split())
    assert code == 0, completed.stderr
    assert "40000 records, 0 errors" in completed.stderr
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB for an 11 MB input"
