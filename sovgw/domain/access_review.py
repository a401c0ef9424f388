"""The quarterly access review of an org's service accounts: every credential the gateway
holds for it and the user each one logs in as, their permission sets, when each was last
used, the break-glass grants of the quarter, and the findings a reviewer must sign off.

What is allowed is declared here, next to the findings it produces: each integration user
holds ``Sovgw_Integration`` and nothing else for good; ``Sovgw_Dataset_Export`` and every
``Break_Glass_*`` set only with an expiry (an export's window, a grant); the monitor user
``Sovgw_Relay_Monitor`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sovgw.domain.audit_chain import Signature, canonical, sha256_hex

Role = Literal["integration", "emergency", "monitor"]
STANDING_SETS: dict[Role, frozenset[str]] = {
    "integration": frozenset({"Sovgw_Integration"}),
    "emergency": frozenset({"Sovgw_Integration"}),
    "monitor": frozenset({"Sovgw_Relay_Monitor"}),
}
# Sets a service user may hold only for a bounded time (an ExpirationDate on the assignment).
EXPIRING_SETS = re.compile(r"^(Sovgw_Dataset_Export|Break_Glass_.+)$")
UNUSED_AFTER = timedelta(days=90)


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = re.fullmatch(r"(\d{4})Q([1-4])", text)
        if match is None:
            raise ValueError(f"not a quarter: {text!r} (e.g. 2026Q4)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: datetime) -> Quarter:
        return cls(moment.year, (moment.month - 1) // 3 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, 3 * self.number - 2, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the quarter."""
        if self.number == 4:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, 3 * self.number + 1, 1, tzinfo=UTC)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


@dataclass(frozen=True)
class Credential:
    """One secret the gateway holds for the org (its client id is not a secret), and what
    Salesforce said when the review logged in with it once: the user it acts as, the scopes
    granted, or why it was refused."""

    secret_name: str
    role: Role
    client_id: str | None  # None: the secret does not exist
    last_accessed: date | None = None  # Secrets Manager's LastAccessedDate (day precision)
    last_rotated: datetime | None = None
    user_id: str | None = None
    scope: str | None = None
    refused: str | None = None


@dataclass(frozen=True)
class Login:
    """A LoginHistory row: who logged in, when, with what result."""

    user_id: str
    at: datetime
    status: str


@dataclass(frozen=True)
class ServiceUser:
    user_id: str
    username: str
    active: bool


@dataclass(frozen=True)
class Assignment:
    user_id: str
    permission_set: str
    expires: datetime | None


@dataclass(frozen=True)
class GrantSeen:
    """A break-glass step in the quarter's audit records (ids and times, never the case)."""

    at: datetime
    step: str
    principal: str
    record_id: str


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class CredentialRow:
    credential: Credential
    user: ServiceUser | None
    last_login: datetime | None


@dataclass(frozen=True)
class AccessReview:
    org_id: str
    quarter: Quarter
    generated: datetime
    credentials: tuple[CredentialRow, ...]
    assignments: tuple[tuple[ServiceUser, Assignment], ...]
    grants: tuple[GrantSeen, ...]
    findings: tuple[Finding, ...] = field(default=())


def review(
    org_id: str,
    quarter: Quarter,
    *,
    generated: datetime,
    credentials: list[Credential],
    logins: list[Login],
    users: dict[str, ServiceUser],
    assignments: list[Assignment],
    grants: list[GrantSeen],
    other_orgs_client_ids: dict[str, str],
    review_days: frozenset[date] = frozenset(),
) -> AccessReview:
    """Join what was read and judge it. ``logins``: the service users' logins before the
    review's own; ``other_orgs_client_ids``: client id → org, from the other orgs' latest
    reviews; ``review_days``: days earlier reviews of this org ran (a review reads every
    secret, so a last read on such a day says nothing about the gateway's use)."""
    findings: list[Finding] = []
    rows: list[CredentialRow] = []
    roles_of_user: dict[str, set[Role]] = {}
    for credential in credentials:
        user = users.get(credential.user_id) if credential.user_id else None
        own = [x.at for x in logins if x.user_id == credential.user_id and x.status == "Success"]
        rows.append(CredentialRow(credential, user, max(own, default=None)))
        if credential.client_id is None:
            findings.append(
                Finding("missing_credential", credential.secret_name, "the secret does not exist")
            )
            continue
        if credential.refused:
            findings.append(
                Finding("refused_credential", credential.secret_name, credential.refused)
            )
        if user is not None:
            roles_of_user.setdefault(user.user_id, set()).add(credential.role)
            if not user.active:
                findings.append(
                    Finding("inactive_user", credential.secret_name, f"acts as {user.username}")
                )
        last_read = None if credential.last_accessed in review_days else credential.last_accessed
        if credential.role != "emergency" and (
            last_read is None or last_read < (generated - UNUSED_AFTER).date()
        ):  # the emergency credential is kept for the day it is needed
            findings.append(
                Finding(
                    "unused_credential",
                    credential.secret_name,
                    f"not read by the gateway since {last_read or 'it was made'}"
                    f" ({UNUSED_AFTER.days} days allowed): retire it",
                )
            )
        shared = other_orgs_client_ids.get(credential.client_id)
        if shared is not None:
            findings.append(
                Finding(
                    "shared_credential",
                    credential.secret_name,
                    f"the same client id is used for org {shared}",
                )
            )
    held: list[tuple[ServiceUser, Assignment]] = []
    for assignment in assignments:
        user = users.get(assignment.user_id)
        roles = roles_of_user.get(assignment.user_id)
        if user is None or not roles:
            continue  # not a service user of the gateway: out of this review's scope
        held.append((user, assignment))
        standing = frozenset[str]().union(*(STANDING_SETS[r] for r in roles))
        name = assignment.permission_set
        if name in standing:
            continue
        if EXPIRING_SETS.match(name):
            if assignment.expires is None:
                findings.append(
                    Finding(
                        "standing_temporary_set",
                        user.username,
                        f"{name} held without an expiry (allowed only for a window)",
                    )
                )
            continue
        findings.append(
            Finding(
                "permission_beyond_allow_list",
                user.username,
                f"{name} is not in the allow-list of a {'/'.join(sorted(roles))} user",
            )
        )
    return AccessReview(
        org_id=org_id,
        quarter=quarter,
        generated=generated,
        credentials=tuple(rows),
        assignments=tuple(held),
        grants=tuple(sorted(grants, key=lambda g: g.at)),
        findings=tuple(findings),
    )


class ReviewDigest(BaseModel):
    """What was reviewed, signed with the jurisdiction's digest key like the audit digests:
    the review's files by SHA-256, so a copy handed to an auditor can be checked."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    quarter: str
    generated: datetime
    findings: int
    files: dict[str, str]  # file name → SHA-256
    # The org's client ids (not secrets): the next review of another org compares its own.
    client_ids: tuple[str, ...] = ()
    signature: Signature | None = None

    def signed_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json", exclude={"signature"}))


def review_digest(review: AccessReview, files: dict[str, bytes]) -> ReviewDigest:
    return ReviewDigest(
        org_id=review.org_id,
        quarter=str(review.quarter),
        generated=review.generated,
        findings=len(review.findings),
        files={name: sha256_hex(body) for name, body in sorted(files.items())},
        client_ids=tuple(
            sorted({r.credential.client_id for r in review.credentials if r.credential.client_id})
        ),
    )
