"""An unknown jurisdiction or org is a usage error: one line on stderr, exit status 2."""

import pytest

from sovgw.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "verify", "--jurisdiction", "nowhere"], "unknown jurisdiction 'nowhere'"),
        (["proxy", "--jurisdiction", "nowhere"], "unknown jurisdiction 'nowhere'"),
        (
            ["health", "--org", "00D000000000000AAA", "--store-url", "redis://127.0.0.1:1"],
            "org 00D000000000000AAA is not bound to any jurisdiction",
        ),
        (
            ["break-glass", "list", "--org", "00D000000000000AAA"],
            "org 00D000000000000AAA is not bound to any jurisdiction",
        ),
    ],
)
def test_unknown_names_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_scan_starts_without_the_configuration_model() -> None:
    """``sovgw scan`` is a streaming tool: it loads the DLP engine, not pydantic, the gateway
    configuration or boto3 (they made each start take 0.6 s instead of 0.15 s)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys; from sovgw.cli import main; main(['scan', '/dev/null']);"
        "print(sorted(m for m in ('pydantic', 'sovgw.config', 'boto3') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_defect_prints_its_traceback_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no command expected keeps its traceback for the operator, with the values
    its text quotes (what the command was reading) masked, and exits 1."""
    import sovgw.cli.scan  # noqa: PLC0415

    def broken(*args: object) -> None:
        raise ValueError("cannot place jan.jansen@example.nl, IBAN NL91 ABNA 0417 1643 00")

    monkeypatch.setattr(sovgw.cli.scan, "scan_stream", broken)
    assert main(["scan", "/dev/null"]) == 1
    printed = capsys.readouterr().err
    assert printed.startswith("Traceback (most recent call last):")
    assert "ValueError: cannot place [EMAIL_2], IBAN [IBAN_2]" in printed  # the source line: _1
    assert "jan.jansen" not in printed and "0417 1643" not in printed
