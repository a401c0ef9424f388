"""The relay watcher's period, composed: heartbeats through the Salesforce adapter, the relay's
own feedback as the org's monitor user, metrics in EMF; the decisions are the domain's
(``sovgw.domain.relay_watch``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sovgw.app.invocation import logger
from sovgw.config import OrgBinding
from sovgw.domain.errors import GatewayError, UpstreamUnavailable
from sovgw.domain.relay_watch import watch
from sovgw.ports import HeartbeatSender, RelayLedger
from sovgw.wiring import HEARTBEAT_PERIOD_S

if TYPE_CHECKING:
    from sovgw.app.bootstrap import Dependencies


def relay_ledger(deps: Dependencies) -> RelayLedger:
    if deps.relay_ledger is None:
        raise UpstreamUnavailable("relay_watch needs the shared store (SOVGW_BUDGET_STORE_URL)")
    return deps.relay_ledger


def watch_period(deps: Dependencies) -> dict[str, Any]:
    """Check every org of the jurisdiction, then send each its next heartbeat."""
    from sovgw.adapters.relay_metrics import publish_relay_metrics  # noqa: PLC0415
    from sovgw.adapters.salesforce.heartbeat import SalesforceHeartbeats  # noqa: PLC0415

    orgs = deps.config.orgs_of(deps.jurisdiction.id)
    checks = watch(
        [o.org_id for o in orgs],
        deps.clock_ms(),
        HEARTBEAT_PERIOD_S,
        relay_ledger(deps),
        _Tolerant(SalesforceHeartbeats(deps.salesforce)),
        deps.audit,
        deps.jurisdiction.id,
        {o.org_id: _relay_error(deps, o) for o in orgs},
    )
    publish_relay_metrics(checks, deps.jurisdiction.id)
    gaps = {c.org_id: list(c.reasons) for c in checks if c.gap}
    if gaps:
        logger.warning("relay gap", gaps=gaps)
    return {
        "status": "watched",
        "gaps": gaps,
        "lag_s": {c.org_id: round(c.lag_s, 1) for c in checks},
    }


def _relay_error(deps: Dependencies, org: OrgBinding) -> str | None:
    """The relay's own error code, read as the org's monitor. Unread is not an error (the
    heartbeat still shows a gap), but it is logged."""
    if deps.relay_monitor is None:
        return None
    from sovgw.adapters.salesforce.relay_metadata import (  # noqa: PLC0415
        channel_name,
        named_credential,
    )
    from sovgw.adapters.salesforce.relay_setup import read_relay_setup  # noqa: PLC0415

    try:
        setup = read_relay_setup(
            deps.relay_monitor(org),
            named_credential(deps.jurisdiction),
            channel_name(deps.jurisdiction),
        )
    except GatewayError as error:
        logger.warning("relay feedback unread", org=org.org_id, error=type(error).__name__)
        return None
    return setup.feedback_code if setup.feedback_status == "ERROR" else None


class _Tolerant:
    """One org's Salesforce outage must not stop the others' checks: its heartbeat is not
    sent, and the missing heartbeat shows as that org's gap a period later."""

    def __init__(self, sender: HeartbeatSender) -> None:
        self._sender = sender

    def publish_heartbeat(self, org_id: str, beat_id: str, sent_ms: int) -> None:
        try:
            self._sender.publish_heartbeat(org_id, beat_id, sent_ms)
        except GatewayError as error:
            logger.warning("heartbeat not sent", org=org_id, error=type(error).__name__)
