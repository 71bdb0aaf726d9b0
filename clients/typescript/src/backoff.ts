/** Pauses between retries: each about twice the last, up to the longest, with jitter so clients do not move in step. */

export class Backoff {
  #next: number;
  readonly #longest: number;

  /** Both in milliseconds. */
  constructor(first: number, longest: number) {
    this.#next = first;
    this.#longest = Math.max(first, longest);
  }

  /** The next pause in milliseconds: the nominal one scaled by a random factor in [0.5, 1]. */
  next(): number {
    const pause = this.#next * (0.5 + Math.random() / 2);
    this.#next = Math.min(this.#next * 2, this.#longest);
    return pause;
  }
}

/** Resolves after `ms` milliseconds, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}
