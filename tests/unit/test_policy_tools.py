"""sovgw policy check / explain: validation, the decision table, fail-closed explanations."""

import io
import json
from pathlib import Path

import pytest

from sovgw.cli import main
from sovgw.config import load_config
from sovgw.policy_tools import EXIT_ALLOWED, EXIT_DENIED, EXIT_INVALID, check_policy, explain
from tests.conftest import ROOT

CONFIG = load_config(ROOT / "config" / "gateway.yaml")


def test_check_prints_the_table_and_flags_destinations_abroad() -> None:
    out = io.StringIO()
    assert check_policy(ROOT / "config" / "policies" / "eu-de.yaml", CONFIG, out) == EXIT_ALLOWED
    text = out.getvalue()
    assert (
        "sovgw-eu-de-llm-dr: sagemaker:sovgw-eu-de-llm-dr@us-east-1 (sovereign)  EXCLUDED" in text
    )
    assert (
        "PRIVILEGED   (any other)  ALLOW sovgw-eu-de-llm@eu-central-1 > sovgw-eu-de-llm-b@eu-central-1"
        in text
    )
    assert "us-east-1 >" not in text and "> sovgw-eu-de-llm-dr" not in text


def test_check_as_json_shows_pseudonymisation_opening_the_external_route() -> None:
    out = io.StringIO()
    check_policy(ROOT / "config" / "policies" / "eu-nl.yaml", CONFIG, out, as_json=True)
    table = json.loads(out.getvalue())["table"]
    row = next(r for r in table if r["level"] == "PERSONAL" and r["purpose"] == "faq")
    assert row["as_classified"]["allowed"] is False and row["pseudonymised"]["allowed"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "version: '1'\njurisdiction: eu-de\nrules: [{id: r1, levels: [PUBLIC], destinations: [x]}]",
            "unknown destinations",
        ),
        ("version: '1'\njurisdiction: atlantis\n", "not configured"),
        ("[not, a, mapping", "INVALID"),
    ],
)
def test_check_refuses_invalid_policies(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(content)
    out = io.StringIO()
    assert check_policy(path, CONFIG, out) == EXIT_INVALID
    assert message in out.getvalue()


def test_explain_allowed_denied_and_unknown_inputs() -> None:
    out = io.StringIO()
    args = {"residual_level": "PUBLIC", "out": out}
    assert explain(CONFIG, "eu-nl", "PERSONAL", "faq", **args) == EXIT_ALLOWED  # type: ignore[arg-type]
    assert json.loads(out.getvalue())["candidates"] == ["vendor-llm@eu-west-1 (external)"]
    for jurisdiction, level in (
        ("eu-nl", "PRIVILEGED"),
        ("atlantis", "PUBLIC"),
        ("eu-de", "TOP-SECRET"),
    ):
        out = io.StringIO()
        assert (
            explain(CONFIG, jurisdiction, level, "faq", residual_level=None, out=out) == EXIT_DENIED
        )
        assert json.loads(out.getvalue())["allowed"] is False


def test_cli_wires_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(ROOT / "config" / "policies" / "ch.yaml")]) == 0
    assert (
        main(
            ["policy", "explain", "--level", "PRIVILEGED", "--purpose", "x", "--jurisdiction", "ch"]
        )
        == 0
    )
    assert '"candidates": [\n    "sovgw-ch-llm@eu-central-2 (sovereign)"' in capsys.readouterr().out
