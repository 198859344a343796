import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RecoveryClock } from '../domain/clock';
import { describeError } from '../log/describe-error';

/** Where a measurement is exported (a prom-client Gauge fits). */
export interface ClockGauge {
  set(value: number): void;
}

/** Options of {@link DatabaseClock}. */
export interface DatabaseClockOptions {
  /** Reads the database server's clock, epoch ms (one statement). */
  read: () => Promise<number>;
  logger: Logger;
  /** How often the offset is measured, ms. Default 10 000. */
  sampleIntervalMs?: number;
  /** Reads per measurement; the one with the shortest round trip counts. Default 3. */
  readsPerSample?: number;
  /** Most uncertainty (half the best read's round trip) recovery acts on, ms. Default 250. */
  maxUncertaintyMs?: number;
  /** Age past which a measurement no longer counts, ms. Default 60 000. */
  maxAgeMs?: number;
  /** Where the measured offset and uncertainty are exported. Default: nowhere. */
  offsetGauge?: ClockGauge;
  uncertaintyGauge?: ClockGauge;
}

interface Sample {
  /** performance.now() at the middle of the read's round trip. */
  at: number;
  /** The database's clock then, epoch ms. */
  db: number;
  /** Half the round trip, ms: the database read happened within ± this of `at`. */
  uncertainty: number;
}

/**
 * The database's clock, read in this process: measured periodically (the
 * read with the shortest round trip of a few, its middle taken as the
 * moment of the read), and carried forward between measurements on the
 * monotonic clock, so a step of the system clock changes nothing. Every
 * replica then compares deadlines, due times and claims on one clock: the
 * database's. Recovery refuses to act while the last measurement is older
 * than `maxAgeMs` or less certain than `maxUncertaintyMs`.
 */
export class DatabaseClock implements RecoveryClock {
  private sample: Sample | undefined;
  private last = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly reads: number;
  private readonly maxUncertaintyMs: number;
  private readonly maxAgeMs: number;

  constructor(private readonly o: DatabaseClockOptions) {
    this.intervalMs = o.sampleIntervalMs ?? 10_000;
    this.reads = o.readsPerSample ?? 3;
    this.maxUncertaintyMs = o.maxUncertaintyMs ?? 250;
    this.maxAgeMs = o.maxAgeMs ?? 60_000;
  }

  /** Takes the first measurement (rejects when the database cannot be read), then measures every interval. */
  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => {
      this.measure().catch((err: unknown) => this.o.logger.warn({ err: describeError(err) }, 'measuring the database clock failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The database's time now, whole epoch ms (stored in integer columns, encoded in gids); never goes back. */
  now(): number {
    const s = this.sample;
    if (!s) throw new Error('database clock not started');
    const t = Math.floor(s.db + (performance.now() - s.at));
    this.last = Math.max(this.last, t);
    return this.last;
  }

  unfitReason(): string | undefined {
    const s = this.sample;
    if (!s) return 'the database clock has not been measured';
    const age = performance.now() - s.at;
    if (age > this.maxAgeMs) return `the database clock was last measured ${Math.round(age)} ms ago (limit ${this.maxAgeMs} ms)`;
    if (s.uncertainty > this.maxUncertaintyMs) {
      return `the database clock is known within ${Math.round(s.uncertainty)} ms only (limit ${this.maxUncertaintyMs} ms)`;
    }
    return undefined;
  }

  /** Database clock minus this process's system clock, ms. */
  offsetMs(): number {
    return this.now() - Date.now();
  }

  private async measure(): Promise<void> {
    let best: Sample | undefined;
    for (let i = 0; i < this.reads; i++) {
      const t0 = performance.now();
      const db = await this.o.read();
      const t1 = performance.now();
      const s = { at: (t0 + t1) / 2, db, uncertainty: (t1 - t0) / 2 };
      if (!best || s.uncertainty < best.uncertainty) best = s;
    }
    if (!best) return;
    // A worse read than the one in use, while that one is still young, does not replace it.
    const current = this.sample;
    if (current && best.uncertainty > current.uncertainty && performance.now() - current.at < this.maxAgeMs / 2) return;
    this.sample = best;
    this.o.offsetGauge?.set(Math.round(best.db - (performance.timeOrigin + best.at)));
    this.o.uncertaintyGauge?.set(Math.round(best.uncertainty * 10) / 10);
  }
}
