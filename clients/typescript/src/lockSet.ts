/** Several locks held all together or not at all, under one token and one lease. */

import { bodyOf } from "./answer.js";
import { Endpoint, collection, encodeSegment, wholeSeconds } from "./endpoint.js";
import { HeldLease, type Start, startOf } from "./held.js";
import { type JsonObject, array, asObject, date, number, string } from "./json.js";
import type { Transport } from "./transport.js";
import { acquireWithin } from "./waiting.js";

/** A lock set's lease when none is asked for: its grant does not say how long the lease is, and the heartbeat must know. */
const DEFAULT_TTL_SECONDS = 30;

export interface LockSetOptions {
  /** The set's time to live in seconds, rounded up (default 30). */
  ttlSeconds?: number | undefined;
  /** How long `acquire()` waits, in line, for every lock to be free (default 0: fail fast). */
  waitSeconds?: number | undefined;
  owner?: string | undefined;
  namespace?: string | undefined;
}

/** The locks `names` (2 to 64), with the options an acquire uses. Made by `Client.lockSet`. */
export class LockSet {
  readonly names: readonly string[];
  readonly #transport: Transport;
  readonly #options: LockSetOptions;

  constructor(transport: Transport, names: readonly string[], options: LockSetOptions) {
    this.names = [...names];
    this.#transport = transport;
    this.#options = options;
  }

  /** Acquires every lock or none, waiting in line up to `waitSeconds`; `LockHeld` (whose `held` names them) if some are still held. */
  acquire(): Promise<HeldLockSet> {
    return acquireWithin(this.#options.waitSeconds ?? 0, (wait) => this.#acquireOnce(wait));
  }

  /** One attempt, without waiting. */
  tryAcquire(): Promise<HeldLockSet> {
    return this.#acquireOnce(0);
  }

  get #ttlSeconds(): number {
    return wholeSeconds(this.#options.ttlSeconds ?? DEFAULT_TTL_SECONDS);
  }

  async #acquireOnce(wait: number): Promise<HeldLockSet> {
    const sets = collection(this.#options.namespace, "lock-sets");
    const body: Record<string, unknown> = { names: this.names, ttl_seconds: this.#ttlSeconds };
    if (this.#options.owner !== undefined) body["owner"] = this.#options.owner;
    if (wait > 0) body["wait_seconds"] = wait;
    const call = { method: "POST", path: sets, body, ...(wait > 0 && { extraTimeout: wait * 1000 }) } as const;
    const answer = await this.#transport.send(call);
    const grant = setGrantOf(bodyOf(answer));
    // From now on the set's own resource: its renewals and its release.
    const endpoint = new Endpoint(this.#transport, `${sets}/${encodeSegment(grant.setId)}`);
    const start = await startOf(endpoint, grant.lockToken, this.#ttlSeconds, answer.sent);
    return new HeldLockSet(endpoint, grant, this.#ttlSeconds, start);
  }
}

/** A lock set held under one token: it renews itself, and `signal` aborts when it is lost. */
export class HeldLockSet extends HeldLease {
  readonly setId: string;
  /** Each lock's own fencing token, by name. */
  readonly fencingTokens: ReadonlyMap<string, number>;
  #expiresAt: Date;

  /** Made by `LockSet.acquire` and `tryAcquire`. */
  constructor(endpoint: Endpoint, grant: LockSetGrant, ttlSeconds: number, start: Start) {
    super(endpoint, grant.lockToken, ttlSeconds, start.sent);
    this.setId = grant.setId;
    this.fencingTokens = grant.fencingTokens;
    this.#expiresAt = grant.expiresAt;
    if (start.renewal !== undefined) this.renewed(start.renewal);
  }

  /** The expiry the server gave at the last grant or renewal (its clock). */
  get expiresAt(): Date {
    return this.#expiresAt;
  }

  protected renewed(body: JsonObject): void {
    this.#expiresAt = date(body, "expires_at");
  }
}

/** A lock set's grant, as the server describes it. */
export interface LockSetGrant {
  setId: string;
  lockToken: string;
  expiresAt: Date;
  fencingTokens: ReadonlyMap<string, number>;
}

function setGrantOf(body: JsonObject): LockSetGrant {
  return {
    setId: string(body, "set_id"),
    lockToken: string(body, "lock_token"),
    expiresAt: date(body, "expires_at"),
    fencingTokens: new Map(array(body, "locks").map(memberOf)),
  };
}

function memberOf(value: unknown): [string, number] {
  const member = asObject(value, "a lock set's member");
  return [string(member, "name"), number(member, "fencing_token")];
}
