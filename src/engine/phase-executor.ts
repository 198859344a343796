import type { Logger } from 'pino';
import type { Clock } from './clock';
import type { BranchRecord, PhaseLogRecord, TransactionRecord } from './model';
import { isFinal, phaseOf } from './model';
import type { ParticipantCaller } from './participant-caller';
import { retryDelayMs, type RetryPolicy } from './retry-policy';
import type { GroupCommitter } from '../store/group-committer';
import type { TransactionStore } from '../store/transaction-store';

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
  /** Told the earliest time a retry is due, so the recovery loop wakes up for it. */
  onRetryScheduled?: (dueAt: number) => void;
  /** Told when a round ends (finished or not), so waiting callers can look again. */
  onRoundEnd?: (txn: TransactionRecord) => void;
}

/**
 * Runs one round of phase two for a decided transaction: Confirm (or Cancel)
 * on every pending branch in parallel, then one write with every outcome and
 * log row. Branches not done get their own backoff; the transaction finishes
 * in the same write that records its last branch done.
 */
export class PhaseExecutor {
  private readonly active = new Map<string, Promise<TransactionRecord | null>>();

  constructor(private readonly o: PhaseExecutorOptions) {}

  /** Runs a round unless this process is already running one for the gid (then joins it). */
  run(txn: TransactionRecord, branches?: BranchRecord[], traceparent?: string): Promise<TransactionRecord | null> {
    const running = this.active.get(txn.gid);
    if (running) return running;
    const p = this.round(txn, branches, traceparent).finally(() => this.active.delete(txn.gid));
    this.active.set(txn.gid, p);
    return p;
  }

  /** Rounds in progress, to drain on shutdown. */
  inFlight(): Promise<unknown>[] {
    return [...this.active.values()];
  }

  private async round(txn: TransactionRecord, known?: BranchRecord[], traceparent?: string): Promise<TransactionRecord | null> {
    const phase = phaseOf(txn.status);
    if (!phase) return txn;
    const branches = known ?? (await this.o.store.getBranches(txn.gid));
    const pending = branches.filter((b) => b.phaseTwo === 'PENDING');
    const log = this.o.logger.child({ gid: txn.gid });
    const calls = await Promise.all(
      pending.map((b) =>
        this.o.caller.call({
          target: b.participant,
          phase,
          gid: b.gid,
          branchId: b.branchId,
          action: b.action,
          payload: b.payload,
          timeoutMs: this.o.branchTimeoutMs,
          traceparent,
        }),
      ),
    );
    const now = this.o.clock.now();
    const logs: PhaseLogRecord[] = [];
    const results = pending.map((b, i) => {
      const c = calls[i];
      const ok = c.outcome === 'ok';
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
        ok,
        error: c.error,
        nextRetryAt: now + retryDelayMs(this.o.retryPolicy, b.attempts + 1),
      };
    });
    const [{ txn: after }] = await this.o.committer.submit([{ kind: 'phaseTwo', gid: txn.gid, now, results, logs }] as const);
    if (after) {
      if (isFinal(after.status)) log.debug({ status: after.status }, 'transaction finished');
      else if (after.dueAt !== null) this.o.onRetryScheduled?.(after.dueAt);
      this.o.onRoundEnd?.(after);
    }
    return after;
  }
}
