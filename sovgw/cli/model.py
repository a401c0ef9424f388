"""``sovgw model``: the local SageMaker-protocol endpoint, model artefacts and serving plans."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import boto3

from model_serving.backends import Backend, DeterministicBackend, TransformersBackend
from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from model_serving.packaging import (
    PackagingError,
    build_archive,
    upload_artefact,
    verify_archive,
)
from model_serving.serving_config import MODEL_PRESETS, SpecError, plan_serving
from sovgw.cli.common import (
    add_config,
    gateway_config,
    jurisdiction_of,
    wait_forever,
)
from sovgw.cli.errors import CommandError


def configure(model: argparse.ArgumentParser) -> None:
    model_commands = model.add_subparsers(dest="model_command", required=True)
    serve_parser = model_commands.add_parser(
        "serve", help="run the local SageMaker-protocol endpoint"
    )
    serve_parser.add_argument("--port", type=int, default=8080)
    add_config(serve_parser)
    serve_parser.add_argument(
        "--backend", choices=["deterministic", "transformers"], default="deterministic"
    )
    serve_parser.add_argument("--model-dir", default=None)
    serve_parser.set_defaults(run=serve)
    package_parser = model_commands.add_parser(
        "package", help="build, verify and upload a model artefact"
    )
    package_parser.add_argument("--from", dest="source", required=True, metavar="DIR")
    package_parser.add_argument("--jurisdiction", required=True)
    package_parser.add_argument("--name", help="model name (default: the directory's name)")
    package_parser.add_argument("--bucket", help="override the jurisdiction's models bucket")
    add_config(package_parser)
    package_parser.add_argument("--out", default=".run/artefacts", metavar="DIR")
    package_parser.set_defaults(run=package)
    verify_parser = model_commands.add_parser(
        "verify", help="check an artefact against its manifest"
    )
    verify_parser.add_argument("archive")
    verify_parser.set_defaults(run=verify)
    plan_parser = model_commands.add_parser("plan", help="SageMaker container settings for a model")
    plan_parser.add_argument("--model", required=True, help="preset name")
    plan_parser.add_argument("--instance-type", required=True)
    plan_parser.add_argument("--region", required=True)
    plan_parser.add_argument("--max-model-len", type=int, default=8192)
    plan_parser.add_argument("--quantisation", choices=["none", "fp8"], default="none")
    plan_parser.set_defaults(run=plan)


def serve(args: argparse.Namespace) -> int:
    config = gateway_config(args)
    backend: Backend = (
        TransformersBackend(Path(args.model_dir))
        if args.backend == "transformers"
        else DeterministicBackend()
    )
    served = ServedEndpoints(
        {(e.region, e.name) for j in config.jurisdictions for e in j.endpoints}, backend
    )
    server = serve_in_background(served, port=args.port)
    print(f"model endpoint on {server.url}: {sorted(served.endpoints)}; Ctrl-C stops it")
    return wait_forever(server.stop)


def package(args: argparse.Namespace) -> int:
    jurisdiction = jurisdiction_of(gateway_config(args), args.jurisdiction)
    source = Path(args.source)
    name = args.name or source.resolve().name
    archive = Path(args.out) / f"{name}.tar.gz"
    try:
        manifest, digest = build_archive(source, name, archive)
        verify_archive(archive)
        s3 = boto3.session.Session(region_name=jurisdiction.region).client("s3")
        bucket = args.bucket or jurisdiction.models_bucket
        uri = upload_artefact(
            s3, archive, manifest, digest, bucket=bucket, region=jurisdiction.region
        )
    except PackagingError as error:
        raise CommandError(f"refused: {error}", status=1) from None
    summary = {
        "artefact": uri,
        "sha256": digest,
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
    }
    print(json.dumps(summary, indent=2))
    return 0


def verify(args: argparse.Namespace) -> int:
    try:
        manifest = verify_archive(Path(args.archive))
    except PackagingError as error:
        print(f"INVALID {error}")
        return 1
    print(f"OK {args.archive}: {len(manifest.files)} files, {manifest.total_bytes} bytes")
    return 0


def plan(args: argparse.Namespace) -> int:
    model = MODEL_PRESETS.get(args.model)
    if model is None:
        raise CommandError(f"unknown model {args.model!r}; known: {', '.join(MODEL_PRESETS)}")
    try:
        serving = plan_serving(
            model,
            args.instance_type,
            args.region,
            max_model_len=args.max_model_len,
            quantisation=args.quantisation,
        )
    except SpecError as error:
        raise CommandError(f"refused: {error}", status=1) from None
    print(serving.model_dump_json(indent=2))
    return 0
