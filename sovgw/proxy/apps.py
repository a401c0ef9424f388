"""Who may call the proxy: one API key per app, bound to one jurisdiction and its purposes.

The configuration holds only SHA-256 hashes of the keys, so it can be reviewed and versioned
like the policies; the keys themselves live with the calling app (a Salesforce Named
Credential, a portal's secret store).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator

from sovgw.config import GatewayConfig, load_config
from sovgw.domain.levels import DataLevel
from sovgw.policy import Frozen, TrustTier, read_yaml

KEY_PREFIX = "sk-sovgw-"


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key and the hash to put in the proxy configuration."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_hash(key)


class ModelAlias(Frozen):
    """A model name clients send (an ``fnmatch`` pattern: ``gpt-4o``, ``claude-*``, ``*``)
    and where it may go: ``auto`` (routing decides), a trust tier (``sovereign`` or
    ``external``: routing decides among that tier's destinations), or one destination's name.
    The policy still decides; an alias only narrows the choice."""

    pattern: str = Field(min_length=1, max_length=200)
    route: str = Field(default="auto", min_length=1, max_length=200)


class CallerApp(Frozen):
    """A calling application. ``baseline_level`` is what its prompts are assumed to contain
    before any finding (free text has no field metadata), so the fail-closed default is the
    most sensitive level."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    jurisdiction: str
    purposes: tuple[str, ...] = Field(min_length=1)
    baseline_level: DataLevel = DataLevel.PRIVILEGED
    # Tried before the configuration's aliases; the first pattern that matches wins.
    model_aliases: tuple[ModelAlias, ...] = ()

    @property
    def default_purpose(self) -> str:
        return self.purposes[0]


class ProxyConfig(Frozen):
    """The proxy's callers, limits and the gateway configuration (jurisdictions, policies)."""

    gateway: str
    apps: tuple[CallerApp, ...] = ()
    max_body_bytes: int = Field(default=1_048_576, gt=0, le=10_485_760)
    upstream_read_timeout_s: float = Field(default=60.0, gt=0)
    model_aliases: tuple[ModelAlias, ...] = ()
    base_dir: Path = Path()

    @model_validator(mode="after")
    def _unique(self) -> ProxyConfig:
        ids = [a.id for a in self.apps]
        hashes = [a.key_sha256 for a in self.apps]
        if len(set(ids)) != len(ids) or len(set(hashes)) != len(hashes):
            raise ValueError("app ids and key hashes must be unique")
        return self

    @cached_property
    def gateway_config(self) -> GatewayConfig:
        config = load_config(self.base_dir / self.gateway)
        for app in self.apps:
            jurisdiction = config.jurisdiction(app.jurisdiction)
            if jurisdiction is None:
                raise ValueError(f"app {app.id} names unknown jurisdiction {app.jurisdiction}")
            routes = {
                "auto",
                *(t.value for t in TrustTier),
                *(e.name for e in jurisdiction.endpoints),
            }
            for alias in self.aliases_for(app):
                if alias.route not in routes:
                    raise ValueError(
                        f"model alias {alias.pattern!r} of app {app.id} routes to "
                        f"{alias.route!r}: not auto, a trust tier or a destination of "
                        f"{jurisdiction.id}"
                    )
        return config

    def aliases_for(self, app: CallerApp) -> tuple[ModelAlias, ...]:
        return (*app.model_aliases, *self.model_aliases)

    def authenticate(self, api_key: str) -> CallerApp | None:
        """The app whose key this is (compared in constant time; no index to go stale when
        the configuration is copied with fewer apps)."""
        digest = key_hash(api_key)
        return next((a for a in self.apps if hmac.compare_digest(a.key_sha256, digest)), None)


def load_proxy_config(path: Path) -> ProxyConfig:
    """Load the proxy configuration; ``gateway`` is relative to the file."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the proxy configuration must be a mapping")
    config = ProxyConfig.model_validate({**raw, "base_dir": path.parent})
    _ = config.gateway_config  # fail at start, not on the first request
    return config
