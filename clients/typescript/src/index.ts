/**
 * The TypeScript client for Leasehold, a durable lock server: leases that
 * renew themselves and tell you, through an AbortSignal, the moment they are
 * lost. No runtime dependencies; Node 18 or later.
 */

export { Client, type Addressing } from "./client.js";
export type { ClientOptions } from "./config.js";
export {
  Forbidden,
  InvalidRequest,
  LeaseholdError,
  LeaseLost,
  LimitMismatch,
  LockHeld,
  NamespaceNotFound,
  NotHeld,
  RateLimited,
  SemaphoreFull,
  Unauthorized,
  Unavailable,
  UnexpectedResponse,
  Unreachable,
  type ErrorFacts,
  type HeldFacts,
  type LockMode,
  type LostReason,
} from "./errors.js";
export { HeldLease } from "./held.js";
export type { Grant, Holder, Lease, LockHolders } from "./lease.js";
export { HeldLock, Lock, type HandoverOptions, type LockOptions, type Verified, type Writer } from "./lock.js";
export { HeldLockSet, LockSet, type LockSetGrant, type LockSetOptions } from "./lockSet.js";
export { HeldPermit, Semaphore, type Permit, type SemaphoreOptions, type SemaphoreState } from "./semaphore.js";
export type { WatchEvent, WatchOptions } from "./watch.js";
