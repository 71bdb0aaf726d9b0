/**
 * Acquiring within a wait, for every kind of lease: the server queues waiters
 * fairly (up to 30 s a request, so a longer wait asks again for the rest);
 * where it will not wait, the client polls, guided by its `Retry-After`.
 */

import { performance } from "node:perf_hooks";

import { sleep } from "./backoff.js";
import { InvalidRequest, LockHeld, SemaphoreFull } from "./errors.js";

/** The longest wait asked of the server in one request (the default plans' limit), in seconds. */
const MAX_SERVER_WAIT = 30;

/**
 * Calls `attempt` with how many whole seconds the server may wait this time,
 * until it succeeds, fails otherwise, or `waitSeconds` have passed. Only a
 * conflict (held, full) is tried again.
 */
export async function acquireWithin<T>(waitSeconds: number, attempt: (serverWait: number) => Promise<T>): Promise<T> {
  if (!(waitSeconds > 0)) return attempt(0);
  const deadline = performance.now() + waitSeconds * 1000;
  let poll = 50;
  let serverWaits = true;
  for (;;) {
    const left = Math.max(0, deadline - performance.now());
    try {
      return await attempt(serverWaits ? Math.floor(Math.min(left / 1000, MAX_SERVER_WAIT)) : 0);
    } catch (error) {
      if (error instanceof InvalidRequest && error.code === "invalid_wait" && serverWaits) {
        serverWaits = false; // a plan that allows less waiting per request: poll instead
        continue;
      }
      if (!(error instanceof LockHeld || error instanceof SemaphoreFull) || left <= 0) throw error;
      await sleep(Math.min((error.retryAfter ?? Infinity) * 1000, poll, left));
      poll = Math.min(poll * 2, 1000);
    }
  }
}
