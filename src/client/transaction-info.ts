import type { Transaction__Output } from '../generated/tcc/v1/Transaction';
import type { Branch__Output } from '../generated/tcc/v1/Branch';
import type { PhaseLog__Output } from '../generated/tcc/v1/PhaseLog';

/** Lifecycle of a global transaction. CONFIRMING / CANCELLING: decided, phase two still running. */
export type TransactionStatus = 'TRYING' | 'CONFIRMING' | 'CONFIRMED' | 'CANCELLING' | 'CANCELLED';

/** What the participant's Try answered. */
export type TryOutcome = 'TRY_PENDING' | 'TRY_SUCCEEDED' | 'TRY_REFUSED' | 'TRY_UNKNOWN';

/** Where a branch is in phase two (Confirm or Cancel, by the transaction's decision). */
export type PhaseTwoState = 'PHASE_TWO_NOT_DUE' | 'PHASE_TWO_PENDING' | 'PHASE_TWO_DONE' | 'PHASE_TWO_SKIPPED' | 'PHASE_TWO_RESOLVED';

/** Times are Unix epoch milliseconds; 0 means "not set" (proto3 has no null). */
export interface BranchInfo {
  branchId: string;
  /** Participant gRPC target. */
  participant: string;
  action: string;
  tryOutcome: TryOutcome;
  phaseTwo: PhaseTwoState;
  /** Phase-two calls made so far. */
  attempts: number;
  /** 0 when no retry is scheduled. */
  nextRetryUnixMs: number;
  /** Empty when none. */
  lastError: string;
  createdUnixMs: number;
  updatedUnixMs: number;
  /** Size of the stored payload; the coordinator never returns the bytes themselves. */
  payloadBytes: number;
  /** Try calls sent (more than one when the Try was retried with the same branch id). */
  tryAttempts: number;
}

/** One entry of the transaction's phase log (a row of tcc_logs). */
export interface PhaseLogInfo {
  id: number;
  /** Empty for transaction-level entries (decisions). */
  branchId: string;
  /** `try` | `confirm` | `cancel` | `decision` | `resolve`. */
  phase: string;
  attempt: number;
  /** `ok` | `refused` | `unknown` | `failed` | `commit` | `rollback` | `resolved`. */
  outcome: string;
  grpcCode: number;
  error: string;
  startedUnixMs: number;
  durationMs: number;
  /** Coordinator process that wrote it. */
  node: string;
  /** Who asked, for operator actions (Abort, ResolveBranch); empty otherwise. */
  operator: string;
}

/** The coordinator's view of a global transaction (proto `tcc.v1.Transaction`, with numbers instead of int64 strings). */
export interface TransactionInfo {
  gid: string;
  status: TransactionStatus;
  /** Why it was rolled back, if it was; empty otherwise. */
  reason: string;
  createdUnixMs: number;
  updatedUnixMs: number;
  /** After this instant a still-TRYING transaction is rolled back. */
  deadlineUnixMs: number;
  attempts: number;
  /** 0 when no retry is scheduled. */
  nextRetryUnixMs: number;
  /** Empty when none. */
  lastError: string;
  /** Phase two keeps failing: needs an operator's look. */
  stuck: boolean;
  /** When it was decided (Commit, Rollback, the deadline or an operator); 0 while TRYING. */
  decidedUnixMs: number;
  /** Coordinator node holding the claim on its phase two; empty when none. */
  owner: string;
  branches: BranchInfo[];
  logs: PhaseLogInfo[];
}

const STATUSES: ReadonlySet<string> = new Set<TransactionStatus>(['TRYING', 'CONFIRMING', 'CONFIRMED', 'CANCELLING', 'CANCELLED']);
const TRY_OUTCOMES: ReadonlySet<string> = new Set<TryOutcome>(['TRY_PENDING', 'TRY_SUCCEEDED', 'TRY_REFUSED', 'TRY_UNKNOWN']);
const PHASE_TWO_STATES: ReadonlySet<string> = new Set<PhaseTwoState>([
  'PHASE_TWO_NOT_DUE',
  'PHASE_TWO_PENDING',
  'PHASE_TWO_DONE',
  'PHASE_TWO_SKIPPED',
  'PHASE_TWO_RESOLVED',
]);

