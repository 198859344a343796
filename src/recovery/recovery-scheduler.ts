import type { Logger } from 'pino';
import { isRecoveryClock, type Clock } from '../domain/clock';
import { isFinal, type BranchRecord, type TransactionRecord } from '../domain/model';
import type { TransactionEngine } from '../engine/transaction-engine';
import { TransactionNotFoundError } from '../engine/errors';
import type { TransactionView } from '../engine/transaction-engine';
import { validateId } from '../engine/validation';
import { alwaysHeld, type SingletonLease } from '../lease/singleton-lease';
import { describeError } from '../log/describe-error';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import type { GroupCommitter } from '../store/group-committer';
import type { DuePhaseTwo, DueTransaction, TransactionStore } from '../store/transaction-store';
import { newClaimToken } from '../domain/claim-token';
import type { ReservedSlots } from '../engine/phase-executor';
import type { TargetLimiter } from '../engine/target-limiter';
import { RecoveryLoop } from './recovery-loop';

/**
 * Most phase-two recovery rounds one process runs at once. A sweep stops
 * claiming past it, so one process never claims (and holds in memory) every
 * due transaction of the cluster; other replicas take the rest.
 */
const MAX_RECOVERY_ROUNDS = 512;

/** Most deadline rollbacks one process runs at once: their own budget, never used up by phase-two rounds. */
const MAX_DEADLINE_ROUNDS = 256;

