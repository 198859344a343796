import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { BranchRecord, PhaseLogRecord, TransactionRecord, TransactionStatus } from '../domain/model';
import { isStuck, releaseDueAt } from '../domain/recovery-rules';
import { finalStatusOf, nextTryState, planDecision } from '../domain/state-machine';
import { IsolationLevelError } from './isolation-level-error';
import { chunkIds, insertChunked, MYSQL_DEFAULT_LIMITS, SQLITE_LIMITS, type StatementLimits } from './chunked-insert';
import { withTimedConnection } from './timed-connection';
import { SetBatchWriter } from './set-batch-writer';
import { createSqlRunner, type SqlRunner } from './sql-runner';
import { asStoreError, DatabaseUnavailableError } from './store-errors';
import type { SqliteFileGuard } from './sqlite-file-guard';
import { IDENTITY_TABLE } from './sqlite-identity';
import type { SqliteWalSync } from './sqlite-wal-sync';
import { logRow, toBranch, toLog, toTransaction, truncate, type BranchRow, type LogRow, type TransactionRow } from './row-mapping';
import type {
  ClaimCommand,
  ClaimResult,
  CreateCommand,
  CreateResult,
  DecideCommand,
  DecideResult,
  DuePhaseTwo,
  DueTransaction,
  InFlightStats,
  ExpediteCommand,
  ExpediteResult,
  ListFilter,
  PhaseTwoCommand,
  PhaseTwoResult,
  RegisterCommand,
  ResolveCommand,
  ResolveResult,
  RegisterResult,
  ResultsOf,
  RoundFailedCommand,
  RoundFailedResult,
  StoreCommand,
  TransactionStore,
  TryOutcomeCommand,
  TryOutcomeResult,
} from './transaction-store';

const TX = 'tcc_transactions';
const BR = 'tcc_branches';
const LOGS = 'tcc_logs';
const PROBE = 'tcc_isolation_probe';
const LOG_COLUMNS = ['gid', 'branch_id', 'phase', 'attempt', 'outcome', 'grpc_code', 'error', 'started_at', 'duration_ms', 'node', 'operator'] as const;

/** `runner`, telling `count` of every statement. */
function counted(runner: SqlRunner, count: () => void): SqlRunner {
  return {
    all: (sql, params) => {
      count();
      return runner.all(sql, params);
    },
    run: (sql, params) => {
      count();
      return runner.run(sql, params);
    },
    defer: (sql, params) => {
      count();
      return runner.defer(sql, params);
    },
    deferCount: (sql, params) => {
      count();
      return runner.deferCount(sql, params);
    },
    allEach: (statements) => {
      for (let i = 0; i < statements.length; i++) count();
      return runner.allEach(statements);
    },
    flush: () => runner.flush(),
    discard: () => runner.discard(),
  };
}

/**
 * knex builders that run on `connection` (inside the transaction open on it)
 * instead of a pooled one, typed as the transaction the per-command methods
 * take: they only build queries from it (`db(table)…`, `db.raw` as a value).
 */
function onConnection(knex: Knex, connection: unknown, count: () => void): Knex.Transaction {
  const db = ((table: string) => knex(table).connection(connection).on('query', count)) as unknown as Knex.Transaction;
  return Object.assign(db, { raw: knex.raw.bind(knex) });
}

/** Options of {@link SqlTransactionStore}. */
export interface SqlTransactionStoreOptions {
  /** Size bounds of one multi-row statement. Default {@link SQLITE_LIMITS} or {@link MYSQL_DEFAULT_LIMITS} by dialect. */
  statementLimits?: StatementLimits;
  /** Longest one call (a batch transaction, a read) may take, connection wait included; then its connection is closed. Default 30 000 ms. */
  callTimeoutMs?: number;
  /**
   * Failed attempts of one branch in one phase that keep a log row each;
   * later ones are folded into one counted row (tcc_logs.repeats), so a
   * stuck transaction's timeline stays bounded. Default 5.
   */
  keptFailedAttempts?: number;
  /** SQLite: checks that the database file is still the one opened, before and after every call. Default: none. */
  fileGuard?: SqliteFileGuard;
  /**
   * SQLite with `synchronous = NORMAL`: what makes commits durable. Every
   * store call waits for it before answering: a write for its own commit, a
   * read for any commit it may have seen. Default: none (commits sync themselves).
   */
  walSync?: SqliteWalSync;
}

/**
 * TransactionStore over knex, for SQLite and MySQL/MariaDB. Serialization:
 * every command that reads-then-writes a transaction first locks its row
 * (SELECT … FOR UPDATE on MySQL, in a transaction that itself asks for READ
 * COMMITTED so the reads after the lock see the latest commits; on SQLite the
 * single writer connection serializes everything), and every state change is
 * also a conditional UPDATE, so a lost race changes nothing.
 */
export class SqlTransactionStore implements TransactionStore {
  private readonly limits: StatementLimits;
  private readonly timeoutMs: number;
  private readonly keptFailedAttempts: number;
  private readonly guard: SqliteFileGuard | undefined;
  private readonly walSync: SqliteWalSync | undefined;
  private statements = 0;
  private queries = 0;
  /** Set while store transactions fail with the storage unavailable; cleared by the next one that commits. */
  private writeFailure: DatabaseUnavailableError | undefined;

