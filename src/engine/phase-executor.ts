import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { noCrash, type CrashHook } from './crash-points';
import type { BranchRecord, Phase, PhaseLogRecord, TransactionRecord } from '../domain/model';
import { isFinal, phaseOf } from '../domain/model';
import type { CallResult, ParticipantCaller } from './participant-caller';
import { retryDelayMs, type RetryPolicy } from './retry-policy';
import type { TargetLimiter } from './target-limiter';
import { deferredRetryAt, isBranchDue } from '../domain/recovery-rules';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import { startRecoveryRoundSpan } from '../tracing/recovery-span';
import type { GroupCommitter } from '../store/group-committer';
import type { PhaseTwoCallResult, PhaseTwoResult, RoundFailedResult, StuckBranch, StuckThresholds, TransactionStore } from '../store/transaction-store';
import { describeError } from '../log/describe-error';

/** Options of {@link PhaseExecutor}. */
export interface PhaseExecutorOptions {
  store: TransactionStore;
  committer: GroupCommitter;
  caller: ParticipantCaller;
  clock: Clock;
  logger: Logger;
  node: string;
  /** Deadline of each Confirm/Cancel call, ms. */
  branchTimeoutMs: number;
  retryPolicy: RetryPolicy;
  /** When a transaction counts as stuck. */
  stuck: StuckThresholds;
  /** Caps recovery calls per participant target. */
  limiter: TargetLimiter;
  metrics: CoordinatorMetrics;
  /** Told the earliest time a retry is due, so the recovery loop wakes up for it. */
  onRetryScheduled?: (dueAt: number) => void;
  /**
   * Told when a round ends (finished or not), so waiting callers can look
   * again; with the branches as stored when this round's write finished the
   * transaction (no read needed to answer them), else without.
   */
  onRoundEnd?: (txn: TransactionRecord, branches?: BranchRecord[]) => void;
  /** Told when a round flags the transaction stuck. */
  onStuck?: (txn: TransactionRecord, branch: StuckBranch) => void;
  /** Default: never crashes. */
  crash?: CrashHook;
  /**
   * True when no caller waits for the gid's round to end. A client's round
   * that finishes the transaction then writes lazily (in the next batch
   * other work starts, or after the committer's `lazyWriteMs`). Default:
   * never lazy.
   */
  nobodyWaits?: (gid: string) => boolean;
}

/** Slots of the per-target limit taken for a round before it starts (by recovery, when it claimed the transaction). */
export type ReservedSlots = Map<string, Array<() => void>>;

/** How a round is run. */
export interface RoundOptions {
  traceparent?: string;
  /** Fencing token of the claim the round runs under (the decision's or a sweep's); only it releases the claim. */
  claimToken: string;
  /**
   * Slots recovery took when it claimed the transaction; calls use these
   * first, then free slots. Whatever the round does not use is given back as
   * soon as its calls have started.
   */
  slots?: ReservedSlots;
  /** A round run by recovery (a sweep's claim or an operator's replay), not started by a client's decision. */
  recovery?: boolean;
}

/**
 * Runs one round of phase two for a decided transaction: Confirm (or Cancel)
 * on every pending branch whose retry time has come, in parallel, then one
 * write with every outcome and log row. Branches not done get their own
 * backoff; the transaction finishes in the same write that records its last
 * branch done.
 */
export class PhaseExecutor {
  private readonly active = new Map<string, Promise<TransactionRecord | null>>();
  private readonly crash: CrashHook;

  constructor(private readonly o: PhaseExecutorOptions) {
    this.crash = o.crash ?? noCrash;
  }

  /** Runs a round unless this process is already running one for the gid (then joins it). */
  run(txn: TransactionRecord, branches: BranchRecord[] | undefined, options: RoundOptions): Promise<TransactionRecord | null> {
    const running = this.active.get(txn.gid);
    if (running) {
      releaseAll(options.slots);
      return running;
    }
    const p = this.round(txn, branches, options).finally(() => this.active.delete(txn.gid));
    this.active.set(txn.gid, p);
    return p;
  }