/**
 * Thrown by the mappers on an answer the contract does not allow (e.g.
 * STATUS_UNSPECIFIED): better a loud failure than a status the caller's
 * `switch` silently misses. The client turns it into the call's error.
 */
export class MalformedResponseError extends Error {
  override readonly name = 'MalformedResponseError';
}

function oneOf<T extends string>(allowed: ReadonlySet<string>, value: unknown, field: string): T {
  if (typeof value === 'string' && allowed.has(value)) return value as T;
  throw new MalformedResponseError(`coordinator answered ${field} = ${String(value)}`);
}

/** int64 fields arrive as decimal strings; every one of them is a millisecond time or a counter, far below 2^53. */
export function int64ToNumber(value: string | number | null | undefined): number {
  if (value === undefined || value === null || value === '') return 0;
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

export function toBranchInfo(b: Branch__Output): BranchInfo {
  return {
    branchId: b.branch_id,
    participant: b.participant,
    action: b.action,
    tryOutcome: oneOf<TryOutcome>(TRY_OUTCOMES, b.try_outcome, 'branch.try_outcome'),
    phaseTwo: oneOf<PhaseTwoState>(PHASE_TWO_STATES, b.phase_two, 'branch.phase_two'),
    attempts: b.attempts ?? 0,
    nextRetryUnixMs: int64ToNumber(b.next_retry_unix_ms),
    lastError: b.last_error ?? '',
    createdUnixMs: int64ToNumber(b.created_unix_ms),
    updatedUnixMs: int64ToNumber(b.updated_unix_ms),
    payloadBytes: b.payload_bytes ?? 0,
    tryAttempts: b.try_attempts ?? 0,
  };
}

export function toPhaseLogInfo(l: PhaseLog__Output): PhaseLogInfo {
  return {
    id: int64ToNumber(l.id),
    branchId: l.branch_id ?? '',
    phase: l.phase ?? '',
    attempt: l.attempt ?? 0,
    outcome: l.outcome ?? '',
    grpcCode: l.grpc_code ?? 0,
    error: l.error ?? '',
    startedUnixMs: int64ToNumber(l.started_unix_ms),
    durationMs: l.duration_ms ?? 0,
    node: l.node ?? '',
    operator: l.operator ?? '',
  };
}

/** Maps a decoded `tcc.v1.Transaction`; throws {@link MalformedResponseError} on an enum value outside the contract. */
export function toTransactionInfo(t: Transaction__Output): TransactionInfo {
  return {
    gid: t.gid,
    status: oneOf<TransactionStatus>(STATUSES, t.status, 'status'),
    reason: t.reason ?? '',
    createdUnixMs: int64ToNumber(t.created_unix_ms),
    updatedUnixMs: int64ToNumber(t.updated_unix_ms),
    deadlineUnixMs: int64ToNumber(t.deadline_unix_ms),
    attempts: t.attempts ?? 0,
    nextRetryUnixMs: int64ToNumber(t.next_retry_unix_ms),
    lastError: t.last_error ?? '',
    stuck: t.stuck ?? false,
    decidedUnixMs: int64ToNumber(t.decided_unix_ms),
    owner: t.owner ?? '',
    branches: (t.branches ?? []).map(toBranchInfo),
    logs: (t.logs ?? []).map(toPhaseLogInfo),
  };
}

/** Decided to roll back: no Confirm will be sent. */
export function isRolledBack(status: TransactionStatus): boolean {
  return status === 'CANCELLING' || status === 'CANCELLED';
}

/** Decided to commit: every branch will be confirmed. */
export function isCommitted(status: TransactionStatus): boolean {
  return status === 'CONFIRMING' || status === 'CONFIRMED';
}
