/**
 * Who does cluster-wide singleton work (the deadline sweep, retention) right
 * now. Only an optimisation against duplicate scans: every piece of that work
 * is also safe when two replicas do it at once (claims and decisions are
 * compare-and-set in the database), so losing or doubling a lease is harmless.
 */
export interface SingletonLease {
  /**
   * True when this process holds (or just took, or renewed) the lease `name`
   * for `ttlMs`. Must not throw: when unsure, answer true (duplicate work is
   * safe, skipped work is not).
   */
  hold(name: string, ttlMs: number): Promise<boolean>;
  /** Gives up every lease this process holds (at shutdown). */
  releaseAll(): Promise<void>;
}

/** Without Redis: every replica does the work itself. */
export const alwaysHeld: SingletonLease = {
  hold: () => Promise.resolve(true),
  releaseAll: () => Promise.resolve(),
};
