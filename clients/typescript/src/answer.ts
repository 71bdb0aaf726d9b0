/** The server's answer to a call, and the error a refusal stands for: mapped here, once. */

import {
  type ErrorFacts,
  type LeaseholdError,
  type LockMode,
  type LostReason,
  Forbidden,
  InvalidRequest,
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
} from "./errors.js";
import {
  type JsonObject,
  array,
  optionalDate,
  optionalNumber,
  optionalObject,
  optionalString,
  parseObject,
  string,
} from "./json.js";

/** An HTTP answer: any but 503 and 429, which the transport retries. */
export interface Answer {
  status: number;
  text: string;
  /** Seconds, from `Retry-After`. */
  retryAfter: number | undefined;
  /** `performance.now()` when the call's first attempt was sent. */
  sent: number;
  /** Whether an earlier attempt of the same call may have reached the server. */
  retried: boolean;
}

export function succeeded(answer: Answer): boolean {
  return answer.status >= 200 && answer.status < 300;
}

/** The body of a successful answer, else throws the error the answer stands for. */
export function bodyOf(answer: Answer): JsonObject {
  if (!succeeded(answer)) throw errorOf(answer);
  return parseObject(answer.text);
}

/** The error a non-success answer stands for. */
export function errorOf(answer: Pick<Answer, "status" | "text" | "retryAfter">): LeaseholdError {
  const { status, retryAfter } = answer;
  let body: JsonObject;
  let detail: JsonObject;
  let code: string;
  try {
    body = parseObject(answer.text);
    detail = optionalObject(body, "error") ?? {};
    code = string(detail, "code");
  } catch {
    const message = `unexpected answer (${status}): ${answer.text.slice(0, 200)}`;
    return new UnexpectedResponse({ code: "unexpected_answer", message, status, retryAfter });
  }
  const facts: ErrorFacts = { code, message: optionalString(detail, "message") ?? code, status, retryAfter };
  switch (status) {
    case 409:
      return conflict(facts, body);
    case 410:
      return new LeaseLost(lostReason(optionalString(detail, "reason")), facts);
    case 404:
      if (code === "lock_not_held") return new NotHeld(facts);
      if (code === "namespace_not_found") return new NamespaceNotFound(facts);
      break;
    case 401:
      return new Unauthorized(facts);
    case 403:
      return new Forbidden(facts);
    case 400:
    case 413:
    case 422:
      return new InvalidRequest(facts);
    case 429:
      return new RateLimited(facts);
    case 503:
      return new Unavailable(facts);
  }
  return new UnexpectedResponse(facts);
}

function conflict(facts: ErrorFacts, body: JsonObject): LeaseholdError {
  switch (facts.code) {
    case "lock_held":
      return lockHeld(facts, body);
    case "semaphore_full":
      return new SemaphoreFull(facts, optionalNumber(body, "limit"), optionalNumber(body, "holders"));
    case "limit_mismatch":
      return new LimitMismatch(facts, optionalNumber(body, "limit"));
    default:
      return new UnexpectedResponse(facts);
  }
}

function lockHeld(facts: ErrorFacts, body: JsonObject): LockHeld {
  const lock = optionalObject(body, "lock") ?? {};
  const held = body["held"] === undefined ? [] : array(body, "held").map(String);
  return new LockHeld(facts, {
    expiresAt: optionalDate(lock, "expires_at") ?? optionalDate(body, "expires_at"),
    fencingToken: optionalNumber(lock, "fencing_token"),
    owner: optionalString(lock, "owner"),
    mode: lockMode(optionalString(lock, "mode")),
    waiters: optionalNumber(body, "waiters"),
    held,
  });
}

export function lockMode(mode: string | undefined): LockMode | undefined {
  return mode === "exclusive" || mode === "shared" ? mode : undefined;
}

const SERVER_REASONS: readonly LostReason[] = ["expired", "released", "superseded", "unknown_token"];

function lostReason(reason: string | undefined): LostReason {
  return SERVER_REASONS.find((known) => known === reason) ?? "unspecified";
}
