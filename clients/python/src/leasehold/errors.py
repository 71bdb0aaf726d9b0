"""What can go wrong, as exceptions a caller can catch one by one."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, List, Optional

__all__ = [
    "LeaseholdError",
    "LockHeld",
    "SemaphoreFull",
    "LimitMismatch",
    "LeaseLost",
    "NotHeld",
    "NamespaceNotFound",
    "Unauthorized",
    "Forbidden",
    "InvalidRequest",
    "Unavailable",
    "Unreachable",
    "UnexpectedResponse",
]


class LeaseholdError(Exception):
    """The base of every error this package raises."""


class LockHeld(LeaseholdError):
    """Someone else holds the lock (or, for a lock set, the locks in ``held``), or
    it is free but promised to earlier waiters (409 ``lock_held``). Fields the
    server did not send are ``None``."""

    def __init__(
        self,
        expires_at: Optional[datetime],
        fencing_token: Optional[int],
        owner: Optional[str],
        retry_after: Optional[float],
        waiters: Optional[int] = None,
        held: Optional[List[str]] = None,
    ):
        members = f" ({', '.join(held)})" if held else ""
        until = f" until {zulu(expires_at)}" if expires_at else ""
        super().__init__(f"the lock is held{members}{until}")
        self.expires_at = expires_at
        self.fencing_token = fencing_token
        self.owner = owner
        self.retry_after = retry_after
        self.waiters = waiters
        self.held = held or []


class SemaphoreFull(LeaseholdError):
    """Every place in the semaphore is held or promised to earlier waiters (409
    ``semaphore_full``); ``limit`` and ``holders`` where the server says."""

    def __init__(self, message: str, retry_after: Optional[float], limit: Optional[int], holders: Optional[int]):
        super().__init__(message or "the semaphore is full")
        self.retry_after = retry_after
        self.limit = limit
        self.holders = holders


class LimitMismatch(LeaseholdError):
    """The semaphore is held under a different limit (``limit``, where the server
    says) than the one asked for (409 ``limit_mismatch``): every holder must agree."""

    def __init__(self, message: str, limit: Optional[int]):
        super().__init__(message)
        self.limit = limit


class LeaseLost(LeaseholdError):
    """The lease is gone (410 ``lease_lost``), or renewals failed until it may have lapsed.

    ``reason`` is the server's (``expired``, ``released``, ``superseded``,
    ``unknown_token``), ``unspecified`` from a server that does not say, or
    ``renewals_failed`` when this client judged it.
    """

    def __init__(self, reason: str):
        super().__init__(f"the lease is lost ({reason})")
        self.reason = reason


class NotHeld(LeaseholdError):
    """Nobody holds the lock (404 ``lock_not_held``)."""


class NamespaceNotFound(LeaseholdError):
    """The namespace does not exist or is not yours (404)."""


class Unauthorized(LeaseholdError):
    """The API key is missing, wrong or revoked (401)."""


class Forbidden(LeaseholdError):
    """The key may not do this (403 ``forbidden`` or ``plan_forbids``)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class InvalidRequest(LeaseholdError):
    """The server refused the request as malformed (400, 413, 422)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class Unavailable(LeaseholdError):
    """The server answered 503 (or 429, rate limited) on every attempt: the
    outcome is unknown."""

    def __init__(self, message: str, retry_after: Optional[float]):
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(LeaseholdError):
    """No answer from the server on any attempt: the outcome is unknown."""


class UnexpectedResponse(LeaseholdError):
    """Any other answer."""

    def __init__(self, status: int, code: Optional[str], message: str):
        super().__init__(f"unexpected answer ({status}): {message}")
        self.status = status
        self.code = code


def parse_time(value: str) -> datetime:
    """RFC 3339 as the server writes it (``...Z``, any fraction of a second)."""
    value = value.replace("Z", "+00:00")
    if "." in value:
        head, rest = value.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(value)


def from_response(status: int, retry_after: Optional[float], body: bytes) -> LeaseholdError:
    """The exception a non-success answer stands for."""
    try:
        parsed: Any = json.loads(body)
        error = parsed["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return UnexpectedResponse(status, None, body[:200].decode("utf-8", "replace"))
    if status == 409 and code == "lock_held":
        lock = parsed.get("lock") if isinstance(parsed.get("lock"), dict) else {}
        expires_at = lock.get("expires_at") or parsed.get("expires_at")
        token = lock.get("fencing_token")
        return LockHeld(
            parse_time(expires_at) if expires_at else None,
            int(token) if token is not None else None,
            lock.get("owner"),
            retry_after,
            parsed.get("waiters"),
            [str(name) for name in parsed.get("held") or []],
        )
    if status == 409 and code == "semaphore_full":
        return SemaphoreFull(message, retry_after, parsed.get("limit"), parsed.get("holders"))
    if status == 409 and code == "limit_mismatch":
        return LimitMismatch(message, parsed.get("limit"))
    if status == 410:
        return LeaseLost(str(error.get("reason") or "unspecified"))
    if status == 404 and code == "lock_not_held":
        return NotHeld(message)
    if status == 404 and code == "namespace_not_found":
        return NamespaceNotFound(message)
    if status == 401:
        return Unauthorized(message)
    if status == 403:
        return Forbidden(code, message)
    if status in (400, 413, 422):
        return InvalidRequest(code, message)
    if status in (429, 503):
        return Unavailable(message, retry_after)
    return UnexpectedResponse(status, code, message)


def zulu(at: datetime) -> str:
    """RFC 3339 in UTC ending in ``Z``, as the server writes times."""
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