/** Rows per due query. */
const PAGE = 100;

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
  /** Phase-two rounds started by sweeps and still running. */
  private readonly rounds = new Set<Promise<void>>();
  /** Deadline rollbacks started by sweeps and still running. */
  private readonly deadlineRounds = new Set<Promise<void>>();
  /**
   * Rounds in flight when the last sweep left due work unclaimed for want of
   * slots or room (a backlog), or undefined: once half of them have ended,
   * the next sweep runs at once rather than a sweep interval later, so a
   * backlog drains at the pace its participant answers.
   */
  private backlogRounds: number | undefined;
  /** When a sweep last ran the due query past full targets (this process's clock). */
  private lastFullScanAt = 0;
  /**
   * Due rows a phase-two query read that no sweep has claimed yet (no slot
   * was free for them, or no room), earliest first. The sweeps a backlog's
   * freed slots wake (tens a second) claim from these instead of reading the
   * same page again for every few slots. Claims compare-and-set on the
   * due_at read, so a row worked or claimed meanwhile is simply not won.
   */
  private candidates: DuePhaseTwo[] = [];
  /** When `candidates` were read (this process's clock). */
  private candidatesAt = 0;
  /** When a sweep last looked for expired deadlines (this process's clock). */
  private lastDeadlineScanAt = -Infinity;

  constructor(private readonly o: RecoverySchedulerOptions) {
    this.lease = o.lease ?? alwaysHeld;
    this.loop = new RecoveryLoop({ intervalMs: o.sweepIntervalMs, sweep: () => this.sweep(), logger: o.logger });
    // A slot freed on a target whose backlog is waiting: sweep now, not a sweep interval later.
    o.engine.limiter.onRecoverySlotFree(() => this.loop.wakeAt(Date.now()));
  }

  /** Starts the loop (one sweep soon, to pick up what a crash left). */
  start(): void {
    this.loop.start();
    this.loop.wakeAt(Date.now());
  }

  /** Ask for a sweep at `at` (epoch ms on the scheduler's clock) at the latest. */
  wakeAt(at: number): void {
    // The loop's timers run on this process's clock.
    this.loop.wakeAt(Date.now() + (at - this.o.clock.now()));
  }

  /** Stops sweeping, waits for the rounds it started, gives up singleton leases. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.rounds, ...this.deadlineRounds]);
    await this.lease.releaseAll();
  }

  /** Operator replay: a decided transaction's pending branches become due now and are worked at once. */
  async retryNow(gidInput: string): Promise<TransactionView> {
    const gid = validateId('gid', gidInput);
    const now = this.o.clock.now();
    const [{ txn }] = await this.o.committer.submit([{ kind: 'expedite', gid, now }] as const);
    if (!txn) throw new TransactionNotFoundError(gid);
    // Claimed and worked here unless another worker holds the claim (its round picks up the new retry times),
    // or the clock is unfit for claims (the next fit sweep takes it: it is due now).
    if (txn.dueAt !== null && txn.dueAt <= now && !this.clockUnfit()) {
      const due = { gid, status: txn.status, dueAt: txn.dueAt };
      const token = await this.claim(due);
      if (token !== undefined) await this.work(due, token);
    }
    return this.o.engine.get(gid);
  }

  /**
   * One sweep: deadline rollbacks first, by their own query and within their
   * own budget, then phase-two rounds. Claims are awaited (so the next page
   * does not find them again), rounds are not. With a singleton lease
   * (Redis), only its holder scans for expired TRYING transactions; every
   * replica retries phase two, each claim won by one of them.
   */
  private async sweep(): Promise<void> {
    const unfit = this.clockUnfit();
    if (unfit) {
      // Rolling back or claiming on a clock that may be off could act before another replica's deadline or lease.
      this.o.metrics.sweeps.inc({ result: 'clock_unfit' });
      this.o.logger.warn({ why: unfit }, 'recovery sweep skipped: the database clock is not known well enough');
      return;
    }
    try {
      // Deadlines are not woken for: only the sweep interval bounds how late a
      // rollback starts, so the sweeps a backlog's slots wake (tens a second)
      // need not each ask the lease and run the query; twice an interval keeps that bound.
      if (Date.now() - this.lastDeadlineScanAt >= this.o.sweepIntervalMs / 2) {
        this.lastDeadlineScanAt = Date.now();
        if (await this.lease.hold('deadline-sweep', 3 * this.o.sweepIntervalMs + 5_000)) await this.sweepDeadlines();
      }
      await this.sweepPhaseTwo();
      this.o.metrics.sweeps.inc({ result: 'ok' });
    } catch (err) {
      this.o.metrics.sweeps.inc({ result: 'failed' });
      throw err;
    }
  }

  /** Why recovery must not roll back or claim now (see RecoveryClock), or undefined. */
  private clockUnfit(): string | undefined {
    return isRecoveryClock(this.o.clock) ? this.o.clock.unfitReason() : undefined;
  }

  /** Claims and rolls back TRYING transactions past their deadline. */
  private async sweepDeadlines(): Promise<void> {
    while (this.deadlineRounds.size < MAX_DEADLINE_ROUNDS) {
      const due = await this.o.store.findExpired(this.o.clock.now(), Math.min(PAGE, MAX_DEADLINE_ROUNDS - this.deadlineRounds.size));
      this.o.metrics.dueQueries.inc({ kind: 'deadline' });
      if (due.length === 0) return;
      const tokens = await Promise.all(due.map((d) => this.claim(d)));
      due.forEach((d, i) => {
        const token = tokens[i];
        if (token !== undefined) this.track(this.deadlineRounds, this.work(d, token));
      });
      // A page where no claim could be written would come back unchanged: leave it to the next sweep.
      if (due.length < PAGE || tokens.every((t) => t === undefined)) return;
    }
  }

  /**
   * Claims decided transactions whose calls can start now: the due query
   * leaves out those with a pending branch on a target whose per-process
   * limit is full, and each claim first reserves slots on every target of the
   * transaction (up to its pending branches there). One participant's backlog
   * then waits in the database, unclaimed, instead of holding claims, rounds
   * and slots that other participants' work needs. A page read is claimed
   * from over several sweeps while it is younger than a sweep interval (see
   * `candidates`); a due query runs when it is used up or old.
   */
  private async sweepPhaseTwo(): Promise<void> {
    const limiter = this.o.engine.limiter;
    this.backlogRounds = undefined;
    let lastPage = false;
    for (;;) {
      const room = MAX_RECOVERY_ROUNDS - this.rounds.size;
      if (room <= 0) {
        this.backlogRounds = this.rounds.size;
        return;
      }
      // Older than a sweep interval: transactions due since may come first, read again.
      if (Date.now() - this.candidatesAt >= this.o.sweepIntervalMs) this.candidates = [];
      if (this.candidates.length === 0) {
        if (lastPage) return;
        const full = limiter.fullTargets();
        if (full.length) {
          // The due query then skips the full targets' backlog row by row: at
          // most once per sweep interval, however often retries wake the loop.
          if (Date.now() - this.lastFullScanAt < this.o.sweepIntervalMs) {
            // Looked again once the rounds holding those slots are half done (see backlogRounds).
            this.backlogRounds = this.rounds.size;
            return;
          }
          this.lastFullScanAt = Date.now();
        }
        this.candidates = await this.o.store.findDuePhaseTwo(this.o.clock.now(), PAGE, full);
        this.o.metrics.dueQueries.inc({ kind: 'phase_two' });
        this.candidatesAt = Date.now();
        if (this.candidates.length === 0) return;
        // Fewer than a page: nothing more was due when it was read; this sweep ends once they are claimed.
        lastPage = this.candidates.length < PAGE;
      }
      const due = this.candidates.splice(0, room);
      const reserved = due.map((d) => reserveSlots(limiter, d.targets));
      // Those without slots stay first in line, for the sweep a freed slot wakes.
      this.candidates.unshift(...due.filter((_, i) => !reserved[i]));
      const tokens = await Promise.all(due.map((d, i) => (reserved[i] ? this.claim(d) : Promise.resolve(undefined))));
      due.forEach((d, i) => {
        const slots = reserved[i];
        if (!slots) return;
        const token = tokens[i];
        if (token === undefined) releaseSlots(slots);
        else this.track(this.rounds, this.work(d, token, slots));
      });
      // A target filled up: its due work waits for freed slots (see
      // backlogRounds) rather than a next page, whose query would have to
      // skip that target's whole backlog.
      if (reserved.some((r) => r === null)) {
        this.backlogRounds = this.rounds.size;
        return;
      }
      // Not one claim written (another replica is working these rows, or the database failed): read afresh next sweep.
      if (tokens.every((t) => t === undefined)) {
        this.candidates = [];
        return;
      }
    }
  }

  private track(set: Set<Promise<void>>, round: Promise<boolean>): void {
    const p: Promise<void> = round.then((finished) => {
      set.delete(p);
      // Only a backlog whose participant answers drains early: rounds that
      // fail leave their transactions to their retry times, and a participant
      // that is down still meets one sweep's worth of calls per interval.
      if (finished && set === this.rounds && this.backlogRounds !== undefined && this.rounds.size <= this.backlogRounds / 2) {
        this.backlogRounds = undefined;
        this.loop.wakeAt(Date.now());
      }
    });
    set.add(p);
  }

  /** Claims one due transaction with a fresh fencing token; answers the token, or undefined when another worker claimed it first. */
  private async claim(d: DueTransaction): Promise<Claim | undefined> {
    const now = this.o.clock.now();
    const owner = newClaimToken(this.o.node);
    try {
      // A phase-two round needs the row and its branches: read with the claims of its batch, not one by one.
      const [res] = await this.o.committer.submit([
        { kind: 'claim', gid: d.gid, expectDueAt: d.dueAt, owner, leaseUntil: now + this.o.claimLeaseMs, now, withRows: d.status !== 'TRYING' },
      ] as const);
      return res.claimed ? { token: owner, txn: res.txn, branches: res.branches } : undefined;
    } catch (err) {
      this.o.logger.error({ gid: d.gid, err: describeError(err) }, 'claiming a due transaction failed; will retry');
      return undefined;
    }
  }

  /**
   * Works a claimed transaction: the deadline rollback of a TRYING one, a
   * phase-two round of a decided one (from the rows its claim read, when it
   * did). Answers whether it finished. Never rejects.
   */
  private async work(d: DueTransaction, claim: Claim, slots?: ReservedSlots): Promise<boolean> {
    try {
      if (d.status === 'TRYING') {
        await this.o.engine.rollbackExpired(d.gid);
        return true;
      }
      const txn = claim.txn ?? (await this.o.store.getTransaction(d.gid));
      if (!txn || isFinal(txn.status)) return true;
      const after = await this.o.engine.runPhaseTwo(txn, { claimToken: claim.token, slots, branches: claim.branches });
      return after === null || isFinal(after.status);
    } catch (err) {
      this.o.logger.error({ gid: d.gid, err: describeError(err) }, 'recovery of transaction failed; will retry');
      return false;
    } finally {
      if (slots) releaseSlots(slots);
    }
  }
}

/** A claim won: its fencing token, and the rows read with it when asked. */
interface Claim {
  token: string;
  txn?: TransactionRecord;
  branches?: BranchRecord[];
}

/**
 * Takes, for each target, one slot per pending branch there while slots are
 * free, at least one: null (nothing taken) when some target has none free now.
 */
function reserveSlots(limiter: TargetLimiter, targets: Map<string, number>): ReservedSlots | null {
  const slots: ReservedSlots = new Map();
  for (const [target, pending] of targets) {
    const list: Array<() => void> = [];
    slots.set(target, list);
    for (let i = 0; i < pending; i++) {
      const release = limiter.tryAcquire(target);
      if (!release) break;
      list.push(release);
    }
    if (list.length === 0) {
      releaseSlots(slots);
      return null;
    }
  }
  return slots;
}

function releaseSlots(slots: ReservedSlots): void {
  for (const list of slots.values()) for (const release of list.splice(0)) release();
}
