/** Exclusive locks against the real server: acquire, conflicts, waiting, renew, release, handover, refusals. */

import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";

import {
  Client,
  InvalidRequest,
  LeaseLost,
  LockHeld,
  NamespaceNotFound,
  Unauthorized,
  Unreachable,
} from "leasehold";

import { eventually, rejection, within } from "./support/eventually.js";
import { forceExpire, held, serverForThisFile } from "./support/fixture.js";

const server = serverForThisFile();
const client = (): Client => new Client({ url: server().url, apiKey: server().key });

test("an acquired lock is held, with its fencing token, until it is released", async () => {
  const lease = await held(client().lock("billing", { ttlSeconds: 30, owner: "worker-1", metadata: { run: 7 } }).acquire());
  const seen = await client().status("billing");
  await lease.release();

  assert.ok(lease.fencingToken > 0);
  assert.equal(seen?.fencingToken, lease.fencingToken);
  assert.equal(seen?.owner, "worker-1");
  assert.deepEqual(seen?.metadata, { run: 7 });
  assert.equal(lease.signal.aborted, false);
  assert.equal(await client().status("billing"), null);
});

test("acquiring a held lock fails fast with lock_held, the holder's lease and Retry-After", async () => {
  const holder = await held(client().lock("busy", { ttlSeconds: 30, owner: "first" }).acquire());

  const refusal = await rejection(client().lock("busy").acquire(), LockHeld);
  await holder.release();

  assert.equal(refusal.code, "lock_held");
  assert.equal(refusal.status, 409);
  assert.ok(refusal.retryAfter !== undefined && refusal.retryAfter >= 1, `Retry-After: ${refusal.retryAfter}`);
  assert.equal(refusal.fencingToken, holder.fencingToken);
  assert.equal(refusal.expiresAt?.getTime(), holder.expiresAt.getTime());
  assert.equal(refusal.owner, "first");
  assert.deepEqual(refusal.held, []);
});

test("a waiting acquire is queued and gets the lock when the holder releases it", async () => {
  const holder = await held(client().lock("queue").tryAcquire());
  const waiting = held(client().lock("queue", { waitSeconds: 10 }).acquire());

  await eventually(async () => (await client().status("queue"))?.waiters === 1);
  await holder.release();
  const lease = await within(5000, waiting);
  await lease.release();

  assert.ok(lease.fencingToken > holder.fencingToken);
});

test("a wait that runs out is lock_held", async () => {
  const holder = await held(client().lock("long").tryAcquire());
  const started = performance.now();

  await rejection(client().lock("long", { waitSeconds: 1 }).acquire(), LockHeld);
  const waited = performance.now() - started;
  await holder.release();

  assert.ok(waited >= 1000 && waited < 6000, `waited ${waited} ms`);
});

test("renew and release by token; a second release is lease_lost (released)", async () => {
  const lease = await held(client().lock("manual", { ttlSeconds: 30 }).tryAcquire());
  const token = lease.lockToken;
  assert.ok(token !== undefined);

  const renewed = await client().renew("manual", token, { ttlSeconds: 60 });
  await lease.release();
  const lost = await rejection(client().release("manual", token), LeaseLost);

  assert.equal(renewed.ttlSeconds, 60);
  assert.equal(renewed.fencingToken, lease.fencingToken);
  assert.ok(renewed.expiresAt > lease.expiresAt);
  assert.equal(lease.lockToken, undefined, "a released lease forgets its token");
  assert.deepEqual([lost.status, lost.code, lost.reason], [410, "lease_lost", "released"]);
});

