/** A named lock: acquire it (into a {@link HeldLock}), or read, renew, hand over and release it by token. */

import { bodyOf, errorOf } from "./answer.js";
import { Endpoint, wholeSeconds } from "./endpoint.js";
import type { LockMode } from "./errors.js";
import { HeldLease, type Start, startOf } from "./held.js";
import { type JsonObject, date, number, optionalString } from "./json.js";
import { type Grant, type Lease, type LockHolders, grantOf, leaseOf, lockHoldersOf } from "./lease.js";
import type { Transport } from "./transport.js";
import { acquireWithin } from "./waiting.js";

/** Whom a resource checks: the writer's lock token, or its fencing token. */
export type Writer = { lockToken: string } | { fencingToken: number };

/** The live lease a writer holds, as a verification found it. */
export interface Verified {
  fencingToken: number;
  expiresAt: Date;
  owner: string | undefined;
}

export interface LockOptions {
  /** The lease's time to live in seconds, rounded up (default: the plan's). */
  ttlSeconds?: number | undefined;
  /** How long `acquire()` waits, in line, for a held lock (default 0: fail fast). */
  waitSeconds?: number | undefined;
  /** Who holds it, for people reading the lock's state and audit trail. */
  owner?: string | undefined;
  /** Any JSON to keep with the lease. */
  metadata?: unknown;
  /** `shared` holds it with any number of other shared holders, but no exclusive one (default `exclusive`). */
  mode?: LockMode | undefined;
  /** The namespace (default: the client's, else the API key's own). */
  namespace?: string | undefined;
}

export interface HandoverOptions {
  /** The next lease's owner. */
  owner?: string | undefined;
  /** The next lease's time to live (default: this one's). */
  ttlSeconds?: number | undefined;
}

/** A lock by name with the options an acquire uses. Made by `Client.lock`. */
export class Lock {
  readonly name: string;
  readonly #endpoint: Endpoint;
  readonly #options: LockOptions;

  constructor(transport: Transport, name: string, options: LockOptions) {
    this.name = name;
    this.#endpoint = Endpoint.named(transport, options.namespace, "locks", name);
    this.#options = options;
  }

