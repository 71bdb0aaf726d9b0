/** A held lease renews itself at a third of its TTL, and its AbortSignal fires the moment it is lost. */

import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import { Client, LeaseLost } from "leasehold";

import { aborted, eventually, rejection, within } from "./support/eventually.js";
import { events, forceExpire, held, serverForThisFile } from "./support/fixture.js";
import { Interposer } from "./support/interposer.js";

const server = serverForThisFile();
const client = (): Client => new Client({ url: server().url, apiKey: server().key });

test("a held lease renews itself at a third of its TTL and is kept past it", async () => {
  const proxy = await Interposer.start(server().url);
  const lease = await held(new Client({ url: proxy.url, apiKey: server().key }).lock("short", { ttlSeconds: 3 }).acquire());
  const granted = performance.now();

  await eventually(() => proxy.requestsTo("/v1/locks/short/renew").length >= 4, 15_000);
  const seen = await client().status("short");
  await lease.release();
  await proxy.close();

  const acquired = proxy.requestsTo("/v1/locks/short")[0]?.at ?? assert.fail("no acquire seen");
  const renewals = proxy.requestsTo("/v1/locks/short/renew").map((request) => request.at);
  const previous = [acquired, ...renewals];
  const gaps = renewals.map((at, i) => at - (previous[i] ?? 0));
  for (const gap of gaps) assert.ok(gap >= 900 && gap <= 1500, `renewals ${gaps.map(Math.round).join(", ")} ms apart`);
  assert.ok(performance.now() - granted > 3000, "held past its TTL");
  assert.equal(seen?.fencingToken, lease.fencingToken);
  assert.equal(lease.signal.aborted, false);
  assert.equal(await events(server(), "short", "renewed"), renewals.length, "every renewal sent succeeded");
});

test("the signal fires with reason superseded when the lease lapses and is taken over", async () => {
  const lease = await held(client().lock("taken", { ttlSeconds: 3 }).acquire());

  await forceExpire(server(), "taken");
  const usurper = await held(client().lock("taken").tryAcquire());
  const reason = await within(5000, aborted(lease.signal));
  const released = await rejection(lease.release(), LeaseLost);
  await usurper.release();

  assert.ok(reason instanceof LeaseLost);
  assert.equal(reason.reason, "superseded");
  assert.equal(lease.lostReason, "superseded");
  assert.equal(released.reason, "superseded");
  assert.ok(usurper.fencingToken > lease.fencingToken);
});

test("the signal fires with reason expired when the lease lapses", async () => {
  const lease = await held(client().lock("lapses", { ttlSeconds: 3 }).acquire());

  await forceExpire(server(), "lapses");
  const reason = await within(5000, aborted(lease.signal));

  assert.ok(reason instanceof LeaseLost);
  assert.equal(reason.reason, "expired");
  await rejection(lease.release(), LeaseLost);
});

test("renewals that fail until the TTL has passed since the last one was sent fire the signal, not before", async () => {
  const proxy = await Interposer.start(server().url);
  const cutOff = new Client({ url: proxy.url, apiKey: server().key, timeoutSeconds: 0.5, retryForSeconds: 0.5 });
  const lease = await held(cutOff.lock("cut-off", { ttlSeconds: 2 }).acquire());
  const validUntil = lease.validUntil;

  proxy.cut();
  const reason = await within(5000, aborted(lease.signal));
  const lostAt = performance.now();
  const release = await rejection(lease.release(), Error);
  await proxy.close();

  assert.ok(reason instanceof LeaseLost);
  assert.equal(reason.reason, "renewals_failed");
  assert.ok(lostAt >= validUntil, `judged lost ${Math.round(validUntil - lostAt)} ms before the TTL ran out`);
  assert.ok(lostAt < validUntil + 1000, `judged lost ${Math.round(lostAt - validUntil)} ms after the TTL ran out`);
  assert.equal(release.name, "Unreachable", "still held as far as we know, so release is tried");
});

test("a lease granted after a wait longer than its TTL is handed out fresh, not already lost", async () => {
  const holder = await held(client().lock("slow-queue", { ttlSeconds: 30 }).tryAcquire());
  const waiting = held(client().lock("slow-queue", { ttlSeconds: 1, waitSeconds: 10 }).acquire());
  await eventually(async () => (await client().status("slow-queue"))?.waiters === 1);

  await sleep(1500); // the point: the waiter's wait outlasts its own TTL
  await holder.release();
  const lease = await within(5000, waiting);
  const timeToLive = lease.validUntil - performance.now();
  await eventually(async () => (await events(server(), "slow-queue", "renewed")) >= 3, 5000);
  const lostMeanwhile = lease.signal.aborted;
  await lease.release();

  assert.ok(timeToLive > 500, `handed out with ${Math.round(timeToLive)} ms to live`);
  assert.equal(lostMeanwhile, false);
});
