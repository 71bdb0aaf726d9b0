"""The HTTP client: one place that sends requests and retries transient failures."""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple

from .errors import (
    InvalidRequest,
    LeaseholdError,
    LeaseLost,
    LockHeld,
    SemaphoreFull,
    Unavailable,
    Unreachable,
    from_response,
    parse_time,
)
from .holders import Holder, LockHolders, holders_of

if TYPE_CHECKING:
    from .lock import Lock
    from .lock_set import LockSet
    from .semaphore import Semaphore, SemaphoreState
    from .watch import Event

__all__ = ["Client", "Lease"]

# The longest wait asked of the server in one request (the default plans' limit).
MAX_SERVER_WAIT = 30.0


@dataclass(frozen=True)
class Lease:
    """A lease as the server describes it."""

    namespace: str
    name: str
    fencing_token: int
    owner: Optional[str]
    acquired_at: datetime
    expires_at: datetime
    ttl_seconds: int
    metadata: Any = None
    waiters: Optional[int] = None  # how many clients wait for it (in a status read)
    mode: Optional[str] = None  # "exclusive" or "shared", where the server says
    holders: Optional[List[Holder]] = None  # a shared lock's every holder (in a status read)
    set_id: Optional[str] = None  # the lock set it belongs to, if any (in a status read)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Lease":
        return cls(
            namespace=data["namespace"],
            name=data["name"],
            fencing_token=int(data["fencing_token"]),
            owner=data.get("owner"),
            acquired_at=parse_time(data["acquired_at"]),
            expires_at=parse_time(data["expires_at"]),
            ttl_seconds=int(data["ttl_seconds"]),
            metadata=data.get("metadata"),
            waiters=data.get("waiters"),
            mode=data.get("mode"),
            holders=holders_of(data) if "holders" in data else None,
            set_id=data.get("set_id"),
        )


@dataclass(frozen=True)
class Verified:
    """The live lease a writer holds, as a verification found it."""

    fencing_token: int
    expires_at: datetime
    owner: Optional[str]


@dataclass
class Answer:
    """An HTTP answer other than 503 and 429."""

    status: int
    body: bytes
    retry_after: Optional[float]
    sent: float  # time.monotonic() when the call's first attempt was sent
    retried: bool

    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> LeaseholdError:
        return from_response(self.status, self.retry_after, self.body)

    def json(self) -> Dict[str, Any]:
        if not self.ok():
            raise self.error()
        data: Dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Call:
    method: str
    path: str
    query: Dict[str, str] = field(default_factory=dict)
    lock_token: Optional[str] = None
    body: Optional[Dict[str, Any]] = None
    idempotency_key: Optional[str] = None
    extra_timeout: float = 0.0


DEFAULT_URL = "http://127.0.0.1:7010"


