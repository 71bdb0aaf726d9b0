/**
 * Indeterminate failures between the client and the real server: lost
 * answers, 503 and 429. Retries reuse the Idempotency-Key, so the server
 * replays the first outcome instead of acting twice.
 */

import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";

import { Client, RateLimited, Unavailable } from "leasehold";

import { eventually, rejection } from "./support/eventually.js";
import { events, held, serverForThisFile } from "./support/fixture.js";
import { Interposer } from "./support/interposer.js";

const server = serverForThisFile();

async function throughProxy(t: TestContext, retryForSeconds?: number): Promise<[Client, Interposer]> {
  const proxy = await Interposer.start(server().url);
  t.after(() => proxy.close());
  const options = retryForSeconds === undefined ? {} : { retryForSeconds };
  return [new Client({ url: proxy.url, apiKey: server().key, ...options }), proxy];
}

const keysOf = (proxy: Interposer, method: string, path: string): (string | undefined)[] =>
  proxy.requestsTo(path).filter((seen) => seen.method === method).map((seen) => seen.idempotencyKey);

test("an acquire whose answer was lost is retried under the same key into the same grant", async (t) => {
  const [client, proxy] = await throughProxy(t);

  proxy.inject({ kind: "drop-answer" });
  const lease = await held(client.lock("once", { ttlSeconds: 30 }).acquire());
  await lease.release(); // the replayed grant's token is the lease's

  const [first, retry, ...more] = keysOf(proxy, "POST", "/v1/locks/once");
  assert.equal(proxy.pendingFaults, 0, "an answer was lost");
  assert.ok(first !== undefined && first === retry && more.length === 0, "one retry, same Idempotency-Key");
  assert.equal(await events(server(), "once", "acquired"), 1);
  assert.equal(await events(server(), "once", "released"), 1);
});

test("a release whose answer was lost is still a clean release", async (t) => {
  const [client, proxy] = await throughProxy(t);
  const lease = await held(client.lock("let-go").acquire());

  proxy.inject({ kind: "drop-answer" });
  await lease.release();

  const [first, retry] = keysOf(proxy, "DELETE", "/v1/locks/let-go");
  assert.equal(proxy.pendingFaults, 0, "an answer was lost");
  assert.ok(first !== undefined && first === retry);
  assert.equal(await events(server(), "let-go", "released"), 1);
});

test("a renewal whose answer was lost does not lose the lease", async (t) => {
  const [client, proxy] = await throughProxy(t);
  const lease = await held(client.lock("renew-lost", { ttlSeconds: 3 }).acquire());

  proxy.inject({ kind: "drop-answer" });
  await eventually(() => keysOf(proxy, "POST", "/v1/locks/renew-lost/renew").length >= 3);
  const lostMeanwhile = lease.signal.aborted;
  await lease.release();

  const [first, retry, next] = keysOf(proxy, "POST", "/v1/locks/renew-lost/renew");
  assert.equal(lostMeanwhile, false);
  assert.ok(first !== undefined && first === retry && next !== first, "retried under its key; the next renewal has its own");
});

test("429 is retried no sooner than its Retry-After, under the same key", async (t) => {
  const [client, proxy] = await throughProxy(t);

  proxy.inject({ kind: "refuse", status: 429, retryAfter: "1" });
  const lease = await held(client.lock("limited").acquire());
  await lease.release();

  const [refused, granted] = proxy.requestsTo("/v1/locks/limited").filter((seen) => seen.method === "POST");
  assert.ok(refused && granted);
  assert.ok(granted.at - refused.at >= 1000, `retried after ${Math.round(granted.at - refused.at)} ms`);
  assert.equal(granted.idempotencyKey, refused.idempotencyKey);
  assert.equal(await events(server(), "limited", "acquired"), 1);
});

test("503s are retried with backoff under the same key until the server answers", async (t) => {
  const [client, proxy] = await throughProxy(t);

  proxy.inject({ kind: "refuse", status: 503 }, { kind: "refuse", status: 503 });
  const lease = await held(client.lock("flaky").acquire());
  await lease.release();

  const keys = keysOf(proxy, "POST", "/v1/locks/flaky");
  assert.equal(keys.length, 3);
  assert.equal(new Set(keys).size, 1);
  assert.equal(await events(server(), "flaky", "acquired"), 1);
});

test("a server still unavailable when the retry budget is spent is Unavailable", async (t) => {
  const [client, proxy] = await throughProxy(t, 1);

  proxy.inject(...Array.from({ length: 50 }, () => ({ kind: "refuse", status: 503 }) as const));
  const unavailable = await rejection(client.lock("down").acquire(), Unavailable);

  assert.deepEqual([unavailable.status, unavailable.code], [503, "database_unavailable"]);
  assert.ok(keysOf(proxy, "POST", "/v1/locks/down").length >= 3, "retried within the budget");
  assert.equal(await events(server(), "down", "acquired"), 0);
});

test("retryForSeconds 0 turns retries off", async (t) => {
  const [client, proxy] = await throughProxy(t, 0);

  proxy.inject({ kind: "refuse", status: 503, retryAfter: "1" });
  const unavailable = await rejection(client.lock("no-retry").acquire(), Unavailable);
  const lease = await held(client.lock("no-retry").acquire());
  await lease.release();

  assert.equal(unavailable.retryAfter, 1);
  assert.equal(keysOf(proxy, "POST", "/v1/locks/no-retry").length, 2, "one attempt each");
});

test("a Retry-After beyond the retry budget is not cut short: RateLimited at once", async (t) => {
  const [client, proxy] = await throughProxy(t, 1);

  proxy.inject({ kind: "refuse", status: 429, retryAfter: "5" });
  const limited = await rejection(client.lock("slow-down").acquire(), RateLimited);

  assert.ok(limited instanceof Unavailable);
  assert.deepEqual([limited.status, limited.code, limited.retryAfter], [429, "rate_limited", 5]);
  assert.equal(keysOf(proxy, "POST", "/v1/locks/slow-down").length, 1);
});

test("every mutating call carries its own Idempotency-Key; reads carry none", async (t) => {
  const [client, proxy] = await throughProxy(t);

  const lease = await held(client.lock("keyed", { ttlSeconds: 30 }).acquire());
  await client.status("keyed");
  await client.renew("keyed", lease.lockToken ?? assert.fail("no token"));
  const next = await lease.handover();
  await client.release("keyed", next.lockToken);

  const calls = proxy.seen.filter((seen) => seen.path.startsWith("/v1/locks/keyed"));
  const reads = calls.filter((seen) => seen.method === "GET");
  const writes = calls.filter((seen) => seen.method !== "GET");
  assert.deepEqual(reads.map((seen) => seen.idempotencyKey), [undefined]);
  assert.deepEqual(writes.map((seen) => `${seen.method} ${seen.path}`), [
    "POST /v1/locks/keyed",
    "POST /v1/locks/keyed/renew",
    "POST /v1/locks/keyed/handover",
    "DELETE /v1/locks/keyed",
  ]);
  assert.equal(new Set(writes.map((seen) => seen.idempotencyKey).filter(Boolean)).size, 4);
});
