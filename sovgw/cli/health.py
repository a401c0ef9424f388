"""``sovgw health``: an org's Salesforce API budget, breaker, credentials and the principals an
anomaly suspended, with why (exit 1: alert)."""

from __future__ import annotations

import argparse
import json

import redis

from sovgw.adapters.budget_metrics import publish_budget_metrics
from sovgw.adapters.valkey_budget import ValkeyBudgetStore, connect_store
from sovgw.app.bootstrap import Settings
from sovgw.cli.common import add_config, gateway_config, jurisdiction_of, org_of
from sovgw.cli.errors import CommandError


def configure(health: argparse.ArgumentParser) -> None:
    health.add_argument("--org", required=True)
    health.add_argument("--store-url", help="redis:// or rediss:// (default: the environment)")
    add_config(health)
    health.add_argument("--emf", action="store_true", help="print as CloudWatch EMF metrics")
    health.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The store is reached the way the functions reach it (IAM auth in AWS)."""
    settings = Settings.from_env()
    url = args.store_url or settings.budget_store_url
    if not url:
        raise CommandError("--store-url or SOVGW_BUDGET_STORE_URL is required")
    config = gateway_config(args)
    binding = org_of(config, args.org)
    jurisdiction = jurisdiction_of(config, binding.jurisdiction)
    client = connect_store(
        url,
        iam_user=settings.budget_store_iam_user,
        cache_name=settings.budget_store_name,
        region=jurisdiction.region,
    )
    try:
        state = ValkeyBudgetStore(client).health(binding.org_id)
    except redis.RedisError as error:
        raise CommandError(f"budget store unreachable: {type(error).__name__}") from None
    if args.emf:
        publish_budget_metrics(state, binding.jurisdiction)
        return 0
    print(json.dumps({"jurisdiction": binding.jurisdiction, **state}, indent=2))
    return 1 if state["alert"] or state["breaker"] != "closed" or state["suspended"] else 0
