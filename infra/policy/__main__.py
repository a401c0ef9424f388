"""Pulumi policy pack ``sovgw-sovereignty``:
``pulumi preview --policy-pack infra/policy --policy-pack-config policy-config.json``
with ``{"all": "mandatory", "region-pinned": {"region": "eu-central-1"}, ...}``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.pack import policies

PolicyPack(
    name="sovgw-sovereignty", enforcement_level=EnforcementLevel.MANDATORY, policies=policies()
)
