/** A Leasehold server and the API key to use with it: where every lock, semaphore and lock set starts. */

import { type ClientOptions, settingsOf } from "./config.js";
import { collection, encodeSegment } from "./endpoint.js";
import type { Grant, Lease, LockHolders } from "./lease.js";
import { type HandoverOptions, type HeldLock, Lock, type LockOptions, type Verified, type Writer } from "./lock.js";
import { LockSet, type LockSetOptions } from "./lockSet.js";
import { Semaphore, type SemaphoreOptions, type SemaphoreState } from "./semaphore.js";
import { Transport } from "./transport.js";
import { watch, type WatchEvent, type WatchOptions } from "./watch.js";

/** Where a call by name and token looks: the client's namespace unless another is given. */
export interface Addressing {
  namespace?: string | undefined;
}

/**
 * ```ts
 * const client = new Client({ url: "http://127.0.0.1:7010", apiKey });   // or LEASEHOLD_URL, LEASEHOLD_API_KEY
 * const lease = await client.lock("nightly-billing", { ttlSeconds: 30, waitSeconds: 10 }).acquire();
 * try {
 *   await bill({ fencingToken: lease.fencingToken, signal: lease.signal });
 * } finally {
 *   await lease.release();
 * }
 * ```
 */
export class Client {
  readonly #transport: Transport;
  readonly #namespace: string | undefined;

  constructor(options: ClientOptions = {}) {
    this.#transport = new Transport(settingsOf(options));
    this.#namespace = options.namespace;
  }

  /** The server's URL (the API key stays out of logs). */
  get url(): string {
    return this.#transport.url;
  }

  /** The lock `name`, to acquire (exclusive, or `mode: "shared"`) or to read. */
  lock(name: string, options: LockOptions = {}): Lock {
    return new Lock(this.#transport, name, this.#addressed(options));
  }

  /** A place in the semaphore `name`, which admits up to `limit` holders (every holder must ask with the same limit). */
  semaphore(name: string, limit: number, options: SemaphoreOptions = {}): Semaphore {
    return new Semaphore(this.#transport, name, limit, this.#addressed(options));
  }

  /** The locks `names` (2 to 64), to hold all together or not at all, under one token. */
  lockSet(names: Iterable<string>, options: LockSetOptions = {}): LockSet {
    return new LockSet(this.#transport, [...names], this.#addressed(options));
  }

  /** The lock's current lease, or `null` if nobody holds it. */
  status(name: string, options: Addressing = {}): Promise<Lease | null> {
    return this.lock(name, options).status();
  }

  /** The lock's mode and every holder's lease, or `null` if nobody holds it. */
  holders(name: string, options: Addressing = {}): Promise<LockHolders | null> {
    return this.lock(name, options).holders();
  }

  /** Renews a lease by its token (a held lease does this for you). */
  renew(name: string, lockToken: string, options: Addressing & { ttlSeconds?: number | undefined } = {}): Promise<Lease> {
    return this.lock(name, options).renew(lockToken, options.ttlSeconds);
  }

  /** Releases a lease by its token; rejects with `LeaseLost` if it had been lost. */
  release(name: string, lockToken: string, options: Addressing = {}): Promise<void> {
    return this.lock(name, options).release(lockToken);
  }

  /** Ends a lease by its token and grants the next one (new token, higher fencing token), to pass on. */
  handover(name: string, lockToken: string, options: Addressing & HandoverOptions = {}): Promise<Grant> {
    return this.lock(name, options).handover(lockToken, options);
  }

  /** Takes up a lease acquired elsewhere (a handed-over token) and keeps it alive from now on. */
  adopt(name: string, lockToken: string, options: Addressing = {}): Promise<HeldLock> {
    return this.lock(name, options).adopt(lockToken);
  }

  /** For a resource: whether `writer` holds the lock's live lease; a `note` is recorded in the audit trail. */
  verify(name: string, writer: Writer, options: Addressing & { note?: string | undefined } = {}): Promise<Verified> {
    return this.lock(name, options).verify(writer, options.note);
  }

  /**
   * The lock's audit events as they commit (`name` `null`: the whole namespace's),
   * from now or after `options.after`: an endless iterator that reconnects by
   * itself, resuming after the last event it yielded; abort `options.signal` (or
   * `break`) to stop.
   */
  watch(name: string | null, options: Addressing & WatchOptions = {}): AsyncGenerator<WatchEvent> {
    const namespace = options.namespace ?? this.#namespace;
    if (name !== null) return watch(this.#transport, `${collection(namespace, "locks")}/${encodeSegment(name)}/events`, options);
    if (namespace === undefined) throw new TypeError("watch a lock by name, or a namespace with options.namespace");
    return watch(this.#transport, `/v1/namespaces/${encodeSegment(namespace)}/events`, options);
  }

  /** The semaphore's limit and every live holder's lease. */
  semaphoreStatus(name: string, options: Addressing = {}): Promise<SemaphoreState> {
    return this.semaphore(name, 0, options).status(); // a status read sends no limit
  }

  #addressed<T extends Addressing>(options: T): T {
    const namespace = options.namespace ?? this.#namespace;
    return namespace === undefined ? options : { ...options, namespace };
  }
}
