import type {
  BranchRecord,
  Decision,
  PhaseLogRecord,
  TransactionRecord,
  TransactionStatus,
  TryState,
} from '../domain/model';
import type { StuckThresholds } from '../domain/recovery-rules';

export type { StuckThresholds };

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
  /**
   * The gid was made by this coordinator for this call (never a client's):
   * no row holds it, so the store writes it without asking which rows were
   * new. A collision (about 2^-80) fails the write instead of answering
   * `created: false`. Default false.
   */
  fresh?: boolean;
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
  /** The winner's claim on phase two: stored as the owner (fencing token, see newClaimToken). */
  claimToken: string;
  leaseUntil: number;
  /** Who asked, when an operator did (Admin.Abort); recorded on the decision's log row. */
  operator?: string;
}
export type DecideResult =
  | { found: false }
  | { found: true; decided: boolean; txn: TransactionRecord; branches: BranchRecord[] };

export interface PhaseTwoCallResult {
  branchId: string;
  /** False when the call was not made this round (the participant's concurrency limit was full); no attempt is counted. */
  attempted: boolean;
  ok: boolean;
  error: string;
  /** When to call again if not ok. */
  nextRetryAt: number;
}

/**
 * Records one round of phase-two calls: done branches, retry times of the
 * others, the log rows; finishes the transaction (CONFIRMED/CANCELLED) when
 * no branch is left pending. Otherwise flags it stuck past the thresholds and,
 * when `claimToken` still holds the claim, releases it until the earliest
 * retry; a claim taken over by another worker (or another claim of the same
 * node) meanwhile is left to its holder.
 */
export interface PhaseTwoCommand {
  kind: 'phaseTwo';
  gid: string;
  now: number;
  node: string;
  /** The fencing token of the claim this round ran under. */
  claimToken: string;
  results: readonly PhaseTwoCallResult[];
  logs: readonly PhaseLogRecord[];
  stuck: StuckThresholds;
}
/** The pending branch that made a transaction stuck (most attempts), for the alert. */
export interface StuckBranch {
  branchId: string;
  participant: string;
  attempts: number;
  lastError: string;
}
export type PhaseTwoResult = {
  txn: TransactionRecord | null;
  /** Set when this round flagged the transaction stuck (it was not before). */
  becameStuck?: StuckBranch;
  /** This round's write finished the transaction (not a writer before it, e.g. an operator's ResolveBranch). */
  finished?: boolean;
};

/**
 * The fallback when a round's `phaseTwo` write failed: touches the
 * transaction row only (no branch rows, no log rows, so none of what that
 * write had to carry), so that a round whose write keeps failing still
 * advances: attempts + 1, last_error, the stuck flag (counting rounds, since
 * the branches' attempts are in the write that fails), and, when
 * `claimToken` still holds the claim, its release until `retryAt`.
 */
export interface RoundFailedCommand {
  kind: 'roundFailed';
  gid: string;
  now: number;
  claimToken: string;
  /** The round's call error, if a call failed; else why the write failed, in general terms. */
  error: string;
  retryAt: number;
  stuck: StuckThresholds;
}
export type RoundFailedResult = { txn: TransactionRecord | null; becameStuck: boolean };

/**
 * Takes the right to work a due transaction: compare-and-set on due_at, which
 * moves to `leaseUntil`; whoever moved it owns the work until then.
 */
export interface ClaimCommand {
  kind: 'claim';
  gid: string;
  expectDueAt: number;
  /** A fresh fencing token (newClaimToken), stored as the owner. */
  owner: string;
  leaseUntil: number;
  now: number;
  /** Also answer the claimed row and its branches (a phase-two round's input), read in the claim's batch. Default false. */
  withRows?: boolean;
}
/** With `withRows`, a won claim may carry the row and its branches as they were right after it; absent, the caller reads them. */
export type ClaimResult = { claimed: boolean; txn?: TransactionRecord; branches?: BranchRecord[] };

/**
 * An operator marks one pending branch done by hand (RESOLVED), with a reason,
 * recorded in tcc_logs; the transaction finishes when nothing is left pending.
 */
