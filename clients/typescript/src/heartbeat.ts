/**
 * Keeps a lease alive: renews it at a third of its time to live and, judged
 * on this process's monotonic clock, aborts `signal` the moment the lease is
 * lost: the server refused a renewal (its reason), or no renewal succeeded
 * before the time to live had passed since the last successful one was SENT
 * (`renewals_failed`).
 */

import { performance } from "node:perf_hooks";

import { bodyOf } from "./answer.js";
import { Backoff, sleep } from "./backoff.js";
import type { Endpoint } from "./endpoint.js";
import { LeaseLost, type LostReason } from "./errors.js";
import type { JsonObject } from "./json.js";

/** Takes in a renewal's body; throws (before changing anything) if it cannot read it. */
export type OnRenewed = (body: JsonObject) => void;

export class Heartbeat {
  readonly #endpoint: Endpoint;
  readonly #lockToken: string;
  readonly #ttl: number;
  readonly #onRenewed: OnRenewed;
  readonly #lost = new AbortController();
  readonly #stop = new AbortController();
  readonly #running: Promise<void>;
  #validUntil: number;

  /** `ttlSeconds` is the lease's; `sent` the `performance.now()` at which its grant (or last renewal) was sent. */
  constructor(endpoint: Endpoint, lockToken: string, ttlSeconds: number, sent: number, onRenewed: OnRenewed) {
    this.#endpoint = endpoint;
    this.#lockToken = lockToken;
    this.#ttl = Math.max(1, ttlSeconds) * 1000;
    this.#onRenewed = onRenewed;
    this.#validUntil = sent + this.#ttl;
    this.#running = this.#run(sent).catch(() => this.#markLost("renewals_failed"));
  }

  /** Aborts when the lease is lost; its `reason` is a {@link LeaseLost}. Never for a lease released or handed over. */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  get lostReason(): LostReason | undefined {
    const reason: unknown = this.#lost.signal.reason;
    return this.#lost.signal.aborted && reason instanceof LeaseLost ? reason.reason : undefined;
  }

  /** The `performance.now()` after which the lease may have lapsed. */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** Stops renewing (an in-flight renewal is abandoned) and resolves once the heartbeat has ended. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #run(lastOk: number): Promise<void> {
    for (;;) {
      await sleep(lastOk + this.#ttl / 3 - performance.now(), this.#stop.signal);
      if (this.#stop.signal.aborted) return;
      const outcome = await this.#renewUntil(lastOk + this.#ttl);
      if (outcome === "stopped") return;
      if (typeof outcome === "string") return this.#markLost(outcome);
      lastOk = outcome;
      this.#validUntil = lastOk + this.#ttl;
    }
  }

  /**
   * Renews, retrying every failure but a lost lease until `deadline`.
   * Returns when the successful renewal was sent, why the lease is lost, or
   * that the heartbeat was stopped.
   */
  async #renewUntil(deadline: number): Promise<number | LostReason | "stopped"> {
    const pauses = new Backoff(100, this.#ttl / 6);
    const stop = this.#stop.signal;
    for (;;) {
      if (stop.aborted) return "stopped";
      if (performance.now() >= deadline) return "renewals_failed";
      try {
        const answer = await this.#endpoint.renewAnswer(this.#lockToken, undefined, { deadline, signal: stop });
        const body = bodyOf(answer);
        if (performance.now() > deadline) return "renewals_failed"; // too late to count
        this.#onRenewed(body);
        return answer.sent;
      } catch (error) {
        if (stop.aborted) return "stopped";
        if (error instanceof LeaseLost) return error.reason;
        await sleep(Math.min(pauses.next(), deadline - performance.now()), stop);
      }
    }
  }

  #markLost(reason: LostReason): void {
    if (!this.#stop.signal.aborted) this.#lost.abort(new LeaseLost(reason));
  }
}
