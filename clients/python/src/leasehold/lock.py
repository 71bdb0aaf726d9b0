"""A held lease that renews itself in a thread and says when it is lost."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any, Optional, Tuple, Type

from .client import Client, Lease, acquire_body
from .errors import LeaseholdError, LeaseLost

__all__ = ["Lock"]


class Lock:
    """A lock, held between :meth:`acquire` and :meth:`release` (or in a ``with``
    block). While held, a daemon thread renews the lease at a third of its time
    to live. ``lost`` is a :class:`threading.Event` set when the lease is lost:
    the server refused a renewal (``lost_reason`` is its reason), or renewals
    failed until the time to live had passed since the last successful renewal
    was *sent*, by this process's monotonic clock (``"renewals_failed"``).
    Work that must not outlive the lease should check ``lost`` (or wait on it).
    """

    def __init__(self, client: Client, path: str, ttl: float, wait: float, owner: Optional[str], metadata: Any):
        self._client = client
        self._path = path
        self._body = acquire_body(ttl, owner, metadata)
        self._wait = wait
        self.lost = threading.Event()
        self.lost_reason: Optional[str] = None
        self.lease: Optional[Lease] = None
        self.lock_token: Optional[str] = None
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

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

    @property
    def valid_until(self) -> float:
        """The ``time.monotonic()`` after which the lease may have lapsed."""
        return self._valid_until

    def acquire(self) -> "Lock":
        """Acquires, waiting up to ``wait`` seconds; raises :class:`LockHeld` if the
        lock is still held then. Starts the heartbeat."""
        if self.lease is not None:
            raise RuntimeError("this Lock is already held")
        grant, sent = self._client.acquire_waiting(self._path, self._body, self._wait)
        self._hold(Lease.from_json(grant), str(grant["lock_token"]), sent)
        return self

    def adopt(self, lock_token: str) -> "Lock":
        """Takes up a lease acquired elsewhere: renews it once, then heartbeats it."""
        if self.lease is not None:
            raise RuntimeError("this Lock is already held")
        answer = self._client.renew_answer(self._path, lock_token, None)
        self._hold(Lease.from_json(answer.json()), lock_token, answer.sent)
        return self

    def hand_over(self, owner: Optional[str] = None, ttl: Optional[float] = None) -> Tuple[Lease, str]:
        """Stops the heartbeat and hands the lock over: this lease ends and the next
        one (new token, higher fencing token) is returned with its lock token, for
        another holder to take up with ``Client.adopt``."""
        self._halt()
        token = self.lock_token
        if token is None:
            raise RuntimeError("this Lock is not held")
        self.lock_token = None
        if self.lost_reason is not None and self.lost_reason != "renewals_failed":
            raise LeaseLost(self.lost_reason)
        return self._client.handover_path(self._path, token, owner, ttl)

    def _hold(self, lease: Lease, lock_token: str, sent: float) -> None:
        self.lease, self.lock_token = lease, lock_token
        self._valid_until = sent + lease.ttl_seconds
        self._thread = threading.Thread(target=self._heartbeat, args=(sent,), name="leasehold-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stops the heartbeat and releases. Returns if the lease was held until
        now; raises :class:`LeaseLost` (with its reason) if it had been lost, or
        :class:`Unavailable`/:class:`Unreachable` if the outcome is unknown (the
        lease then lapses at its expiry)."""
        self._halt()
        token = self.lock_token
        if token is None:
            return
        self.lock_token = None
        if self.lost_reason is not None and self.lost_reason != "renewals_failed":
            raise LeaseLost(self.lost_reason)
        self._client.release_path(self._path, token)

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        try:
            self.release()
        except LeaseholdError:
            if kind is None:
                raise  # the block ran fine but the lease did not hold: say so

    # -- the heartbeat -----------------------------------------------------

    def _held(self) -> Lease:
        if self.lease is None:
            raise RuntimeError("this Lock is not held")
        return self.lease

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _heartbeat(self, last_ok: float) -> None:
        ttl = float(self._held().ttl_seconds)
        while not self._stop.wait(max(0.0, last_ok + ttl / 3 - time.monotonic())):
            sent = self._renew_until(last_ok + ttl)
            if sent is None:
                return
            last_ok = sent

    def _renew_until(self, deadline: float) -> Optional[float]:
        """Renews, retrying every failure but a lost lease until ``deadline``;
        returns when the successful renewal was sent, or None when it stopped."""
        pause, longest = 0.1, max(0.1, self._held().ttl_seconds / 6)
        token = self.lock_token
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or token is None:
                self._mark_lost("renewals_failed")
                return None
            try:
                answer = self._client.renew_answer(self._path, token, None, timeout=left)
                lease = Lease.from_json(answer.json())
            except LeaseLost as lost:
                self._mark_lost(lost.reason)
                return None
            except (LeaseholdError, ValueError, KeyError):
                self._stop.wait(min(pause * random.uniform(0.5, 1.0), max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, longest)
                continue
            if time.monotonic() > deadline:  # answered too late to count
                self._mark_lost("renewals_failed")
                return None
            self.lease = lease
            self._valid_until = answer.sent + lease.ttl_seconds
            return answer.sent
        return None

    def _mark_lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
