"""The one key schema of the shared store (Valkey/ElastiCache).

Every key of an org carries ``{<org id, 15 chars>}`` as its hash tag, so an org's keys share a
cluster slot and one Lua script may touch several of them. The budget, the grants and the
shared Salesforce sessions all build their keys here, so two adapters never spell the same key
twice (the set of active grants is both the budget's EMERGENCY unlock and the grants' hold).
"""

from __future__ import annotations

PREFIX = "sovgw"
BREAK_GLASS_DUE = f"{PREFIX}:break-glass:due"  # not per org: the sweeper reads every org's


def org_key(org_id: str, name: str, prefix: str = PREFIX) -> str:
    """``sovgw:{<org15>}:<name>``."""
    return f"{prefix}:{{{org_id[:15]}}}:{name}"


def active_grants(org_id: str, prefix: str = PREFIX) -> str:
    """Sorted set: grant id → end (epoch ms) of every grant holding the EMERGENCY lane open."""
    return org_key(org_id, "grants", prefix)


def grant_record(org_id: str, request_id: str, prefix: str = PREFIX) -> str:
    return org_key(org_id, f"break-glass:{request_id}", prefix)


def grant_index(org_id: str, prefix: str = PREFIX) -> str:
    """Sorted set: request id → requested at (epoch ms), for ``list``."""
    return org_key(org_id, "break-glass", prefix)


def session_key(org_id: str, kind: str, part: str = "") -> str:
    """A shared Salesforce session of one scope kind (``integration``, ``grant:<id>``)."""
    return org_key(org_id, f"sf-session:{kind}{part}")


def audit_anchors(stream: str, prefix: str = PREFIX) -> tuple[str, str]:
    """A stream's anchor counter and its sorted set (position → ``<record id> <sha256>``),
    under the stream's org (``<jurisdiction>/<org>``) as hash tag."""
    jurisdiction, org_id = stream.split("/", 1)
    return (
        org_key(org_id, f"audit-anchors:{jurisdiction}:next", prefix),
        org_key(org_id, f"audit-anchors:{jurisdiction}", prefix),
    )


def anchored_streams(jurisdiction: str, prefix: str = PREFIX) -> str:
    """Set: every stream of the jurisdiction that ever anchored a record (not per org: the
    sealer reads them all, so a stream whose every object is gone is still sealed)."""
    return f"{prefix}:audit-anchors:{jurisdiction}:streams"


def relay_key(org_id: str, name: str, prefix: str = PREFIX) -> str:
    """The relay ledger of an org: ``received`` (sorted set, ``<uuid> <replay id>`` by publish
    time), ``heartbeat`` (newest send time), ``watching`` (first check), ``gap`` (open since)."""
    return org_key(org_id, f"relay:{name}", prefix)


def suspended(org_id: str, prefix: str = PREFIX) -> str:
    """Hash: principal → its suspension (JSON), read by the budget's admission script."""
    return org_key(org_id, "suspended", prefix)


def anomaly_key(jurisdiction: str, name: str, prefix: str = PREFIX) -> str:
    """The anomaly watcher's keys of a jurisdiction (one hash tag: one slot): ``hours``
    (sorted set of open hours), ``seen:<epoch hour>`` (list of observations), ``detector``
    (its history), ``watching`` (the run's lock)."""
    return f"{prefix}:{{anomaly:{jurisdiction}}}:{name}"
