import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { noCrash, type CrashHook } from './crash-points';
import type { BranchRecord, Phase, PhaseLogRecord, TransactionRecord } from '../domain/model';
import { isFinal, phaseOf } from '../domain/model';
import type { CallResult, ParticipantCaller } from './participant-caller';
import { retryDelayMs, type RetryPolicy } from './retry-policy';
import type { TargetLimiter } from './target-limiter';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics';
import { startRecoveryRoundSpan } from '../tracing/recovery-span';
import type { GroupCommitter } from '../store/group-committer';
import type { PhaseTwoCallResult, StuckBranch, StuckThresholds, TransactionStore } from '../store/transaction-store';

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
  /** Told when a round ends (finished or not), so waiting callers can look again. */
  onRoundEnd?: (txn: TransactionRecord) => void;
  /** Told when a round flags the transaction stuck. */
  onStuck?: (txn: TransactionRecord, branch: StuckBranch) => void;
  /** Default: never crashes. */
  crash?: CrashHook;
}

/** How a round is run. */
export interface RoundOptions {
  traceparent?: string;
  /**
   * Set for rounds run by recovery (retries, takeovers, operator replays):
   * their calls share the per-target limit, and a call that cannot start
   * within one branch timeout of `claimedAt` is put off to a later round, so
   * every call ends before the claim (two branch timeouts + 5 s) does.
   */
  recovery?: { claimedAt: number };
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
  run(txn: TransactionRecord, branches?: BranchRecord[], options: RoundOptions = {}): Promise<TransactionRecord | null> {
    const running = this.active.get(txn.gid);
    if (running) return running;
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
    if (!phase) return txn;
    const branches = known ?? (await this.o.store.getBranches(txn.gid));
    const startedAt = this.o.clock.now();
    // Per-branch backoff: a branch whose retry time has not come waits for a later round.
    const due = branches.filter((b) => b.phaseTwo === 'PENDING' && (b.nextRetryAt === null || b.nextRetryAt <= startedAt));
    const log = this.o.logger.child({ gid: txn.gid });
    // A recovery round has no caller's trace: it gets a span of its own.
    const span = options.recovery && !options.traceparent ? startRecoveryRoundSpan(txn.gid, phase) : undefined;
    const callOptions = span ? { ...options, traceparent: span.traceparent } : options;
    const calls = await Promise.all(due.map((b) => this.call(b, phase, callOptions))).finally(() => span?.end());
    this.crash('after-phase-two-calls');
    const now = this.o.clock.now();
    const logs: PhaseLogRecord[] = [];
    const results: PhaseTwoCallResult[] = due.map((b, i) => {
      const c = calls[i];
      if (!c) {
        this.o.metrics.callsDeferred.inc();
        // Not called: no attempt counted, looked at again after one initial delay.
        return { branchId: b.branchId, attempted: false, ok: false, error: '', nextRetryAt: now + retryDelayMs(this.o.retryPolicy, 1) };
      }
      const ok = c.outcome === 'ok';
      this.o.metrics.participantCalls.inc({ phase, outcome: ok ? 'ok' : 'failed' });
      this.o.metrics.observeParticipantCall({ participant: b.participant, phase, outcome: c.outcome, durationMs: c.durationMs });
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
        log.warn({ branch_id: b.branchId, phase, attempt: b.attempts + 1, grpc_code: c.grpcCode, err: c.error }, 'phase-two call failed; will retry');
      }
      return {
        branchId: b.branchId,
        attempted: true,
        ok,
        error: c.error,
        nextRetryAt: now + retryDelayMs(this.o.retryPolicy, b.attempts + 1),
      };
    });
    const [{ txn: after, becameStuck, finished }] = await this.o.committer.submit([
      { kind: 'phaseTwo', gid: txn.gid, now, node: this.o.node, results, logs, stuck: this.o.stuck },
    ] as const);
    if (after) {
      if (isFinal(after.status)) {
        // Counted by whoever finished it: a ResolveBranch during this round already did.
        if (finished) this.o.metrics.observeFinished(after);
        log.debug({ status: after.status }, 'transaction finished');
      } else if (after.dueAt !== null) {
        this.o.onRetryScheduled?.(after.dueAt);
      }
      if (becameStuck) this.o.onStuck?.(after, becameStuck);
      this.o.onRoundEnd?.(after);
    }
    return after;
  }

  /** One Confirm/Cancel; undefined when a recovery round could not get a slot for the target in time. */
  private async call(b: BranchRecord, phase: Phase, options: RoundOptions): Promise<CallResult | undefined> {
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
    if (!options.recovery) return this.o.caller.call(req);
    const release = await this.o.limiter.acquire(b.participant, options.recovery.claimedAt + this.o.branchTimeoutMs, () => this.o.clock.now());
    if (!release) return undefined;
    this.o.metrics.recoveryInFlight.inc();
    try {
      return await this.o.caller.call(req);
    } finally {
      this.o.metrics.recoveryInFlight.dec();
      release();
    }
  }
}