  constructor(
    /** Also used by SqlTransactionOwners, on the same connections. */
    readonly knex: Knex,
    readonly dialect: 'sqlite' | 'mysql',
    options: SqlTransactionStoreOptions = {},
  ) {
    this.limits = options.statementLimits ?? (dialect === 'sqlite' ? SQLITE_LIMITS : MYSQL_DEFAULT_LIMITS);
    this.timeoutMs = options.callTimeoutMs ?? 30_000;
    this.keptFailedAttempts = options.keptFailedAttempts ?? 5;
    this.guard = options.fileGuard;
    this.walSync = options.walSync;
  }

  /** One read statement on a connection of its own, within the call timeout. */
  private async read<T>(q: Knex.QueryBuilder | Knex.Raw): Promise<T> {
    let rows: T;
    try {
      rows = await withTimedConnection(this.knex, this.timeoutMs, (conn) => Promise.resolve(q.connection(conn) as unknown as Promise<T>));
      // It may have read a commit not yet on disk: not an answer to act on before it is.
      if (this.walSync) await this.walSync.durable();
    } catch (err) {
      throw asStoreError(err);
    }
    // Read from a file nobody will open again: not an answer to act on (recovery stops here).
    this.guard?.check();
    return rows;
  }

  /**
   * Every store transaction goes through here. On MySQL it states READ
   * COMMITTED itself (knex sends `SET TRANSACTION ISOLATION LEVEL read
   * committed` right before its BEGIN) rather than relying on a session
   * setting a pooler, a proxy or a caller's own knex may not carry: under the
   * server default REPEATABLE READ a decision's branch list comes from a
   * snapshot older than its row lock and misses a branch registered meanwhile.
   * SQLite has one writer and ignores levels (knex warns if given one).
   */
  private transaction<R>(fn: (trx: Knex.Transaction) => Promise<R>): Promise<R> {
    // On a connection of its own, within the call timeout (see withTimedConnection).
    return this.committed(
      withTimedConnection(this.knex, this.timeoutMs, (connection) =>
        this.wrote(
          this.dialect === 'mysql'
            ? this.knex.transaction(fn, { connection, isolationLevel: 'read committed' })
            : this.knex.transaction(fn, { connection }),
        ),
      ),
    );
  }

  /**
   * `work`, a transaction on a connection still held: once it ends (a failed
   * COMMIT may have written too) the WAL sync is told, before the connection
   * goes back to the pool. Told later, a read on the released connection
   * could see the commit and find no sync to wait for.
   */
  private async wrote<R>(work: Promise<R>): Promise<R> {
    try {
      return await work;
    } finally {
      this.walSync?.noteWrite();
    }
  }

  /** A store transaction's outcome: storage failures noted (and cleared by the next commit), the SQLite file checked. */
  private async committed<R>(work: Promise<R>): Promise<R> {
    let result: R;
    try {
      result = await work;
      // Nothing is answered before the disk has it (the write was noted while its connection was held).
      // (MySQL has no WAL sync: no extra turn of the event loop on its path.)
      if (this.walSync) await this.walSync.durable();
    } catch (err) {
      const e = asStoreError(err);
      if (e instanceof DatabaseUnavailableError) this.writeFailure = e;
      throw e;
    }
    this.writeFailure = undefined;
    // Committed, but to the file still at the path? Only then may the caller be told it is durable.
    this.guard?.check();
    return result;
  }

  statementCount(): number {
    return this.statements;
  }

  queryCount(): number {
    return this.queries;
  }

  walSyncCount(): number {
    return this.walSync?.syncCount() ?? 0;
  }

  async execute<const T extends readonly StoreCommand[]>(commands: T): Promise<ResultsOf<T>> {
    return this.batchTransaction(async (runner, trx) => {
      const logs: PhaseLogRecord[] = [];
      const writer = new SetBatchWriter(commands, logs, {
        dialect: this.dialect,
        limits: this.limits,
        runner,
        // knex builders use the connection directly: what the runner holds back goes first.
        applyOne: async (cmd, l) => {
          await runner.flush();
          return this.apply(trx, cmd, l);
        },
      });
      const results = await writer.run();
      // The whole batch's log rows in as few multi-row inserts as the backend allows;
      // repeated failed attempts after that, folded into their counted row.
      const folded = logs.filter((l) => this.folds(l));
      const own = folded.length ? logs.filter((l) => !this.folds(l)) : logs;
      if (own.length) await writer.insert(LOGS, LOG_COLUMNS, own.map(logRow), false);
      if (folded.length) await runner.flush();
      for (const l of folded) await this.foldLog(trx, l);
      return results as ResultsOf<T>;
    });
  }

