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
  /** Of `active`, the slots client rounds hold. */
  private readonly clients = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Targets where recovery last found no free slot, and when (Date.now()). */
  private readonly recoveryWaiting = new Map<string, number>();
  private onRecoverySlot: (() => void) | undefined;
  private lastRecoveryWake = 0;

  /**
   * @param limit most calls in flight per target; at least 1.
   * @param recoveryShareMs how long a failed recovery attempt keeps half the
   *   target's slots out of client rounds' reach. Default 3 000.
   */
  constructor(
    readonly limit: number,
    private readonly recoveryShareMs = 3_000,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  /**
   * Told (at most every 20 ms) when a slot frees on a target recovery is
   * waiting for, so a sweep can take it now rather than a sweep interval later.
   */
  onRecoverySlotFree(fn: () => void): void {
    this.onRecoverySlot = fn;
  }

  /** Recovery: takes a slot for `target` if one is free now: the release function, or null when the target is full. */
  tryAcquire(target: string): (() => void) | null {
    const used = this.active.get(target) ?? 0;
    if (used >= this.limit) {
      this.recoveryWaiting.set(target, Date.now());
      return null;
    }
    this.active.set(target, used + 1);
    return this.releaser(target, false);
  }

  /**
   * A client round: takes a slot for `target`, waiting up to `waitMs` for one
   * behind the callers already waiting: the release function, or null when
   * none came free in time. The wait queue is per target, so a full target
   * never delays another. While recovery is waiting for the target (a
   * backlog), client rounds hold at most half its slots: new traffic cannot
   * starve a backlog, nor a backlog new traffic.
   */
  acquire(target: string, waitMs: number): Promise<(() => void) | null> {
    if (!this.waiting.has(target) && this.clientMayTake(target)) return Promise.resolve(this.take(target));
    if (waitMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      let queue = this.waiting.get(target);
      if (!queue) this.waiting.set(target, (queue = []));
      const grant = () => {
        clearTimeout(timer);
        resolve(this.take(target));
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

  private recoveryWants(target: string): boolean {
    const at = this.recoveryWaiting.get(target);
    if (at === undefined) return false;
    if (Date.now() - at < this.recoveryShareMs) return true;
    this.recoveryWaiting.delete(target);
    return false;
  }

  private clientMayTake(target: string): boolean {
    if ((this.active.get(target) ?? 0) >= this.limit) return false;
    return !this.recoveryWants(target) || (this.clients.get(target) ?? 0) < Math.ceil(this.limit / 2);
  }

  private take(target: string): () => void {
    this.active.set(target, (this.active.get(target) ?? 0) + 1);
    this.clients.set(target, (this.clients.get(target) ?? 0) + 1);
    return this.releaser(target, true);
  }

  private releaser(target: string, client: boolean): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.active.get(target) ?? 1) - 1;
      if (n <= 0) this.active.delete(target);
      else this.active.set(target, n);
      if (client) {
        const c = (this.clients.get(target) ?? 1) - 1;
        if (c <= 0) this.clients.delete(target);
        else this.clients.set(target, c);
      }
      const queue = this.waiting.get(target);
      if (queue?.length && this.clientMayTake(target)) {
        const next = queue.shift()!;
        if (queue.length === 0) this.waiting.delete(target);
        return next();
      }
      if (this.onRecoverySlot && this.recoveryWants(target) && Date.now() - this.lastRecoveryWake >= 20) {
        this.lastRecoveryWake = Date.now();
        this.onRecoverySlot();
      }
    };
  }
}
