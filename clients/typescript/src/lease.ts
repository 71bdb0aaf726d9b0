/** Leases and their holders as the server describes them. */

import { lockMode } from "./answer.js";
import type { LockMode } from "./errors.js";
import {
  type JsonObject,
  array,
  asObject,
  date,
  number,
  optionalNumber,
  optionalString,
  string,
} from "./json.js";

/** A lock's lease. Times are the server's clock; judge your own deadline by `validUntil` on a held lease. */
export interface Lease {
  namespace: string;
  name: string;
  /** Higher than every earlier grant's on this lock: pass it to the resource you protect, and have it refuse lower ones. */
  fencingToken: number;
  owner: string | undefined;
  acquiredAt: Date;
  expiresAt: Date;
  ttlSeconds: number;
  metadata: unknown;
  /** `exclusive` or `shared`, where the server says. */
  mode: LockMode | undefined;
  /** How many clients wait for it (in a status read). */
  waiters: number | undefined;
  /** A shared lock's every holder (in a status read). */
  holders: Holder[] | undefined;
  /** The lock set it belongs to, if any (in a status read). */
  setId: string | undefined;
}

/** One holder's lease, as a status read shows it (never its token). */
export interface Holder {
  fencingToken: number;
  owner: string | undefined;
  acquiredAt: Date;
  expiresAt: Date;
}

/** A lock's mode and every holder's lease: a shared lock may have many. */
export interface LockHolders {
  mode: LockMode;
  holders: Holder[];
}

/** A new lease and the lock token that renews, releases or hands it over: keep it secret. */
export interface Grant {
  lease: Lease;
  lockToken: string;
}

export function leaseOf(body: JsonObject): Lease {
  return {
    namespace: string(body, "namespace"),
    name: string(body, "name"),
    fencingToken: number(body, "fencing_token"),
    owner: optionalString(body, "owner"),
    acquiredAt: date(body, "acquired_at"),
    expiresAt: date(body, "expires_at"),
    ttlSeconds: number(body, "ttl_seconds"),
    metadata: body["metadata"] ?? undefined,
    mode: lockMode(optionalString(body, "mode")),
    waiters: optionalNumber(body, "waiters"),
    holders: body["holders"] === undefined ? undefined : holdersOf(body),
    setId: optionalString(body, "set_id"),
  };
}

export function grantOf(body: JsonObject): Grant {
  return { lease: leaseOf(body), lockToken: string(body, "lock_token") };
}

export function holderOf(value: unknown): Holder {
  const holder = asObject(value, "a holder");
  return {
    fencingToken: number(holder, "fencing_token"),
    owner: optionalString(holder, "owner"),
    acquiredAt: date(holder, "acquired_at"),
    expiresAt: date(holder, "expires_at"),
  };
}

export function holdersOf(body: JsonObject): Holder[] {
  return array(body, "holders").map(holderOf);
}

/** From a lock's status: a shared lock lists its holders; an exclusive lock's one holder is its lease. */
export function lockHoldersOf(lease: Lease): LockHolders {
  const { fencingToken, owner, acquiredAt, expiresAt } = lease;
  return {
    mode: lease.mode ?? "exclusive",
    holders: lease.holders ?? [{ fencingToken, owner, acquiredAt, expiresAt }],
  };
}
