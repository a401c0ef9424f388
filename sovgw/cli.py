"""``sovgw``: the operator's command line for the sovereign gateway."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sovgw.contracts import ContractError, validate_event, write_json_schemas

if TYPE_CHECKING:
    from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding


class CommandError(Exception):
    """A command cannot run as asked: ``main`` prints ``error: <message>`` and exits 2."""


def _jurisdiction(config: GatewayConfig, jurisdiction_id: str) -> Jurisdiction:
    jurisdiction = config.jurisdiction(jurisdiction_id)
    if jurisdiction is None:
        raise CommandError(f"unknown jurisdiction {jurisdiction_id!r}")
    return jurisdiction


def _org(config: GatewayConfig, org_id: str) -> OrgBinding:
    binding = config.org(org_id)
    if binding is None:
        raise CommandError(f"org {org_id} is not bound to any jurisdiction")
    return binding


def _events_validate(args: argparse.Namespace) -> int:
    failures = 0
    for name in args.files:
        path = Path(name)
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(event, dict):
                raise ContractError("an event must be a JSON object")
            contract = validate_event(event)
        except (OSError, json.JSONDecodeError, ContractError) as error:
            failures += 1
            print(f"INVALID {path}: {type(error).__name__}: {error}")
            continue
        print(f"OK      {path}: {contract.name}")
    return 1 if failures else 0


def _events_schemas(args: argparse.Namespace) -> int:
    for path in write_json_schemas(Path(args.write)):
        print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    root = Path(args.root).resolve()
    if not (root / "config" / "gateway.yaml").exists():
        print(
            f"error: {root} is not the sovgw repository (config/gateway.yaml missing)",
            file=sys.stderr,
        )
        return 2
    from sovgw.local.demo import run_demo  # noqa: PLC0415 - heavy imports only for this command

    return run_demo(root, timeout=args.timeout)


def _localstack(args: argparse.Namespace) -> int:
    from sovgw.local.localstack import (  # noqa: PLC0415
        health,
        start_localstack,
        stop_from_pid_file,
    )

    state = Path(args.state_dir)
    if args.action == "start":
        process = start_localstack(Path(args.venv), state, args.port)
        print(f"LocalStack healthy at {process.url} (pid {process.pid or 'not ours'})")
    elif args.action == "stop":
        print(
            "stopped" if stop_from_pid_file(state) else "no LocalStack started by sovgw is running"
        )
    else:
        status = health(f"http://127.0.0.1:{args.port}")
        print(json.dumps(status, indent=2) if status else "not running")
        return 0 if status else 1
    return 0


def _sim_serve(args: argparse.Namespace) -> int:
    from sovgw.sfsim.server import SalesforceSimulatorServer  # noqa: PLC0415

    server = SalesforceSimulatorServer(port=args.port, state_dir=Path(args.state_dir)).start()
    print(f"Salesforce simulator on {server.url} (CA bundle: {server.ca_bundle}); Ctrl-C stops it")
    return _wait_forever(server.stop)


def _model_serve(args: argparse.Namespace) -> int:
    from model_serving.backends import Backend, DeterministicBackend, TransformersBackend  # noqa: PLC0415
    from model_serving.server import ServedEndpoints, serve_in_background  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415

    config = load_config(Path(args.config))
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
    return _wait_forever(server.stop)


def _model_package(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from model_serving.packaging import (  # noqa: PLC0415
        PackagingError,
        build_archive,
        upload_artefact,
        verify_archive,
    )
    from sovgw.config import load_config  # noqa: PLC0415

    jurisdiction = _jurisdiction(load_config(Path(args.config)), args.jurisdiction)
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
        print(f"refused: {error}", file=sys.stderr)
        return 1
    summary = {
        "artefact": uri,
        "sha256": digest,
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
    }
    print(json.dumps(summary, indent=2))
    return 0


def _model_verify(args: argparse.Namespace) -> int:
    from model_serving.packaging import PackagingError, verify_archive  # noqa: PLC0415

    try:
        manifest = verify_archive(Path(args.archive))
    except PackagingError as error:
        print(f"INVALID {error}")
        return 1
    print(f"OK {args.archive}: {len(manifest.files)} files, {manifest.total_bytes} bytes")
    return 0


def _model_plan(args: argparse.Namespace) -> int:
    from model_serving.serving_config import MODEL_PRESETS, SpecError, plan_serving  # noqa: PLC0415

    model = MODEL_PRESETS.get(args.model)
    if model is None:
        known = ", ".join(MODEL_PRESETS)
        print(f"error: unknown model {args.model!r}; known: {known}", file=sys.stderr)
        return 2
    try:
        plan = plan_serving(
            model,
            args.instance_type,
            args.region,
            max_model_len=args.max_model_len,
            quantisation=args.quantisation,
        )
    except SpecError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    print(plan.model_dump_json(indent=2))
    return 0


def _wait_forever(stop: object) -> int:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()  # type: ignore[operator]
    return 0


def _audit(args: argparse.Namespace) -> int:
    from datetime import datetime  # noqa: PLC0415

    from sovgw import audit_tools  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415
    from sovgw.domain.art30 import render  # noqa: PLC0415

    config = load_config(Path(args.config))
    jurisdiction = _jurisdiction(config, args.jurisdiction)
    store = audit_tools.open_store(jurisdiction)
    streams = (
        [f"{jurisdiction.id}/{args.org}"]
        if getattr(args, "org", None)
        else store.streams(jurisdiction.id)
    )
    if args.audit_command == "seal":
        for stream in streams:
            digest = store.seal(stream)
            print(
                f"{stream}: "
                + (
                    f"digest #{digest.sequence}, {len(digest.entries)} records"
                    if digest
                    else "nothing to seal"
                )
            )
        return 0
    if args.audit_command == "verify":
        since = datetime.fromisoformat(args.since) if args.since else None
        until = datetime.fromisoformat(args.until) if args.until else None
        bad = 0
        for stream in streams:
            result = store.verify(stream, since, until)
            status = "OK" if result.ok else "TAMPERED"
            print(
                f"{status} {stream}: {result.records} sealed records in {result.digests} digests, "
                f"{result.unsealed} not yet sealed"
            )
            for problem in result.problems:
                print(f"  {problem}")
            bad += len(result.problems)
        return 1 if bad else 0
    if args.audit_command == "trace":
        records = audit_tools.trace(store, jurisdiction, args.identifier)
        trail: dict[str, list[dict[str, object]]] = {}
        if args.cloudtrail_bucket:
            trail = audit_tools.cloudtrail_events(
                store.s3, args.cloudtrail_bucket, args.cloudtrail_prefix
            )
        if not records:
            print(f"no audit record links to {args.identifier}")
            return 1
        for record in records:
            where = (
                f"{record.endpoint}@{record.region}" if record.endpoint else (record.region or "-")
            )
            print(
                f"{record.time.isoformat()} {record.stage.value:<17} {record.outcome.value:<8} "
                f"{(record.data_level or '-'):<12} {where:<32} "
                f"rule={record.rule_id or '-'} id={record.record_id}"
            )
            for request_id in record.links.aws_request_ids:
                for event in trail.get(request_id, []):
                    print(
                        f"    cloudtrail {event.get('eventTime')} {event.get('eventSource')} "
                        f"{event.get('eventName')} {event.get('awsRegion')} requestID={request_id}"
                    )
        return 0
    report = audit_tools.art30(config, jurisdiction)
    print(render(report, args.format), end="")
    return 1 if report.transfers_outside_jurisdiction else 0


def _scan(args: argparse.Namespace) -> int:
    from sovgw.domain.levels import DataLevel  # noqa: PLC0415
    from sovgw.policy import read_yaml  # noqa: PLC0415
    from sovgw.scan import ScanStats, scan_stream  # noqa: PLC0415

    metadata: dict[str, dict[str, DataLevel]] = {}
    if args.metadata:
        raw = read_yaml(Path(args.metadata)) or {}
        metadata = {
            obj: {f: DataLevel.parse(level) for f, level in fields.items()}
            for obj, fields in raw.items()
        }

    def progress(stats: ScanStats) -> None:
        print(
            f"\rscanned {stats.records} records, {stats.bytes_read / 1e6:.1f} MB, "
            f"{stats.errors} errors",
            end="",
            file=sys.stderr,
            flush=True,
        )

    show = progress if sys.stderr.isatty() else None
    try:
        if args.file == "-":
            stats = scan_stream(sys.stdin.buffer, sys.stdout, metadata, show)
        else:
            with Path(args.file).open("rb") as source:
                stats = scan_stream(source, sys.stdout, metadata, show)
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    if show:
        print(file=sys.stderr)
    print(f"{stats.records} records, {stats.errors} errors", file=sys.stderr)
    return 1 if stats.errors else 0


def _policy(args: argparse.Namespace) -> int:
    from sovgw.config import load_config  # noqa: PLC0415
    from sovgw.policy_tools import check_policy, explain  # noqa: PLC0415

    config = load_config(Path(args.config))
    if args.policy_command == "check":
        return check_policy(Path(args.file), config, sys.stdout, as_json=args.json)
    return explain(
        config,
        args.jurisdiction,
        args.level,
        args.purpose,
        residual_level=args.residual_level,
        out=sys.stdout,
    )


def _proxy(args: argparse.Namespace) -> int:
    from sovgw.proxy.apps import load_proxy_config, new_api_key  # noqa: PLC0415

    if args.new_key:
        key, digest = new_api_key()
        print(f"api key (give to the app, store nowhere else): {key}")
        print(f"key_sha256 (put in the proxy configuration):   {digest}")
        return 0
    from sovgw.adapters.files import FileAuditSink  # noqa: PLC0415
    from sovgw.ports import AuditSink  # noqa: PLC0415
    from sovgw.proxy.core import SovereignProxy  # noqa: PLC0415
    from sovgw.proxy.runtime import build_proxy  # noqa: PLC0415
    from sovgw.proxy.server import run_proxy_server  # noqa: PLC0415

    config = load_proxy_config(Path(args.config))
    overrides = dict(item.split("=", 1) for item in args.upstream)
    if args.jurisdiction:
        import boto3  # noqa: PLC0415

        from sovgw.adapters.aws import S3AuditSink  # noqa: PLC0415

        jurisdiction = _jurisdiction(config.gateway_config, args.jurisdiction)
        config = config.model_copy(
            update={"apps": tuple(a for a in config.apps if a.jurisdiction == jurisdiction.id)}
        )
        region, bucket = jurisdiction.region, jurisdiction.audit_bucket

        def audit_sink() -> AuditSink:
            s3 = boto3.session.Session(region_name=region).client("s3")
            return S3AuditSink(s3, bucket)
    else:

        def audit_sink() -> AuditSink:
            return FileAuditSink(Path(args.audit_dir))

    def build() -> SovereignProxy:
        return build_proxy(
            config,
            audit=audit_sink(),
            sagemaker_endpoint_url=args.sagemaker_endpoint_url,
            base_url_overrides=overrides,
            api_key_for=(lambda endpoint: None) if args.no_upstream_keys else None,
        )

    processes = f", {args.workers} worker processes" if args.workers > 1 else ""

    def announce(url: str) -> None:
        print(
            f"sovgw proxy on {url} for {len(config.apps)} app(s){processes}; Ctrl-C stops it",
            flush=True,
        )

    return run_proxy_server(build, args.host, args.port, args.workers, announce)


def _add_proxy_command(commands: Any) -> None:
    proxy = commands.add_parser("proxy", help="the OpenAI-compatible sovereign proxy")
    proxy.add_argument("--port", type=int, default=8088)
    proxy.add_argument("--host", default="127.0.0.1")
    proxy.add_argument("--config", default="config/proxy.yaml")
    proxy.add_argument(
        "--jurisdiction", help="serve this jurisdiction's apps; audit to its S3 bucket"
    )
    proxy.add_argument("--audit-dir", default=".run/proxy-audit", help="without --jurisdiction")
    proxy.add_argument("--sagemaker-endpoint-url", help="a local SageMaker-protocol endpoint")
    proxy.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="send an openai: destination to another base URL (local testing)",
    )
    proxy.add_argument(
        "--no-upstream-keys", action="store_true", help="do not read upstream API keys"
    )
    proxy.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes accepting on the port (one per core on a multi-core host)",
    )
    proxy.add_argument("--new-key", action="store_true", help="print a new app key and its hash")
    proxy.set_defaults(run=_proxy)


def _health(args: argparse.Namespace) -> int:
    import redis  # noqa: PLC0415

    from sovgw.adapters.valkey_budget import ValkeyBudgetStore  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415

    url = args.store_url or os.environ.get("SOVGW_BUDGET_STORE_URL")
    if not url:
        print("error: --store-url or SOVGW_BUDGET_STORE_URL is required", file=sys.stderr)
        return 2
    binding = _org(load_config(Path(args.config)), args.org)
    store = ValkeyBudgetStore(redis.Redis.from_url(url, decode_responses=True))
    try:
        health = store.health(binding.org_id)
    except redis.RedisError as error:
        print(f"error: budget store unreachable: {type(error).__name__}", file=sys.stderr)
        return 2
    if args.emf:
        from sovgw.adapters.budget_metrics import publish_budget_metrics  # noqa: PLC0415

        publish_budget_metrics(health, binding.jurisdiction)
        return 0
    print(json.dumps({"jurisdiction": binding.jurisdiction, **health}, indent=2))
    return 1 if health["alert"] or health["breaker"] != "closed" else 0


def _operator_dependencies(config: Any, jurisdiction_id: str) -> Any:
    """The functions' adapters for an operator command, from the same environment settings."""
    from functions.runtime import build_dependencies  # noqa: PLC0415

    return build_dependencies(
        config,
        jurisdiction_id,
        salesforce_ca_bundle=os.environ.get("SOVGW_SALESFORCE_CA_BUNDLE") or None,
        budget_store_url=os.environ.get("SOVGW_BUDGET_STORE_URL") or None,
        budget_store_iam_user=os.environ.get("SOVGW_BUDGET_STORE_IAM_USER") or None,
        budget_store_name=os.environ.get("SOVGW_BUDGET_STORE_NAME") or None,
    )


