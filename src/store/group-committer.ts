import type { ResultsOf, StoreCommand, TransactionStore } from './transaction-store';

/** Options of {@link GroupCommitter}. */
export interface GroupCommitterOptions {
  /** Most commands in one database transaction. Default 256. */
  maxBatchCommands?: number;
  /**
   * Batches in flight at once. Default 1 on SQLite (one writer anyway), 4 on
   * MySQL (InnoDB commits several in parallel; more batches would mostly wait on locks).
   */
  maxConcurrentBatches?: number;
  /** Times a batch is re-run after a deadlock or lock-wait timeout. Default 3. */
  deadlockRetries?: number;
  /** Told each batch written (commands, ms), for metrics. Default: nothing. */
  onBatch?: (commands: number, durationMs: number) => void;
}

interface Pending {
  commands: readonly StoreCommand[];
  resolve(results: unknown[]): void;
  reject(err: unknown): void;
}

function isLockConflict(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'ER_LOCK_DEADLOCK' || e?.code === 'ER_LOCK_WAIT_TIMEOUT' || e?.code === 'SQLITE_BUSY';
}

/**
 * Group commit: engine calls that arrive while a batch is being written are
 * written together in the next one, so N concurrent transactions pay for one
 * local commit (one fsync) instead of N. Each caller's commands stay together
 * and in order; a caller's promise resolves only once its batch is durable.
 */
export class GroupCommitter {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private pumpScheduled = false;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;
  private readonly retries: number;

  constructor(
    private readonly store: TransactionStore,
    private readonly options: GroupCommitterOptions = {},
  ) {
    this.maxBatch = options.maxBatchCommands ?? 256;
    this.maxConcurrent = options.maxConcurrentBatches ?? (store.dialect === 'sqlite' ? 1 : 4);
    this.retries = options.deadlockRetries ?? 3;
  }

  submit<const T extends readonly StoreCommand[]>(commands: T): Promise<ResultsOf<T>> {
    return new Promise<ResultsOf<T>>((resolve, reject) => {
      this.queue.push({ commands, resolve: resolve as (r: unknown[]) => void, reject });
      this.schedulePump();
    });
  }

  /**
   * Starts batches one event-loop turn later, after pending I/O callbacks
   * have run: better-sqlite3 blocks the loop while it commits, so requests
   * that arrived meanwhile are only seen after that turn, and would otherwise
   * each start a batch of their own.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxConcurrent && this.queue.length > 0) {
      const batch: Pending[] = [];
      let size = 0;
      while (this.queue.length && (batch.length === 0 || size + this.queue[0].commands.length <= this.maxBatch)) {
        const p = this.queue.shift()!;
        size += p.commands.length;
        batch.push(p);
      }
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.schedulePump();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      const commands = batch.flatMap((p) => p.commands);
      const started = performance.now();
      const results = await this.executeWithRetry(commands);
      this.options.onBatch?.(commands.length, performance.now() - started);
      let i = 0;
      for (const p of batch) {
        p.resolve(results.slice(i, i + p.commands.length));
        i += p.commands.length;
      }
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
      // One caller's bad command must not fail the others: write them one by one.
      await Promise.all(
        batch.map((p) =>
          this.executeWithRetry(p.commands).then(
            (r) => p.resolve(r),
            (e: unknown) => p.reject(e),
          ),
        ),
      );
    }
  }

  private async executeWithRetry(commands: readonly StoreCommand[]): Promise<unknown[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.store.execute(commands)) as unknown[];
      } catch (err) {
        if (!isLockConflict(err) || attempt >= this.retries) throw err;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
      }
    }
  }
}
