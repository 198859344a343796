import type {
  BranchRecord,
  Decision,
  PhaseLogRecord,
  TransactionRecord,
  TransactionStatus,
  TryState,
} from '../engine/model';

/** A branch as registered by a Try or Execute, before its Try is sent. */
export interface NewBranch {
  branchId: string;
  participant: string;
  action: string;
  payload: Buffer;
}

/** Creates the transaction unless it exists; answers the row either way. */
export interface CreateCommand {
  kind: 'create';
  gid: string;
  now: number;
  deadlineAt: number;
}
export type CreateResult = { txn: TransactionRecord; created: boolean };

/**
 * Stores branches, all or none, while the transaction is TRYING, before its
 * deadline and within the branch limit. A branch_id stored before with the
 * same participant, action and payload is answered as it is (a retried Try).
 */
export interface RegisterCommand {
  kind: 'register';
  gid: string;
  now: number;
  branches: readonly NewBranch[];
  maxBranches: number;
}
export type RegisterResult =
  | { ok: true; txn: TransactionRecord; branches: BranchRecord[] }
  | { ok: false; why: 'not_found' }
  | { ok: false; why: 'not_trying' | 'expired' | 'too_many'; txn: TransactionRecord }
  | { ok: false; why: 'conflict'; txn: TransactionRecord; branchId: string };

/** Records a Try answer (state by `nextTryState`) and its log row. */
export interface TryOutcomeCommand {
  kind: 'tryOutcome';
  gid: string;
  branchId: string;
  state: TryState;
  error: string;
  now: number;
  log: PhaseLogRecord;
}
export type TryOutcomeResult = { tryState: TryState | null };

/**
 * Compare-and-set from TRYING (by `planDecision`): the first decision wins,
 * a later one answers `decided: false` with the row as it is. The winner's
 * claim on phase two lasts until `leaseUntil`.
 */
export interface DecideCommand {
  kind: 'decide';
  gid: string;
  decision: Decision;
  reason: string;
  now: number;
  node: string;
  leaseUntil: number;
}
export type DecideResult =
  | { found: false }
  | { found: true; decided: boolean; txn: TransactionRecord; branches: BranchRecord[] };

export interface PhaseTwoCallResult {
  branchId: string;
  ok: boolean;
  error: string;
  /** When to call again if not ok. */
  nextRetryAt: number;
}

/**
 * Records one round of phase-two calls: done branches, retry times of the
 * others, the log rows; finishes the transaction (CONFIRMED/CANCELLED) when
 * no branch is left pending, else releases the claim until the earliest retry.
 */
export interface PhaseTwoCommand {
  kind: 'phaseTwo';
  gid: string;
  now: number;
  results: readonly PhaseTwoCallResult[];
  logs: readonly PhaseLogRecord[];
}
export type PhaseTwoResult = { txn: TransactionRecord | null };

/**
 * Takes the right to work a due transaction: compare-and-set on due_at, which
 * moves to `leaseUntil`; whoever moved it owns the work until then.
 */
export interface ClaimCommand {
  kind: 'claim';
  gid: string;
  expectDueAt: number;
  owner: string;
  leaseUntil: number;
  now: number;
}
export type ClaimResult = { claimed: boolean };

/** Makes a decided transaction's pending branches due now (operator replay). */
export interface ExpediteCommand {
  kind: 'expedite';
  gid: string;
  now: number;
}
export type ExpediteResult = { txn: TransactionRecord | null };

export type StoreCommand =
  | CreateCommand
  | RegisterCommand
  | TryOutcomeCommand
  | DecideCommand
  | PhaseTwoCommand
  | ClaimCommand
  | ExpediteCommand;

interface ResultByKind {
  create: CreateResult;
  register: RegisterResult;
  tryOutcome: TryOutcomeResult;
  decide: DecideResult;
  phaseTwo: PhaseTwoResult;
  claim: ClaimResult;
  expedite: ExpediteResult;
}
export type ResultOf<C extends StoreCommand> = ResultByKind[C['kind']];
export type ResultsOf<T extends readonly StoreCommand[]> = { [K in keyof T]: T[K] extends StoreCommand ? ResultOf<T[K]> : never };

export interface ListFilter {
  statuses?: TransactionStatus[];
  stuckOnly?: boolean;
  /** Only transactions created at or before this time. */
  createdBefore?: number;
  participant?: string;
  /** Keyset cursor: gids strictly after this one. */
  afterGid?: string;
  limit: number;
}

export interface DueTransaction {
  gid: string;
  status: TransactionStatus;
  dueAt: number;
}

/**
 * Durable state of transactions, branches and tcc_logs. Writes go through
 * `execute`, which applies a batch of commands in ONE local database
 * transaction, in order, and resolves only once it is durable; concurrent
 * engine calls share batches (group commit, see GroupCommitter). A command
 * whose condition fails reports it in its result and never fails the batch.
 */
export interface TransactionStore {
  readonly dialect: 'sqlite' | 'mysql';
  execute<const T extends readonly StoreCommand[]>(commands: T): Promise<ResultsOf<T>>;
  getTransaction(gid: string): Promise<TransactionRecord | null>;
  getBranches(gid: string): Promise<BranchRecord[]>;
  getLogs(gid: string): Promise<PhaseLogRecord[]>;
  listTransactions(filter: ListFilter): Promise<TransactionRecord[]>;
  /** Transactions whose due_at has passed (deadline or retry), earliest first. */
  findDue(now: number, limit: number): Promise<DueTransaction[]>;
  /** Answers when the database does. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
