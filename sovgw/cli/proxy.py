"""``sovgw proxy``: the OpenAI-compatible sovereign proxy, and keys for the apps that call it."""

from __future__ import annotations

import argparse
from pathlib import Path

from sovgw.app.proxy import build_proxy, proxy_audit_sink
from sovgw.cli.common import jurisdiction_of
from sovgw.proxy.apps import load_proxy_config, new_api_key
from sovgw.proxy.core import SovereignProxy
from sovgw.proxy.http_server import run_proxy_server


def configure(proxy: argparse.ArgumentParser) -> None:
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
    proxy.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> int:
    if args.new_key:
        key, digest = new_api_key()
        print(f"api key (give to the app, store nowhere else): {key}")
        print(f"key_sha256 (put in the proxy configuration):   {digest}")
        return 0
    config = load_proxy_config(Path(args.config))
    overrides = dict(item.split("=", 1) for item in args.upstream)
    jurisdiction = (
        jurisdiction_of(config.gateway_config, args.jurisdiction) if args.jurisdiction else None
    )
    if jurisdiction is not None:
        config = config.model_copy(
            update={"apps": tuple(a for a in config.apps if a.jurisdiction == jurisdiction.id)}
        )

    def build() -> SovereignProxy:
        proxy = build_proxy(
            config,
            audit=proxy_audit_sink(jurisdiction, Path(args.audit_dir)),
            sagemaker_endpoint_url=args.sagemaker_endpoint_url,
            base_url_overrides=overrides,
            api_key_for=(lambda endpoint: None) if args.no_upstream_keys else None,
        )
        if jurisdiction is not None:  # in AWS: the orgs' canaries, and incidents on a sighting
            from sovgw.app.canaries import CanaryFeed, canary_alarm  # noqa: PLC0415

            proxy.canaries = CanaryFeed(config.gateway_config, [jurisdiction])
            proxy.on_canary = canary_alarm(config.gateway_config, [jurisdiction])
        return proxy

    processes = f", {args.workers} worker processes" if args.workers > 1 else ""

    def announce(url: str) -> None:
        print(
            f"sovgw proxy on {url} for {len(config.apps)} app(s){processes}; Ctrl-C stops it",
            flush=True,
        )

    return run_proxy_server(build, args.host, args.port, args.workers, announce)