class Client:
    """A Leasehold server and the API key to use with it. Safe to share between threads.

    The URL and key default to ``LEASEHOLD_URL`` (else http://127.0.0.1:7010)
    and ``LEASEHOLD_API_KEY``, as for the ``leasehold`` CLI.

    >>> client = Client("http://127.0.0.1:7010", "lh_...")          # doctest: +SKIP
    >>> client = Client()                    # from the environment  # doctest: +SKIP
    >>> with client.lock("nightly-billing", ttl=30, wait=10) as lock:  # doctest: +SKIP
    ...     run_billing(fencing_token=lock.fencing_token, stop=lock.lost)
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 10.0,
        retry_for: float = 10.0,
        namespace: Optional[str] = None,
    ) -> None:
        url = url or os.environ.get("LEASEHOLD_URL") or DEFAULT_URL
        api_key = api_key or os.environ.get("LEASEHOLD_API_KEY")
        if not api_key:
            raise ValueError("no API key: pass api_key or set LEASEHOLD_API_KEY")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the server URL must start with http:// or https://: {url}")
        self.url = url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.retry_for = retry_for
        self.namespace = namespace

    def __repr__(self) -> str:  # the key stays out of logs
        return f"Client({self.url!r})"

    # -- locks -----------------------------------------------------------

    def lock(
        self,
        name: str,
        ttl: float = 30,
        wait: float = 10,
        *,
        owner: Optional[str] = None,
        metadata: Any = None,
        namespace: Optional[str] = None,
        shared: bool = False,
    ) -> "Lock":
        """A lock to hold in a ``with`` block: entering acquires it (waiting up to
        ``wait`` seconds, else raising :class:`LockHeld`), a thread renews it at a
        third of ``ttl``, and leaving releases it. ``shared=True`` holds it shared:
        with any number of other shared holders, but no exclusive one."""
        from .lock import Lock

        return Lock(self, self._path(name, namespace), ttl, wait, owner, metadata, shared)

    def try_acquire(
        self,
        name: str,
        ttl: float = 30,
        *,
        owner: Optional[str] = None,
        metadata: Any = None,
        namespace: Optional[str] = None,
        shared: bool = False,
    ) -> "Lock":
        """Acquires without waiting and returns the held, heartbeating :class:`Lock`
        (call its ``release()``, or use it in a ``with`` block); raises
        :class:`LockHeld` if someone else holds it."""
        lock = self.lock(name, ttl, 0, owner=owner, metadata=metadata, namespace=namespace, shared=shared)
        lock.acquire()
        return lock

    def status(self, name: str, *, namespace: Optional[str] = None) -> Optional[Lease]:
        """The lock's current lease, or ``None`` if nobody holds it."""
        answer = self.send(Call("GET", self._path(name, namespace)))
        if answer.status == 404 and b"lock_not_held" in answer.body:
            return None
        return Lease.from_json(answer.json())

    def holders(self, name: str, *, namespace: Optional[str] = None) -> Optional[LockHolders]:
        """The lock's mode and every holder's lease (a shared lock may have many),
        or ``None`` if nobody holds it."""
        answer = self.send(Call("GET", self._path(name, namespace)))
        if answer.status == 404 and b"lock_not_held" in answer.body:
            return None
        return LockHolders.from_json(answer.json())

    def renew(self, name: str, lock_token: str, ttl: Optional[float] = None, *, namespace: Optional[str] = None) -> Lease:
        """Renews a lease by its token (a :class:`Lock` does this for you)."""
        return Lease.from_json(self.renew_answer(self._path(name, namespace), lock_token, ttl).json())

    def handover(
        self,
        name: str,
        lock_token: str,
        *,
        owner: Optional[str] = None,
        ttl: Optional[float] = None,
        namespace: Optional[str] = None,
    ) -> Tuple[Lease, str]:
        """Ends the lease and grants the next one in one step (new token, higher
        fencing token), to pass on; returns the new lease and its lock token."""
        return self.handover_path(self._path(name, namespace), lock_token, owner, ttl)

    def adopt(self, name: str, lock_token: str, *, namespace: Optional[str] = None) -> "Lock":
        """Takes up a lease acquired elsewhere (a token handed over): renews it once
        and heartbeats it from then on; returns the held :class:`Lock`."""
        from .lock import Lock

        lock = Lock(self, self._path(name, namespace), 0, 0, None, None)
        lock.adopt(lock_token)
        return lock

    def release(self, name: str, lock_token: str, *, namespace: Optional[str] = None) -> None:
        """Releases a lease by its token; raises :class:`LeaseLost` if it had been lost."""
        self.release_path(self._path(name, namespace), lock_token)

    def verify(
        self,
        name: str,
        *,
        lock_token: Optional[str] = None,
        fencing_token: Optional[int] = None,
        note: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> Verified:
        """For a resource: checks that a writer holds the lock's live lease, by its
        lock token or by its fencing token (exactly one). Raises :class:`LeaseLost`
        (with its reason) if it does not. A ``note`` (up to 1 KiB) is recorded in the
        lock's audit trail with the check, as a ``verified`` event."""
        if (lock_token is None) == (fencing_token is None):
            raise ValueError("verify takes a lock_token or a fencing_token, one of them")
        body: Dict[str, Any] = {}
        if fencing_token is not None:
            body["fencing_token"] = fencing_token
        if note is not None:
            body["note"] = note
        path = self._path(name, namespace) + "/verify"
        found = self.send(Call("POST", path, lock_token=lock_token, body=body or None)).json()
        return Verified(int(found["fencing_token"]), parse_time(found["expires_at"]), found.get("owner"))

    def watch(
        self, name: Optional[str] = None, *, namespace: Optional[str] = None, after: Optional[str] = None
    ) -> Iterator["Event"]:
        """The lock's audit events as they commit (with no ``name``: the whole
        namespace's), from now or after the cursor ``after``: an endless iterator
        that reconnects by itself, resuming after the last event it yielded.

        >>> for event in client.watch("nightly-billing"):     # doctest: +SKIP
        ...     print(event.kind, event.data["fencing_token"])
        """
        from .watch import watch

        if name is not None:
            path = self._path(name, namespace) + "/events"
        elif namespace or self.namespace:
            path = f"/v1/namespaces/{urllib.parse.quote(namespace or self.namespace or '', safe='')}/events"
        else:
            raise ValueError("watch a lock by name, or a namespace by namespace=")
        return watch(self, path, after)

    # -- semaphores and lock sets ------------------------------------------

    def semaphore(
        self,
        name: str,
        limit: int,
        ttl: float = 30,
        wait: float = 10,
        *,
        owner: Optional[str] = None,
        metadata: Any = None,
        namespace: Optional[str] = None,
    ) -> "Semaphore":
        """A place in the semaphore ``name``, which admits up to ``limit`` holders
        (every holder must ask with the same limit), to hold in a ``with`` block like
        a lock: entering waits up to ``wait`` seconds for a place, else raises
        :class:`SemaphoreFull`; a different limit raises :class:`LimitMismatch`."""
        from .semaphore import Semaphore

        path = self._path(name, namespace, "semaphores")
        return Semaphore(self, path, acquire_body(ttl, owner, metadata, limit=limit), wait)

    def semaphore_status(self, name: str, *, namespace: Optional[str] = None) -> "SemaphoreState":
        """The semaphore's limit and every live holder's lease (none when it is free)."""
        from .semaphore import SemaphoreState

        return SemaphoreState.from_json(self.send(Call("GET", self._path(name, namespace, "semaphores"))).json())

    def lock_set(
        self,
        names: Iterable[str],
        ttl: float = 30,
        wait: float = 10,
        *,
        owner: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> "LockSet":
        """The locks ``names`` (2 to 64), to hold all together or not at all in a
        ``with`` block: entering waits up to ``wait`` seconds for every one to be
        free, else raises :class:`LockHeld`; one token renews and releases them all."""
        from .lock_set import LockSet

        if ttl <= 0:
            raise ValueError("a lock set needs a ttl: its grant does not say how long the lease is")
        body = acquire_body(ttl, owner, None, names=list(names))
        return LockSet(self, self._collection(namespace, "lock-sets"), body, wait)

    # -- what the held leases use ------------------------------------------

    def acquire_once(
        self, path: str, body: Dict[str, Any], wait: float, *, wait_in_body: bool = False
    ) -> Tuple[Dict[str, Any], float]:
        """One acquire (the server waits up to ``wait`` s where it supports waiting);
        returns the grant and when its first attempt was sent. Locks take the wait as
        a query parameter (a server without waiting ignores it and answers at once);
        semaphores and lock sets as ``wait_seconds`` in the body."""
        call = Call("POST", path, body=body, idempotency_key=str(uuid.uuid4()))
        if wait > 0:
            if wait_in_body:
                call.body = {**body, "wait_seconds": int(wait)}
            else:
                call.query["wait"] = str(int(wait))
            call.extra_timeout = wait
        answer = self.send(call)
        return answer.json(), answer.sent

    def acquire_waiting(
        self, path: str, body: Dict[str, Any], wait: float, *, wait_in_body: bool = False
    ) -> Tuple[Dict[str, Any], float]:
        """Acquires, waiting up to ``wait`` s: fairly where the server waits, else by
        polling guided by Retry-After."""
        deadline = time.monotonic() + wait
        poll, server_waits = 0.05, True
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                ask = min(left, MAX_SERVER_WAIT) if server_waits else 0
                return self.acquire_once(path, body, ask, wait_in_body=wait_in_body)
            except InvalidRequest as invalid:
                if invalid.code != "invalid_wait" or not server_waits:
                    raise
                server_waits = False  # a plan that allows less waiting: poll instead
            except (LockHeld, SemaphoreFull) as held:
                if left <= 0:
                    raise
                pause = min(held.retry_after or poll, poll, left)
                poll = min(poll * 2, 1.0)
                time.sleep(pause)

    def renew_answer(self, path: str, lock_token: str, ttl: Optional[float], timeout: Optional[float] = None) -> Answer:
        body = {"ttl_seconds": _whole_seconds(ttl)} if ttl else None
        call = Call("POST", path + "/renew", lock_token=lock_token, body=body, idempotency_key=str(uuid.uuid4()))
        return self.send(call, timeout=timeout)

    def handover_path(
        self, path: str, lock_token: str, owner: Optional[str], ttl: Optional[float]
    ) -> Tuple[Lease, str]:
        body = acquire_body(ttl, owner, None)
        call = Call("POST", path + "/handover", lock_token=lock_token, body=body, idempotency_key=str(uuid.uuid4()))
        grant = self.send(call).json()
        return Lease.from_json(grant), str(grant["lock_token"])

    def release_path(self, path: str, lock_token: str) -> None:
        answer = self.send(Call("DELETE", path, lock_token=lock_token, idempotency_key=str(uuid.uuid4())))
        if answer.ok():
            return
        error = answer.error()
        # An earlier attempt whose answer was lost did the release.
        if isinstance(error, LeaseLost) and error.reason == "released" and answer.retried:
            return
        raise error

    def send(self, call: Call, timeout: Optional[float] = None) -> Answer:
        """Sends ``call``, retrying connection errors, timeouts, 503 and 429 with backoff
        (under one Idempotency-Key) for up to ``retry_for`` seconds."""
        give_up = time.monotonic() + (self.retry_for if timeout is None else timeout)
        pause, retried = 0.1, False
        # A retried call's answer may replay an earlier attempt's outcome
        # (Idempotency-Key), so a lease counts from the first attempt.
        sent = time.monotonic()
        while True:
            try:
                answer = self._attempt(call, timeout)
            except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
                failure: LeaseholdError = Unreachable(str(getattr(e, "reason", e)))
            else:
                if answer.status not in (429, 503):
                    answer.sent, answer.retried = sent, retried
                    return answer
                failure = answer.error()
            wait = pause * random.uniform(0.5, 1.0)
            if isinstance(failure, Unavailable) and failure.retry_after:
                wait = max(wait, min(failure.retry_after, 2.0))
            if time.monotonic() + wait > give_up:
                raise failure
            time.sleep(wait)
            pause, retried = min(pause * 2, 2.0), True

    def _attempt(self, call: Call, timeout: Optional[float]) -> Answer:
        url = self.url + call.path
        if call.query:
            url += "?" + urllib.parse.urlencode(call.query)
        headers = {"Authorization": f"Bearer {self._api_key}", "User-Agent": "leasehold-python/0.1"}
        data = None
        if call.body is not None:
            data = json.dumps(call.body).encode()
            headers["Content-Type"] = "application/json"
        if call.lock_token is not None:
            headers["Lock-Token"] = call.lock_token
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        request = urllib.request.Request(url, data=data, headers=headers, method=call.method)
        limit = (self.timeout if timeout is None else min(self.timeout, timeout)) + call.extra_timeout
        try:
            with urllib.request.urlopen(request, timeout=max(limit, 0.05)) as response:
                return Answer(response.status, response.read(), _retry_after(response.headers), 0.0, False)
        except urllib.error.HTTPError as e:
            with e:
                return Answer(e.code, e.read(), _retry_after(e.headers), 0.0, False)

    def _path(self, name: str, namespace: Optional[str], kind: str = "locks") -> str:
        return f"{self._collection(namespace, kind)}/{urllib.parse.quote(name, safe='')}"

    def _collection(self, namespace: Optional[str], kind: str) -> str:
        namespace = namespace or self.namespace
        if namespace:
            return f"/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/{kind}"
        return f"/v1/{kind}"


def _retry_after(headers: Any) -> Optional[float]:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _whole_seconds(seconds: float) -> int:
    whole = int(seconds)
    return whole + (1 if seconds > whole else 0)


def acquire_body(ttl: Optional[float], owner: Optional[str], metadata: Any, **fields: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = dict(fields)
    if ttl:
        body["ttl_seconds"] = _whole_seconds(ttl)
    if owner is not None:
        body["owner"] = owner
    if metadata is not None:
        body["metadata"] = metadata
    return body
