"""A held lock (exclusive or shared) that renews itself in a thread and says when it is lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional, Tuple

from .client import Client, Lease, acquire_body
from .held import Held

__all__ = ["Lock"]


class Lock(Held):
    """A lock, held between :meth:`acquire` and :meth:`release` (or in a ``with``
    block), exclusive or, with ``shared=True``, shared with other shared holders.
    While held, a daemon thread renews the lease at a third of its time to live.
    ``lost`` is a :class:`threading.Event` set when the lease is lost: the server
    refused a renewal (``lost_reason`` is its reason), or renewals failed until
    the time to live had passed since the last successful renewal was *sent*, by
    this process's monotonic clock (``"renewals_failed"``).
    Work that must not outlive the lease should check ``lost`` (or wait on it).
    """

    def __init__(
        self,
        client: Client,
        path: str,
        ttl: float,
        wait: float,
        owner: Optional[str],
        metadata: Any,
        shared: bool = False,
    ):
        super().__init__(client, path)
        self._body = acquire_body(ttl, owner, metadata)
        if shared:  # only then, so an exclusive acquire reads as it always has
            self._body["mode"] = "shared"
        self._wait = wait
        self.lease: Optional[Lease] = None

    def __repr__(self) -> str:  # the lock token stays out of logs
        return f"Lock({self._path!r}, fencing_token={self.fencing_token if self.lease else None})"

    @property
    def fencing_token(self) -> int:
        """Pass it to the resource you protect, and have it refuse lower ones."""
        return self._held().fencing_token

    @property
    def expires_at(self) -> datetime:
        """The expiry the server gave at the last acquire or renewal (its clock)."""
        return self._held().expires_at

    def acquire(self) -> "Lock":
        """Acquires, waiting up to ``wait`` seconds; raises :class:`LockHeld` if the
        lock is still held then. Starts the heartbeat."""
        self._unused()
        grant, sent = self._client.acquire_waiting(self._path, self._body, self._wait)
        self._take(Lease.from_json(grant), str(grant["lock_token"]), sent)
        return self

    def adopt(self, lock_token: str) -> "Lock":
        """Takes up a lease acquired elsewhere: renews it once, then heartbeats it."""
        self._unused()
        answer = self._client.renew_answer(self._path, lock_token, None)
        self._take(Lease.from_json(answer.json()), lock_token, answer.sent)
        return self

    def hand_over(self, owner: Optional[str] = None, ttl: Optional[float] = None) -> Tuple[Lease, str]:
        """Stops the heartbeat and hands the lock over: this lease ends and the next
        one (new token, higher fencing token) is returned with its lock token, for
        another holder to take up with ``Client.adopt``."""
        token = self._give_up()
        if token is None:
            raise RuntimeError("this Lock is not held")
        return self._client.handover_path(self._path, token, owner, ttl)

    def _take(self, lease: Lease, lock_token: str, sent: float) -> None:
        self.lease = lease
        self._hold(lock_token, lease.ttl_seconds, sent)

    def _renewed(self, answer: Dict[str, Any]) -> None:
        self.lease = Lease.from_json(answer)

    def _held(self) -> Lease:
        if self.lease is None:
            raise RuntimeError("this Lock is not held")
        return self.lease
