/**
 * An HTTP proxy between the client and the real server that can fail on
 * cue: refuse the next requests itself (429, 503), swallow the server's next
 * answers (hanging up on the client after the server has acted), or cut the
 * client off altogether. It records every request it sees.
 */

import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from "node:http";

export type Fault =
  | { kind: "refuse"; status: 429 | 503; retryAfter?: string }
  | { kind: "drop-answer" };

export interface SeenRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  /** `performance.now()` when it arrived. */
  at: number;
}

export class Interposer {
  readonly seen: SeenRequest[] = [];
  readonly #target: URL;
  readonly #server: Server;
  readonly #faults: Fault[] = [];
  #cut = false;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((incoming, outgoing) => this.#handle(incoming, outgoing));
  }

  static async start(target: string): Promise<Interposer> {
    const interposer = new Interposer(target);
    await new Promise<void>((done) => interposer.#server.listen(0, "127.0.0.1", done));
    return interposer;
  }

  get url(): string {
    const address = this.#server.address();
    if (typeof address !== "object" || address === null) throw new Error("not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  /** The faults to apply, one a request, in order; requests after them pass. */
  inject(...faults: Fault[]): void {
    this.#faults.push(...faults);
  }

  get pendingFaults(): number {
    return this.#faults.length;
  }

  /** From now on every request is hung up on unanswered: the server is unreachable. */
  cut(): void {
    this.#cut = true;
  }

  requestsTo(path: string): SeenRequest[] {
    return this.seen.filter((seen) => seen.path === path);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((done) => this.#server.close(done));
  }

  #handle(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const key = incoming.headers["idempotency-key"];
    const path = (incoming.url ?? "/").split("?")[0] ?? "/";
    this.seen.push({ method: incoming.method ?? "GET", path, idempotencyKey: key?.toString(), at: performance.now() });
    if (this.#cut) return void incoming.socket.destroy();
    const fault = this.#faults.shift();
    if (fault?.kind === "refuse") return refuse(outgoing, fault.status, fault.retryAfter);
    this.#forward(incoming, outgoing, fault?.kind === "drop-answer");
  }

  #forward(incoming: IncomingMessage, outgoing: ServerResponse, dropAnswer: boolean): void {
    const upstream = request(
      { host: this.#target.hostname, port: this.#target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        if (dropAnswer) {
          // Let the server finish, then hang up: the client never learns the outcome.
          answer.resume().on("end", () => incoming.socket.destroy());
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  }
}

function refuse(outgoing: ServerResponse, status: 429 | 503, retryAfter?: string): void {
  const code = status === 429 ? "rate_limited" : "database_unavailable";
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
  outgoing.writeHead(status, headers).end(JSON.stringify({ error: { code, message: `injected ${status}` } }));
}
