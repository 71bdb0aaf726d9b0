/** A counting semaphore: up to `limit` holders at once, each holding a permit like a lock. */

import { bodyOf } from "./answer.js";
import { Endpoint, wholeSeconds } from "./endpoint.js";
import { HeldLease, type Start, startOf } from "./held.js";
import { type JsonObject, date, number, optionalNumber, optionalString, string } from "./json.js";
import { type Holder, holdersOf } from "./lease.js";
import type { Transport } from "./transport.js";
import { acquireWithin } from "./waiting.js";

export interface SemaphoreOptions {
  /** The permit's time to live in seconds, rounded up (default: the plan's). */
  ttlSeconds?: number | undefined;
  /** How long `acquire()` waits, in line, for a place (default 0: fail fast). */
  waitSeconds?: number | undefined;
  owner?: string | undefined;
  metadata?: unknown;
  namespace?: string | undefined;
}

/** One holder's place in a semaphore, as the server granted it. */
export interface Permit {
  namespace: string;
  name: string;
  fencingToken: number;
  limit: number;
  /** How many held it, this holder included, when it was granted. */
  holders: number;
  owner: string | undefined;
  acquiredAt: Date;
  /** As of the last grant or renewal (the server's clock). */
  expiresAt: Date;
  ttlSeconds: number;
  metadata: unknown;
}

/** A semaphore's limit (`undefined` when nobody holds it: then any may be asked for) and its live holders. */
export interface SemaphoreState {
  namespace: string;
  name: string;
  limit: number | undefined;
  holders: Holder[];
}

/** A semaphore by name and limit, with the options an acquire uses. Made by `Client.semaphore`. */
export class Semaphore {
  readonly name: string;
  readonly limit: number;
  readonly #endpoint: Endpoint;
  readonly #options: SemaphoreOptions;

  constructor(transport: Transport, name: string, limit: number, options: SemaphoreOptions) {
    this.name = name;
    this.limit = limit;
    this.#endpoint = Endpoint.named(transport, options.namespace, "semaphores", name);
    this.#options = options;
  }

  /** Takes a place, waiting in line up to `waitSeconds`: `SemaphoreFull` if none freed up, `LimitMismatch` if its holders use another limit. */
  acquire(): Promise<HeldPermit> {
    return acquireWithin(this.#options.waitSeconds ?? 0, (wait) => this.#acquireOnce(wait));
  }

  /** One attempt, without waiting. */
  tryAcquire(): Promise<HeldPermit> {
    return this.#acquireOnce(0);
  }

  /** The semaphore's limit and every live holder's lease. */
  async status(): Promise<SemaphoreState> {
    const body = bodyOf(await this.#endpoint.transport.send({ method: "GET", path: this.#endpoint.path }));
    return {
      namespace: string(body, "namespace"),
      name: string(body, "name"),
      limit: optionalNumber(body, "limit"),
      holders: holdersOf(body),
    };
  }

  async #acquireOnce(wait: number): Promise<HeldPermit> {
    const call = {
      method: "POST",
      path: this.#endpoint.path,
      body: this.#acquireBody(wait),
      ...(wait > 0 && { extraTimeout: wait * 1000 }),
    } as const;
    const answer = await this.#endpoint.transport.send(call);
    const body = bodyOf(answer);
    const permit = permitOf(body);
    const lockToken = string(body, "lock_token");
    const start = await startOf(this.#endpoint, lockToken, permit.ttlSeconds, answer.sent);
    return new HeldPermit(this.#endpoint, permit, lockToken, start);
  }

  #acquireBody(wait: number): Record<string, unknown> {
    const { ttlSeconds, owner, metadata } = this.#options;
    const body: Record<string, unknown> = { limit: this.limit };
    if (ttlSeconds !== undefined) body["ttl_seconds"] = wholeSeconds(ttlSeconds);
    if (owner !== undefined) body["owner"] = owner;
    if (metadata !== undefined) body["metadata"] = metadata;
    if (wait > 0) body["wait_seconds"] = wait;
    return body;
  }
}

/** A place in a semaphore held under a token: it renews itself, and `signal` aborts when it is lost. */
export class HeldPermit extends HeldLease {
  #permit: Permit;

  /** Made by `Semaphore.acquire` and `tryAcquire`. */
  constructor(endpoint: Endpoint, permit: Permit, lockToken: string, start: Start) {
    super(endpoint, lockToken, permit.ttlSeconds, start.sent);
    this.#permit = permit;
    if (start.renewal !== undefined) this.renewed(start.renewal);
  }

  get permit(): Permit {
    return this.#permit;
  }

  get fencingToken(): number {
    return this.#permit.fencingToken;
  }

  get expiresAt(): Date {
    return this.#permit.expiresAt;
  }

  protected renewed(body: JsonObject): void {
    this.#permit = { ...this.#permit, expiresAt: date(body, "expires_at") };
  }
}

function permitOf(body: JsonObject): Permit {
  return {
    namespace: string(body, "namespace"),
    name: string(body, "name"),
    fencingToken: number(body, "fencing_token"),
    limit: number(body, "limit"),
    holders: number(body, "holders"),
    owner: optionalString(body, "owner"),
    acquiredAt: date(body, "acquired_at"),
    expiresAt: date(body, "expires_at"),
    ttlSeconds: number(body, "ttl_seconds"),
    metadata: body["metadata"] ?? undefined,
  };
}
