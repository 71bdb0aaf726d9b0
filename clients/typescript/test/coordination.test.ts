/** Shared locks, semaphores and lock sets against the real server. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, LimitMismatch, LockHeld, SemaphoreFull } from "leasehold";

import { eventually, rejection, within } from "./support/eventually.js";
import { events, held, serverForThisFile, waiters } from "./support/fixture.js";

const server = serverForThisFile();
const client = (): Client => new Client({ url: server().url, apiKey: server().key });
const sorted = (numbers: Iterable<number>): number[] => [...numbers].sort((a, b) => a - b);

// -- shared locks --------------------------------------------------------------

test("two readers hold a shared lock together and keep a writer out", async () => {
  const first = await held(client().lock("catalog", { mode: "shared" }).acquire());
  const second = await held(client().lock("catalog", { mode: "shared" }).acquire());
  const holders = await client().holders("catalog");
  const tokens = [first.lockToken, second.lockToken];
  const writer = await rejection(client().lock("catalog").acquire(), LockHeld);
  await first.release();
  await second.release();
  const afterwards = await held(client().lock("catalog").acquire());
  await afterwards.release();

  assert.equal(holders?.mode, "shared");
  assert.deepEqual(sorted(holders?.holders.map((h) => h.fencingToken) ?? []), sorted([first.fencingToken, second.fencingToken]));
  assert.notEqual(tokens[0], tokens[1]);
  assert.equal(writer.mode, "shared");
  assert.ok(afterwards.fencingToken > second.fencingToken);
});

test("a writer keeps readers out", async () => {
  const writer = await held(client().lock("ledger").acquire());
  const reader = await rejection(client().lock("ledger", { mode: "shared" }).acquire(), LockHeld);
  const holders = await client().holders("ledger");
  await writer.release();

  assert.equal(reader.mode, "exclusive");
  assert.equal(holders?.mode, "exclusive");
  assert.deepEqual(holders?.holders.map((h) => h.fencingToken), [writer.fencingToken]);
});

test("a reader renews its own lease past its TTL and releases it alone", async () => {
  const staying = await held(client().lock("index", { mode: "shared", ttlSeconds: 2 }).acquire());
  const leaving = await held(client().lock("index", { mode: "shared", ttlSeconds: 2 }).acquire());

  await eventually(async () => (await events(server(), "index", "renewed")) >= 6, 10_000);
  await leaving.release();
  const holders = await client().holders("index");
  await staying.release();

  assert.equal(staying.signal.aborted, false);
  assert.deepEqual(holders?.holders.map((h) => h.fencingToken), [staying.fencingToken]);
  assert.equal(await client().holders("index"), null);
});

// -- semaphores ------------------------------------------------------------------

test("a semaphore admits up to its limit, then is semaphore_full", async () => {
  const places = [
    await held(client().semaphore("gpus", 2, { owner: "job-0" }).acquire()),
    await held(client().semaphore("gpus", 2, { owner: "job-1" }).acquire()),
  ];
  const full = await rejection(client().semaphore("gpus", 2).acquire(), SemaphoreFull);
  const state = await client().semaphoreStatus("gpus");
  await Promise.all(places.map((place) => place.release()));
  const freed = await client().semaphoreStatus("gpus");

  assert.deepEqual([full.status, full.code, full.limit, full.holders], [409, "semaphore_full", 2, 2]);
  assert.ok(full.retryAfter !== undefined && full.retryAfter >= 1);
  assert.equal(state.limit, 2);
  assert.deepEqual(sorted(state.holders.map((h) => h.fencingToken)), sorted(places.map((p) => p.fencingToken)));
  assert.deepEqual(new Set(state.holders.map((h) => h.owner)), new Set(["job-0", "job-1"]));
  assert.equal(places[1]?.permit.holders, 2);
  assert.equal(freed.limit, undefined, "free, so any limit may be asked for");
});

test("a limit other than the live holders' is limit_mismatch", async () => {
  const place = await held(client().semaphore("slots", 3).acquire());
  const mismatch = await rejection(client().semaphore("slots", 4).acquire(), LimitMismatch);
  await place.release();

  assert.deepEqual([mismatch.status, mismatch.code, mismatch.limit], [409, "limit_mismatch", 3]);
});

test("a waiting acquire gets the place a holder gives up", async () => {
  const holder = await held(client().semaphore("single", 1).acquire());
  const waiting = held(client().semaphore("single", 1, { waitSeconds: 10 }).acquire());

  await eventually(async () => (await waiters(server(), "semaphore/single")) === 1);
  await holder.release();
  const place = await within(5000, waiting);
  await place.release();

  assert.ok(place.fencingToken > holder.fencingToken);
});

test("a semaphore place renews itself past its TTL", async () => {
  const place = await held(client().semaphore("renewed", 2, { ttlSeconds: 2 }).acquire());
  const firstExpiry = place.expiresAt;

  await eventually(async () => (await events(server(), "renewed", "renewed")) >= 3, 10_000);
  const state = await client().semaphoreStatus("renewed");
  await place.release();

  assert.equal(place.signal.aborted, false);
  assert.deepEqual(state.holders.map((h) => h.fencingToken), [place.fencingToken]);
  assert.ok(place.expiresAt > firstExpiry);
});

// -- lock sets ---------------------------------------------------------------------

test("a lock set holds every lock under one token, each with its own fencing token", async () => {
  const names = ["acct:1", "acct:2", "acct:3"];
  const set = await held(client().lockSet(names, { owner: "transfer" }).acquire());
  const seen = await Promise.all(names.map((name) => client().status(name)));
  const member = await rejection(client().lock("acct:2").acquire(), LockHeld);
  await set.release();
  const afterwards = await Promise.all(names.map((name) => client().status(name)));

  assert.ok(set.setId);
  assert.deepEqual([...set.fencingTokens.keys()].sort(), names);
  for (const lease of seen) {
    assert.equal(lease?.fencingToken, set.fencingTokens.get(lease?.name ?? ""));
    assert.equal(lease?.setId, set.setId);
    assert.equal(lease?.owner, "transfer");
  }
  assert.equal(member.code, "lock_held");
  assert.deepEqual(afterwards, [null, null, null]);
});

test("a lock set takes nothing if one member is held, and names it", async () => {
  const b = await held(client().lock("b").acquire());
  const refusal = await rejection(client().lockSet(["a", "b", "c"]).acquire(), LockHeld);
  const [a, c] = [await client().status("a"), await client().status("c")];
  await b.release();

  assert.deepEqual([refusal.status, refusal.code, refusal.held], [409, "lock_held", ["b"]]);
  assert.deepEqual([a, c], [null, null]);
});

test("a waiting lock set gets its locks once the holder lets go", async () => {
  const holder = await held(client().lock("pair-b").acquire());
  const waiting = held(client().lockSet(["pair-a", "pair-b"], { waitSeconds: 10 }).acquire());

  await eventually(async () => (await waiters(server(), "pair-a")) === 1);
  await holder.release();
  const set = await within(5000, waiting);
  await set.release();

  assert.ok((set.fencingTokens.get("pair-b") ?? 0) > holder.fencingToken);
});

test("a lock set renews itself past its TTL", async () => {
  const set = await held(client().lockSet(["r1", "r2"], { ttlSeconds: 2 }).acquire());
  const firstExpiry = set.expiresAt;

  await eventually(async () => (await events(server(), "r1", "renewed")) >= 3, 10_000);
  const seen = await Promise.all(["r1", "r2"].map((name) => client().status(name)));
  await set.release();

  assert.equal(set.signal.aborted, false);
  assert.ok(set.expiresAt > firstExpiry);
  assert.deepEqual(seen.map((lease) => lease?.fencingToken), [set.fencingTokens.get("r1"), set.fencingTokens.get("r2")]);
});
