"""The Python client against the real server."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Callable

import pytest

from leasehold import Client, LeaseLost, LockHeld, NamespaceNotFound, Unauthorized, Unreachable

from conftest import Server


@pytest.fixture
def client(server: Server) -> Client:
    return Client(server.url, server.key)


def renewals(server: Server, name: str) -> int:
    return int(server.sql(f"SELECT count(*) FROM lock_events WHERE name = '{name}' AND event = 'renewed'"))


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_lock_is_held_inside_the_with_block_and_released_after(client: Client) -> None:
    with client.lock("billing", ttl=30, wait=0, owner="worker-1") as lock:
        seen = client.status("billing")
        assert seen is not None
        assert seen.fencing_token == lock.fencing_token > 0
        assert seen.owner == "worker-1"
        assert not lock.lost.is_set()
    assert client.status("billing") is None


def test_try_acquire_of_a_held_lock_raises_lock_held_with_its_expiry(client: Client) -> None:
    holder = client.try_acquire("busy", ttl=30)
    try:
        with pytest.raises(LockHeld) as held:
            client.try_acquire("busy")
        assert held.value.expires_at == holder.expires_at
        assert held.value.fencing_token == holder.fencing_token
        assert str(held.value).endswith("Z"), str(held.value)
    finally:
        holder.release()


def test_the_heartbeat_keeps_a_short_lease_past_its_ttl(client: Client, server: Server) -> None:
    with client.lock("short", ttl=2, wait=0) as lock:
        started = time.monotonic()
        wait_until(lambda: renewals(server, "short") >= 4, limit=15)
        assert time.monotonic() - started > 2
        assert not lock.lost.is_set()
        status = client.status("short")
        assert status is not None and status.fencing_token == lock.fencing_token


def test_lost_is_set_when_the_lease_is_taken_over_while_held(client: Client, server: Server) -> None:
    lock = client.try_acquire("taken", ttl=3)
    server.sql("UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = 'taken'")
    usurper = client.try_acquire("taken", ttl=30)

    assert lock.lost.wait(timeout=5), "lost is set within a renewal period"
    assert lock.lost_reason == "superseded"
    assert usurper.fencing_token > lock.fencing_token
    with pytest.raises(LeaseLost):
        lock.release()
    usurper.release()


def test_leaving_the_block_after_the_lease_was_lost_raises_lease_lost(client: Client, server: Server) -> None:
    with pytest.raises(LeaseLost):
        with client.lock("gone", ttl=3, wait=0) as lock:
            server.sql("DELETE FROM locks WHERE name = 'gone'")
            assert lock.lost.wait(timeout=5)


def test_lost_is_set_when_renewals_fail_until_the_ttl_has_passed(server: Server) -> None:
    client = Client(server.url, server.key, timeout=0.5)
    lock = client.try_acquire("cut-off", ttl=2)
    client.url = "http://127.0.0.1:9"  # the server is now unreachable for this client

    assert lock.lost.wait(timeout=5)
    assert lock.lost_reason == "renewals_failed"
    assert time.monotonic() >= lock.valid_until, "not judged lost before the TTL ran out"


def test_a_waiting_lock_is_queued_and_acquired_when_the_holder_lets_go(client: Client) -> None:
    holder = client.try_acquire("queue", ttl=30)
    first = holder.fencing_token

    def release_once_queued() -> None:
        wait_until(lambda: getattr(client.status("queue"), "waiters", None) == 1)
        holder.release()

    releaser = threading.Thread(target=release_once_queued)
    releaser.start()
    with client.lock("queue", ttl=30, wait=10) as lock:
        assert lock.fencing_token > first
    releaser.join()


def test_a_lease_granted_after_waiting_longer_than_its_ttl_is_held_not_lost(client: Client) -> None:
    holder = client.try_acquire("longer-than-ttl", ttl=30)

    def release_after_the_waiters_ttl() -> None:
        wait_until(lambda: getattr(client.status("longer-than-ttl"), "waiters", None) == 1)
        time.sleep(2.5)  # the waiter's whole TTL passes while it waits: what is tested
        holder.release()

    releaser = threading.Thread(target=release_after_the_waiters_ttl)
    releaser.start()
    with client.lock("longer-than-ttl", ttl=2, wait=10) as lock:
        assert not lock.lost.is_set(), lock.lost_reason
        assert lock.valid_until > time.monotonic() + 1
        assert not lock.lost.wait(2.5), "the heartbeat keeps it past another TTL"
    releaser.join()


def test_a_wait_that_runs_out_raises_lock_held(client: Client) -> None:
    holder = client.try_acquire("long", ttl=30)
    started = time.monotonic()
    with pytest.raises(LockHeld):
        with client.lock("long", wait=1):
            pass
    assert 1 <= time.monotonic() - started < 6
    holder.release()


def test_renew_and_release_by_token(client: Client) -> None:
    lock = client.try_acquire("manual", ttl=30)
    token = lock.lock_token
    assert token is not None

    renewed = client.renew("manual", token, ttl=60)
    lock.release()

    assert renewed.ttl_seconds == 60
    with pytest.raises(LeaseLost):
        client.release("manual", token)


def test_refusals_are_typed_exceptions(server: Server) -> None:
    with pytest.raises(Unauthorized):
        Client(server.url, "lh_not_a_key").try_acquire("x")
    with pytest.raises(NamespaceNotFound):
        Client(server.url, server.key).try_acquire("x", namespace="someone-else")
    with pytest.raises(Unreachable):
        Client("http://127.0.0.1:9", "k", retry_for=0.3).try_acquire("x")


def test_names_with_every_allowed_character_round_trip(client: Client) -> None:
    name = "jobs:nightly@host-1.eu_west"
    with client.lock(name, ttl=30, wait=0) as lock:
        status = client.status(name)
        assert status is not None and status.name == name
        assert status.fencing_token == lock.fencing_token


def test_a_handed_over_lease_is_adopted_with_a_higher_fencing_token(client: Client) -> None:
    first = client.try_acquire("relay", ttl=30)
    first_token, first_fencing = first.lock_token, first.fencing_token
    assert first_token is not None

    lease, token = first.hand_over(owner="runner-2")
    second = client.adopt("relay", token)

    assert lease.fencing_token > first_fencing
    assert second.fencing_token == lease.fencing_token
    status = client.status("relay")
    assert status is not None and status.owner == "runner-2"
    with pytest.raises(LeaseLost):
        client.release("relay", first_token)
    second.release()


def test_the_url_and_key_come_from_the_environment_when_not_given(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEASEHOLD_URL", server.url)
    monkeypatch.setenv("LEASEHOLD_API_KEY", server.key)

    with Client().lock("from-the-environment", ttl=5) as lock:
        assert lock.fencing_token >= 1

    monkeypatch.delenv("LEASEHOLD_API_KEY")
    with pytest.raises(ValueError, match="LEASEHOLD_API_KEY"):
        Client()


def test_a_resource_verifies_a_writer_by_lock_token_or_fencing_token(client: Client, server: Server) -> None:
    holder = client.try_acquire("ledger", ttl=30, owner="writer-1")
    token = holder.lock_token
    assert token is not None

    by_token = client.verify("ledger", lock_token=token, note="row 17 = 42")
    by_fencing = client.verify("ledger", fencing_token=holder.fencing_token)
    holder.release()

    assert (by_token.fencing_token, by_token.owner) == (holder.fencing_token, "writer-1")
    assert by_fencing == by_token
    with pytest.raises(LeaseLost) as lost:
        client.verify("ledger", lock_token=token)
    assert lost.value.reason == "released"
    notes = server.sql("SELECT note FROM lock_events WHERE name = 'ledger' AND event = 'verified'")
    assert notes == "row 17 = 42"
    with pytest.raises(ValueError):
        client.verify("ledger")


def first_cursor(server: Server, name: str) -> str:
    """The cursor just after the lock's first audit event."""
    request = urllib.request.Request(
        f"{server.url}/v1/locks/{name}/history?order=asc&limit=1", headers={"Authorization": f"Bearer {server.key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["next_cursor"])


def test_watch_yields_a_locks_events_in_order_live_and_resumes_after_a_cursor(client: Client, server: Server) -> None:
    lock = client.try_acquire("watched", ttl=30)
    token = lock.lock_token
    assert token is not None
    client.renew("watched", token)
    lock.release()

    events = client.watch("watched", after=first_cursor(server, "watched"))
    renewed, released = next(events), next(events)
    again = client.try_acquire("watched", ttl=30)
    live = next(events)
    events.close()
    resumed = client.watch("watched", after=renewed.cursor)
    after_renewed = next(resumed)
    resumed.close()
    again.release()

    assert [renewed.kind, released.kind, live.kind] == ["renewed", "released", "acquired"]
    assert renewed.data["fencing_token"] == released.data["fencing_token"] == lock.fencing_token
    assert live.data["fencing_token"] == again.fencing_token
    assert (after_renewed.kind, after_renewed.cursor) == ("released", released.cursor)
