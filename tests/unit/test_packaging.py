import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from model_serving.packaging import (
    MANIFEST_NAME,
    PackagingError,
    build_archive,
    build_manifest,
    verify_archive,
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    source = tmp_path / "tiny-llm"
    (source / "tokenizer").mkdir(parents=True)
    (source / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (source / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (source / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0"}')
    return source


def _rewrite(archive: Path, target: Path, change: str) -> None:
    """Copy ``archive`` to ``target`` with one kind of damage."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if change == "flip" and member.name == "model.safetensors":
                data = bytes([data[0] ^ 1]) + data[1:]
            if change == "drop" and member.name == "config.json":
                continue
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
        if change == "extra":
            extra = tarfile.TarInfo("smuggled.safetensors")
            extra.size = 3
            out.addfile(extra, io.BytesIO(b"abc"))
        if change == "traversal":
            escape = tarfile.TarInfo("../../etc/cron.d/x")
            escape.size = 1
            out.addfile(escape, io.BytesIO(b"x"))


def test_manifest_lists_every_file_with_its_sha256(model_dir: Path) -> None:
    manifest = build_manifest(model_dir, "tiny-llm")
    assert [e.path for e in manifest.files] == [
        "config.json",
        "model.safetensors",
        "tokenizer/tokenizer.json",
    ]
    weights = next(e for e in manifest.files if e.path == "model.safetensors")
    assert (
        weights.sha256 == hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    )
    assert manifest.total_bytes == sum(
        p.stat().st_size for p in model_dir.rglob("*") if p.is_file()
    )


def test_archive_is_deterministic_and_verifies(model_dir: Path, tmp_path: Path) -> None:
    _, first = build_archive(model_dir, "tiny-llm", tmp_path / "a.tar.gz")
    _, second = build_archive(model_dir, "tiny-llm", tmp_path / "b.tar.gz")
    assert first == second
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert tar.getmembers()[0].name == MANIFEST_NAME
    assert len(verify_archive(tmp_path / "a.tar.gz").files) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("flip", "model.safetensors: sha256 does not match"),
        ("drop", "config.json: listed in the manifest but missing"),
        ("extra", "smuggled.safetensors: not in the manifest"),
        ("traversal", "escapes the model directory"),
    ],
)
def test_damaged_archives_are_detected_naming_the_file(
    model_dir: Path, tmp_path: Path, change: str, message: str
) -> None:
    build_archive(model_dir, "tiny-llm", tmp_path / "good.tar.gz")
    _rewrite(tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz", change)
    with pytest.raises(PackagingError, match=message):
        verify_archive(tmp_path / "bad.tar.gz")


def test_truncated_archive_is_refused(model_dir: Path, tmp_path: Path) -> None:
    build_archive(model_dir, "tiny-llm", tmp_path / "good.tar.gz")
    data = (tmp_path / "good.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(PackagingError, match=r"unreadable|missing"):
        verify_archive(tmp_path / "cut.tar.gz")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("symlink", "symbolic links"),
        ("code", "executable code"),
        ("no-config", "no config.json"),
        ("no-weights", "holds no weights"),
    ],
)
def test_unacceptable_model_directories_are_refused(
    model_dir: Path, damage: str, message: str
) -> None:
    if damage == "symlink":
        (model_dir / "link.json").symlink_to("/etc/hostname")
    elif damage == "code":
        (model_dir / "modeling_custom.py").write_text("import os")
    elif damage == "no-config":
        (model_dir / "config.json").unlink()
    else:
        (model_dir / "model.safetensors").unlink()
    with pytest.raises(PackagingError, match=message):
        build_manifest(model_dir, "tiny-llm")
