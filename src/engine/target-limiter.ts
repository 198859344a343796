/**
 * Caps concurrent phase-two calls per participant target (a keyed counting
 * semaphore). A participant coming back from an outage meets at most `limit`
 * Confirm/Cancel calls at a time from this process. Recovery never queues
 * (`tryAcquire`): a call that cannot get a slot now is deferred to a later
 * round, since a queue would let one hung participant's backlog hold claims,
 * and with them other participants' work, for a branch timeout each. A
 * client's own decision may wait a little (`acquire`), in arrival order, so
 * a burst above the limit is smoothed instead of deferred by a retry delay.
 */
export class TargetLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  /** @param limit most calls in flight per target; at least 1. */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  /** Takes a slot for `target` if one is free now: the release function, or null when the target is full. */
  tryAcquire(target: string): (() => void) | null {
    const used = this.active.get(target) ?? 0;
    if (used >= this.limit) return null;
    this.active.set(target, used + 1);
    return this.releaser(target);
  }

  /**
   * Takes a slot for `target`, waiting up to `waitMs` for one behind the
   * callers already waiting: the release function, or null when none came
   * free in time. The wait queue is per target, so a full target never delays
   * another.
   */
  acquire(target: string, waitMs: number): Promise<(() => void) | null> {
    const now = this.tryAcquire(target);
    if (now || waitMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let queue = this.waiting.get(target);
      if (!queue) this.waiting.set(target, (queue = []));
      const grant = () => {
        clearTimeout(timer);
        resolve(this.releaser(target));
      };
      const timer = setTimeout(() => {
        const q = this.waiting.get(target);
        const i = q?.indexOf(grant) ?? -1;
        if (i >= 0) q!.splice(i, 1);
        if (q?.length === 0) this.waiting.delete(target);
        resolve(null);
      }, waitMs);
      queue.push(grant);
    });
  }

  /** Calls in flight (or slots reserved) for `target`. */
  inFlight(target: string): number {
    return this.active.get(target) ?? 0;
  }

  /** Targets with no free slot now. */
  fullTargets(): string[] {
    return [...this.active].filter(([, n]) => n >= this.limit).map(([t]) => t);
  }

  private releaser(target: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(target)?.shift();
      if (this.waiting.get(target)?.length === 0) this.waiting.delete(target);
      // Handed straight to the next waiter: the count stays the same.
      if (next) return next();
      const n = (this.active.get(target) ?? 1) - 1;
      if (n <= 0) this.active.delete(target);
      else this.active.set(target, n);
    };
  }
}
