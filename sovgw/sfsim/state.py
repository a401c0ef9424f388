"""The simulated Salesforce instance: several orgs in one shared org store (``store``), with
Salesforce's APIs split by seam over it: OAuth (``oauth``), REST and SOQL (``rest``), platform
events and Event Relay (``relay``). A token belongs to exactly one org, so a client of org A
can never read org B (tenant isolation is part of what the tests check).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sovgw.sfsim.bulk import BulkQueryApi
from sovgw.sfsim.metadata import FieldSpec, ProjectMetadata
from sovgw.sfsim.model import (
    ConnectedApp,
    Fault,
    IssuedToken,
    OAuthError,
    ObjectType,
    PublishedEvent,
    RelayChannel,
    RestError,
    SimOrg,
    UserAuth,
)
from sovgw.sfsim.oauth import OAuthApi
from sovgw.sfsim.relay import RelayApi
from sovgw.sfsim.rest import RestApi
from sovgw.sfsim.store import OrgStore
from sovgw.sfsim.streaming import StreamingApi

__all__ = [
    "ConnectedApp",
    "Fault",
    "FieldSpec",
    "IssuedToken",
    "OAuthError",
    "ObjectType",
    "PublishedEvent",
    "RelayChannel",
    "RestError",
    "SimOrg",
    "Simulator",
    "UserAuth",
]


class Simulator(OrgStore):
    """One simulated instance: the org store (seeding, time) and the APIs that serve it."""

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        project: ProjectMetadata | None = None,
    ) -> None:
        super().__init__(clock, project)
        self.oauth = OAuthApi(self)
        self.relay = RelayApi(self)
        self.rest = RestApi(self, self.relay)
        self.bulk = BulkQueryApi(self, self.rest)
        self.streaming = StreamingApi(self, self.relay)
