import pytest
from pydantic import ValidationError

from sovgw.config import GatewayConfig, Jurisdiction, ModelEndpoint, TrustTier, load_config
from sovgw.domain.levels import DataLevel, highest
from sovgw.domain.routing import RULE_DEFAULT_DENY, RULE_PUBLIC_EXTERNAL, decide_route
from tests.conftest import ROOT


def _jurisdiction(*endpoints: ModelEndpoint, external_public: bool = False) -> Jurisdiction:
    return Jurisdiction(
        id="eu-de",
        region="eu-central-1",
        allowed_regions=("eu-central-1",),
        endpoints=endpoints,
        allow_external_for_public=external_public,
    )


SOVEREIGN = ModelEndpoint(name="llm", region="eu-central-1", tier=TrustTier.SOVEREIGN)
ABROAD = ModelEndpoint(name="llm-dr", region="us-east-1", tier=TrustTier.SOVEREIGN)
EXTERNAL = ModelEndpoint(name="vendor", region="eu-central-1", tier=TrustTier.EXTERNAL)


@pytest.mark.parametrize("value", ["SECRET", "", None, 3, "publicish"])
def test_unknown_levels_fail_closed(value: object) -> None:
    assert DataLevel.parse(value) is DataLevel.PRIVILEGED


def test_levels_are_ordered() -> None:
    assert highest([DataLevel.INTERNAL, DataLevel.PERSONAL, DataLevel.PUBLIC]) is DataLevel.PERSONAL
    assert highest([]) is DataLevel.PUBLIC


@pytest.mark.parametrize("level", list(DataLevel))
def test_endpoint_in_another_region_is_never_chosen(level: DataLevel) -> None:
    decision = decide_route(level, _jurisdiction(ABROAD, SOVEREIGN))
    assert decision.endpoint == SOVEREIGN
    assert any("llm-dr@us-east-1" in reason for reason in decision.excluded)
    only_abroad = decide_route(level, _jurisdiction(ABROAD))
    assert not only_abroad.allowed
    assert only_abroad.rule_id == RULE_DEFAULT_DENY


def test_external_only_for_public_when_allowed() -> None:
    j = _jurisdiction(EXTERNAL, external_public=True)
    assert decide_route(DataLevel.PUBLIC, j).rule_id == RULE_PUBLIC_EXTERNAL
    for level in (DataLevel.INTERNAL, DataLevel.PERSONAL, DataLevel.PRIVILEGED):
        assert not decide_route(level, j).allowed
    assert not decide_route(DataLevel.PUBLIC, _jurisdiction(EXTERNAL)).allowed


def test_no_endpoints_means_deny() -> None:
    assert not decide_route(DataLevel.PUBLIC, _jurisdiction()).allowed


def test_config_rejects_home_region_outside_allowed() -> None:
    with pytest.raises(ValidationError, match="home region"):
        Jurisdiction(id="x1", region="eu-west-1", allowed_regions=("eu-central-1",))


def test_config_rejects_org_of_unknown_jurisdiction() -> None:
    with pytest.raises(ValidationError, match="unknown jurisdiction"):
        GatewayConfig.model_validate(
            {
                "jurisdictions": [
                    {"id": "eu-de", "region": "eu-central-1", "allowed_regions": ["eu-central-1"]}
                ],
                "orgs": [
                    {
                        "org_id": "00D5E0000000001UAA",
                        "name": "x",
                        "jurisdiction": "fr",
                        "relay_channel_id": "0YL5E0000000001WAA",
                    }
                ],
            }
        )


def test_local_config_loads_and_finds_orgs_by_15_or_18_chars() -> None:
    config = load_config(ROOT / "config" / "gateway.yaml")
    org = config.org("00D5E0000000001")
    assert org is not None and org.jurisdiction == "eu-de"
    assert config.org("00D5E0000000001UAA") == org
    assert config.org("00D5Z0000000009UAA") is None
