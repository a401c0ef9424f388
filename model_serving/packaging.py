"""Package a local model directory into a SageMaker model artefact, verify it, upload it.

The archive is deterministic (sorted entries, fixed owner and time), carries a manifest with
the sha256 of every file, and is uploaded only to a KMS-encrypted bucket in the
jurisdiction's own region. Nothing is downloaded from a model hub.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "sovgw-manifest.json"
_CHUNK = 1024 * 1024
# Code in a model directory only runs with trust_remote_code, which the serving plan never
# sets; refusing it keeps unreviewed code out of the sovereign boundary entirely.
_REFUSED_SUFFIXES = (".py", ".pyc", ".so", ".sh")


class PackagingError(Exception):
    """The model directory, archive or bucket is not acceptable; the message says why."""


class ManifestEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: str = "sovgw-model-artefact/1"
    model_name: str
    files: tuple[ManifestEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _model_files(source: Path) -> Iterator[Path]:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_symlink():
            raise PackagingError(f"{relative}: symbolic links are not packaged")
        if path.is_dir():
            continue
        if not path.is_file():
            raise PackagingError(f"{relative}: not a regular file")
        if relative == MANIFEST_NAME:
            raise PackagingError(f"{relative}: reserved name")
        if path.suffix in _REFUSED_SUFFIXES:
            raise PackagingError(f"{relative}: executable code is not allowed in a model artefact")
        yield path


def build_manifest(source: Path, model_name: str) -> Manifest:
    """Hash every file of ``source`` (a Hugging Face-style model directory)."""
    if not source.is_dir():
        raise PackagingError(f"{source} is not a directory")
    if not (source / "config.json").is_file():
        raise PackagingError(f"{source} has no config.json; not a model directory")
    entries = tuple(
        ManifestEntry(
            path=path.relative_to(source).as_posix(),
            size=path.stat().st_size,
            sha256=_sha256_file(path),
        )
        for path in _model_files(source)
    )
    if not any(e.path.endswith((".safetensors", ".bin", ".gguf")) for e in entries):
        raise PackagingError(f"{source} holds no weights (.safetensors, .bin or .gguf)")
    return Manifest(model_name=model_name, files=entries)


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_archive(source: Path, model_name: str, output: Path) -> tuple[Manifest, str]:
    """Write ``model.tar.gz`` (manifest first, files sorted); returns the manifest and the
    archive's sha256. The same directory always gives the same bytes."""
    manifest = build_manifest(source, model_name)
    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        output.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=1) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        data = manifest.model_dump_json(indent=2).encode()
        tar.addfile(_tar_info(MANIFEST_NAME, len(data)), io.BytesIO(data))
        for entry in manifest.files:
            with (source / entry.path).open("rb") as handle:
                tar.addfile(_tar_info(entry.path, entry.size), handle)
    return manifest, _sha256_file(output)


def verify_archive(archive: Path) -> Manifest:
    """Check every file against the manifest; name the first missing, extra or altered file."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            if not members or members[0].name != MANIFEST_NAME:
                raise PackagingError(f"{archive}: manifest missing or not first")
            manifest_file = tar.extractfile(members[0])
            assert manifest_file is not None
            manifest = Manifest.model_validate_json(manifest_file.read())
            expected = {e.path: e for e in manifest.files}
            seen: set[str] = set()
            for member in members[1:]:
                name = member.name
                if not member.isfile():
                    raise PackagingError(f"{name}: only regular files are allowed")
                if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                    raise PackagingError(f"{name}: path escapes the model directory")
                entry = expected.get(name)
                if entry is None:
                    raise PackagingError(f"{name}: not in the manifest")
                handle = tar.extractfile(member)
                assert handle is not None
                digest = hashlib.sha256()
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                if digest.hexdigest() != entry.sha256 or member.size != entry.size:
                    raise PackagingError(f"{name}: sha256 does not match the manifest")
                seen.add(name)
            missing = sorted(set(expected) - seen)
            if missing:
                raise PackagingError(f"{missing[0]}: listed in the manifest but missing")
            return manifest
    except (tarfile.TarError, OSError, EOFError) as error:
        raise PackagingError(f"{archive}: unreadable archive ({type(error).__name__})") from None


def check_bucket(s3_client: Any, bucket: str, region: str) -> str:
    """The bucket's default KMS key; refuse a bucket outside ``region`` or without SSE-KMS."""
    location = s3_client.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    if location != region:
        raise PackagingError(
            f"bucket {bucket} is in {location}; this jurisdiction requires {region}"
        )
    try:
        rules = s3_client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
    except s3_client.exceptions.ClientError:
        rules = []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") in {"aws:kms", "aws:kms:dsse"} and default.get(
            "KMSMasterKeyID"
        ):
            return str(default["KMSMasterKeyID"])
    raise PackagingError(f"bucket {bucket} has no default SSE-KMS encryption with a customer key")


def upload_artefact(
    s3_client: Any,
    archive: Path,
    manifest: Manifest,
    archive_sha256: str,
    *,
    bucket: str,
    region: str,
) -> str:
    """Upload archive and manifest under a content-addressed key; returns the archive's S3 URI."""
    kms_key = check_bucket(s3_client, bucket, region)
    prefix = f"models/{manifest.model_name}/{archive_sha256[:16]}"
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
    s3_client.upload_file(
        str(archive),
        bucket,
        f"{prefix}/model.tar.gz",
        ExtraArgs={**encryption, "Metadata": {"sha256": archive_sha256}},
    )
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{prefix}/{MANIFEST_NAME}",
        Body=json.dumps(
            {**manifest.model_dump(), "archive_sha256": archive_sha256}, indent=2
        ).encode(),
        ContentType="application/json",
        **encryption,
    )
    return f"s3://{bucket}/{prefix}/model.tar.gz"
