/**
 * What can go wrong, as classes a caller tells apart with `instanceof`.
 * Every one is a {@link LeaseholdError} carrying the server's `code`.
 */

/** Why a lease is no longer held: the server's reason, or `renewals_failed` when this client judged it. */
export type LostReason = "expired" | "released" | "superseded" | "unknown_token" | "unspecified" | "renewals_failed";

/** A lock's mode: one exclusive holder, or any number of shared ones. */
export type LockMode = "exclusive" | "shared";

export interface ErrorFacts {
  /** The server's error code, or this client's for a failure without an answer. */
  code: string;
  message: string;
  /** The HTTP status, when the server answered. */
  status?: number | undefined;
  /** Seconds to wait before trying again (the server's `Retry-After`). */
  retryAfter?: number | undefined;
}

/** The base of every error this package throws. */
export class LeaseholdError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly retryAfter: number | undefined;

  constructor(facts: ErrorFacts, options?: { cause?: unknown }) {
    super(facts.message, options);
    this.name = new.target.name;
    this.code = facts.code;
    this.status = facts.status;
    this.retryAfter = facts.retryAfter;
  }
}

/**
 * Someone else holds the lock (for a lock set: the locks in `held`), or it is
 * free but promised to earlier waiters (409 `lock_held`). The holder's facts
 * are `undefined` where the server does not show them.
 */
export class LockHeld extends LeaseholdError {
  /** When the holder's lease expires (the server's clock). */
  readonly expiresAt: Date | undefined;
  /** The holder's fencing token. */
  readonly fencingToken: number | undefined;
  /** The holder's owner label, when the server shows it to you. */
  readonly owner: string | undefined;
  /** How the lock is held: `shared` when readers keep a writer out, and the other way round. */
  readonly mode: LockMode | undefined;
  /** How many clients wait for the lock (a free lock promised to them). */
  readonly waiters: number | undefined;
  /** A lock set's members that are held; empty for a single lock. */
  readonly held: readonly string[];

  constructor(facts: ErrorFacts, holder: HeldFacts) {
    super(facts);
    this.expiresAt = holder.expiresAt;
    this.fencingToken = holder.fencingToken;
    this.owner = holder.owner;
    this.mode = holder.mode;
    this.waiters = holder.waiters;
    this.held = holder.held;
  }
}

/** What a 409 `lock_held` says of the holder. */
export interface HeldFacts {
  expiresAt: Date | undefined;
  fencingToken: number | undefined;
  owner: string | undefined;
  mode: LockMode | undefined;
  waiters: number | undefined;
  held: string[];
}

/** Every place in the semaphore is held or promised to earlier waiters (409 `semaphore_full`). */
export class SemaphoreFull extends LeaseholdError {
  readonly limit: number | undefined;
  readonly holders: number | undefined;

  constructor(facts: ErrorFacts, limit: number | undefined, holders: number | undefined) {
    super(facts);
    this.limit = limit;
    this.holders = holders;
  }
}

/** The semaphore's live holders use another limit, `limit` (409 `limit_mismatch`). */
export class LimitMismatch extends LeaseholdError {
  readonly limit: number | undefined;

  constructor(facts: ErrorFacts, limit: number | undefined) {
    super(facts);
    this.limit = limit;
  }
}

/**
 * The lease is gone (410 `lease_lost`, whose `reason` says why), or its
 * renewals failed until its time to live had passed (`renewals_failed`).
 */
export class LeaseLost extends LeaseholdError {
  readonly reason: LostReason;

  constructor(reason: LostReason, facts?: Partial<ErrorFacts>) {
    super({ code: "lease_lost", message: `the lease is lost (${reason})`, ...facts });
    this.reason = reason;
  }
}

/** Nobody holds the lock (404 `lock_not_held`). */
export class NotHeld extends LeaseholdError {}

/** The namespace does not exist or is not yours (404 `namespace_not_found`). */
export class NamespaceNotFound extends LeaseholdError {}

/** The API key is missing, wrong or revoked (401). */
export class Unauthorized extends LeaseholdError {}

/** The key may not do this (403 `forbidden`, or `plan_forbids`). */
export class Forbidden extends LeaseholdError {}

/** The server refused the request as malformed (400, 413, 422: `invalid_ttl`, `idempotency_key_reused`, ...). */
export class InvalidRequest extends LeaseholdError {}

/** The server answered 503 on every attempt (or 429: see {@link RateLimited}); the outcome is unknown. */
export class Unavailable extends LeaseholdError {}

/** The server answered 429 `rate_limited` on every attempt. */
export class RateLimited extends Unavailable {}

/** No answer from the server on any attempt (refused, reset, timed out); the outcome is unknown. */
export class Unreachable extends LeaseholdError {}

/** Any other answer: an unexpected status, or a body this client cannot read. */
export class UnexpectedResponse extends LeaseholdError {}
