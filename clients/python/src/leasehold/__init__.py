"""A client for the Leasehold lock server, with the standard library only.

    from leasehold import Client, LockHeld

    client = Client("http://127.0.0.1:7010", api_key)
    with client.lock("nightly-billing", ttl=30, wait=10) as lock:
        for batch in batches:
            if lock.lost.is_set():
                raise SystemExit("lost the lock; stopping")
            write(batch, fencing_token=lock.fencing_token)

Shared locks (``client.lock(name, shared=True)``), semaphores
(``client.semaphore(name, limit)``) and lock sets, held all together or not at all
(``client.lock_set([a, b])``), are context managers the same way.

A ``Lock`` renews its lease in a thread at a third of its time to live and
sets ``lock.lost`` (a ``threading.Event``) the moment the lease is lost or may
have lapsed. Transient failures (connection errors, timeouts, 503) are retried
with backoff under one ``Idempotency-Key``.
"""

from .client import Client, Lease, Verified
from .errors import (
    Forbidden,
    InvalidRequest,
    LeaseholdError,
    LeaseLost,
    LimitMismatch,
    LockHeld,
    NamespaceNotFound,
    NotHeld,
    SemaphoreFull,
    Unauthorized,
    Unavailable,
    Unreachable,
    UnexpectedResponse,
)
from .holders import Holder, LockHolders
from .lock import Lock
from .lock_set import LockSet
from .semaphore import Permit, Semaphore, SemaphoreState
from .watch import Event

__all__ = [
    "Client",
    "Event",
    "Forbidden",
    "Holder",
    "InvalidRequest",
    "Lease",
    "LeaseholdError",
    "LeaseLost",
    "LimitMismatch",
    "Lock",
    "LockHeld",
    "LockHolders",
    "LockSet",
    "NamespaceNotFound",
    "NotHeld",
    "Permit",
    "Semaphore",
    "SemaphoreFull",
    "SemaphoreState",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "UnexpectedResponse",
    "Verified",
]
