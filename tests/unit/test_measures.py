"""The network measure of the Art. 30 record, read from EC2 (moto: the call shapes only; the
other measures are read from LocalStack in tests/e2e/test_audit_tools.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sovgw.adapters.aws.measures import read_measures
from tests.unit.test_policy_tools import CONFIG


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    # The e2e stack (same session, may run first) points boto3 at LocalStack by environment.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield {n: boto3.client(n, region_name="eu-west-3") for n in ("s3", "kms", "ec2")}


def _network(clients: dict[str, Any]) -> Any:
    jurisdiction = CONFIG.jurisdiction("eu-fr")
    assert jurisdiction is not None
    measures = read_measures(clients["s3"], clients["kms"], clients["ec2"], jurisdiction)
    (network,) = [m for m in measures if m.area == "network"]
    return network


def test_a_vpc_without_gateways_is_in_place_and_an_internet_gateway_is_a_gap(
    clients: dict[str, Any],
) -> None:
    ec2 = clients["ec2"]
    assert not _network(clients).in_place, "no VPC of the stack: a gap"
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "sovgw-eu-fr-vpc"}])
    closed = _network(clients)
    assert closed.in_place and "0 internet gateway(s)" in closed.evidence
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    opened = _network(clients)
    assert not opened.in_place and "1 internet gateway(s)" in opened.evidence
