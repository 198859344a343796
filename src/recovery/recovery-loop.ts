import type { Logger } from 'pino';
import { describeError } from '../log/describe-error';

/** Options of {@link RecoveryLoop}. */
export interface RecoveryLoopOptions {
  /** Longest time between two sweeps, ms. Default 1 000 (TCC_SWEEP_INTERVAL_MS). */
  intervalMs: number;
  /** One sweep: finds due transactions and works them; resolves when done. */
  sweep: () => Promise<void>;
  logger: Logger;
}

/**
 * Runs the sweep every `intervalMs`, and earlier when `wakeAt` asks for it
 * (a retry due sooner). Sweeps never overlap; a failed sweep (database down)
 * is logged and the next one runs on schedule.
 */
export class RecoveryLoop {
  private timer: NodeJS.Timeout | undefined;
  private nextAt = Infinity;
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;

  constructor(private readonly o: RecoveryLoopOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule(Date.now() + this.o.intervalMs);
  }

  /** Ask for a sweep at `at` (epoch ms) at the latest. */
  wakeAt(at: number): void {
    if (this.stopped) return;
    if (at < this.nextAt) this.schedule(at);
  }

  private schedule(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.nextAt = Infinity;
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.o
      .sweep()
      .catch((err: unknown) => {
        this.o.logger.error({ err: describeError(err) }, 'recovery sweep failed');
      })
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.schedule(Date.now());
        } else if (this.nextAt === Infinity) {
          this.schedule(Date.now() + this.o.intervalMs);
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
