"""A client for the Leasehold lock server, with the standard library only.

    from leasehold import Client, LockHeld

    client = Client("http://127.0.0.1:7010", api_key)
    with client.lock("nightly-billing", ttl=30, wait=10) as lock:
        for batch in batches:
            if lock.lost.is_set():
                raise SystemExit("lost the lock; stopping")
            write(batch, fencing_token=lock.fencing_token)

A ``Lock`` renews its lease in a thread at a third of its time to live and
sets ``lock.lost`` (a ``threading.Event``) the moment the lease is lost or may
have lapsed. Transient failures (connection errors, timeouts, 503) are retried
with backoff under one ``Idempotency-Key``.
"""

from .client import Client, Lease
from .errors import (
    Forbidden,
    InvalidRequest,
    LeaseholdError,
    LeaseLost,
    LockHeld,
    NamespaceNotFound,
    NotHeld,
    Unauthorized,
    Unavailable,
    Unreachable,
    UnexpectedResponse,
)
from .lock import Lock

__all__ = [
    "Client",
    "Forbidden",
    "InvalidRequest",
    "Lease",
    "LeaseholdError",
    "LeaseLost",
    "Lock",
    "LockHeld",
    "NamespaceNotFound",
    "NotHeld",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "UnexpectedResponse",
]
