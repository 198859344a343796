/**
 * Caps concurrent phase-two calls per participant target (a keyed counting
 * semaphore that never queues). A participant coming back from an outage
 * meets at most `limit` Confirm/Cancel calls at a time from this process, and
 * a call that cannot get a slot now is not made: it is deferred to a later
 * round (a queue here would let one hung participant's backlog hold claims,
 * and with them other participants' work, for a branch timeout each).
 */
export class TargetLimiter {
  private readonly active = new Map<string, number>();

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
      const n = (this.active.get(target) ?? 1) - 1;
      if (n <= 0) this.active.delete(target);
      else this.active.set(target, n);
    };
  }
}
