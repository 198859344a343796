import type { ResultsOf, StoreCommand, TransactionStore } from './transaction-store';
import { isDatabaseUnavailable, StoreDeadlineExceededError, StoreQueueFullError, StoreTimeoutError } from './store-errors';

/** Options of {@link GroupCommitter}. */
export interface GroupCommitterOptions {
  /** Most commands in one database transaction. Default 256. */
  maxBatchCommands?: number;
  /**
   * Batches in flight at once. Default 1 on SQLite (one writer anyway), 4 on
   * MySQL (InnoDB commits several in parallel; more batches would mostly wait
   * on locks). A further batch starts while one is written only when more
   * than `maxBatchCommands` commands wait: fewer, larger batches cost fewer
   * statements per transaction.
   */
  maxConcurrentBatches?: number;
  /** Times a batch is re-run after a deadlock or lock-wait timeout. Default 3. */
  deadlockRetries?: number;
  /** Told each batch written (commands, ms), for metrics. Default: nothing. */
  onBatch?: (commands: number, durationMs: number) => void;
  /**
   * Most commands waiting for a batch before client work is refused at once
   * ({@link StoreQueueFullError}). Default 10 000 (TCC_STORE_QUEUE_MAX). Work
   * submitted without `client` (phase two, recovery) is never refused.
   */
  maxQueuedCommands?: number;
  /** The clock callers' deadlines are on, epoch ms. Default `Date.now` (gRPC deadlines are this process's clock). */
  now?: () => number;
  /**
   * Longest time work submitted with `lazy` waits for a batch that other
   * work starts, ms; then it starts one itself. Default 20.
   */
  lazyWriteMs?: number;
}

/** How one caller's work is queued. */
export interface SubmitOptions {
  /**
   * Epoch ms when the caller gives up. Work whose batch has not started by
   * then is dropped, all of it, with {@link StoreDeadlineExceededError}.
   * Default: none (never dropped).
   */
  deadline?: number;
  /** Work of a client call: refused while the queue is full. Default false (phase-two and recovery writes always queue). */
  client?: boolean;
  /**
   * Starts no batch of its own: rides in the next batch other work starts,
   * or one started `lazyWriteMs` after it was queued (or by {@link
   * GroupCommitter.flushLazy}). For writes nobody waits on (a transaction's
   * final status, once every branch answered): under a steady load they
   * save a durable commit each. Order is kept: work queued after it still
   * goes in the same batch or a later one. Default false.
   */
  lazy?: boolean;
}

/** Counters since the committer was made. */
export interface GroupCommitterStats {
  /** Batches started (one database transaction each, before any isolation writes). */
  batches: number;
  /** Extra writes made to isolate the failing caller of a failed batch. */
  fallbackWrites: number;
  /** Client submits refused because the queue was full. */
  rejectedQueueFull: number;
  /** Submits dropped because their deadline passed before their batch started. */
  droppedExpired: number;
}

interface Pending {
  commands: readonly StoreCommand[];
  deadline: number | undefined;
  lazy: boolean;
  resolve(results: unknown[]): void;
  reject(err: unknown): void;
}

function isLockConflict(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'ER_LOCK_DEADLOCK' || e?.code === 'ER_LOCK_WAIT_TIMEOUT' || e?.code === 'SQLITE_BUSY';
}

/**
 * The database, not a command, failed: it did not answer in time, the
 * connection broke or the storage failed. Every caller of the batch gets the error; isolating
 * callers would only repeat the wait once per write.
 */
function isStoreFailure(err: unknown): boolean {
  // Storage full, read-only, I/O error, the file lost, the connection lost or killed: no command is at fault.
  return err instanceof StoreTimeoutError || isDatabaseUnavailable(err);
}

/**
 * Group commit: engine calls that arrive while a batch is being written are
 * written together in the next one, so N concurrent transactions pay for one
 * local commit (one fsync) instead of N. Each caller's commands stay together
 * and in order; a caller's promise resolves only once its batch is durable.
 * The queue is bounded for client work, and a caller whose deadline passed
 * before its batch started is dropped rather than written for nobody.
 */
export class GroupCommitter {
  private readonly queue: Pending[] = [];
  private queuedCommands = 0;
  /** Of `queuedCommands`, those submitted lazy: they alone start no batch. */
  private lazyCommands = 0;
  /** Set when lazy work must go now (its time is up, or a reader asked): the next batches take it. */
  private lazyDue = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private readonly lazyWriteMs: number;
  private inFlight = 0;
  private pumpScheduled = false;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;
  private readonly retries: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  private readonly counters: GroupCommitterStats = { batches: 0, fallbackWrites: 0, rejectedQueueFull: 0, droppedExpired: 0 };