def _rotate(args: argparse.Namespace) -> int:
    from functions.rotate.handler import rotate_now  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415
    from sovgw.domain.errors import GatewayError  # noqa: PLC0415

    deps = _operator_dependencies(load_config(Path(args.config)), args.jurisdiction)
    try:
        for line in rotate_now(deps, args.secret):
            print(line)
    except GatewayError as error:
        print(f"rotation failed, the current secret is unchanged: {error}", file=sys.stderr)
        return 1
    return 0


def _break_glass(args: argparse.Namespace) -> int:
    import uuid  # noqa: PLC0415

    from functions.break_glass.handler import service_for  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415
    from sovgw.domain.breakglass import BreakGlassRequest  # noqa: PLC0415
    from sovgw.domain.errors import GatewayError  # noqa: PLC0415

    config = load_config(Path(args.config))
    org = _org(config, args.org)
    deps = _operator_dependencies(config, org.jurisdiction)
    service = service_for(deps)
    try:
        if args.action == "request":
            result: Any = service.request(
                BreakGlassRequest(
                    request_id=args.request_id or str(uuid.uuid4()),
                    org_id=org.org_id,
                    jurisdiction=org.jurisdiction,
                    requested_by=args.requested_by,
                    target_user=args.user or args.requested_by,
                    reason=args.reason or "",
                    case_reference=args.case or "",
                    scope=args.scope or "",
                    duration_s=int(args.duration) * 60,
                )
            )
        elif args.action == "approve":
            result = service.approve(org.org_id, args.id, args.approver)
        elif args.action == "revoke":
            result = service.revoke(org.org_id, args.id, by=args.by)
        elif args.action == "show":
            result = service.store.get(org.org_id, args.id)
        else:
            result = service.store.list(org.org_id)
    except (GatewayError, ValueError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    if result is None:
        print(f"no break-glass request {args.id}", file=sys.stderr)
        return 1
    shown = [g.view() for g in result] if isinstance(result, list) else result.view()
    print(json.dumps(shown, indent=2))
    return 0


def _add_break_glass_command(commands: Any) -> None:
    bg = commands.add_parser("break-glass", help="emergency access: request, approve, revoke")
    actions = bg.add_subparsers(dest="action", required=True)
    request = actions.add_parser("request", help="ask for time-bound emergency access")
    request.add_argument("--requested-by", required=True, help="Salesforce user id (005...)")
    request.add_argument("--user", help="who gets access (default: the requester)")
    request.add_argument("--reason", required=True)
    request.add_argument("--case", required=True, help="case or matter reference")
    request.add_argument("--scope", required=True, help="e.g. Case:read, aws:<role>")
    request.add_argument("--duration", required=True, type=int, help="minutes")
    request.add_argument("--request-id", help="idempotency key (default: a new uuid)")
    approve = actions.add_parser("approve", help="a second person approves")
    approve.add_argument("id")
    approve.add_argument("--approver", required=True)
    revoke = actions.add_parser("revoke", help="end a grant now")
    revoke.add_argument("id")
    revoke.add_argument("--by", required=True)
    show = actions.add_parser("show", help="one request or grant")
    show.add_argument("id")
    actions.add_parser("list", help="the org's requests and grants")
    for command in (request, approve, revoke, show, actions.choices["list"]):
        command.add_argument("--org", required=True)
        command.add_argument("--config", default="config/gateway.yaml")
        command.set_defaults(run=_break_glass)


def _add_health_command(commands: Any) -> None:
    rotate = commands.add_parser(
        "rotate", help="rotate one Salesforce credential now (the four Secrets Manager steps)"
    )
    rotate.add_argument("--secret", required=True, help="e.g. sovgw/eu-de/salesforce/<org>/b")
    rotate.add_argument("--jurisdiction", required=True)
    rotate.add_argument("--config", default="config/gateway.yaml")
    rotate.set_defaults(run=_rotate)
    health = commands.add_parser(
        "health", help="an org's Salesforce API budget, breaker and credentials (exit 1: alert)"
    )
    health.add_argument("--org", required=True)
    health.add_argument("--store-url", help="redis:// or rediss:// (default: the environment)")
    health.add_argument("--config", default="config/gateway.yaml")
    health.add_argument("--emf", action="store_true", help="print as CloudWatch EMF metrics")
    health.set_defaults(run=_health)


def _add_policy_commands(commands: Any) -> None:
    policy = commands.add_parser("policy", help="routing policies: validate and explain")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate a policy, print its decisions")
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="the decision table as JSON")
    explain = policy_commands.add_parser(
        "explain", help="what happens to data of a level and purpose (exit 3: denied)"
    )
    explain.add_argument("--level", required=True)
    explain.add_argument("--purpose", required=True)
    explain.add_argument("--jurisdiction", required=True)
    explain.add_argument(
        "--residual-level", help="level once pseudonymised (default: the level itself)"
    )
    for command in (check, explain):
        command.add_argument("--config", default="config/gateway.yaml")
        command.set_defaults(run=_policy)


