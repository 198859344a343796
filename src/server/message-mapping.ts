import type { Branch } from '../generated/tcc/v1/Branch';
import type { PhaseLog } from '../generated/tcc/v1/PhaseLog';
import type { Transaction } from '../generated/tcc/v1/Transaction';
import type { BranchRecord, PhaseLogRecord, TransactionRecord } from '../domain/model';
import type { TransactionView } from '../engine/transaction-engine';

const TRY_OUTCOME = { PENDING: 'TRY_PENDING', SUCCEEDED: 'TRY_SUCCEEDED', REFUSED: 'TRY_REFUSED', UNKNOWN: 'TRY_UNKNOWN' } as const;
const PHASE_TWO = {
  NOT_DUE: 'PHASE_TWO_NOT_DUE',
  PENDING: 'PHASE_TWO_PENDING',
  DONE: 'PHASE_TWO_DONE',
  SKIPPED: 'PHASE_TWO_SKIPPED',
  RESOLVED: 'PHASE_TWO_RESOLVED',
} as const;

export function toBranchMessage(b: BranchRecord): Branch {
  return {
    branch_id: b.branchId,
    participant: b.participant,
    action: b.action,
    try_outcome: TRY_OUTCOME[b.tryState],
    phase_two: PHASE_TWO[b.phaseTwo],
    attempts: b.attempts,
    next_retry_unix_ms: b.phaseTwo === 'PENDING' ? String(b.nextRetryAt ?? 0) : '0',
    last_error: b.lastError,
    created_unix_ms: String(b.createdAt),
    updated_unix_ms: String(b.updatedAt),
    payload_bytes: b.payload.length,
    try_attempts: b.tryAttempts,
  };
}

export function toLogMessage(l: PhaseLogRecord): PhaseLog {
  return {
    id: String(l.id ?? 0),
    branch_id: l.branchId,
    phase: l.phase,
    attempt: l.attempt,
    outcome: l.outcome,
    grpc_code: l.grpcCode,
    error: l.error,
    started_unix_ms: String(l.startedAt),
    duration_ms: l.durationMs,
    node: l.node,
    operator: l.operator ?? '',
    repeats: l.repeats ?? 0,
  };
}

/** next_retry_unix_ms is shown only for a decided, unfinished transaction (while TRYING due_at is the deadline). */
export function toTransactionMessage(t: TransactionRecord, branches: BranchRecord[] = [], logs: PhaseLogRecord[] = [], logsOmitted = 0): Transaction {
  const decided = t.status === 'CONFIRMING' || t.status === 'CANCELLING';
  return {
    gid: t.gid,
    status: t.status,
    reason: t.reason,
    created_unix_ms: String(t.createdAt),
    updated_unix_ms: String(t.updatedAt),
    deadline_unix_ms: String(t.deadlineAt),
    attempts: t.attempts,
    next_retry_unix_ms: decided && t.dueAt !== null ? String(t.dueAt) : '0',
    last_error: t.lastError,
    stuck: t.stuck,
    branches: branches.map(toBranchMessage),
    logs: logs.map(toLogMessage),
    decided_unix_ms: String(t.decidedAt ?? 0),
    owner: decided ? (t.owner ?? '') : '',
    logs_omitted: logsOmitted,
  };
}

export function toViewMessage(v: TransactionView): Transaction {
  return toTransactionMessage(v.txn, v.branches, v.logs, v.logsOmitted ?? 0);
}
