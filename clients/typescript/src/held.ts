/** What every held lease shares (a lock's, a semaphore place's, a lock set's): its token, heartbeat, loss and release. */

import { performance } from "node:perf_hooks";

import { bodyOf } from "./answer.js";
import type { Endpoint } from "./endpoint.js";
import { LeaseLost, type LostReason } from "./errors.js";
import { Heartbeat } from "./heartbeat.js";
import type { JsonObject } from "./json.js";

/** Where a held lease's clock starts: when its grant (or the renewal that confirmed it) was sent. */
export interface Start {
  sent: number;
  /** The confirming renewal's body, if a late grant needed one. */
  renewal: JsonObject | undefined;
}

/**
 * A lease held under a token. While held, it renews itself at a third of its
 * time to live; `signal` aborts the moment it is lost. Release it when done:
 * until then the heartbeat keeps the process running.
 */
export abstract class HeldLease {
  readonly #endpoint: Endpoint;
  readonly #heartbeat: Heartbeat;
  #lockToken: string | undefined;

  protected constructor(endpoint: Endpoint, lockToken: string, ttlSeconds: number, sent: number) {
    this.#endpoint = endpoint;
    this.#lockToken = lockToken;
    this.#heartbeat = new Heartbeat(endpoint, lockToken, ttlSeconds, sent, (body) => this.renewed(body));
  }

  /** Takes in a renewal's body; throws, before changing anything, if it cannot read it. */
  protected abstract renewed(body: JsonObject): void;

  /**
   * Aborts when the lease is lost, with a {@link LeaseLost} as its `reason`:
   * pass it to work that must not outlive the lease. It never aborts for a
   * lease released or handed over.
   */
  get signal(): AbortSignal {
    return this.#heartbeat.signal;
  }

  /** Why the lease was lost (`undefined` while it is held). */
  get lostReason(): LostReason | undefined {
    return this.#heartbeat.lostReason;
  }

  /** The `performance.now()` after which the lease may have lapsed, by this process's monotonic clock. */
  get validUntil(): number {
    return this.#heartbeat.validUntil;
  }

  /** The token that renews and releases the lease (`undefined` once released or handed over). Keep it secret. */
  get lockToken(): string | undefined {
    return this.#lockToken;
  }

  /**
   * Stops the heartbeat and releases. Resolves if the lease was held until
   * now (or was already released by this object); rejects with
   * {@link LeaseLost} if it had been lost, or with `Unavailable` /
   * `Unreachable` if the outcome is unknown (the lease then lapses at its expiry).
   */
  async release(): Promise<void> {
    const lockToken = await this.giveUp();
    if (lockToken !== undefined) await this.#endpoint.release(lockToken);
  }

  /**
   * Stops the heartbeat and forgets the token; returns it (`undefined` if it
   * was given up before), or throws {@link LeaseLost} if the server said the
   * lease is lost. A lease whose renewals failed may still be held.
   */
  protected async giveUp(): Promise<string | undefined> {
    await this.#heartbeat.stop();
    const lockToken = this.#lockToken;
    this.#lockToken = undefined;
    const reason = this.lostReason;
    if (lockToken !== undefined && reason !== undefined && reason !== "renewals_failed") throw new LeaseLost(reason);
    return lockToken;
  }
}

/**
 * Where a new lease's clock starts. A grant that took a third of its time
 * to live to arrive (a waiting acquire) may have been made long after its
 * request was sent, and by that reckoning be about to lapse: it is renewed
 * once before it is handed out, so its holder gets a full time to live.
 */
export async function startOf(endpoint: Endpoint, lockToken: string, ttlSeconds: number, sent: number): Promise<Start> {
  if (performance.now() - sent < (ttlSeconds * 1000) / 3) return { sent, renewal: undefined };
  try {
    const answer = await endpoint.renewAnswer(lockToken);
    return { sent: answer.sent, renewal: bodyOf(answer) };
  } catch (error) {
    if (!(error instanceof LeaseLost)) await endpoint.release(lockToken).catch(() => undefined);
    throw error;
  }
}