  constructor(
    private readonly store: TransactionStore,
    private readonly options: GroupCommitterOptions = {},
  ) {
    this.maxBatch = options.maxBatchCommands ?? 256;
    this.maxConcurrent = options.maxConcurrentBatches ?? (store.dialect === 'sqlite' ? 1 : 4);
    this.retries = options.deadlockRetries ?? 3;
    this.maxQueued = options.maxQueuedCommands ?? 10_000;
    this.now = options.now ?? Date.now;
    this.lazyWriteMs = options.lazyWriteMs ?? 20;
  }

  /** A copy of the counters. */
  stats(): GroupCommitterStats {
    return { ...this.counters };
  }

  submit<const T extends readonly StoreCommand[]>(commands: T, options: SubmitOptions = {}): Promise<ResultsOf<T>> {
    // An empty queue takes any caller, so one large caller is never refused for good.
    if (options.client && this.queuedCommands > 0 && this.queuedCommands + commands.length > this.maxQueued) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new StoreQueueFullError(this.maxQueued));
    }
    const lazy = options.lazy === true;
    return new Promise<ResultsOf<T>>((resolve, reject) => {
      this.queue.push({ commands, deadline: options.deadline, lazy, resolve: resolve as (r: unknown[]) => void, reject });
      this.queuedCommands += commands.length;
      if (lazy) {
        this.lazyCommands += commands.length;
        this.lazyTimer ??= setTimeout(() => this.flushLazy(), this.lazyWriteMs);
      }
      this.schedulePump();
    });
  }

  /** Starts a batch for lazy work now (a reader needs what it writes); no-op when none waits. */
  flushLazy(): void {
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    if (this.lazyCommands === 0) return;
    this.lazyDue = true;
    this.schedulePump();
  }

  /** Work that may start a batch is queued: any eager work, or lazy work whose time is up. */
  private startable(): boolean {
    return this.queue.length > 0 && (this.lazyDue || this.queuedCommands > this.lazyCommands);
  }

  /**
   * A batch starts when the previous one ends, never on a timer: while one
   * is being written, whatever arrives queues for the next, so the batch
   * size follows the load. When nothing is being written, the work starts at
   * once (after the current synchronous run, so a caller's commands submitted
   * together go together): a lone caller pays nothing for batching.
   * After a batch, the next starts one event-loop turn later, after pending
   * I/O callbacks have run: better-sqlite3 blocks the loop while it commits,
   * so requests that arrived meanwhile are only seen after that turn, and
   * would otherwise each start a batch of their own.
   */
  private schedulePump(afterBatch = false): void {
    if (this.pumpScheduled) return;
    // After a batch the turn is always taken (see above), even when nothing can start
    // yet: what the blocked loop's I/O brings in meanwhile must queue for it.
    if (!afterBatch && !this.startable()) return;
    if (!afterBatch && this.inFlight > 0 && this.queuedCommands < this.maxBatch) return; // the running batch's end starts the next
    this.pumpScheduled = true;
    const start = () => {
      this.pumpScheduled = false;
      this.pump();
    };
    if (afterBatch) setImmediate(start);
    else queueMicrotask(start);
  }

  private pump(): void {
    while (this.inFlight < this.maxConcurrent && this.startable()) {
      const batch: Pending[] = [];
      let size = 0;
      while (this.queue.length && (batch.length === 0 || size + this.queue[0].commands.length <= this.maxBatch)) {
        const p = this.queue.shift()!;
        this.queuedCommands -= p.commands.length;
        if (p.lazy) this.lazyCommands -= p.commands.length;
        if (this.expired(p)) continue;
        size += p.commands.length;
        batch.push(p);
      }
      if (this.lazyCommands === 0) {
        // Every lazy write is on its way: the next needs a timer of its own.
        this.lazyDue = false;
        clearTimeout(this.lazyTimer);
        this.lazyTimer = undefined;
      }
      if (batch.length === 0) continue;
      this.inFlight++;
      this.counters.batches++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.schedulePump(true);
      });
    }
  }

  /** Rejects `p` when its caller's deadline has passed; nothing of it was written. */
  private expired(p: Pending): boolean {
    if (p.deadline === undefined || this.now() < p.deadline) return false;
    this.counters.droppedExpired++;
    p.reject(new StoreDeadlineExceededError());
    return true;
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
      if (batch.length === 1 || isStoreFailure(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      // One caller's bad command must not fail the others: bisect, one half
      // after the other, until the failing caller is alone. A few writes
      // (about 2·log2 of the batch), never one transaction per caller at once.
      const half = Math.ceil(batch.length / 2);
      await this.isolate(batch.slice(0, half));
      await this.isolate(batch.slice(half));
    }
  }

  private async isolate(part: Pending[]): Promise<void> {
    // Callers who gave up meanwhile are dropped: the failed batch wrote nothing of theirs.
    const live = part.filter((p) => !this.expired(p));
    if (live.length === 0) return;
    this.counters.fallbackWrites++;
    await this.write(live);
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
