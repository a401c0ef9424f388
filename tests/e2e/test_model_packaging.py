"""``sovgw model package`` against LocalStack S3 and KMS."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovgw.cli import main
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    source = tmp_path / "tiny-llm"
    source.mkdir()
    (source / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (source / "model.safetensors").write_bytes(b"\x00" * 4096)
    return source


def _package(model_dir: Path, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "model",
            "package",
            "--from",
            str(model_dir),
            "--jurisdiction",
            "eu-fr",
            "--config",
            str(ROOT / "config" / "gateway.yaml"),
            "--out",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def test_artefact_lands_kms_encrypted_in_the_jurisdiction_bucket(
    stack: LocalSovereignStack, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _package(model_dir, tmp_path) == 0
    uri = next(line for line in capsys.readouterr().out.splitlines() if '"artefact"' in line)
    key = uri.split("s3://sovgw-models-eu-fr/")[1].rstrip('",')
    s3 = stack.session("eu-west-3").client("s3")
    head = s3.head_object(Bucket="sovgw-models-eu-fr", Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    kms = stack.session("eu-west-3").client("kms")
    expected_key = kms.describe_key(KeyId="alias/sovgw-eu-fr")["KeyMetadata"]["Arn"]
    assert head["SSEKMSKeyId"] == expected_key
    manifest = s3.get_object(
        Bucket="sovgw-models-eu-fr", Key=key.replace("model.tar.gz", "sovgw-manifest.json")
    )
    assert b"model.safetensors" in manifest["Body"].read()


def test_bucket_in_another_region_is_refused(
    stack: LocalSovereignStack, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.session("us-east-1").client("s3").create_bucket(Bucket="models-in-virginia")
    assert _package(model_dir, tmp_path, "--bucket", "models-in-virginia") == 1
    assert "is in us-east-1; this jurisdiction requires eu-west-3" in capsys.readouterr().err


def test_bucket_without_kms_encryption_is_refused(
    stack: LocalSovereignStack, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.session("eu-west-3").client("s3").create_bucket(
        Bucket="plain-models-fr", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    assert _package(model_dir, tmp_path, "--bucket", "plain-models-fr") == 1
    assert "no default SSE-KMS" in capsys.readouterr().err
