"""The Event Relay of one jurisdiction as Salesforce metadata (source format), generated from
the gateway configuration so the relay, the stack and the simulator name the same account,
region and events.

Per jurisdiction: a custom platform event channel, a member per relayed event
(``sovgw.wiring.ROUTED_SALESFORCE_EVENTS``), the named credential that holds the AWS account
and region, and the ``EventRelayConfig`` joining them. Salesforce's Event Relay set-up takes a
*legacy* named credential whose URL is ``arn:aws:<REGION IN CAPITALS>:<account>`` with the
default identity type and protocol (Salesforce Help, "Create a Named Credential" for Event
Relay); no external credential is involved.

``relayOption``: after an outage Salesforce resumes from the last relayed event; only when it
cannot does this apply. ``LATEST`` relays new events only (what happened meanwhile is lost to
the gateway); ``EARLIEST`` re-sends everything still on the event bus (up to three days). The
gateway deduplicates every stage by event id, so re-sending costs nothing but time: EARLIEST.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from sovgw.config import Jurisdiction
from sovgw.wiring import ROUTED_SALESFORCE_EVENTS

NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
REPLAY_RECOVERY = "EARLIEST"


def _name(jurisdiction: Jurisdiction) -> str:
    """``eu-de`` → ``Sovgw_eu_de``: developer names allow letters, digits and single ``_``."""
    return "Sovgw_" + jurisdiction.id.replace("-", "_")


def relay_name(jurisdiction: Jurisdiction) -> str:
    return _name(jurisdiction)


def channel_name(jurisdiction: Jurisdiction) -> str:
    return f"{_name(jurisdiction)}__chn"


def named_credential(jurisdiction: Jurisdiction) -> str:
    return f"{_name(jurisdiction)}_AWS"


def relay_endpoint(jurisdiction: Jurisdiction, account_id: str) -> str:
    """The named credential's URL, as Event Relay requires it (region in capitals)."""
    return f"arn:aws:{jurisdiction.region.upper()}:{account_id}"


def _document(root: str, fields: dict[str, str]) -> str:
    body = "".join(f"    <{key}>{escape(value)}</{key}>\n" for key, value in fields.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">\n{body}</{root}>\n'
    )


def relay_metadata(jurisdiction: Jurisdiction, account_id: str) -> dict[str, str]:
    """Source-format files (path relative to a package directory's ``main/default``)."""
    if not (len(account_id) == 12 and account_id.isdigit()):
        raise ValueError(f"not a 12-digit AWS account id: {account_id!r}")
    channel, credential = channel_name(jurisdiction), named_credential(jurisdiction)
    label = f"sovgw {jurisdiction.id}"
    files = {
        f"platformEventChannels/{channel}.platformEventChannel-meta.xml": _document(
            "PlatformEventChannel",
            {"channelType": "event", "label": f"{label}: events relayed to the gateway"},
        ),
        f"namedCredentials/{credential}.namedCredential-meta.xml": _document(
            "NamedCredential",
            {
                "allowMergeFieldsInBody": "false",
                "allowMergeFieldsInHeader": "false",
                "endpoint": relay_endpoint(jurisdiction, account_id),
                "generateAuthorizationHeader": "true",
                "label": f"{label}: AWS account {account_id}, {jurisdiction.region}",
                "namedCredentialType": "Legacy",
                "principalType": "Anonymous",
                "protocol": "NoAuthentication",
            },
        ),
        f"eventRelays/{relay_name(jurisdiction)}.eventRelay-meta.xml": _document(
            "EventRelayConfig",
            {
                "destinationResourceName": f"callout:{credential}",
                "eventChannel": channel,
                "label": f"{label} relay",
                "relayOption": json.dumps(
                    {"ReplayRecovery": REPLAY_RECOVERY}, separators=(",", ":")
                ),
                "state": "RUN",
            },
        ),
    }
    for event in ROUTED_SALESFORCE_EVENTS:
        member = f"{_name(jurisdiction)}_chn_{event.removesuffix('__e')}_e"
        files[f"platformEventChannelMembers/{member}.platformEventChannelMember-meta.xml"] = (
            _document(
                "PlatformEventChannelMember", {"eventChannel": channel, "selectedEntity": event}
            )
        )
    return files
