import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { isFinal } from '../domain/model';
import type { TransactionEngine } from '../engine/transaction-engine';
import { TransactionNotFoundError } from '../engine/errors';
import type { TransactionView } from '../engine/transaction-engine';
import { validateId } from '../engine/validation';
import { alwaysHeld, type SingletonLease } from '../lease/singleton-lease';
import { describeError } from '../log/describe-error';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import type { GroupCommitter } from '../store/group-committer';
import type { DueTransaction, TransactionStore } from '../store/transaction-store';
import { RecoveryLoop } from './recovery-loop';

/**
 * Most recovery rounds one process runs at once. A sweep stops claiming past
 * it, so a participant that hangs cannot make one process claim (and hold in
 * memory) every due transaction of the cluster; other replicas take the rest.
 */
const MAX_RECOVERY_ROUNDS = 512;

/** Options of {@link RecoveryScheduler}. */
export interface RecoverySchedulerOptions {
  engine: TransactionEngine;
  store: TransactionStore;
  committer: GroupCommitter;
  clock: Clock;
  logger: Logger;
  metrics: CoordinatorMetrics;
  /** This process's name in claims. */
  node: string;
  /** Longest time between two sweeps, ms (TCC_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  /** How long a claim lasts, ms (see claimLeaseMs). */
  claimLeaseMs: number;
  /** Who runs the deadline sweep (singleton work). Default: this process always does. */
  lease?: SingletonLease;
}

/**
 * The recovery loop's work: finds due transactions, claims each
 * (compare-and-set on due_at, so one replica works it), rolls back TRYING ones
 * past their deadline and runs a phase-two round of decided ones. Also the
 * operator's replay (RetryTransaction).
 */
export class RecoveryScheduler {
  private readonly loop: RecoveryLoop;
  private readonly lease: SingletonLease;
  /** Recovery rounds started by sweeps and still running. */
  private readonly rounds = new Set<Promise<void>>();

  constructor(private readonly o: RecoverySchedulerOptions) {
    this.lease = o.lease ?? alwaysHeld;
    this.loop = new RecoveryLoop({ intervalMs: o.sweepIntervalMs, sweep: () => this.sweep(), logger: o.logger });
  }

  /** Starts the loop (one sweep soon, to pick up what a crash left). */
  start(): void {
    this.loop.start();
    this.loop.wakeAt(Date.now());
  }

  /** Ask for a sweep at `at` (epoch ms) at the latest. */
  wakeAt(at: number): void {
    this.loop.wakeAt(at);
  }

  /** Stops sweeping, waits for the rounds it started, gives up singleton leases. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.rounds]);
    await this.lease.releaseAll();
  }

  /** Operator replay: a decided transaction's pending branches become due now and are worked at once. */
  async retryNow(gidInput: string): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const now = this.o.clock.now();
    const [{ txn }] = await this.o.committer.submit([{ kind: 'expedite', gid, now }] as const);
    if (!txn) throw new TransactionNotFoundError(gid);
    // Claimed and worked here unless another worker holds the claim (its round picks up the new retry times).
    if (txn.dueAt !== null && txn.dueAt <= now) {
      const due = { gid, status: txn.status, dueAt: txn.dueAt };
      const claimedAt = await this.claim(due);
      if (claimedAt !== undefined) await this.work(due, claimedAt);
    }
    return this.o.engine.get(gid);
  }

  /**
   * One sweep. Claims are awaited (so the next page does not find them
   * again), rounds are not: one slow participant must not hold up the
   * deadline rollbacks of the next sweep. With a singleton lease (Redis),
   * only its holder scans for expired TRYING transactions; every replica
   * retries phase two, each claim won by one of them.
   */
  private async sweep(): Promise<void> {
    try {
      const deadlines = await this.lease.hold('deadline-sweep', 3 * this.o.sweepIntervalMs + 5_000);
      const statuses = deadlines ? undefined : (['CONFIRMING', 'CANCELLING'] as const);
      while (this.rounds.size < MAX_RECOVERY_ROUNDS) {
        const due = await this.o.store.findDue(this.o.clock.now(), Math.min(100, MAX_RECOVERY_ROUNDS - this.rounds.size), statuses);
        if (due.length === 0) break;
        const claims = await Promise.all(due.map((d) => this.claim(d)));
        due.forEach((d, i) => {
          const claimedAt = claims[i];
          if (claimedAt === undefined) return;
          const p = this.work(d, claimedAt).finally(() => this.rounds.delete(p));
          this.rounds.add(p);
        });
        // A page where no claim could be written would come back unchanged: leave it to the next sweep.
        if (due.length < 100 || claims.every((c) => c === undefined)) break;
      }
      this.o.metrics.sweeps.inc({ result: 'ok' });
    } catch (err) {
      this.o.metrics.sweeps.inc({ result: 'failed' });
      throw err;
    }
  }

  /** Claims one due transaction; answers the claim time, or undefined when another worker claimed it first. */
  private async claim(d: DueTransaction): Promise<number | undefined> {
    const now = this.o.clock.now();
    try {
      const [{ claimed }] = await this.o.committer.submit([
        { kind: 'claim', gid: d.gid, expectDueAt: d.dueAt, owner: this.o.node, leaseUntil: now + this.o.claimLeaseMs, now },
      ] as const);
      return claimed ? now : undefined;
    } catch (err) {
      this.o.logger.error({ gid: d.gid, err: describeError(err) }, 'claiming a due transaction failed; will retry');
      return undefined;
    }
  }

  /** Works a claimed transaction: the deadline rollback of a TRYING one, a phase-two round of a decided one. Never rejects. */
  private async work(d: DueTransaction, claimedAt: number): Promise<void> {
    try {
      if (d.status === 'TRYING') {
        await this.o.engine.rollbackExpired(d.gid);
        return;
      }
      const txn = await this.o.store.getTransaction(d.gid);
      if (txn && !isFinal(txn.status)) await this.o.engine.runPhaseTwo(txn, { claimedAt });
    } catch (err) {
      this.o.logger.error({ gid: d.gid, err: describeError(err) }, 'recovery of transaction failed; will retry');
    }
  }
}
