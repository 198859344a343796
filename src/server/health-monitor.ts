import type { Logger } from 'pino';

/** Options of {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  /** Answers when the database does (TransactionStore.ping). */
  ping: () => Promise<void>;
  /** Told the new status on every change. */
  onChange: (serving: boolean) => void;
  /** Time between two pings, ms. Default 2 000. */
  intervalMs?: number;
  /** A ping not answered within this is a failure, ms. Default: the interval, at least 1 000. */
  timeoutMs?: number;
  logger: Logger;
}

/**
 * Pings the database on a timer and reports SERVING / NOT_SERVING on each
 * change: a coordinator that cannot write decisions must be taken out of
 * load balancing, and put back once the database answers again. One ping
 * at a time; a ping that hangs (a server that stopped answering without
 * closing connections) counts as a failure at its timeout.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private serving = true;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: HealthMonitorOptions) {
    this.intervalMs = o.intervalMs ?? 2_000;
    this.timeoutMs = o.timeoutMs ?? Math.max(1_000, this.intervalMs);
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.check().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      this.o.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timeout = setTimeout(() => resolve(false), this.timeoutMs);
      }),
    ]);
    clearTimeout(timeout);
    if (this.stopped || ok === this.serving) return;
    this.serving = ok;
    if (ok) this.o.logger.info('database answers again: health SERVING');
    else this.o.logger.warn('database not answering: health NOT_SERVING');
    this.o.onChange(ok);
  }
}
