"""Several locks held all together or not at all, under one token and one lease."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any, Dict, Optional

from .client import Client
from .errors import parse_time
from .held import Held

__all__ = ["LockSet"]


class LockSet(Held):
    """A lock set, held between :meth:`acquire` and :meth:`release` (or in a
    ``with`` block), with a heartbeat and ``lost`` just like a :class:`Lock`.
    ``fencing_tokens`` maps each lock's name to its own fencing token."""

    def __init__(self, client: Client, sets: str, body: Dict[str, Any], wait: float):
        super().__init__(client, sets)
        self._body = body
        self._wait = wait
        self.set_id: Optional[str] = None
        self.fencing_tokens: Dict[str, int] = {}
        self._expires_at: Optional[datetime] = None

    def __repr__(self) -> str:  # the lock token stays out of logs
        return f"LockSet({self._path!r}, fencing_tokens={self.fencing_tokens})"

    @property
    def expires_at(self) -> datetime:
        """The expiry the server gave at the last acquire or renewal (its clock)."""
        if self._expires_at is None:
            raise RuntimeError("this LockSet is not held")
        return self._expires_at

    def acquire(self) -> "LockSet":
        """Acquires every lock or none, waiting up to ``wait`` seconds for all to be
        free; raises :class:`LockHeld` if some are still held then. Starts the
        heartbeat."""
        self._unused()
        grant, sent = self._client.acquire_waiting(self._path, self._body, self._wait, wait_in_body=True)
        self.set_id = str(grant["set_id"])
        self.fencing_tokens = {lock["name"]: int(lock["fencing_token"]) for lock in grant["locks"]}
        self._expires_at = parse_time(grant["expires_at"])
        # From now on the set's own resource: its renewals and its release.
        self._path = f"{self._path}/{urllib.parse.quote(self.set_id, safe='')}"
        self._hold(str(grant["lock_token"]), self._body["ttl_seconds"], sent)
        return self

    def _renewed(self, answer: Dict[str, Any]) -> None:
        self._expires_at = parse_time(answer["expires_at"])
