/** Options of {@link StatsCache}. */
export interface StatsCacheOptions<T> {
  /** Runs the (bounded) query. */
  load: () => Promise<T>;
  /** How long an answer is reused, ms. Default 5 000. */
  ttlMs?: number;
  /** Clock. Default Date.now. */
  now?: () => number;
  /** Told when a load fails (the previous answer is kept). Default: ignored. */
  onError?: (err: unknown) => void;
}

/**
 * Caches the answer of a query for a few seconds, so scrapes (from several
 * Prometheus servers, or a console refreshing) cost at most one query per
 * `ttlMs`; concurrent callers share one load. A failed load keeps the last
 * answer: a scrape never fails because the database does (health reports that).
 */
export class StatsCache<T> {
  private value: T | undefined;
  private loadedAt = -Infinity;
  private loading: Promise<T | undefined> | undefined;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly o: StatsCacheOptions<T>) {
    this.ttlMs = o.ttlMs ?? 5_000;
    this.now = o.now ?? Date.now;
  }

  get(): Promise<T | undefined> {
    if (this.value !== undefined && this.now() - this.loadedAt < this.ttlMs) return Promise.resolve(this.value);
    this.loading ??= this.o
      .load()
      .then(
        (v) => {
          this.value = v;
          this.loadedAt = this.now();
          return v;
        },
        (err: unknown) => {
          this.o.onError?.(err);
          return this.value;
        },
      )
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
