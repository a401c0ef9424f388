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
