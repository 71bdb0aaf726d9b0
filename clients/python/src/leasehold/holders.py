"""Who holds a lock or a semaphore: there may be several at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional

from .errors import parse_time

__all__ = ["Holder", "LockHolders"]


@dataclass(frozen=True)
class Holder:
    """One holder's lease, as a status read shows it."""

    fencing_token: int
    owner: Optional[str]
    acquired_at: datetime
    expires_at: datetime

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Holder":
        return cls(
            fencing_token=int(data["fencing_token"]),
            owner=data.get("owner"),
            acquired_at=parse_time(data["acquired_at"]),
            expires_at=parse_time(data["expires_at"]),
        )


def holders_of(data: Dict[str, Any]) -> List[Holder]:
    return [Holder.from_json(holder) for holder in data["holders"]]


@dataclass(frozen=True)
class LockHolders:
    """A lock's mode (``"exclusive"`` or ``"shared"``) and every holder's lease."""

    mode: str
    holders: List[Holder]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "LockHolders":
        """From a lock's status: a shared lock lists its holders; an exclusive
        lock's one holder is its lease."""
        holders = holders_of(data) if "holders" in data else [Holder.from_json(data)]
        return cls(mode=str(data.get("mode") or "exclusive"), holders=holders)
