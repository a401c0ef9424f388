"""Policy engine: table-driven decisions, residency invariants (property-based), policy files."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sovgw.config import GatewayConfig, Jurisdiction, ModelEndpoint, TrustTier, load_config
from sovgw.domain.levels import DataLevel, highest
from sovgw.domain.routing import RULE_DEFAULT_DENY, RouteQuery, decide_route
from sovgw.policy import PolicyRule, RoutingPolicy, load_policy
from tests.conftest import ROOT
from tests.factories import make_jurisdiction

SOVEREIGN = ModelEndpoint(name="llm", region="eu-central-1", tier=TrustTier.SOVEREIGN)
SOVEREIGN_B = ModelEndpoint(name="llm-b", region="eu-central-1", tier=TrustTier.SOVEREIGN)
ABROAD = ModelEndpoint(name="llm-dr", region="us-east-1", tier=TrustTier.SOVEREIGN)
EXTERNAL = ModelEndpoint(
    name="vendor", region="eu-central-1", tier=TrustTier.EXTERNAL, base_url="https://v.example/v1"
)
L = DataLevel


def _query(level: DataLevel, residual: DataLevel | None = None, purpose: str = "p") -> RouteQuery:
    return RouteQuery(level=level, residual_level=residual, purpose=purpose)


@pytest.mark.parametrize("value", ["SECRET", "", None, 3, "publicish"])
def test_unknown_levels_fail_closed(value: object) -> None:
    assert DataLevel.parse(value) is DataLevel.PRIVILEGED


def test_levels_are_ordered() -> None:
    assert highest([L.INTERNAL, L.PERSONAL, L.PUBLIC]) is L.PERSONAL
    assert highest([]) is L.PUBLIC


# (endpoints, rule options, level, residual, expected endpoints or None for deny, reason part)
TABLE = [
    ((SOVEREIGN,), {}, L.PRIVILEGED, None, ("llm",), ""),
    ((ABROAD, SOVEREIGN), {}, L.PERSONAL, None, ("llm",), ""),
    ((ABROAD,), {}, L.PUBLIC, None, None, "outside eu-de"),
    ((SOVEREIGN, SOVEREIGN_B), {}, L.CONFIDENTIAL, None, ("llm", "llm-b"), ""),
    ((EXTERNAL,), {}, L.PUBLIC, None, ("vendor",), ""),
    ((EXTERNAL,), {}, L.PERSONAL, L.PUBLIC, None, "refuses PERSONAL"),
    ((EXTERNAL,), {"external_sensitive": "pseudonymise"}, L.PERSONAL, L.PUBLIC, ("vendor",), ""),
    ((EXTERNAL,), {"external_sensitive": "pseudonymise"}, L.PERSONAL, None, None, "only PUBLIC"),
    ((EXTERNAL,), {"external_sensitive": "pseudonymise"}, L.INTERNAL, L.INTERNAL, None, "INTERNAL"),
    (
        (EXTERNAL,),
        {"external_sensitive": "pseudonymise"},
        L.PRIVILEGED,
        L.PUBLIC,
        None,
        "sovereign",
    ),
    (
        (EXTERNAL, SOVEREIGN),
        {"external_sensitive": "pseudonymise"},
        L.PRIVILEGED,
        None,
        ("llm",),
        "",
    ),
    ((SOVEREIGN,), {"levels": (L.PUBLIC,)}, L.INTERNAL, None, None, "no rule"),
    ((SOVEREIGN,), {"purposes": ("draft_reply",)}, L.PUBLIC, None, None, "no rule"),
    ((), {}, L.PUBLIC, None, None, "no rule"),
]


@pytest.mark.parametrize(("endpoints", "options", "level", "residual", "expected", "why"), TABLE)
def test_decision_table(  # noqa: PLR0917 - one parameter per table column
    endpoints: tuple[ModelEndpoint, ...],
    options: dict[str, object],
    level: DataLevel,
    residual: DataLevel | None,
    expected: tuple[str, ...] | None,
    why: str,
) -> None:
    decision = decide_route(_query(level, residual), make_jurisdiction(*endpoints, **options))  # type: ignore[arg-type]
    if expected is None:
        assert not decision.allowed
        assert why in decision.reason
        assert decision.endpoints == ()
    else:
        assert decision.allowed
        assert tuple(e.name for e in decision.endpoints) == expected
    explained = decision.explanation()
    assert explained["level"] == level.value and explained["policy_version"] == "test-1"


def test_denial_names_the_rule_and_every_excluded_destination() -> None:
    decision = decide_route(_query(L.PERSONAL), make_jurisdiction(ABROAD, EXTERNAL))
    assert decision.rule_id == "test.rule"
    assert len(decision.excluded) == 2
    assert "llm-dr@us-east-1" in decision.reason and "vendor@eu-central-1" in decision.reason
    assert (
        decide_route(_query(L.PERSONAL), make_jurisdiction(SOVEREIGN, levels=(L.PUBLIC,))).rule_id
        == RULE_DEFAULT_DENY
    )


def test_media_count_as_privileged_unless_the_rule_allows_them() -> None:
    """An image, audio or file part: nothing scanned it, so by default it is PRIVILEGED and
    no external destination gets it; a rule with media "allow" sends it where its text may
    go (still only in-region, still with the text's pseudonymisation rules)."""
    image = RouteQuery(level=L.PUBLIC, purpose="p", media=True)
    refused = decide_route(image, make_jurisdiction(EXTERNAL))
    assert not refused.allowed and refused.query.level is L.PRIVILEGED
    in_region = decide_route(image, make_jurisdiction(SOVEREIGN))
    assert in_region.endpoints == (SOVEREIGN,) and in_region.query.level is L.PRIVILEGED
    allowed = decide_route(image, make_jurisdiction(EXTERNAL, media="allow"))
    assert allowed.endpoints == (EXTERNAL,) and allowed.query.level is L.PUBLIC
    personal = RouteQuery(level=L.PERSONAL, residual_level=L.PERSONAL, purpose="p", media=True)
    assert not decide_route(personal, make_jurisdiction(EXTERNAL, media="allow")).allowed
    abroad = decide_route(image, make_jurisdiction(ABROAD, media="allow"))
    assert not abroad.allowed, "media allowed is never allowed across the border"


REGIONS = ["eu-central-1", "eu-central-2", "eu-west-1", "eu-west-3", "us-east-1", "ap-south-1"]
endpoint_strategy = st.builds(
    ModelEndpoint,
    name=st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
    region=st.sampled_from(REGIONS),
    tier=st.sampled_from(list(TrustTier)),
)


@settings(max_examples=300, deadline=None)
@given(
    endpoints=st.lists(endpoint_strategy, max_size=6, unique_by=lambda e: e.name),
    home=st.sampled_from(REGIONS),
    level=st.sampled_from(list(DataLevel)),
    residual=st.sampled_from(list(DataLevel)),
    external_sensitive=st.sampled_from(["pseudonymise", "refuse"]),
    media=st.booleans(),
    media_rule=st.sampled_from(["privileged", "allow"]),
)
def test_never_cross_border_never_privileged_outside_sovereign(  # noqa: PLR0917
    endpoints: list[ModelEndpoint],
    home: str,
    level: DataLevel,
    residual: DataLevel,
    external_sensitive: str,
    media: bool,
    media_rule: str,
) -> None:
    residual = min(residual, level, key=lambda x: x.rank)
    jurisdiction = make_jurisdiction(
        *endpoints,
        region=home,
        external_sensitive=external_sensitive,  # type: ignore[arg-type]
        media=media_rule,  # type: ignore[arg-type]
    )
    query = RouteQuery(level=level, residual_level=residual, purpose="p", media=media)
    decision = decide_route(query, jurisdiction)
    for endpoint in decision.endpoints:
        assert endpoint.region == home
        if endpoint.tier is TrustTier.EXTERNAL:
            assert level is not L.PRIVILEGED and residual is L.PUBLIC
            assert level is L.PUBLIC or external_sensitive == "pseudonymise"
            assert not media or media_rule == "allow", "media reach a vendor only when allowed"
    in_region_sovereign = [e for e in endpoints if e.region == home and e.tier == "sovereign"]
    assert decision.allowed == bool(
        in_region_sovereign or (decision.endpoints and decision.endpoints[0].tier == "external")
    )


def test_config_rejects_home_region_outside_allowed() -> None:
    policy = RoutingPolicy(version="1", jurisdiction="x1")
    with pytest.raises(ValidationError, match="home region"):
        Jurisdiction(id="x1", region="eu-west-1", allowed_regions=("eu-central-1",), policy=policy)


def test_config_rejects_a_policy_of_another_jurisdiction() -> None:
    policy = RoutingPolicy(version="1", jurisdiction="eu-fr")
    with pytest.raises(ValidationError, match="has the policy of"):
        Jurisdiction(
            id="eu-de", region="eu-central-1", allowed_regions=("eu-central-1",), policy=policy
        )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {
                "destinations": [],
                "rules": [{"id": "r1", "levels": ["PUBLIC"], "destinations": ["x"]}],
            },
            "unknown destinations",
        ),
        (
            {"destinations": [{"upstream": "sagemaker:llm@eu-central-1", "tier": "sovereign"}] * 2},
            "duplicate destination",
        ),
        ({"destinations": [{"upstream": "ftp://x", "tier": "external"}]}, "neither sagemaker"),
        (
            {"destinations": [{"upstream": "openai:https://x.example/v1", "tier": "external"}]},
            "needs a name",
        ),
        (
            {
                "destinations": [
                    {
                        "upstream": "sagemaker:llm@eu-central-1",
                        "region": "eu-west-1",
                        "tier": "sovereign",
                    }
                ]
            },
            "contradicts",
        ),
        ({"rules": [{"id": "r1", "levels": ["SECRET"], "destinations": ["x"]}]}, "levels"),
        (
            {"rules": [{"id": "r1", "levels": ["PUBLIC"], "destinations": ["x"], "colour": "red"}]},
            "colour",
        ),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(
    policy: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        RoutingPolicy.model_validate({"version": "1", "jurisdiction": "eu-de", **policy})


def test_config_rejects_org_of_unknown_jurisdiction() -> None:
    with pytest.raises(ValidationError, match="unknown jurisdiction"):
        GatewayConfig.model_validate(
            {
                "jurisdictions": [
                    {
                        "id": "eu-de",
                        "region": "eu-central-1",
                        "allowed_regions": ["eu-central-1"],
                        "policy": {"version": "1", "jurisdiction": "eu-de"},
                    }
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


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "policies").glob("*.yaml")), ids=str)
def test_shipped_policies_load_and_never_route_abroad(path: Path) -> None:
    policy = load_policy(path)
    jurisdiction = load_config(ROOT / "config" / "gateway.yaml").jurisdiction(policy.jurisdiction)
    assert jurisdiction is not None and jurisdiction.policy == policy
    for level in DataLevel:
        for purpose in [*policy.purposes, "other"]:
            decision = decide_route(_query(level, purpose=purpose), jurisdiction)
            assert all(e.region in jurisdiction.allowed_regions for e in decision.endpoints)


def test_shipped_eu_de_policy_excludes_the_misconfigured_endpoint_and_fails_over_in_region() -> (
    None
):
    eu_de = load_config(ROOT / "config" / "gateway.yaml").jurisdiction("eu-de")
    assert eu_de is not None
    decision = decide_route(_query(L.PRIVILEGED), eu_de)
    assert [e.ref for e in decision.endpoints] == [
        "sovgw-eu-de-llm@eu-central-1",
        "sovgw-eu-de-llm-b@eu-central-1",
    ]
    assert any("sovgw-eu-de-llm-dr@us-east-1" in reason for reason in decision.excluded)


def test_rules_match_first_in_order() -> None:
    rule_a = PolicyRule(id="a.rule", levels=(L.PUBLIC,), destinations=("llm-b",))
    rule_b = PolicyRule(id="b.rule", levels=tuple(DataLevel), destinations=("llm",))
    policy = RoutingPolicy(
        version="2",
        jurisdiction="eu-de",
        destinations=(SOVEREIGN, SOVEREIGN_B),
        rules=(rule_a, rule_b),
    )
    jurisdiction = make_jurisdiction().model_copy(update={"policy": policy})
    assert decide_route(_query(L.PUBLIC), jurisdiction).rule_id == "a.rule"
    assert decide_route(_query(L.PERSONAL), jurisdiction).rule_id == "b.rule"