test("lease_lost says why: expired, superseded, unknown_token", async () => {
  const lapsed = await held(client().lock("lapsed", { ttlSeconds: 30 }).tryAcquire());
  const takenOver = await held(client().lock("taken-over", { ttlSeconds: 30 }).tryAcquire());
  const lapsedToken = lapsed.lockToken ?? assert.fail("no token");
  const takenOverToken = takenOver.lockToken ?? assert.fail("no token");

  await forceExpire(server(), "lapsed");
  await forceExpire(server(), "taken-over");
  const usurper = await held(client().lock("taken-over").tryAcquire());
  const expired = await rejection(client().renew("lapsed", lapsedToken), LeaseLost);
  const superseded = await rejection(client().renew("taken-over", takenOverToken), LeaseLost);
  const unknown = await rejection(client().renew("taken-over", "not-a-token"), LeaseLost);
  await usurper.release();
  await Promise.allSettled([lapsed.release(), takenOver.release()]);

  assert.deepEqual([expired.status, expired.code, expired.reason], [410, "lease_lost", "expired"]);
  assert.equal(superseded.reason, "superseded");
  assert.equal(unknown.reason, "unknown_token");
  assert.ok(usurper.fencingToken > takenOver.fencingToken);
});

test("a handover grants the next lease with a higher fencing token, which its adopter keeps", async () => {
  const first = await held(client().lock("relay", { ttlSeconds: 30 }).tryAcquire());
  const firstToken = first.lockToken ?? assert.fail("no token");

  const next = await first.handover({ owner: "runner-2" });
  const second = await held(client().adopt("relay", next.lockToken));
  const seen = await client().status("relay");
  const old = await rejection(client().release("relay", firstToken), LeaseLost);
  await second.release();

  assert.ok(next.lease.fencingToken > first.fencingToken);
  assert.equal(second.fencingToken, next.lease.fencingToken);
  assert.equal(seen?.owner, "runner-2");
  assert.equal(seen?.fencingToken, next.lease.fencingToken);
  assert.equal(old.reason, "released");
  assert.equal(first.signal.aborted, false, "a lease handed over is not lost");
});

test("refusals are typed errors carrying the server's code", async () => {
  const { url, key } = server();

  const unauthorized = await rejection(new Client({ url, apiKey: "lh_not_a_key" }).lock("x").acquire(), Unauthorized);
  const foreign = await rejection(client().lock("x", { namespace: "someone-else" }).acquire(), NamespaceNotFound);
  const badName = await rejection(client().lock("no spaces").acquire(), InvalidRequest);
  const badTtl = await rejection(client().lock("x", { ttlSeconds: 100_000 }).acquire(), InvalidRequest);
  const unreachable = await rejection(
    new Client({ url: "http://127.0.0.1:9", apiKey: key, retryForSeconds: 0.3 }).lock("x").acquire(),
    Unreachable,
  );

  assert.deepEqual([unauthorized.status, unauthorized.code], [401, "unauthorized"]);
  assert.deepEqual([foreign.status, foreign.code], [404, "namespace_not_found"]);
  assert.deepEqual([badName.status, badName.code], [400, "invalid_lock_name"]);
  assert.deepEqual([badTtl.status, badTtl.code], [400, "invalid_ttl"]);
  assert.deepEqual([unreachable.status, unreachable.code], [undefined, "unreachable"]);
});

test("names with every allowed character round-trip; '.' and '..' are refused before sending", async () => {
  const name = "jobs:nightly@host-1.eu_west";
  const lease = await held(client().lock(name).tryAcquire());
  const seen = await client().status(name);
  await lease.release();

  assert.equal(seen?.name, name);
  assert.equal(seen?.fencingToken, lease.fencingToken);
  assert.throws(() => client().lock(".."), TypeError);
});

test("a resource verifies a writer by lock token or fencing token, and a note is recorded", async () => {
  const lease = await held(client().lock("ledger", { ttlSeconds: 30, owner: "writer-1" }).tryAcquire());
  const token = lease.lockToken;
  assert.ok(token !== undefined);

  const byToken = await client().verify("ledger", { lockToken: token }, { note: "row 17 = 42" });
  const byFencing = await client().verify("ledger", { fencingToken: lease.fencingToken });
  await lease.release();
  const lost = await rejection(client().verify("ledger", { lockToken: token }), LeaseLost);

  assert.deepEqual([byToken.fencingToken, byToken.owner], [lease.fencingToken, "writer-1"]);
  assert.deepEqual(byFencing, byToken);
  assert.equal(lost.reason, "released");
  const note = await server().sql("SELECT note FROM lock_events WHERE name = 'ledger' AND event = 'verified'");
  assert.equal(note.trim(), "row 17 = 42");
});
