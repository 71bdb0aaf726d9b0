/** One real server for a test file, started before its tests and stopped after them. */

import { after, afterEach, before } from "node:test";

import type { HeldLease } from "leasehold";

import { type TestServer, startServer } from "./server.js";

export function serverForThisFile(): () => TestServer {
  let server: TestServer | undefined;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await releaseLeftovers();
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error("the server has not started");
    return server;
  };
}

const leases: HeldLease[] = [];

// A test that failed half-way leaves its leases held, and their heartbeats
// would keep this process running: release them (again, for the others).
afterEach(releaseLeftovers);

async function releaseLeftovers(): Promise<void> {
  await Promise.allSettled(leases.splice(0).map((lease) => lease.release()));
}

/** The lease `acquiring` resolves to, released after the test if the test did not. */
export async function held<T extends HeldLease>(acquiring: Promise<T>): Promise<T> {
  const lease = await acquiring;
  leases.push(lease);
  return lease;
}

/** How many live waiters the queue `queue` has (a semaphore's is `semaphore/NAME`; a lock set waits in its first member's). */
export async function waiters(server: TestServer, queue: string): Promise<number> {
  return Number(await server.sql(`SELECT count(*) FROM lock_waiters WHERE name = '${queue}' AND expires_at > now()`));
}

/** How many `event` rows (`acquired`, `renewed`, `released`, ...) the audit trail has for the lock `name`. */
export async function events(server: TestServer, name: string, event: string): Promise<number> {
  return Number(await server.sql(`SELECT count(*) FROM lock_events WHERE name = '${name}' AND event = '${event}'`));
}

/** Makes every lease on `name` lapse now, as if its holder had stopped renewing long ago. */
export async function forceExpire(server: TestServer, name: string): Promise<void> {
  await server.sql(`UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = '${name}'`);
}
