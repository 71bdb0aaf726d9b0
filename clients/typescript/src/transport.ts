/**
 * The one place that sends requests: authenticates them, gives every
 * mutating call an Idempotency-Key, and retries the indeterminate failures
 * (connection errors, timeouts, 503, 429) with backoff under that same key.
 */

import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";

import { type Answer, errorOf } from "./answer.js";
import { Backoff, sleep } from "./backoff.js";
import { type LeaseholdError, Unreachable } from "./errors.js";

export interface Call {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Readonly<Record<string, string>>;
  lockToken?: string;
  body?: Readonly<Record<string, unknown>>;
  /** Milliseconds the server may take on top of the request timeout (a waiting acquire). */
  extraTimeout?: number;
}

export interface SendOptions {
  /**
   * The `performance.now()` after which no attempt is started or waited for
   * (a renewal's: the lease's validity). Without one, attempts take up to the
   * timeout each and are retried for up to retryFor.
   */
  deadline?: number;
  /** Aborting it ends the call at once: it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TransportSettings {
  url: string;
  apiKey: string;
  /** Milliseconds one attempt may take, answer included. */
  timeout: number;
  /** Milliseconds to keep retrying an indeterminate failure. */
  retryFor: number;
}

const RETRIED_STATUSES = new Set([429, 503]);
const USER_AGENT = "leasehold-typescript/0.1.0";

type Attempt = Pick<Answer, "status" | "text" | "retryAfter">;

export class Transport {
  readonly #settings: TransportSettings;

  constructor(settings: TransportSettings) {
    this.#settings = settings;
  }

  get url(): string {
    return this.#settings.url;
  }

  /** Sends `call`; answers with anything but 503 and 429, which are retried until the deadline. */
  async send(call: Call, options: SendOptions = {}): Promise<Answer> {
    const { signal } = options;
    const idempotencyKey = call.method === "GET" ? undefined : randomUUID();
    // A retry's answer may replay an earlier attempt's outcome, so a lease
    // it grants or renews counts from the first attempt.
    const sent = performance.now();
    const giveUp = options.deadline ?? sent + this.#settings.retryFor;
    const cutOff = options.deadline ?? Infinity;
    const pauses = new Backoff(100, 2000);
    let retried = false;
    for (;;) {
      let failure: LeaseholdError;
      try {
        const attempt = await this.#attempt(call, idempotencyKey, cutOff, signal);
        if (!RETRIED_STATUSES.has(attempt.status)) return { ...attempt, sent, retried };
        failure = errorOf(attempt);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        failure = new Unreachable({ code: "unreachable", message: describe(error) }, { cause: error });
      }
      const pause = Math.max(pauses.next(), (failure.retryAfter ?? 0) * 1000);
      if (performance.now() + pause > giveUp) throw failure;
      await sleep(pause, signal);
      if (signal?.aborted) throw signal.reason;
      retried = true;
    }
  }

  async #attempt(call: Call, idempotencyKey: string | undefined, cutOff: number, outer?: AbortSignal): Promise<Attempt> {
    if (outer?.aborted) throw outer.reason;
    const limit = Math.min(this.#settings.timeout + (call.extraTimeout ?? 0), cutOff - performance.now());
    const controller = new AbortController();
    const timeout = Math.max(limit, 50);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${Math.round(timeout)} ms`)), timeout);
    const stop = (): void => controller.abort(outer?.reason);
    outer?.addEventListener("abort", stop, { once: true });
    try {
      const response = await fetch(this.#urlOf(call), {
        method: call.method,
        headers: this.#headers(call, idempotencyKey),
        body: call.body === undefined ? null : JSON.stringify(call.body),
        signal: controller.signal,
      });
      const text = await response.text();
      return { status: response.status, text, retryAfter: retryAfterOf(response.headers.get("retry-after")) };
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", stop);
    }
  }

  /**
   * Opens a Server-Sent Events stream at `path` (after `lastEventId`); a refusal
   * rejects with its typed error, an unreachable server with `Unreachable`.
   */
  async openStream(path: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers = this.#headers({ method: "GET", path }, undefined);
    headers["accept"] = "text/event-stream";
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    let response: Response;
    try {
      response = await fetch(`${this.#settings.url}${path}`, { headers, signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new Unreachable({ code: "unreachable", message: describe(error) }, { cause: error });
    }
    if (response.ok && response.body !== null) return response;
    const text = await response.text();
    throw errorOf({ status: response.status, text, retryAfter: retryAfterOf(response.headers.get("retry-after")) });
  }

  #urlOf(call: Call): string {
    const query = call.query ? `?${new URLSearchParams(call.query).toString()}` : "";
    return `${this.#settings.url}${call.path}${query}`;
  }

  #headers(call: Call, idempotencyKey: string | undefined): Record<string, string> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#settings.apiKey}`,
      "user-agent": USER_AGENT,
    };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    if (call.lockToken !== undefined) headers["lock-token"] = call.lockToken;
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    return headers;
  }
}

/** `Retry-After` in seconds: delay-seconds or an HTTP date. */
export function retryAfterOf(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/** A failed fetch's reason, from its cause where Node hides it there (`fetch failed`). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
