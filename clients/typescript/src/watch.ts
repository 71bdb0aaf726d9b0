/**
 * Watching a lock or a namespace: its audit events as they commit, over
 * Server-Sent Events, resumed after the last one seen whenever the stream drops.
 */

import { Backoff, sleep } from "./backoff.js";
import { Unavailable, Unreachable } from "./errors.js";
import { asObject, type JsonObject } from "./json.js";
import type { Transport } from "./transport.js";

/** One audit event: its kind (`acquired`, `renewed`, `released`, `expired`, `verified`...), its cursor (resume after it with `after`) and the event as `/v1/audit` shows it. */
export interface WatchEvent {
  kind: string;
  cursor: string;
  data: JsonObject;
}

export interface WatchOptions {
  /** Start after this event's cursor (default: with the events that commit from now on). */
  after?: string | undefined;
  /** Aborting it ends the iteration. */
  signal?: AbortSignal | undefined;
}

/** Keep-alive comments come every 15 s by default: a longer silence is a dead connection. */
const SILENCE_MS = 45_000;

/**
 * Yields the events at `path`, reconnecting after the last one yielded when
 * the connection drops or the server is unavailable; a refusal (401, 404...) is thrown.
 */
export async function* watch(transport: Transport, path: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
  let after = options.after;
  const pauses = new Backoff(100, 5000);
  while (!options.signal?.aborted) {
    try {
      for await (const event of stream(transport, path, after, options.signal)) {
        after = event.cursor;
        yield event;
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      if (!(error instanceof Unreachable || error instanceof Unavailable)) throw error;
    }
    await sleep(pauses.next(), options.signal);
  }
}

async function* stream(
  transport: Transport,
  path: string,
  after: string | undefined,
  outer: AbortSignal | undefined,
): AsyncGenerator<WatchEvent> {
  const controller = new AbortController();
  const stop = (): void => controller.abort(outer?.reason);
  outer?.addEventListener("abort", stop, { once: true });
  let silence = setTimeout(() => controller.abort(new Error("the stream went silent")), SILENCE_MS);
  try {
    const response = await transport.openStream(path, after, controller.signal);
    const decoder = new TextDecoder();
    let buffered = "";
    let fields: Record<string, string> = {};
    let data: string[] = [];
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(new Error("the stream went silent")), SILENCE_MS);
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end).replace(/\r$/, "");
        buffered = buffered.slice(end + 1);
        if (line.startsWith(":")) continue; // a keep-alive comment
        if (line !== "") {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "data") data.push(value);
          else fields[name] = value;
          continue;
        }
        const cursor = fields["id"];
        if (data.length > 0 && cursor !== undefined) {
          yield { kind: fields["event"] ?? "message", cursor, data: asObject(JSON.parse(data.join("\n")), "an event") };
        }
        fields = {};
        data = [];
      }
    }
  } catch (error) {
    if (outer?.aborted) return;
    if (controller.signal.aborted) throw new Unreachable({ code: "unreachable", message: "the stream went silent" });
    throw error instanceof Unreachable || error instanceof Unavailable
      ? error
      : error instanceof TypeError
        ? new Unreachable({ code: "unreachable", message: error.message }, { cause: error })
        : error;
  } finally {
    clearTimeout(silence);
    outer?.removeEventListener("abort", stop);
    controller.abort();
  }
}