  /**
   * A group-commit batch's transaction, opened and ended by plain statements
   * on the driver's connection (knex's transaction object costs more CPU than
   * the batch's own statements): READ COMMITTED stated on MySQL as in
   * {@link transaction}. `trx` runs knex builders on the same connection, for
   * the per-command path.
   */
  private batchTransaction<R>(fn: (runner: SqlRunner, trx: Knex.Transaction) => Promise<R>): Promise<R> {
    return this.committed(
      withTimedConnection(this.knex, this.timeoutMs, async (connection) => {
        // Whoever watches knex's query-response event (what the store reads) sees these statements too.
        const runner = counted(
          createSqlRunner(this.dialect, connection, {
            onRows: this.knex.listenerCount('query-response') ? (rows, sql) => this.knex.emit('query-response', rows, { sql }, undefined) : undefined,
            maxQueryBytes: 2 * this.limits.maxBytes,
            onQuery: () => this.queries++,
          }),
          () => this.statements++,
        );
        // On MySQL these go with the batch's first statement, and its last writes with
        // COMMIT: one round trip each instead of one per statement.
        if (this.dialect === 'mysql') await runner.defer('SET TRANSACTION ISOLATION LEVEL READ COMMITTED', []);
        await runner.defer(this.dialect === 'mysql' ? 'START TRANSACTION' : 'BEGIN', []);
        return this.wrote(this.commitOrRollBack(runner, connection, fn));
      }),
    );
  }

  /** `fn`'s statements then COMMIT; ROLLBACK (what still waits dropped) if anything failed. */
  private async commitOrRollBack<R>(runner: SqlRunner, connection: unknown, fn: (runner: SqlRunner, trx: Knex.Transaction) => Promise<R>): Promise<R> {
    try {
      const r = await fn(runner, onConnection(this.knex, connection, () => this.statements++));
      await runner.run('COMMIT', []);
      return r;
    } catch (err) {
      runner.discard();
      await runner.run('ROLLBACK', []).catch((rollbackErr: unknown) => {
        // A MySQL connection that cannot roll back is not given out again (knex's pool drops it).
        if (this.dialect === 'mysql') (connection as { __knex__disposed?: unknown }).__knex__disposed = rollbackErr;
      });
      throw err;
    }
  }

  /** A failed call past the attempts that keep a row each. */
  private folds(l: PhaseLogRecord): boolean {
    return l.branchId !== '' && (l.phase === 'try' || l.phase === 'confirm' || l.phase === 'cancel') && l.outcome !== 'ok' && l.attempt > this.keptFailedAttempts;
  }

  /** Adds a failed attempt to the branch's counted row for the phase (shows the latest attempt), or starts that row. */
  private async foldLog(trx: Knex.Transaction, l: PhaseLogRecord): Promise<void> {
    const row = logRow(l);
    const n = await trx<LogRow>(LOGS)
      .where({ gid: l.gid, branch_id: l.branchId, phase: l.phase })
      .where('attempt', '>', this.keptFailedAttempts)
      .whereNot('outcome', 'ok')
      .update({
        repeats: trx.raw('repeats + 1'),
        attempt: row.attempt,
        outcome: row.outcome,
        grpc_code: row.grpc_code,
        error: row.error,
        started_at: row.started_at,
        duration_ms: row.duration_ms,
        node: row.node,
      } as Record<string, unknown>);
    if (n === 0) await trx<LogRow>(LOGS).insert(row);
  }

  private apply(trx: Knex.Transaction, cmd: StoreCommand, logs: PhaseLogRecord[]): Promise<unknown> {
    switch (cmd.kind) {
      case 'create':
        return this.create(trx, cmd);
      case 'register':
        return this.register(trx, cmd);
      case 'tryOutcome':
        return this.tryOutcome(trx, cmd, logs);
      case 'decide':
        return this.decide(trx, cmd, logs);
      case 'phaseTwo':
        return this.phaseTwo(trx, cmd, logs);
      case 'roundFailed':
        return this.roundFailed(trx, cmd);
      case 'claim':
        return this.claim(trx, cmd);
      case 'expedite':
        return this.expedite(trx, cmd);
      case 'resolve':
        return this.resolve(trx, cmd, logs);
    }
  }

  private async lockTransaction(trx: Knex.Transaction, gid: string): Promise<TransactionRecord | null> {
    const q = trx<TransactionRow>(TX).where({ gid }).first();
    if (this.dialect === 'mysql') q.forUpdate();
    const row = await q;
    return row ? toTransaction(row) : null;
  }

  private async branchesOf(trx: Knex.Transaction | Knex, gid: string): Promise<BranchRecord[]> {
    const rows = await trx<BranchRow>(BR).where({ gid }).orderBy('seq');
    return rows.map(toBranch);
  }

  private async create(trx: Knex.Transaction, c: CreateCommand): Promise<CreateResult> {
    const existing = await this.lockTransaction(trx, c.gid);
    if (existing) return { txn: existing, created: false };
    const row: TransactionRow = {
      gid: c.gid,
      status: 'TRYING',
      reason: '',
      created_at: c.now,
      updated_at: c.now,
      deadline_at: c.deadlineAt,
      attempts: 0,
      // The deadline is when recovery must act on a TRYING transaction.
      due_at: c.deadlineAt,
      owner: null,
      last_error: '',
      stuck: false,
      decided_at: null,
    };
    // Two Begins with the same client gid may race past the SELECT: ignore the loser's insert.
    await trx<TransactionRow>(TX).insert(row).onConflict('gid').ignore();
    const now = await this.lockTransaction(trx, c.gid);
    if (!now) throw new Error(`transaction ${c.gid} vanished after insert`);
    return { txn: now, created: now.createdAt === c.now && now.status === 'TRYING' };
  }

