/**
 * Where a lease lives on the server (a lock, a semaphore or a lock set), and
 * the calls every kind of lease shares: renew and release by its token.
 */

import { type Answer, errorOf, succeeded } from "./answer.js";
import { LeaseLost } from "./errors.js";
import type { SendOptions, Transport } from "./transport.js";

export type Kind = "locks" | "semaphores" | "lock-sets";

export class Endpoint {
  constructor(
    readonly transport: Transport,
    readonly path: string,
  ) {}

  /** `/v1/{kind}/{name}`, or `/v1/namespaces/{namespace}/{kind}/{name}`. */
  static named(transport: Transport, namespace: string | undefined, kind: Kind, name: string): Endpoint {
    return new Endpoint(transport, `${collection(namespace, kind)}/${encodeSegment(name)}`);
  }

  /** A renewal's answer, whatever it is (the heartbeat reads it). */
  renewAnswer(lockToken: string, ttlSeconds?: number, options?: SendOptions): Promise<Answer> {
    const body = ttlSeconds === undefined ? undefined : { ttl_seconds: wholeSeconds(ttlSeconds) };
    const call = { method: "POST", path: `${this.path}/renew`, lockToken, ...(body && { body }) } as const;
    return this.transport.send(call, options);
  }

  /**
   * Resolves if the lease was held until this release; rejects with
   * {@link LeaseLost} (and its reason) if it had been lost before, or with
   * `Unavailable`/`Unreachable` if the outcome is unknown (the lease then
   * lapses at its expiry).
   */
  async release(lockToken: string): Promise<void> {
    const answer = await this.transport.send({ method: "DELETE", path: this.path, lockToken });
    if (succeeded(answer)) return;
    const error = errorOf(answer);
    // An earlier attempt, whose answer was lost, did the release.
    if (error instanceof LeaseLost && error.reason === "released" && answer.retried) return;
    throw error;
  }
}

/** `/v1/{kind}`, or `/v1/namespaces/{namespace}/{kind}`. */
export function collection(namespace: string | undefined, kind: Kind): string {
  return namespace === undefined ? `/v1/${kind}` : `/v1/namespaces/${encodeSegment(namespace)}/${kind}`;
}

/**
 * Percent-encoded, so no name can change the route (`a/renew`). `.` and `..`
 * are refused: a URL parser (fetch's included) removes them as dot segments
 * however they are encoded, so the call would reach another route.
 */
export function encodeSegment(raw: string): string {
  if (raw === "." || raw === "..") throw new TypeError(`the name "${raw}" cannot be sent in a URL`);
  return encodeURIComponent(raw);
}

/** The server counts whole seconds: a fraction rounds up, never down to a shorter lease. */
export function wholeSeconds(seconds: number): number {
  return Math.ceil(seconds);
}
