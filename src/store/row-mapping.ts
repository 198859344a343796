import type { BranchRecord, PhaseLogRecord, TransactionRecord } from '../domain/model';

/* Rows as the drivers return them: mysql2 gives BIGINT as number (ms fit in 2^53), booleans as 0/1. */
type Row = Record<string, unknown>;

export interface TransactionRow {
  gid: string;
  status: TransactionRecord['status'];
  reason: string;
  created_at: number;
  updated_at: number;
  deadline_at: number;
  attempts: number;
  due_at: number | null;
  owner: string | null;
  last_error: string;
  stuck: number | boolean;
  decided_at: number | null;
}

export interface BranchRow {
  gid: string;
  branch_id: string;
  seq: number;
  participant: string;
  action: string;
  payload: Buffer;
  try_state: BranchRecord['tryState'];
  try_attempts: number;
  phase_two: BranchRecord['phaseTwo'];
  attempts: number;
  next_retry_at: number | null;
  last_error: string;
  created_at: number;
  updated_at: number;
}

export interface LogRow {
  id: number;
  gid: string;
  branch_id: string;
  phase: string;
  attempt: number;
  outcome: string;
  grpc_code: number;
  error: string;
  started_at: number;
  duration_ms: number;
  node: string;
  operator: string;
  repeats: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export function toTransaction(r: TransactionRow | Row): TransactionRecord {
  return {
    gid: r.gid as string,
    status: r.status as TransactionRecord['status'],
    reason: (r.reason as string) ?? '',
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    deadlineAt: num(r.deadline_at),
    attempts: num(r.attempts),
    dueAt: optNum(r.due_at),
    owner: (r.owner as string | null) ?? null,
    lastError: (r.last_error as string) ?? '',
    stuck: Boolean(num(r.stuck)),
    decidedAt: optNum(r.decided_at),
  };
}

export function toBranch(r: BranchRow | Row): BranchRecord {
  return {
    gid: r.gid as string,
    branchId: r.branch_id as string,
    seq: num(r.seq),
    participant: r.participant as string,
    action: r.action as string,
    payload: Buffer.isBuffer(r.payload) ? r.payload : Buffer.from(r.payload as Uint8Array),
    tryState: r.try_state as BranchRecord['tryState'],
    tryAttempts: num(r.try_attempts),
    phaseTwo: r.phase_two as BranchRecord['phaseTwo'],
    attempts: num(r.attempts),
    nextRetryAt: optNum(r.next_retry_at),
    lastError: (r.last_error as string) ?? '',
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function toLog(r: LogRow | Row): PhaseLogRecord {
  return {
    id: num(r.id),
    gid: r.gid as string,
    branchId: (r.branch_id as string) ?? '',
    phase: r.phase as PhaseLogRecord['phase'],
    attempt: num(r.attempt),
    outcome: r.outcome as string,
    grpcCode: num(r.grpc_code),
    error: (r.error as string) ?? '',
    startedAt: num(r.started_at),
    durationMs: num(r.duration_ms),
    node: (r.node as string) ?? '',
    operator: (r.operator as string) ?? '',
    repeats: num(r.repeats ?? 0),
  };
}

export function logRow(l: PhaseLogRecord): Omit<LogRow, 'id' | 'repeats'> {
  return {
    gid: l.gid,
    branch_id: l.branchId,
    phase: l.phase,
    attempt: l.attempt,
    outcome: l.outcome,
    grpc_code: l.grpcCode,
    error: truncate(l.error, 1024),
    started_at: l.startedAt,
    duration_ms: Math.max(0, Math.round(l.durationMs)),
    node: l.node,
    operator: truncate(l.operator ?? '', 128),
  };
}

/** Error texts come from participants; keep them within the column. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}
