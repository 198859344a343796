import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { describeError } from '../log/describe-error';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import type { SingletonLease } from '../lease/singleton-lease';
import type { TransactionStore } from '../store/transaction-store';

/** Options of {@link RetentionJob}. */
export interface RetentionJobOptions {
  store: TransactionStore;
  lease: SingletonLease;
  logger: Logger;
  metrics: CoordinatorMetrics;
  clock: Clock;
  /** Finished transactions older than this are deleted, ms (TCC_RETENTION_MS). 0 = keep forever. Default 7 days. */
  retentionMs: number;
  /** Time between two runs, ms (TCC_RETENTION_INTERVAL_MS). Default 600 000. */
  intervalMs: number;
  /** Transactions deleted per local transaction (TCC_RETENTION_BATCH). Default 500. */
  batchSize: number;
  /** Pause between batches, ms, so retention never hogs the database. Default 50. */
  pauseMs?: number;
}

/**
 * Deletes finished transactions (with their branches and logs) past the
 * retention age, in small batches with pauses: one large DELETE would hold
 * locks and stall the replicas' live traffic on MySQL. One replica at a time
 * (singleton lease when Redis is configured; doubled runs are harmless).
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(private readonly o: RetentionJobOptions) {}

  start(): void {
    if (this.o.retentionMs <= 0) return;
    this.stopped = false;
    // First run soon, spread over replicas started together.
    this.schedule(Math.min(this.o.intervalMs, 5_000 + Math.random() * 5_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run: deletes batch after batch until none is left; answers how many transactions went. */
  async runOnce(): Promise<number> {
    const before = this.o.clock.now() - this.o.retentionMs;
    let total = 0;
    for (;;) {
      const n = await this.o.store.purgeFinished(before, this.o.batchSize);
      total += n;
      this.o.metrics.retentionDeleted.inc({}, n);
      if (n < this.o.batchSize || this.stopped) break;
      await new Promise((r) => setTimeout(r, this.o.pauseMs ?? 50));
    }
    if (total > 0) this.o.logger.info({ deleted: total }, 'retention: deleted finished transactions');
    return total;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.o.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      // The lease outlives one interval, so its holder keeps it from run to run.
      if (!(await this.o.lease.hold('retention', this.o.intervalMs * 2 + 30_000))) return;
      await this.runOnce();
    } catch (err) {
      this.o.logger.error({ err: describeError(err) }, 'retention run failed; next run on schedule');
    }
  }
}
