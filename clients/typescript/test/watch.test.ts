/** Watching a lock's audit events against the real server. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, NamespaceNotFound, type WatchEvent } from "leasehold";

import { rejection } from "./support/eventually.js";
import { held, serverForThisFile } from "./support/fixture.js";

const server = serverForThisFile();
const client = (): Client => new Client({ url: server().url, apiKey: server().key });

/** The cursor just after the lock's first audit event. */
async function firstCursor(name: string): Promise<string> {
  const url = `${server().url}/v1/locks/${name}/history?order=asc&limit=1`;
  const page = (await (await fetch(url, { headers: { authorization: `Bearer ${server().key}` } })).json()) as {
    next_cursor: string;
  };
  return page.next_cursor;
}

test("watch yields a lock's events in order, live ones too, and resumes after a cursor", async () => {
  const lock = await held(client().lock("watched", { ttlSeconds: 30 }).tryAcquire());
  const token = lock.lockToken;
  assert.ok(token !== undefined);
  await client().renew("watched", token);
  await lock.release();

  const events = client().watch("watched", { after: await firstCursor("watched") });
  const next = async (from: AsyncGenerator<WatchEvent>): Promise<WatchEvent> => (await from.next()).value as WatchEvent;
  const renewed = await next(events);
  const released = await next(events);
  const again = await held(client().lock("watched", { ttlSeconds: 30 }).tryAcquire());
  const live = await next(events);
  await events.return(undefined);
  const resumed = client().watch("watched", { after: renewed.cursor });
  const afterRenewed = await next(resumed);
  await resumed.return(undefined);

  assert.deepEqual([renewed.kind, released.kind, live.kind], ["renewed", "released", "acquired"]);
  assert.equal(renewed.data["fencing_token"], lock.fencingToken);
  assert.equal(live.data["fencing_token"], again.fencingToken);
  assert.deepEqual([afterRenewed.kind, afterRenewed.cursor], ["released", released.cursor]);
});

test("watching another tenant's namespace is refused, not retried", async () => {
  const events = client().watch(null, { namespace: "someone-else" });
  await rejection(events.next(), NamespaceNotFound);
});
