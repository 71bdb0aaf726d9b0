"""A place in a counting semaphore, held like a lock."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional

from .client import Client
from .errors import parse_time
from .held import Held
from .holders import Holder, holders_of

__all__ = ["Permit", "Semaphore", "SemaphoreState"]


@dataclass(frozen=True)
class Permit:
    """One holder's place in a semaphore, as the server granted it."""

    namespace: str
    name: str
    fencing_token: int
    limit: int
    holders: int  # how many held it, this holder included, when it was granted
    owner: Optional[str]
    acquired_at: datetime
    expires_at: datetime  # as of the last acquire or renewal (server clock)
    ttl_seconds: int
    metadata: Any = None

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Permit":
        return cls(
            namespace=data["namespace"],
            name=data["name"],
            fencing_token=int(data["fencing_token"]),
            limit=int(data["limit"]),
            holders=int(data["holders"]),
            owner=data.get("owner"),
            acquired_at=parse_time(data["acquired_at"]),
            expires_at=parse_time(data["expires_at"]),
            ttl_seconds=int(data["ttl_seconds"]),
            metadata=data.get("metadata"),
        )


@dataclass(frozen=True)
class SemaphoreState:
    """A semaphore's limit and every live holder's lease; ``limit`` is None when
    nobody holds it (then any limit may be asked for)."""

    namespace: str
    name: str
    limit: Optional[int]
    holders: List[Holder]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "SemaphoreState":
        limit = data.get("limit")
        return cls(data["namespace"], data["name"], None if limit is None else int(limit), holders_of(data))


class Semaphore(Held):
    """A place in a semaphore, held between :meth:`acquire` and :meth:`release` (or
    in a ``with`` block), with a heartbeat and ``lost`` just like a :class:`Lock`."""

    def __init__(self, client: Client, path: str, body: Dict[str, Any], wait: float):
        super().__init__(client, path)
        self._body = body
        self._wait = wait
        self.permit: Optional[Permit] = None

    def __repr__(self) -> str:  # the lock token stays out of logs
        return f"Semaphore({self._path!r}, fencing_token={self.permit.fencing_token if self.permit else None})"

    @property
    def fencing_token(self) -> int:
        return self._held().fencing_token

    @property
    def expires_at(self) -> datetime:
        return self._held().expires_at

    def acquire(self) -> "Semaphore":
        """Takes a place, waiting up to ``wait`` seconds for one; raises
        :class:`SemaphoreFull` if none freed up, :class:`LimitMismatch` if its
        holders use another limit. Starts the heartbeat."""
        self._unused()
        grant, sent = self._client.acquire_waiting(self._path, self._body, self._wait, wait_in_body=True)
        self.permit = Permit.from_json(grant)
        self._hold(str(grant["lock_token"]), self.permit.ttl_seconds, sent)
        return self

    def _renewed(self, answer: Dict[str, Any]) -> None:
        self.permit = dataclasses.replace(self._held(), expires_at=parse_time(answer["expires_at"]))

    def _held(self) -> Permit:
        if self.permit is None:
            raise RuntimeError("this Semaphore is not held")
        return self.permit