def _add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="verify, trace and report on the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    for name, text in (
        ("seal", "sign a digest over unsealed records (the periodic sealer)"),
        ("verify", "detect modified, deleted, inserted or reordered records"),
        ("trace", "the journey of one request or Salesforce record"),
        ("report", "GDPR Article 30 record of processing"),
    ):
        command = audit_commands.add_parser(name, help=text)
        command.add_argument("--jurisdiction", required=True)
        command.add_argument("--config", default="config/gateway.yaml")
        command.set_defaults(run=_audit)
        if name in {"seal", "verify"}:
            command.add_argument("--org", help="one org's stream only")
        if name == "verify":
            command.add_argument("--from", dest="since", help="ISO time: digests created from")
            command.add_argument("--to", dest="until", help="ISO time: digests created until")
        if name == "trace":
            command.add_argument("identifier")
            command.add_argument("--cloudtrail-bucket", help="bucket holding CloudTrail log files")
            command.add_argument("--cloudtrail-prefix", default="AWSLogs/")
        if name == "report":
            command.add_argument("--art30", action="store_true", required=True)
            command.add_argument("--format", choices=["md", "html", "csv"], default="md")


def _add_model_commands(commands: Any) -> None:
    model = commands.add_parser("model", help="model serving: local endpoint, packaging, plans")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    serve = model_commands.add_parser("serve", help="run the local SageMaker-protocol endpoint")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--config", default="config/gateway.yaml")
    serve.add_argument(
        "--backend", choices=["deterministic", "transformers"], default="deterministic"
    )
    serve.add_argument("--model-dir", default=None)
    serve.set_defaults(run=_model_serve)
    package = model_commands.add_parser("package", help="build, verify and upload a model artefact")
    package.add_argument("--from", dest="source", required=True, metavar="DIR")
    package.add_argument("--jurisdiction", required=True)
    package.add_argument("--name", help="model name (default: the directory's name)")
    package.add_argument("--bucket", help="override the jurisdiction's models bucket")
    package.add_argument("--config", default="config/gateway.yaml")
    package.add_argument("--out", default=".run/artefacts", metavar="DIR")
    package.set_defaults(run=_model_package)
    verify = model_commands.add_parser("verify", help="check an artefact against its manifest")
    verify.add_argument("archive")
    verify.set_defaults(run=_model_verify)
    plan = model_commands.add_parser("plan", help="SageMaker container settings for a model")
    plan.add_argument("--model", required=True, help="preset name")
    plan.add_argument("--instance-type", required=True)
    plan.add_argument("--region", required=True)
    plan.add_argument("--max-model-len", type=int, default=8192)
    plan.add_argument("--quantisation", choices=["none", "fp8"], default="none")
    plan.set_defaults(run=_model_plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sovgw", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the pipeline on the embedded local stack")
    demo.add_argument("--root", default=".", help="repository root")
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(run=_demo)

    events = commands.add_parser("events", help="sample events and their contracts")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    validate = event_commands.add_parser(
        "validate", help="check event files against their contract"
    )
    validate.add_argument("files", nargs="+")
    validate.set_defaults(run=_events_validate)
    schemas = event_commands.add_parser("schemas", help="write the JSON Schemas of all contracts")
    schemas.add_argument("--write", required=True, metavar="DIR")
    schemas.set_defaults(run=_events_schemas)

    localstack = commands.add_parser("localstack", help="LocalStack in host mode")
    localstack.add_argument("action", choices=["start", "stop", "status"])
    localstack.add_argument("--venv", default=".localstack-venv")
    localstack.add_argument("--state-dir", default=".run/localstack")
    localstack.add_argument("--port", type=int, default=4566)
    localstack.set_defaults(run=_localstack)

    sim = commands.add_parser("sim", help="the Salesforce API simulator")
    sim.add_argument("action", choices=["serve"])
    sim.add_argument("--port", type=int, default=8443)
    sim.add_argument("--state-dir", default=".run/sfsim")
    sim.set_defaults(run=_sim_serve)

    _add_model_commands(commands)
    _add_audit_commands(commands)
    _add_policy_commands(commands)
    _add_proxy_command(commands)
    _add_health_command(commands)
    _add_break_glass_command(commands)
    scan = commands.add_parser("scan", help="classify JSON Lines (text or Salesforce records)")
    scan.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for stdin")
    scan.add_argument(
        "--metadata", help="YAML {Object: {Field: LEVEL}}; unlisted fields count as PRIVILEGED"
    )
    scan.set_defaults(run=_scan)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


def console() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    console()
