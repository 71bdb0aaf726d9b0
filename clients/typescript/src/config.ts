/** The client's settings: what was passed, else `LEASEHOLD_URL` and `LEASEHOLD_API_KEY`, else the defaults. */

import type { TransportSettings } from "./transport.js";

export interface ClientOptions {
  /** The server (default: `LEASEHOLD_URL`, else `http://127.0.0.1:7010`). */
  url?: string | undefined;
  /** The API key (default: `LEASEHOLD_API_KEY`; one of the two is required). */
  apiKey?: string | undefined;
  /** The namespace of every lock, semaphore and lock set (default: the API key's own). */
  namespace?: string | undefined;
  /** How long one attempt may take, answer included (default 10 s); a waiting acquire adds its wait. */
  timeoutSeconds?: number | undefined;
  /** How long to keep retrying a connection error, timeout, 503 or 429 (default 10 s; 0 turns retries off). */
  retryForSeconds?: number | undefined;
}

const DEFAULT_URL = "http://127.0.0.1:7010";

export type Environment = Readonly<Record<string, string | undefined>>;

export function settingsOf(options: ClientOptions, env: Environment = process.env): TransportSettings {
  const url = (options.url ?? nonEmpty(env["LEASEHOLD_URL"]) ?? DEFAULT_URL).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(url)) throw new TypeError(`the server URL must start with http:// or https://: ${url}`);
  const apiKey = options.apiKey ?? nonEmpty(env["LEASEHOLD_API_KEY"]);
  if (apiKey === undefined) throw new TypeError("no API key: pass { apiKey } or set LEASEHOLD_API_KEY");
  return {
    url,
    apiKey,
    timeout: seconds(options.timeoutSeconds ?? 10, "timeoutSeconds") * 1000,
    retryFor: seconds(options.retryForSeconds ?? 10, "retryForSeconds") * 1000,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function seconds(value: number, name: string): number {
  if (!(value >= 0) || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number of seconds ≥ 0`);
  return value;
}
