"""Watching a lock or a namespace: its audit events as they commit, over
Server-Sent Events, resumed after the last one seen whenever the stream drops."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

from .errors import from_response

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Event", "watch"]


@dataclass(frozen=True)
class Event:
    """One audit event: ``kind`` (``acquired``, ``renewed``, ``released``, ``expired``,
    ``verified``...), its ``cursor`` (resume after it with ``after=``) and the event
    as ``/v1/audit`` shows it."""

    kind: str
    cursor: str
    data: Dict[str, Any]


def watch(client: "Client", path: str, after: Optional[str]) -> Iterator[Event]:
    """Yields the events at ``path`` after ``after`` (else from now), reconnecting
    after the last one yielded when the connection drops or the server is
    unavailable; a refusal (401, 404...) is raised."""
    pause = 0.1
    while True:
        try:
            for event in _stream(client, path, after):
                after, pause = event.cursor, 0.1
                yield event
        except urllib.error.HTTPError as e:
            with e:
                if e.code not in (429, 503):
                    raise from_response(e.code, None, e.read()) from None
        except (urllib.error.URLError, OSError):
            pass  # dropped, refused or silent for too long: connect again
        time.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(pause * 2, 5.0)


def _stream(client: "Client", path: str, after: Optional[str]) -> Iterator[Event]:
    headers = {
        "Authorization": f"Bearer {client._api_key}",
        "Accept": "text/event-stream",
        "User-Agent": "leasehold-python/0.1",
    }
    if after is not None:
        headers["Last-Event-ID"] = after
    request = urllib.request.Request(client.url + path, headers=headers)
    # Keep-alive comments come every 15 s by default: a longer silence is a dead connection.
    with urllib.request.urlopen(request, timeout=max(client.timeout, 45.0)) as response:
        fields: Dict[str, str] = {}
        data: List[str] = []
        for raw in response:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith(":"):
                continue  # a keep-alive comment
            if line:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value
                continue
            if data and "id" in fields:
                yield Event(fields.get("event", "message"), fields["id"], json.loads("\n".join(data)))
            fields, data = {}, []
