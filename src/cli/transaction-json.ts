/**
 * The Admin API's messages as plain objects with numbers where the wire has
 * int64 (decoded as decimal strings): what `tccctl --json` prints and what
 * the human formats read. Field names stay those of the proto, so the JSON
 * matches what grpcurl shows for the same call.
 */
import type { Branch__Output } from '../generated/tcc/v1/Branch';
import type { PhaseLog__Output } from '../generated/tcc/v1/PhaseLog';
import type { Transaction__Output } from '../generated/tcc/v1/Transaction';

export interface BranchJson {
  branch_id: string;
  participant: string;
  action: string;
  try_outcome: string;
  phase_two: string;
  attempts: number;
  next_retry_unix_ms: number;
  last_error: string;
  created_unix_ms: number;
  updated_unix_ms: number;
  payload_bytes: number;
  try_attempts: number;
}

export interface PhaseLogJson {
  id: number;
  branch_id: string;
  phase: string;
  attempt: number;
  outcome: string;
  grpc_code: number;
  error: string;
  started_unix_ms: number;
  duration_ms: number;
  node: string;
  operator: string;
  /** Further failed attempts folded into this row (it shows the latest). */
  repeats: number;
}

export interface TransactionJson {
  gid: string;
  status: string;
  reason: string;
  created_unix_ms: number;
  updated_unix_ms: number;
  deadline_unix_ms: number;
  decided_unix_ms: number;
  attempts: number;
  next_retry_unix_ms: number;
  last_error: string;
  stuck: boolean;
  owner: string;
  /** Absent in list results, which the coordinator sends without branches. */
  branches?: BranchJson[];
  /** Absent in list results, which the coordinator sends without logs. */
  logs?: PhaseLogJson[];
}

/** Every int64 of this API is a millisecond time, a duration or a row id: far below 2^53, so a number is exact. */
export function int64(value: string | number | null | undefined): number {
  if (value === undefined || value === null || value === '') return 0;
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

export function toBranchJson(b: Branch__Output): BranchJson {
  return {
    branch_id: b.branch_id,
    participant: b.participant,
    action: b.action,
    try_outcome: String(b.try_outcome),
    phase_two: String(b.phase_two),
    attempts: b.attempts,
    next_retry_unix_ms: int64(b.next_retry_unix_ms),
    last_error: b.last_error,
    created_unix_ms: int64(b.created_unix_ms),
    updated_unix_ms: int64(b.updated_unix_ms),
    payload_bytes: b.payload_bytes,
    try_attempts: b.try_attempts,
  };
}

export function toPhaseLogJson(l: PhaseLog__Output): PhaseLogJson {
  return {
    id: int64(l.id),
    branch_id: l.branch_id,
    phase: l.phase,
    attempt: l.attempt,
    outcome: l.outcome,
    grpc_code: l.grpc_code,
    error: l.error,
    started_unix_ms: int64(l.started_unix_ms),
    duration_ms: l.duration_ms,
    node: l.node,
    operator: l.operator,
    repeats: l.repeats ?? 0,
  };
}

/**
 * @param detailed include branches and logs (GetTransaction and the
 *   operations answer with them; ListTransactions never does)
 */
export function toTransactionJson(t: Transaction__Output, detailed = true): TransactionJson {
  const json: TransactionJson = {
    gid: t.gid,
    status: String(t.status),
    reason: t.reason,
    created_unix_ms: int64(t.created_unix_ms),
    updated_unix_ms: int64(t.updated_unix_ms),
    deadline_unix_ms: int64(t.deadline_unix_ms),
    decided_unix_ms: int64(t.decided_unix_ms),
    attempts: t.attempts,
    next_retry_unix_ms: int64(t.next_retry_unix_ms),
    last_error: t.last_error,
    stuck: t.stuck,
    owner: t.owner,
  };
  if (detailed) {
    json.branches = (t.branches ?? []).map(toBranchJson);
    json.logs = (t.logs ?? []).map(toPhaseLogJson);
  }
  return json;
}