export interface ResolveCommand {
  kind: 'resolve';
  gid: string;
  branchId: string;
  reason: string;
  operator: string;
  now: number;
  node: string;
}
export type ResolveResult =
  | { found: false }
  | { found: true; resolved: true; txn: TransactionRecord }
  /** Already done, skipped or resolved: nothing changed. */
  | { found: true; resolved: false; why: 'already_done'; txn: TransactionRecord }
  | { found: true; resolved: false; why: 'no_branch' | 'not_in_phase_two'; txn: TransactionRecord };

/**
 * Makes a decided transaction's pending branches due now (operator replay).
 * When another worker holds a live claim, only the branches' retry times
 * move: its release makes the transaction due at once, and the claim is never
 * taken from under a worker that is running a round.
 */
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
  | RoundFailedCommand
  | ClaimCommand
  | ExpediteCommand
  | ResolveCommand;

interface ResultByKind {
  create: CreateResult;
  register: RegisterResult;
  tryOutcome: TryOutcomeResult;
  decide: DecideResult;
  phaseTwo: PhaseTwoResult;
  roundFailed: RoundFailedResult;
  claim: ClaimResult;
  expedite: ExpediteResult;
  resolve: ResolveResult;
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

/** Counts over the unfinished transactions (all replicas), for the metrics gauges. */
export interface InFlightStats {
  byStatus: Partial<Record<TransactionStatus, number>>;
  /** Unfinished and due (deadline or retry time passed, nobody's claim running). */
  due: number;
  /** Decided and claimed by a worker whose lease has not run out. */
  claimed: number;
  stuck: number;
  /** created_at of the oldest unfinished transaction; null when none. */
  oldestCreatedAt: number | null;
}

/** A decided transaction due for a phase-two round, with its pending branches per participant target. */
export interface DuePhaseTwo extends DueTransaction {
  /** Pending branches per target. */
  targets: Map<string, number>;
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
  /**
   * The timeline as GetTransaction shows it: every log row when there are at
   * most `maxRows`, else the earliest and the latest halves, with how many
   * were left out between them.
   */
  getTimeline(gid: string, maxRows: number): Promise<{ logs: PhaseLogRecord[]; omitted: number }>;
  listTransactions(filter: ListFilter): Promise<TransactionRecord[]>;
  /** TRYING transactions whose deadline (due_at) has passed, earliest first: deadline rollbacks, never behind phase-two work. */
  findExpired(now: number, limit: number): Promise<DueTransaction[]>;
  /**
   * Decided transactions whose due_at has passed, earliest first, except
   * those with a pending branch on one of `fullTargets` (whose calls could
   * not start now, so claiming them would only hold them up).
   */
  findDuePhaseTwo(now: number, limit: number, fullTargets: readonly string[]): Promise<DuePhaseTwo[]>;
  /**
   * Deletes up to `limit` finished (CONFIRMED/CANCELLED) transactions last
   * updated before `before`, with their branches and log rows, in one local
   * transaction; answers how many transactions it deleted.
   */
  purgeFinished(before: number, limit: number): Promise<number>;
  /**
   * Counts over unfinished transactions: one aggregate over the rows of the
   * unfinished statuses (through the status index), never the finished ones.
   */
  inFlightStats(now: number): Promise<InFlightStats>;

  /**
   * The database server's clock, epoch ms, read by one statement (MySQL); null
   * on SQLite, whose file one process owns: its system clock is the database's.
   */
  databaseTimeMs(): Promise<number | null>;
  /** Answers when the database does. */
  ping(): Promise<void>;
  /**
   * Statements the batches of `execute` have sent since the store opened,
   * transaction control (BEGIN/COMMIT) included: the statements-per-transaction
   * figure of the metrics and the benchmark.
   */
  statementCount(): number;
  /**
   * Queries those batches sent: on MySQL one round trip each, carrying one
   * statement or several (writes whose answer nobody reads go with the next
   * statement); on SQLite, statements run. Never more than {@link statementCount}.
   */
  queryCount(): number;
  /**
   * Syncs that made commits durable off the event loop (SQLite, see
   * SqliteWalSync: one fdatasync of the WAL each, serving every commit
   * written before it began); 0 where each COMMIT syncs itself (MySQL).
   */
  walSyncCount(): number;
  close(): Promise<void>;
}
