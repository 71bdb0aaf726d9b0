"""Answers lost on the way back: the retry (same Idempotency-Key) gets the original outcome."""

from __future__ import annotations

import socket
import threading
from typing import Iterator, Tuple
from urllib.parse import urlparse

import pytest

from leasehold import Client

from conftest import Server


class AnswerDropper:
    """A TCP proxy that can swallow the server's next answers, hanging up on the client."""

    def __init__(self, target: Tuple[str, int]) -> None:
        self.target = target
        self.to_drop = 0
        self._guard = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_answers(self, count: int) -> None:
        with self._guard:
            self.to_drop = count

    def close(self) -> None:
        self._listener.close()

    def _swallow(self) -> bool:
        with self._guard:
            if self.to_drop > 0:
                self.to_drop -= 1
                return True
            return False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        server = socket.create_connection(self.target)
        threading.Thread(target=_pipe, args=(client, server), daemon=True).start()
        try:
            while True:
                chunk = server.recv(65536)
                if not chunk or self._swallow():
                    break
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (client, server):  # shutdown wakes the other thread's recv
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass


@pytest.fixture
def dropper(server: Server) -> Iterator[AnswerDropper]:
    url = urlparse(server.url)
    proxy = AnswerDropper((url.hostname or "127.0.0.1", url.port or 80))
    yield proxy
    proxy.close()


def events(server: Server, name: str, event: str) -> int:
    return int(server.sql(f"SELECT count(*) FROM lock_events WHERE name = '{name}' AND event = '{event}'"))


def test_an_acquire_whose_answer_was_lost_is_retried_into_the_same_grant(
    server: Server, dropper: AnswerDropper
) -> None:
    client = Client(f"http://127.0.0.1:{dropper.port}", server.key)

    dropper.drop_next_answers(1)
    lock = client.try_acquire("py-once", ttl=30)

    assert dropper.to_drop == 0, "an answer was lost"
    assert events(server, "py-once", "acquired") == 1
    lock.release()  # the replayed grant's token is the lease's
    assert events(server, "py-once", "released") == 1


def test_a_release_whose_answer_was_lost_is_still_a_clean_release(server: Server, dropper: AnswerDropper) -> None:
    client = Client(f"http://127.0.0.1:{dropper.port}", server.key)
    lock = client.try_acquire("py-let-go", ttl=30)

    dropper.drop_next_answers(1)
    lock.release()

    assert dropper.to_drop == 0, "an answer was lost"
    assert events(server, "py-let-go", "released") == 1