  /** Rounds in progress, to drain on shutdown. */
  inFlight(): Promise<unknown>[] {
    return [...this.active.values()];
  }

  private async round(txn: TransactionRecord, known: BranchRecord[] | undefined, options: RoundOptions): Promise<TransactionRecord | null> {
    const phase = phaseOf(txn.status);
    if (!phase) {
      releaseAll(options.slots);
      return txn;
    }
    let branches: BranchRecord[];
    try {
      branches = known ?? (await this.o.store.getBranches(txn.gid));
    } catch (err) {
      releaseAll(options.slots);
      throw err;
    }
    const startedAt = this.o.clock.now();
    // Per-branch backoff: a branch whose retry time has not come waits for a later round.
    const due = branches.filter((b) => isBranchDue(b, startedAt));
    // A recovery round has no caller's trace: it gets a span of its own.
    const span = options.recovery && !options.traceparent ? startRecoveryRoundSpan(txn.gid, phase) : undefined;
    const callOptions = span ? { ...options, traceparent: span.traceparent } : options;
    // Each call takes its slot synchronously, before its first await: what is left over is given back at once.
    const pendingCalls = due.map((b) => this.call(b, phase, callOptions));
    releaseAll(options.slots);
    const calls = await Promise.all(pendingCalls).finally(() => span?.end());
    this.crash('after-phase-two-calls');
    const now = this.o.clock.now();
    const logs: PhaseLogRecord[] = [];
    const results: PhaseTwoCallResult[] = due.map((b, i) => {
      const c = calls[i];
      if (!c) {
        this.o.metrics.callsDeferred.inc();
        // Not called: no attempt counted; each deferral in a row waits longer.
        const nextRetryAt = deferredRetryAt(b, now, this.o.retryPolicy.initialMs, this.o.retryPolicy.maxMs);
        return { branchId: b.branchId, attempted: false, ok: false, error: '', nextRetryAt };
      }
      const ok = c.outcome === 'ok';
      this.o.metrics.participantCalls.inc({ phase, outcome: ok ? 'ok' : 'failed' });
      this.o.metrics.observeParticipantCall({ participant: b.participant, phase, outcome: c.outcome, transport: c.transport, durationMs: c.durationMs });
      logs.push({
        gid: b.gid,
        branchId: b.branchId,
        phase,
        attempt: b.attempts + 1,
        outcome: ok ? 'ok' : 'failed',
        grpcCode: c.grpcCode,
        error: c.error,
        startedAt: c.startedAt,
        durationMs: c.durationMs,
        node: this.o.node,
      });
      if (!ok) {
        this.o.logger.warn({ gid: txn.gid, branch_id: b.branchId, phase, attempt: b.attempts + 1, grpc_code: c.grpcCode, err: c.error }, 'phase-two call failed; will retry');
      }
      return {
        branchId: b.branchId,
        attempted: true,
        ok,
        error: c.error,
        nextRetryAt: now + retryDelayMs(this.o.retryPolicy, b.attempts + 1),
      };
    });
    // Every pending branch answered OK and nobody waits for the answer: the
    // final write waits for company (a batch other work starts) instead of
    // paying a durable commit of its own. Nothing is answered before it is durable.
    const lazy = !options.recovery && finishesAll(branches, results) && this.o.nobodyWaits?.(txn.gid) === true;
    const write = this.o.committer.submit(
      [{ kind: 'phaseTwo', gid: txn.gid, now, node: this.o.node, claimToken: options.claimToken, results, logs, stuck: this.o.stuck }] as const,
      { lazy },
    );
    let recorded: PhaseTwoResult;
    try {
      [recorded] = await write;
    } catch (err) {
      recorded = await this.recordFailedRound(txn, due, results, options.claimToken, now, err);
    }
    const { txn: after, becameStuck, finished } = recorded;
    if (after) {
      if (isFinal(after.status)) {
        // Counted by whoever finished it: a ResolveBranch during this round already did.
        if (finished) this.o.metrics.observeFinished(after);
        this.o.logger.debug({ gid: txn.gid, status: after.status }, 'transaction finished');
      } else if (after.dueAt !== null) {
        this.o.onRetryScheduled?.(after.dueAt);
      }
      if (becameStuck) this.o.onStuck?.(after, becameStuck);
      this.o.onRoundEnd?.(after, finished ? finishedBranches(branches, results, now) : undefined);
    }
    return after;
  }

