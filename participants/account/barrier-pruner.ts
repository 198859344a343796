import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { pruneSqlBarriers } from '../../src/participant';
import { errorText } from '../shared/service-main';

/** Options of {@link BarrierPruner}. */
export interface BarrierPrunerOptions {
  /** Barrier rows of branches finished longer ago than this are deleted, ms (pruneSqlBarriers' `olderThanMs`). */
  readonly retentionMs: number;
  /** Time between two runs, ms. Default 3 600 000 (1 h): rows only need to go eventually. */
  readonly intervalMs?: number;
  /** Delay of the first run after start, ms. Default 60 000: not during a deploy's busiest minute. */
  readonly firstRunDelayMs?: number;
}

/**
 * Runs pruneSqlBarriers periodically, one run at a time. Several replicas
 * pruning at once only duplicate work (each batch deletes by primary key).
 * A failed run is logged and tried again at the next interval: rows left
 * behind cost space, never correctness.
 */
export class BarrierPruner {
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly knex: Knex,
    private readonly logger: Logger,
    private readonly options: BarrierPrunerOptions,
  ) {}

  start(): void {
    // unref: a pending prune never keeps the process alive.
    // runOnce never rejects: nothing is lost by not awaiting it here.
    this.timers.push(setTimeout(() => void this.runOnce(), this.options.firstRunDelayMs ?? 60_000).unref());
    this.timers.push(setInterval(() => void this.runOnce(), this.options.intervalMs ?? 3_600_000).unref());
  }

  /** Starts a run unless one is in progress; resolves when that run ends (it never rejects). */
  runOnce(): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    this.running ??= pruneSqlBarriers(this.knex, { olderThanMs: this.options.retentionMs, signal: this.abort.signal })
      .then(
        (rows) => {
          if (rows > 0) this.logger.info({ rows }, 'pruned barrier rows of finished branches');
        },
        (err: unknown) => this.logger.warn({ err: errorText(err) }, 'pruning barrier rows failed; trying again later'),
      )
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Stops the timers and the current run (between two batches), and waits for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    await this.running;
  }
}
