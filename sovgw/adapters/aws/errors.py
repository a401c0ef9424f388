"""AWS errors mapped to the domain's: refused for good, absent, or worth a retry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from sovgw.domain.errors import RejectedInput, UpstreamUnavailable


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


class ResourceAbsent(RejectedInput):
    """The role, policy or resource named does not exist."""


@contextmanager
def unless_absent(service: str) -> Iterator[None]:
    """Like ``aws_errors``, but a role, policy or resource that does not exist is no error."""
    with contextlib.suppress(ResourceAbsent), aws_errors(service):
        yield


@contextmanager
def aws_errors(
    service: str,
    *,
    refused: frozenset[str] = frozenset({"ValidationException", "AccessDenied"}),
    absent: frozenset[str] = frozenset({"ResourceNotFoundException", "NoSuchEntity"}),
) -> Iterator[None]:
    """One mapping for every AWS call: a code in ``absent`` is ``ResourceAbsent``, one in
    ``refused`` is final (``RejectedInput``), anything else may heal (``UpstreamUnavailable``).
    Messages name the service and the error code, never the request."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in absent:
            raise ResourceAbsent(f"{service} refused: {code}") from None
        if code in refused:
            raise RejectedInput(f"{service} refused: {code}") from None
        raise UpstreamUnavailable(f"{service} failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(f"{service} unreachable: {type(error).__name__}") from None