  /** Acquires, waiting in line up to `waitSeconds`; rejects with `LockHeld` if it is still held then. */
  acquire(): Promise<HeldLock> {
    return acquireWithin(this.#options.waitSeconds ?? 0, (wait) => this.#acquireOnce(wait));
  }

  /** One attempt, without waiting: rejects with `LockHeld` if the lock is held. */
  tryAcquire(): Promise<HeldLock> {
    return this.#acquireOnce(0);
  }

  /** Takes up a lease acquired elsewhere (a handed-over token): renews it once, then keeps it alive. */
  async adopt(lockToken: string): Promise<HeldLock> {
    const answer = await this.#endpoint.renewAnswer(lockToken);
    const lease = leaseOf(bodyOf(answer));
    return new HeldLock(this.#endpoint, { lease, lockToken }, { sent: answer.sent, renewal: undefined });
  }

  /** The lock's lease, or `null` if nobody holds it (a shared lock's lists its `holders`). */
  async status(): Promise<Lease | null> {
    const answer = await this.#endpoint.transport.send({ method: "GET", path: this.#endpoint.path });
    if (answer.status === 404 && errorOf(answer).code === "lock_not_held") return null;
    return leaseOf(bodyOf(answer));
  }

  /** The lock's mode and every holder's lease, or `null` if nobody holds it. */
  async holders(): Promise<LockHolders | null> {
    const lease = await this.status();
    return lease === null ? null : lockHoldersOf(lease);
  }

  /** Renews the lease `lockToken` stands for (a {@link HeldLock} does this for you). */
  async renew(lockToken: string, ttlSeconds?: number): Promise<Lease> {
    return leaseOf(bodyOf(await this.#endpoint.renewAnswer(lockToken, ttlSeconds)));
  }

  /** Releases the lease `lockToken` stands for; rejects with `LeaseLost` if it had been lost. */
  release(lockToken: string): Promise<void> {
    return this.#endpoint.release(lockToken);
  }

  /** Ends the lease `lockToken` stands for and grants the next one (new token, higher fencing token), to pass on. */
  handover(lockToken: string, options: HandoverOptions = {}): Promise<Grant> {
    return handOver(this.#endpoint, lockToken, options);
  }

  /**
   * For a resource: checks that a writer holds the live lease, by its lock token or its fencing
   * token (exactly one); rejects with `LeaseLost` (and its reason) if it does not. A `note`
   * (up to 1 KiB) is recorded in the lock's audit trail with the check.
   */
  async verify(writer: Writer, note?: string): Promise<Verified> {
    const body: Record<string, unknown> = {};
    if ("fencingToken" in writer) body["fencing_token"] = writer.fencingToken;
    if (note !== undefined) body["note"] = note;
    const call = { method: "POST", path: `${this.#endpoint.path}/verify`, body } as const;
    const sent = "lockToken" in writer ? { ...call, lockToken: writer.lockToken } : call;
    const found = bodyOf(await this.#endpoint.transport.send(sent));
    return {
      fencingToken: number(found, "fencing_token"),
      expiresAt: date(found, "expires_at"),
      owner: optionalString(found, "owner"),
    };
  }

  async #acquireOnce(wait: number): Promise<HeldLock> {
    const call = {
      method: "POST",
      path: this.#endpoint.path,
      body: this.#acquireBody(),
      // As a query parameter: a server that cannot wait ignores it and answers at once.
      ...(wait > 0 && { query: { wait: String(wait) }, extraTimeout: wait * 1000 }),
    } as const;
    const answer = await this.#endpoint.transport.send(call);
    const grant = grantOf(bodyOf(answer));
    const start = await startOf(this.#endpoint, grant.lockToken, grant.lease.ttlSeconds, answer.sent);
    return new HeldLock(this.#endpoint, grant, start);
  }

  #acquireBody(): Record<string, unknown> {
    const { ttlSeconds, owner, metadata, mode } = this.#options;
    const body: Record<string, unknown> = {};
    if (ttlSeconds !== undefined) body["ttl_seconds"] = wholeSeconds(ttlSeconds);
    if (owner !== undefined) body["owner"] = owner;
    if (metadata !== undefined) body["metadata"] = metadata;
    if (mode === "shared") body["mode"] = "shared"; // only then, so an exclusive acquire reads as it always has
    return body;
  }
}

/** A lock held under a token: it renews itself, and `signal` aborts when it is lost. */
export class HeldLock extends HeldLease {
  readonly #lock: Endpoint;
  #lease: Lease;

  /** Made by `Lock.acquire`, `tryAcquire` and `adopt`. */
  constructor(endpoint: Endpoint, grant: Grant, start: Start) {
    super(endpoint, grant.lockToken, grant.lease.ttlSeconds, start.sent);
    this.#lock = endpoint;
    this.#lease = grant.lease;
    if (start.renewal !== undefined) this.renewed(start.renewal);
  }

  /** The lease as of its grant or last renewal. */
  get lease(): Lease {
    return this.#lease;
  }

  /** Pass it to the resource you protect, and have it refuse lower ones. */
  get fencingToken(): number {
    return this.#lease.fencingToken;
  }

  /** The expiry the server gave at the last grant or renewal (its clock). */
  get expiresAt(): Date {
    return this.#lease.expiresAt;
  }

  /**
   * Stops the heartbeat and hands the lock over: this lease ends and the next
   * one (new token, higher fencing token) is returned with its lock token,
   * for another holder to take up with `Lock.adopt`.
   */
  async handover(options: HandoverOptions = {}): Promise<Grant> {
    const lockToken = await this.giveUp();
    if (lockToken === undefined) throw new Error("this lock is no longer held: it was released or handed over");
    return handOver(this.#lock, lockToken, options);
  }

  protected renewed(body: JsonObject): void {
    this.#lease = leaseOf(body);
  }
}

async function handOver(lock: Endpoint, lockToken: string, options: HandoverOptions): Promise<Grant> {
  const body: Record<string, unknown> = {};
  if (options.owner !== undefined) body["owner"] = options.owner;
  if (options.ttlSeconds !== undefined) body["ttl_seconds"] = wholeSeconds(options.ttlSeconds);
  const call = { method: "POST", path: `${lock.path}/handover`, lockToken, body } as const;
  return grantOf(bodyOf(await lock.transport.send(call)));
}
