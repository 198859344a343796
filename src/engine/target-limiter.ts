/**
 * Caps concurrent calls per participant target (a keyed semaphore). Recovery
 * uses it so a participant coming back from an outage meets at most `limit`
 * phase-two calls at a time from this process, not every transaction that
 * piled up while it was down.
 */
export class TargetLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  /** @param limit most calls in flight per target; at least 1. */
  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  /**
   * Waits for a free slot for `target` until `until` (epoch ms, by `now`).
   * Resolves with the release function, or null when no slot came free in
   * time (the caller then skips the call rather than run past its claim).
   */
  acquire(target: string, until: number, now: () => number = Date.now): Promise<(() => void) | null> {
    const used = this.active.get(target) ?? 0;
    if (used < this.limit) {
      this.active.set(target, used + 1);
      return Promise.resolve(this.releaser(target));
    }
    return new Promise((resolve) => {
      let queue = this.waiting.get(target);
      if (!queue) this.waiting.set(target, (queue = []));
      const grant = () => {
        clearTimeout(timer);
        resolve(this.releaser(target));
      };
      const timer = setTimeout(
        () => {
          const q = this.waiting.get(target);
          const i = q?.indexOf(grant) ?? -1;
          if (i >= 0) q!.splice(i, 1);
          if (q?.length === 0) this.waiting.delete(target);
          resolve(null);
        },
        Math.max(0, until - now()),
      );
      queue.push(grant);
    });
  }

  /** Calls in flight for `target`. */
  inFlight(target: string): number {
    return this.active.get(target) ?? 0;
  }

  private releaser(target: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(target)?.shift();
      if (this.waiting.get(target)?.length === 0) this.waiting.delete(target);
      // Hand the slot straight to the next waiter: the count stays the same.
      if (next) next();
      else {
        const n = (this.active.get(target) ?? 1) - 1;
        if (n <= 0) this.active.delete(target);
        else this.active.set(target, n);
      }
    };
  }
}
