"""Shared locks, semaphores and lock sets against the real server."""

from __future__ import annotations

import threading
import time

import pytest

from leasehold import Client, LimitMismatch, LockHeld, SemaphoreFull
from leasehold.errors import from_response
from leasehold.held import Held

from conftest import Server


@pytest.fixture
def client(server: Server) -> Client:
    return Client(server.url, server.key)


def release_after(seconds: float, held: Held) -> threading.Thread:
    def release() -> None:
        time.sleep(seconds)
        held.release()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


# -- shared locks ------------------------------------------------------------


def test_shared_holders_hold_together_and_keep_an_exclusive_one_out(client: Client) -> None:
    with client.lock("catalog", wait=0, shared=True) as first, client.lock("catalog", wait=0, shared=True) as second:
        holders = client.holders("catalog")
        status = client.status("catalog")
        with pytest.raises(LockHeld):
            client.try_acquire("catalog")

        assert holders is not None and holders.mode == "shared"
        assert sorted(h.fencing_token for h in holders.holders) == sorted([first.fencing_token, second.fencing_token])
        assert first.lock_token != second.lock_token
        assert status is not None and status.mode == "shared" and status.holders == holders.holders
    client.try_acquire("catalog").release()


def test_an_exclusive_holder_keeps_shared_ones_out(client: Client) -> None:
    with client.lock("ledger", wait=0) as writer:
        with pytest.raises(LockHeld):
            client.try_acquire("ledger", shared=True)
        holders = client.holders("ledger")
        assert holders is not None and holders.mode == "exclusive"
        assert [h.fencing_token for h in holders.holders] == [writer.fencing_token]


def test_a_shared_lease_is_renewed_past_its_ttl_and_released_alone(client: Client) -> None:
    staying = client.try_acquire("index", ttl=2, shared=True)
    with client.lock("index", ttl=2, wait=0, shared=True):
        time.sleep(3)
    holders = client.holders("index")

    assert not staying.lost.is_set()
    assert holders is not None and [h.fencing_token for h in holders.holders] == [staying.fencing_token]
    staying.release()
    assert client.holders("index") is None


# -- semaphores ---------------------------------------------------------------


def test_a_semaphore_admits_up_to_its_limit(client: Client) -> None:
    places = [client.semaphore("gpus", 2, wait=0, owner=f"job-{i}").acquire() for i in range(2)]
    with pytest.raises(SemaphoreFull):
        client.semaphore("gpus", 2, wait=0).acquire()
    state = client.semaphore_status("gpus")

    assert state.limit == 2
    assert sorted(h.fencing_token for h in state.holders) == sorted(p.fencing_token for p in places)
    assert {h.owner for h in state.holders} == {"job-0", "job-1"}
    assert places[1].permit is not None and places[1].permit.holders == 2
    places[0].release()
    places[1].release()
    assert client.semaphore_status("gpus").limit is None, "free, so any limit may be asked for"
    places[1] = client.semaphore("gpus", 2, wait=0).acquire()
    with client.semaphore("gpus", 2, wait=0) as third:
        assert third.fencing_token > max(p.fencing_token for p in places)
    places[1].release()


def test_a_different_limit_than_the_live_one_is_a_mismatch(client: Client) -> None:
    with client.semaphore("slots", 3, wait=0):
        with pytest.raises(LimitMismatch):
            client.semaphore("slots", 4, wait=0).acquire()


def test_a_waiting_acquire_gets_the_place_a_holder_gives_up(client: Client) -> None:
    holder = client.semaphore("single", 1, wait=0).acquire()
    releaser = release_after(0.5, holder)
    started = time.monotonic()
    with client.semaphore("single", 1, wait=10) as place:
        assert place.fencing_token > holder.fencing_token
    assert time.monotonic() - started < 8
    releaser.join()


def test_a_semaphore_place_is_renewed_past_its_ttl(client: Client) -> None:
    with client.semaphore("renewed", 2, ttl=2, wait=0) as place:
        first_expiry = place.expires_at
        time.sleep(3)
        state = client.semaphore_status("renewed")
        assert not place.lost.is_set()
        assert [h.fencing_token for h in state.holders] == [place.fencing_token]
        assert place.expires_at > first_expiry


# -- lock sets ----------------------------------------------------------------


def test_a_lock_set_holds_every_lock_under_one_token(client: Client) -> None:
    with client.lock_set(["acct:1", "acct:2", "acct:3"], ttl=30, wait=0, owner="transfer") as locks:
        seen = {name: client.status(name) for name in ["acct:1", "acct:2", "acct:3"]}
        with pytest.raises(LockHeld):
            client.try_acquire("acct:2")

        assert locks.set_id
        assert set(locks.fencing_tokens) == {"acct:1", "acct:2", "acct:3"}
        for name, lease in seen.items():
            assert lease is not None and lease.fencing_token == locks.fencing_tokens[name]
            assert lease.set_id == locks.set_id
    assert all(client.status(name) is None for name in ["acct:1", "acct:2", "acct:3"])


def test_a_lock_set_takes_nothing_if_one_member_is_held(client: Client) -> None:
    with client.lock("b", wait=0):
        with pytest.raises(LockHeld) as held:
            client.lock_set(["a", "b", "c"], wait=0).acquire()
        assert held.value.held == ["b"]
        assert client.status("a") is None and client.status("c") is None


def test_a_waiting_lock_set_gets_its_locks_once_the_holder_lets_go(client: Client) -> None:
    holder = client.try_acquire("pair-b")
    releaser = release_after(0.5, holder)
    with client.lock_set(["pair-a", "pair-b"], wait=10) as locks:
        assert locks.fencing_tokens["pair-b"] > holder.fencing_token
    releaser.join()


def test_a_lock_set_is_renewed_past_its_ttl(client: Client) -> None:
    with client.lock_set(["r1", "r2"], ttl=2, wait=0) as locks:
        time.sleep(3)
        assert not locks.lost.is_set()
        for name in ["r1", "r2"]:
            lease = client.status(name)
            assert lease is not None and lease.fencing_token == locks.fencing_tokens[name]


# -- errors -------------------------------------------------------------------


def test_the_new_conflicts_are_their_own_exceptions() -> None:
    full = from_response(409, 2.0, b'{"error":{"code":"semaphore_full","message":"full"},"limit":2,"holders":2}')
    mismatch = from_response(409, None, b'{"error":{"code":"limit_mismatch","message":"limit 3"},"limit":3}')
    set_held = from_response(409, 1.0, b'{"error":{"code":"lock_held","message":"held: b"},"held":["b"]}')

    assert isinstance(full, SemaphoreFull) and (full.retry_after, full.limit, full.holders) == (2.0, 2, 2)
    assert isinstance(mismatch, LimitMismatch) and mismatch.limit == 3
    assert isinstance(set_held, LockHeld) and set_held.held == ["b"]
