"""What every held lease shares: a token, a heartbeat thread, ``lost``, release."""

from __future__ import annotations

import random
import threading
import time
from types import TracebackType
from typing import Any, Dict, Optional, Type, TypeVar

from .client import Client
from .errors import LeaseholdError, LeaseLost

__all__ = ["Held"]

H = TypeVar("H", bound="Held")


class Held:
    """A lease held under a token, by a :class:`Lock`, a :class:`Semaphore` or a
    :class:`LockSet`: its heartbeat thread, ``lost`` and release, the same for all."""

    def __init__(self, client: Client, path: str):
        self._client = client
        self._path = path
        self.lost = threading.Event()
        self.lost_reason: Optional[str] = None
        self.lock_token: Optional[str] = None
        self._ttl = 0.0
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def valid_until(self) -> float:
        """The ``time.monotonic()`` after which the lease may have lapsed."""
        return self._valid_until

    def acquire(self: H) -> H:
        raise NotImplementedError

    def _renewed(self, answer: Dict[str, Any]) -> None:
        """Takes in a renewal's answer (raising ValueError or KeyError, before
        changing anything, if it cannot read it)."""
        raise NotImplementedError

    def release(self) -> None:
        """Stops the heartbeat and releases. Returns if the lease was held until
        now; raises :class:`LeaseLost` (with its reason) if it had been lost, or
        :class:`Unavailable`/:class:`Unreachable` if the outcome is unknown (the
        lease then lapses at its expiry)."""
        token = self._give_up()
        if token is not None:
            self._client.release_path(self._path, token)

    def __enter__(self: H) -> H:
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

    def _unused(self) -> None:
        """Raises unless this was never held: its heartbeat runs once."""
        if self._thread is not None:
            raise RuntimeError(f"this {type(self).__name__} is held, or was: make a new one")

    def _hold(self, lock_token: str, ttl: float, sent: float) -> None:
        self.lock_token, self._ttl = lock_token, max(1.0, ttl)
        if time.monotonic() - sent > self._ttl / 3:
            # Granted after a wait in line, at a moment within the wait that
            # cannot be known here: date the lease from a renewal sent now, not
            # from the request (which may be older than a whole TTL).
            try:
                answer = self._client.renew_answer(self._path, lock_token, None)
                self._renewed(answer.json())
            except BaseException:
                self.lock_token = None
                raise
            sent = answer.sent
        self._valid_until = sent + self._ttl
        self._thread = threading.Thread(target=self._heartbeat, args=(sent,), name="leasehold-heartbeat", daemon=True)
        self._thread.start()

    def _give_up(self) -> Optional[str]:
        """Stops the heartbeat and forgets the token; returns it (None if not
        held), or raises :class:`LeaseLost` if the server said the lease is lost."""
        self._halt()
        token, self.lock_token = self.lock_token, None
        if token is not None and self.lost_reason not in (None, "renewals_failed"):
            raise LeaseLost(str(self.lost_reason))
        return token

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _heartbeat(self, last_ok: float) -> None:
        while not self._stop.wait(max(0.0, last_ok + self._ttl / 3 - time.monotonic())):
            sent = self._renew_until(last_ok + self._ttl)
            if sent is None:
                return
            last_ok = sent

    def _renew_until(self, deadline: float) -> Optional[float]:
        """Renews, retrying every failure but a lost lease until ``deadline``;
        returns when the successful renewal was sent, or None when it stopped."""
        pause, longest = 0.1, max(0.1, self._ttl / 6)
        token = self.lock_token
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or token is None:
                self._mark_lost("renewals_failed")
                return None
            try:
                answer = self._client.renew_answer(self._path, token, None, timeout=left)
                data = answer.json()
                if time.monotonic() > deadline:  # answered too late to count
                    self._mark_lost("renewals_failed")
                    return None
                self._renewed(data)
            except LeaseLost as lost:
                self._mark_lost(lost.reason)
                return None
            except (LeaseholdError, ValueError, KeyError):
                self._stop.wait(min(pause * random.uniform(0.5, 1.0), max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, longest)
                continue
            self._valid_until = answer.sent + self._ttl
            return answer.sent
        return None

    def _mark_lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