  private async register(trx: Knex.Transaction, c: RegisterCommand): Promise<RegisterResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { ok: false, why: 'not_found' };
    if (txn.status !== 'TRYING') return { ok: false, why: 'not_trying', txn };
    if (c.now >= txn.deadlineAt) return { ok: false, why: 'expired', txn };
    // Only what the comparison needs: the rows of the requested ids (a Try
    // into a transaction of n branches must not read n payloads), and the
    // count and highest seq for the limit and the order.
    const requested = [...new Set(c.branches.map((b) => b.branchId))];
    const existing = requested.length
      ? (await trx<BranchRow>(BR).where({ gid: c.gid }).whereIn('branch_id', requested)).map(toBranch)
      : [];
    const sizes = (await trx(BR).where({ gid: c.gid }).count({ n: '*' }).max({ m: 'seq' }).first()) as
      | { n: number | string; m: number | string | null }
      | undefined;
    const stored = Number(sizes?.n ?? 0);
    const byId = new Map(existing.map((b) => [b.branchId, b]));
    const out: BranchRecord[] = [];
    const retried: string[] = [];
    const rows: Record<string, unknown>[] = [];
    let seq = Number(sizes?.m ?? 0);
    for (const nb of c.branches) {
      const old = byId.get(nb.branchId);
      if (old) {
        if (old.participant !== nb.participant || old.action !== nb.action || !old.payload.equals(nb.payload)) {
          return { ok: false, why: 'conflict', txn, branchId: nb.branchId };
        }
        // A refused branch is answered without a new call; any other is about to get its Try again.
        if (old.tryState !== 'REFUSED') retried.push(old.branchId);
        out.push(old.tryState === 'REFUSED' ? old : { ...old, tryAttempts: old.tryAttempts + 1 });
        continue;
      }
      seq++;
      const rec: BranchRecord = {
        gid: c.gid,
        branchId: nb.branchId,
        seq,
        participant: nb.participant,
        action: nb.action,
        payload: nb.payload,
        tryState: 'PENDING',
        tryAttempts: 1,
        phaseTwo: 'NOT_DUE',
        attempts: 0,
        nextRetryAt: null,
        lastError: '',
        createdAt: c.now,
        updatedAt: c.now,
      };
      byId.set(nb.branchId, rec);
      out.push(rec);
      rows.push({
        gid: c.gid,
        branch_id: rec.branchId,
        seq,
        participant: rec.participant,
        action: rec.action,
        payload: rec.payload,
        try_state: rec.tryState,
        try_attempts: 1,
        phase_two: rec.phaseTwo,
        attempts: 0,
        next_retry_at: null,
        last_error: '',
        created_at: c.now,
        updated_at: c.now,
      });
    }
    if (stored + rows.length > c.maxBranches) return { ok: false, why: 'too_many', txn };
    if (rows.length) await insertChunked(trx, BR, rows, this.limits);
    for (const ids of chunkIds(retried, this.limits)) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid })
        .whereIn('branch_id', ids)
        .update({ try_attempts: trx.raw('try_attempts + 1'), updated_at: c.now });
    }
    if (rows.length || retried.length) await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ updated_at: c.now });
    return { ok: true, txn, branches: out };
  }

  private async tryOutcome(trx: Knex.Transaction, c: TryOutcomeCommand, logs: PhaseLogRecord[]): Promise<TryOutcomeResult> {
    logs.push(c.log);
    const row = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('try_state');
    if (!row) return { tryState: null };
    const next = nextTryState(row.try_state, c.state);
    if (next === null) return { tryState: row.try_state };
    // Conditional on the state read: a concurrent answer to a retried Try cannot be overwritten.
    const n = await trx<BranchRow>(BR)
      .where({ gid: c.gid, branch_id: c.branchId, try_state: row.try_state })
      .update({ try_state: next, last_error: truncate(c.error, 1024), updated_at: c.now });
    if (n === 0) {
      const again = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('try_state');
      return { tryState: again?.try_state ?? null };
    }
    return { tryState: next };
  }

  private async decide(trx: Knex.Transaction, c: DecideCommand, logs: PhaseLogRecord[]): Promise<DecideResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { found: false };
    const branches = await this.branchesOf(trx, c.gid);
    const plan = planDecision(txn, branches, c.decision, c.reason, c.now);
    if (!plan) return { found: true, decided: false, txn, branches };
    const finished = plan.status === 'CONFIRMED' || plan.status === 'CANCELLED';
    const n = await trx<TransactionRow>(TX)
      .where({ gid: c.gid, status: 'TRYING' })
      .update({
        status: plan.status,
        reason: truncate(plan.reason, 1024),
        updated_at: c.now,
        due_at: finished ? null : c.leaseUntil,
        owner: finished ? null : c.claimToken,
        decided_at: c.now,
      });
    if (n === 0) {
      const current = await this.lockTransaction(trx, c.gid);
      return { found: true, decided: false, txn: current ?? txn, branches };
    }
    for (const state of ['PENDING', 'SKIPPED'] as const) {
      const ids = branches.filter((b) => plan.branchPhaseTwo.get(b.branchId) === state).map((b) => b.branchId);
      for (const part of chunkIds(ids, this.limits)) {
        await trx<BranchRow>(BR).where({ gid: c.gid }).whereIn('branch_id', part).update({ phase_two: state, updated_at: c.now });
      }
    }
    logs.push({
      gid: c.gid,
      branchId: '',
      phase: 'decision',
      attempt: 0,
      outcome: plan.decision,
      grpcCode: 0,
      error: plan.reason,
      startedAt: c.now,
      durationMs: 0,
      node: c.node,
      operator: c.operator,
    });
    const decided: TransactionRecord = {
      ...txn,
      status: plan.status,
      reason: plan.reason,
      updatedAt: c.now,
      dueAt: finished ? null : c.leaseUntil,
      owner: finished ? null : c.claimToken,
      decidedAt: c.now,
    };
    return {
      found: true,
      decided: true,
      txn: decided,
      branches: branches.map((b) => ({ ...b, phaseTwo: plan.branchPhaseTwo.get(b.branchId) ?? b.phaseTwo })),
    };
  }

  private async phaseTwo(trx: Knex.Transaction, c: PhaseTwoCommand, logs: PhaseLogRecord[]): Promise<PhaseTwoResult> {
    logs.push(...c.logs);
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { txn: null };
    if (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING') return { txn };
    const done = c.results.filter((r) => r.ok).map((r) => r.branchId);
    for (const part of chunkIds(done, this.limits)) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid, phase_two: 'PENDING' })
        .whereIn('branch_id', part)
        .update({ phase_two: 'DONE', attempts: trx.raw('attempts + 1'), next_retry_at: null, last_error: '', updated_at: c.now });
    }
    for (const r of c.results.filter((x) => !x.ok)) {
      await trx<BranchRow>(BR)
        .where({ gid: c.gid, branch_id: r.branchId, phase_two: 'PENDING' })
        .update(
          r.attempted
            ? { attempts: trx.raw('attempts + 1'), next_retry_at: r.nextRetryAt, last_error: truncate(r.error, 1024), updated_at: c.now }
            : { next_retry_at: r.nextRetryAt, updated_at: c.now },
        );
    }
    const pending = await trx<BranchRow>(BR)
      .where({ gid: c.gid, phase_two: 'PENDING' })
      .orderBy('seq')
      .select('branch_id', 'participant', 'attempts', 'next_retry_at', 'last_error');
    if (pending.length === 0) return { txn: await this.finish(trx, txn, c.now), finished: true };

    const lastError = c.results.find((r) => r.attempted && !r.ok)?.error ?? String(pending[0].last_error ?? '');
    const worst = pending.reduce((a, b) => (Number(b.attempts) > Number(a.attempts) ? b : a));
    const stuck = isStuck(txn, pending.map((p) => ({ attempts: Number(p.attempts) })), c.stuck, c.now);
    const update: Record<string, unknown> = {
      last_error: truncate(lastError, 1024),
      attempts: txn.attempts + 1,
      stuck,
      updated_at: c.now,
    };
    // Fencing: only the holder of this very claim releases it. If the claim
    // expired and another worker (or a restarted process with the same node
    // name) took it meanwhile, moving due_at would cut that worker's lease
    // short and let a third one in.
    if (txn.owner === c.claimToken) {
      update.due_at = releaseDueAt(pending.map((p) => (p.next_retry_at === null ? null : Number(p.next_retry_at))), c.now);
      update.owner = null;
    }
    await trx<TransactionRow>(TX).where({ gid: c.gid, status: txn.status }).update(update);
    const after = await trx<TransactionRow>(TX).where({ gid: c.gid }).first();
    return {
      txn: after ? toTransaction(after) : null,
      becameStuck:
        stuck && !txn.stuck
          ? { branchId: worst.branch_id, participant: worst.participant, attempts: Number(worst.attempts), lastError: String(worst.last_error ?? '') }
          : undefined,
    };
  }

  private async roundFailed(trx: Knex.Transaction, c: RoundFailedCommand): Promise<RoundFailedResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn || (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING')) return { txn, becameStuck: false };
    const attempts = txn.attempts + 1;
    const stuck = isStuck(txn, [{ attempts }], c.stuck, c.now);
    const update: Record<string, unknown> = { attempts, last_error: truncate(c.error, 1024), stuck, updated_at: c.now };
    // Fencing as in phaseTwo: only the holder of this claim releases it.
    if (txn.owner === c.claimToken) {
      update.due_at = c.retryAt;
      update.owner = null;
    }
    await trx<TransactionRow>(TX).where({ gid: c.gid, status: txn.status }).update(update);
    const after = await trx<TransactionRow>(TX).where({ gid: c.gid }).first();
    return { txn: after ? toTransaction(after) : null, becameStuck: stuck && !txn.stuck };
  }

  /** CONFIRMING → CONFIRMED, CANCELLING → CANCELLED, once no branch is pending; the claim and the stuck flag go with it. */
  private async finish(trx: Knex.Transaction, txn: TransactionRecord, now: number): Promise<TransactionRecord> {
    const update = {
      status: finalStatusOf(txn.status),
      due_at: null,
      owner: null,
      last_error: '',
      stuck: false,
      attempts: txn.attempts + 1,
      updated_at: now,
    };
    await trx<TransactionRow>(TX).where({ gid: txn.gid, status: txn.status }).update(update);
    return { ...txn, status: update.status, dueAt: null, owner: null, lastError: '', stuck: false, attempts: update.attempts, updatedAt: now };
  }

  private async resolve(trx: Knex.Transaction, c: ResolveCommand, logs: PhaseLogRecord[]): Promise<ResolveResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { found: false };
    const branch = await trx<BranchRow>(BR).where({ gid: c.gid, branch_id: c.branchId }).first('phase_two');
    if (!branch) return { found: true, resolved: false, why: 'no_branch', txn };
    if (branch.phase_two === 'DONE' || branch.phase_two === 'SKIPPED' || branch.phase_two === 'RESOLVED') {
      return { found: true, resolved: false, why: 'already_done', txn };
    }
    if (branch.phase_two !== 'PENDING' || (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING')) {
      return { found: true, resolved: false, why: 'not_in_phase_two', txn };
    }
    await trx<BranchRow>(BR)
      .where({ gid: c.gid, branch_id: c.branchId, phase_two: 'PENDING' })
      .update({ phase_two: 'RESOLVED', next_retry_at: null, updated_at: c.now });
    logs.push({
      gid: c.gid,
      branchId: c.branchId,
      phase: 'resolve',
      attempt: 0,
      outcome: 'resolved',
      grpcCode: 0,
      error: c.reason,
      startedAt: c.now,
      durationMs: 0,
      node: c.node,
      operator: c.operator,
    });
    const left = await trx<BranchRow>(BR).where({ gid: c.gid, phase_two: 'PENDING' }).first('branch_id');
    if (!left) return { found: true, resolved: true, txn: await this.finish(trx, txn, c.now) };
    await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ updated_at: c.now });
    return { found: true, resolved: true, txn: { ...txn, updatedAt: c.now } };
  }

  private async claim(trx: Knex.Transaction, c: ClaimCommand): Promise<ClaimResult> {
    const n = await trx<TransactionRow>(TX)
      .where({ gid: c.gid, due_at: c.expectDueAt })
      .whereIn('status', ['TRYING', 'CONFIRMING', 'CANCELLING'])
      .update({ due_at: c.leaseUntil, owner: c.owner });
    return { claimed: n === 1 };
  }

  private async expedite(trx: Knex.Transaction, c: ExpediteCommand): Promise<ExpediteResult> {
    const txn = await this.lockTransaction(trx, c.gid);
    if (!txn) return { txn: null };
    if (txn.status !== 'CONFIRMING' && txn.status !== 'CANCELLING') return { txn };
    await trx<BranchRow>(BR).where({ gid: c.gid, phase_two: 'PENDING' }).update({ next_retry_at: c.now, updated_at: c.now });
    const claimHeld = txn.owner !== null && txn.dueAt !== null && txn.dueAt > c.now;
    if (claimHeld) return { txn };
    await trx<TransactionRow>(TX).where({ gid: c.gid }).update({ due_at: c.now, owner: null, updated_at: c.now });
    return { txn: { ...txn, dueAt: c.now, owner: null, updatedAt: c.now } };
  }

  async getTransaction(gid: string): Promise<TransactionRecord | null> {
    const row = await this.read<TransactionRow | undefined>(this.knex<TransactionRow>(TX).where({ gid }).first());
    return row ? toTransaction(row) : null;
  }

  async getBranches(gid: string): Promise<BranchRecord[]> {
    const rows = await this.read<BranchRow[]>(this.knex<BranchRow>(BR).where({ gid }).orderBy('seq'));
    return rows.map(toBranch);
  }

  async getLogs(gid: string): Promise<PhaseLogRecord[]> {
    const rows = await this.read<LogRow[]>(this.knex<LogRow>(LOGS).where({ gid }).orderBy('id'));
    return rows.map(toLog);
  }

  async getTimeline(gid: string, maxRows: number): Promise<{ logs: PhaseLogRecord[]; omitted: number }> {
    const counted = await this.read<{ n: number | string }[]>(this.knex<LogRow>(LOGS).where({ gid }).count({ n: '*' }));
    const total = Number(counted[0]?.n ?? 0);
    if (total <= maxRows) return { logs: await this.getLogs(gid), omitted: 0 };
    const head = Math.ceil(maxRows / 2);
    const [first, last] = await Promise.all([
      this.read<LogRow[]>(this.knex<LogRow>(LOGS).where({ gid }).orderBy('id').limit(head)),
      this.read<LogRow[]>(this.knex<LogRow>(LOGS).where({ gid }).orderBy('id', 'desc').limit(maxRows - head)),
    ]);
    const seen = new Set(first.map((r) => Number(r.id)));
    const tail = last.filter((r) => !seen.has(Number(r.id))).reverse();
    const logs = [...first, ...tail].map(toLog);
    return { logs, omitted: Math.max(0, total - logs.length) };
  }

  async listTransactions(f: ListFilter): Promise<TransactionRecord[]> {
    const statuses = [...new Set(f.statuses ?? [])];
    if (statuses.length <= 1) return this.listPage(f, statuses[0]);
    // Several statuses: `status IN (…) ORDER BY gid` cannot be read in order
    // from (status, gid) and sorts every matching row; one page per status,
    // each read in order from the index, merged here in byte order (ids are
    // ASCII, so UTF-16 order is byte order, as the columns compare).
    const rows: TransactionRecord[] = [];
    for (const status of statuses) rows.push(...(await this.listPage(f, status)));
    return rows.sort((a, b) => (a.gid < b.gid ? -1 : a.gid > b.gid ? 1 : 0)).slice(0, f.limit);
  }

  /** One keyset page (`gid > afterGid` by gid) of `f`, of one status or of any. */
  private async listPage(f: ListFilter, status: TransactionStatus | undefined): Promise<TransactionRecord[]> {
    const q = this.knex<TransactionRow>(TX).select(`${TX}.*`).orderBy(`${TX}.gid`).limit(f.limit);
    if (status !== undefined) q.where(`${TX}.status`, status);
    if (f.stuckOnly) q.where(`${TX}.stuck`, true);
    if (f.createdBefore !== undefined) q.where(`${TX}.created_at`, '<=', f.createdBefore);
    if (f.afterGid) q.where(`${TX}.gid`, '>', f.afterGid);
    if (f.participant) {
      const participant = f.participant;
      q.whereExists((sub) => {
        void sub.select(this.knex.raw('1')).from(BR).whereRaw(`${BR}.gid = ${TX}.gid`).where(`${BR}.participant`, participant);
      });
    }
    const rows = await this.read<TransactionRow[]>(q);
    return rows.map(toTransaction);
  }

  async findExpired(now: number, limit: number): Promise<DueTransaction[]> {
    // Served by the (status, due_at) index: TRYING rows only, however many decided ones are due.
    const rows = await this.read<TransactionRow[]>(
      this.knex<TransactionRow>(TX).select('gid', 'status', 'due_at').where('status', 'TRYING').where('due_at', '<=', now).orderBy('due_at').limit(limit),
    );
    return rows.map((r) => ({ gid: r.gid, status: r.status, dueAt: Number(r.due_at) }));
  }

  async findDuePhaseTwo(now: number, limit: number, fullTargets: readonly string[]): Promise<DuePhaseTwo[]> {
    // One query per status, each walking the (status, due_at) index in order
    // and stopping at `limit`: with both statuses in one IN list the database
    // sorts every due row first (SQLite: a temp B-tree; MySQL: a filesort),
    // which a backlog of 100,000 pays on every sweep.
    const page = (status: 'CONFIRMING' | 'CANCELLING') => {
      const q = this.knex<TransactionRow>(TX).select('gid', 'status', 'due_at').where('status', status).where('due_at', '<=', now).orderBy('due_at').limit(limit);
      if (fullTargets.length) {
        q.whereNotExists((sub) => {
          void sub.select(this.knex.raw('1')).from(BR).whereRaw(`${BR}.gid = ${TX}.gid`).where(`${BR}.phase_two`, 'PENDING');
          // SQLite, without statistics, takes the participant index for this
          // correlated lookup: every due row then walks all branches of the
          // full target (a second per sweep at 6,000 due rows). As an
          // expression the column keeps the lookup on the primary key (gid first).
          if (this.dialect === 'sqlite') void sub.whereRaw(`(${BR}.participant || '') in (${fullTargets.map(() => '?').join(', ')})`, [...fullTargets]);
          else void sub.whereIn(`${BR}.participant`, fullTargets);
        });
      }
      return this.read<TransactionRow[]>(q);
    };
    const rows = [...(await page('CONFIRMING')), ...(await page('CANCELLING'))]
      .sort((a, b) => Number(a.due_at) - Number(b.due_at))
      .slice(0, limit);
    if (rows.length === 0) return [];
    const counts = await this.read<unknown[]>(
      this.knex<BranchRow>(BR)
        .select('gid', 'participant')
        .count({ n: '*' })
        .whereIn(
          'gid',
          rows.map((r) => r.gid),
        )
        .where('phase_two', 'PENDING')
        .groupBy('gid', 'participant'),
    );
    const targets = new Map<string, Map<string, number>>();
    for (const c of counts as unknown as { gid: string; participant: string; n: number | string }[]) {
      let m = targets.get(c.gid);
      if (!m) targets.set(c.gid, (m = new Map<string, number>()));
      m.set(c.participant, Number(c.n));
    }
    return rows.map((r) => ({ gid: r.gid, status: r.status, dueAt: Number(r.due_at), targets: targets.get(r.gid) ?? new Map<string, number>() }));
  }

  async purgeFinished(before: number, limit: number): Promise<number> {
    const rows = await this.read<{ gid: string }[]>(
      this.knex<TransactionRow>(TX).select('gid').whereIn('status', ['CONFIRMED', 'CANCELLED']).where('updated_at', '<', before).limit(limit),
    );
    if (rows.length === 0) return 0;
    const gids = rows.map((r) => r.gid);
    return this.transaction(async (trx) => {
      // Children first, then the transaction rows, re-checked: nothing that is not finished goes.
      let deleted = 0;
      for (const part of chunkIds(gids, this.limits)) {
        await trx(LOGS).whereIn('gid', part).delete();
        await trx(BR).whereIn('gid', part).delete();
        // Who began them (client authentication), kept as long as the transactions are.
        await trx('tcc_owners').whereIn('gid', part).delete();
        deleted += Number(await trx<TransactionRow>(TX).whereIn('gid', part).whereIn('status', ['CONFIRMED', 'CANCELLED']).delete());
      }
      return deleted;
    });
  }

  /**
   * Checks that a store transaction really runs at READ COMMITTED (MySQL;
   * SQLite has one writer): throws IsolationLevelError otherwise. Reading
   * `@@tx_isolation` inside the transaction cannot tell (MariaDB shows the
   * session's level there, not the one `SET TRANSACTION` gave this
   * transaction), so it watches what the level means: inside one store
   * transaction, a row another connection inserted must stay invisible while
   * uncommitted (not READ UNCOMMITTED) and appear once committed, although
   * the transaction had already read (not REPEATABLE READ's snapshot, nor
   * SERIALIZABLE's shared lock, which makes that insert wait and time out).
   * The other connection is a raw one outside the pool, so a pool of one works.
   */
  async checkIsolation(): Promise<void> {
    if (this.dialect !== 'mysql') return;
    const client = this.knex.client as {
      acquireRawConnection(): Promise<unknown>;
      destroyRawConnection(conn: unknown): Promise<void>;
    };
    const token = randomBytes(16).toString('hex');
    const other = await client.acquireRawConnection();
    try {
      await this.knex.raw('SET SESSION innodb_lock_wait_timeout = 2').connection(other);
      const seen = await this.transaction(async (trx) => {
        const visible = async () => {
          const row = (await trx(PROBE).where({ token }).count({ n: '*' }).first()) as { n: number | string } | undefined;
          return Number(row?.n ?? 0) > 0;
        };
        // This first read is what starts REPEATABLE READ's snapshot.
        if (await visible()) return 'it saw a row before it was written';
        await this.knex.raw('BEGIN').connection(other);
        try {
          await this.knex(PROBE).insert({ token }).connection(other);
        } catch (err) {
          await this.knex.raw('ROLLBACK').connection(other);
          // ER_LOCK_WAIT_TIMEOUT; anything else is not about the level.
          if ((err as { errno?: number }).errno !== 1205) throw err;
          return "another connection's insert had to wait for its read (SERIALIZABLE?)";
        }
        if (await visible()) {
          await this.knex.raw('ROLLBACK').connection(other);
          return 'it saw an uncommitted row (READ UNCOMMITTED?)';
        }
        await this.knex.raw('COMMIT').connection(other);
        return (await visible()) ? null : 'it did not see a row committed after its first read (REPEATABLE READ?)';
      });
      if (seen !== null) throw new IsolationLevelError(seen);
    } finally {
      // A row left by a failure here is harmless (nothing reads the table):
      // never let it hide the error that matters.
      await this.knex(PROBE)
        .where({ token })
        .delete()
        .connection(other)
        .catch(() => undefined);
      await client.destroyRawConnection(other);
    }
  }

  async inFlightStats(now: number): Promise<InFlightStats> {
    type StatsRow = { status: TransactionStatus; n: unknown; oldest: unknown; due: unknown; claimed: unknown; stuck: unknown };
    const rows = await this.read<StatsRow[]>(
      this.knex(TX)
      .select('status')
      .count({ n: '*' })
      .min({ oldest: 'created_at' })
      .select(
        this.knex.raw('sum(case when due_at is not null and due_at <= ? then 1 else 0 end) as due', [now]),
        this.knex.raw('sum(case when owner is not null and due_at > ? then 1 else 0 end) as claimed', [now]),
        this.knex.raw('sum(case when stuck <> 0 then 1 else 0 end) as stuck'),
      )
      .whereIn('status', ['TRYING', 'CONFIRMING', 'CANCELLING'])
      .groupBy('status'),
    );
    const stats: InFlightStats = { byStatus: {}, due: 0, claimed: 0, stuck: 0, oldestCreatedAt: null };
    for (const r of rows) {
      stats.byStatus[r.status] = Number(r.n);
      stats.due += Number(r.due ?? 0);
      stats.claimed += Number(r.claimed ?? 0);
      stats.stuck += Number(r.stuck ?? 0);
      const oldest = r.oldest === null ? null : Number(r.oldest);
      if (oldest !== null && (stats.oldestCreatedAt === null || oldest < stats.oldestCreatedAt)) stats.oldestCreatedAt = oldest;
    }
    return stats;
  }

  async databaseTimeMs(): Promise<number | null> {
    if (this.dialect === 'sqlite') return null;
    // UTC and a difference in microseconds: independent of the session's time zone (no DST folds).
    const [rows] = await this.read<[Array<{ us: number | string }>]>(
      this.knex.raw("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS us"),
    );
    return Number(rows[0].us) / 1000;
  }

  /**
   * Answers while the store can do its work. After a store transaction failed
   * with the storage unavailable (full, read-only, I/O error, connection
   * lost), a read alone proves nothing, so it writes: on SQLite one row of
   * the identity table, on MySQL an empty transaction on a fresh pooled
   * connection. The first that commits clears the failure.
   */
  async ping(): Promise<void> {
    if (this.writeFailure === undefined) {
      await this.read(this.knex.raw('select 1'));
      return;
    }
    await this.transaction(async (trx) => {
      if (this.dialect === 'sqlite') await trx(IDENTITY_TABLE).update({ probed_at: Date.now() });
      else await trx.raw('select 1');
    });
  }

  async close(): Promise<void> {
    await this.knex.destroy();
    await this.walSync?.close();
  }
}
