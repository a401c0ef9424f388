"""``sovgw sim serve``: the Salesforce API simulator on its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from sovgw.cli.common import wait_forever
from sovgw.sfsim.http_api import SalesforceSimulatorServer


def configure(sim: argparse.ArgumentParser) -> None:
    sim.add_argument("action", choices=["serve"])
    sim.add_argument("--port", type=int, default=8443)
    sim.add_argument("--state-dir", default=".run/sfsim")
    sim.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    server = SalesforceSimulatorServer(port=args.port, state_dir=Path(args.state_dir)).start()
    print(f"Salesforce simulator on {server.url} (CA bundle: {server.ca_bundle}); Ctrl-C stops it")
    return wait_forever(server.stop)