  /**
   * The round's write failed (whatever it carried: branch rows, log rows):
   * records what the transaction row alone can hold, so attempts, the stuck
   * flag and its alert still advance and the claim is released, backing off
   * by rounds. Rethrows the write's error when this fails too.
   */
  private async recordFailedRound(
    txn: TransactionRecord,
    due: BranchRecord[],
    results: PhaseTwoCallResult[],
    claimToken: string,
    now: number,
    writeError: unknown,
  ): Promise<PhaseTwoResult> {
    this.o.logger.error({ gid: txn.gid, err: describeError(writeError) }, 'recording a phase-two round failed; recording the attempt on the transaction alone');
    const failed = results.find((r) => r.attempted && !r.ok);
    const retryAt = now + retryDelayMs(this.o.retryPolicy, txn.attempts + 1);
    const error = failed?.error ?? 'recording the phase-two round failed';
    let res: RoundFailedResult;
    try {
      [res] = await this.o.committer.submit([{ kind: 'roundFailed', gid: txn.gid, now, claimToken, error, retryAt, stuck: this.o.stuck }] as const);
    } catch {
      throw writeError;
    }
    const worst = due.find((b) => b.branchId === failed?.branchId) ?? due[0];
    const becameStuck =
      res.becameStuck && worst
        ? { branchId: worst.branchId, participant: worst.participant, attempts: worst.attempts, lastError: error }
        : undefined;
    return { txn: res.txn, becameStuck };
  }

  /**
   * One Confirm/Cancel within the per-target limit; undefined when no slot is
   * free now (deferred to a later round: never queued, so a hung participant
   * cannot hold this round, or its claim, for a branch timeout per call).
   */
  private async call(b: BranchRecord, phase: Phase, options: RoundOptions): Promise<CallResult | undefined> {
    // Recovery only runs what has a slot now; a client's decision waits for one at most
    // the first retry delay (what a deferral would cost it anyway), then is deferred too.
    const release =
      options.slots?.get(b.participant)?.pop() ??
      (options.recovery ? this.o.limiter.tryAcquire(b.participant) : await this.o.limiter.acquire(b.participant, this.o.retryPolicy.initialMs));
    if (!release) return undefined;
    const req = {
      target: b.participant,
      phase,
      gid: b.gid,
      branchId: b.branchId,
      action: b.action,
      payload: b.payload,
      timeoutMs: this.o.branchTimeoutMs,
      traceparent: options.traceparent,
    };
    this.o.metrics.recoveryInFlight.inc();
    try {
      return await this.o.caller.call(req);
    } finally {
      this.o.metrics.recoveryInFlight.dec();
      release();
    }
  }
}

/** Every branch still pending was called this round and answered OK: the round's write finishes the transaction. */
function finishesAll(branches: readonly BranchRecord[], results: readonly PhaseTwoCallResult[]): boolean {
  const ok = new Set(results.filter((r) => r.ok).map((r) => r.branchId));
  return branches.every((b) => b.phaseTwo !== 'PENDING' || ok.has(b.branchId));
}

function releaseAll(slots: ReservedSlots | undefined): void {
  if (!slots) return;
  for (const list of slots.values()) for (const release of list.splice(0)) release();
}

/**
 * The branches as the round's write left them when it finished the
 * transaction: the ones called and answered OK are DONE (as the store marks
 * them), the others were not pending.
 */
function finishedBranches(branches: readonly BranchRecord[], results: readonly PhaseTwoCallResult[], now: number): BranchRecord[] {
  const done = new Set(results.filter((r) => r.ok).map((r) => r.branchId));
  return branches.map((b) =>
    done.has(b.branchId) && b.phaseTwo === 'PENDING'
      ? { ...b, phaseTwo: 'DONE', attempts: b.attempts + 1, nextRetryAt: null, lastError: '', updatedAt: now }
      : b,
  );
}
