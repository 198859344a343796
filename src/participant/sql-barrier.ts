import type { Knex } from 'knex';
import type { Barrier, BarrierResult } from './barrier';
import { barrierDialectOf, checkBarrierTableName, DEFAULT_BARRIER_TABLE, type BarrierSqlDialect } from './barrier-schema';
import type { BranchCall } from './branch-call';
import { BarrierViolationError, TrySuspendedError } from './errors';

/** Options of {@link SqlBarrier}. */
export interface SqlBarrierOptions {
  /** The barrier table (created by migrateBarrierSchema or barrierTableDdl). Default `tcc_barriers`. */
  tableName?: string;
  /**
   * Attempts of one call's local transaction when MySQL aborts it for a
   * deadlock (1213) or a lock wait timeout (1205) in the barrier's own
   * statements. Default 4 (the first try and 3 retries). An error thrown by
   * the business function is never retried, whatever it is.
   */
  maxAttempts?: number;
  /** Base pause before a retry, ms: attempt × base × a random factor in [0.5, 1.5). Default 20. */
  retryDelayMs?: number;
  /** Clock for `created_at`, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Hears of each retry (for logs or metrics). Default: none. */
  onRetry?: (retry: SqlBarrierRetry) => void;
}

/** A local transaction the barrier runs again. */
export interface SqlBarrierRetry {
  readonly gid: string;
  readonly branchId: string;
  readonly phase: BranchCall['phase'];
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** `code: message` of the database error. */
  readonly error: string;
}

type Slot = 'try' | 'phase2';
type Op = 'try' | 'confirm' | 'cancel';

/** MySQL error numbers on which InnoDB rolled the statement or transaction back and a rerun may succeed. */
const MYSQL_RETRYABLE_ERRNOS = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);
const MYSQL_DUPLICATE_KEY_ERRNO = 1062; // ER_DUP_ENTRY

/** Wraps what the business function threw, so the retry loop can tell it from the barrier's own failures. */
class BusinessFailure extends Error {
  constructor(readonly error: unknown) {
    super('business function failed');
  }
}

function errno(err: unknown): number | undefined {
  const n = (err as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' ? n : undefined;
}

/**
 * The TCC barrier on the participant's own SQL database (MySQL/MariaDB via
 * mysql2, SQLite via better-sqlite3), one row per (gid, branch_id, slot) in
 * the barrier table. Each call is ONE local transaction: the barrier's record
 * and the business change commit together or not at all, so a business
 * function that throws leaves no record and a retry runs it again. The
 * business function gets that knex transaction and must do all its work
 * through it: work done through `knex` itself is not undone with the rest,
 * and with a pool of one connection (SQLite) it waits for that connection
 * forever.
 *
 * Decisions come from INSERTING first and reading the unique-key conflict,
 * never from SELECT … FOR UPDATE (gap locks, deadlocks under REPEATABLE
 * READ). An insert that meets an uncommitted row with the same key waits for
 * that transaction, so calls of one branch serialize on their keys: a
 * concurrent Try and Cancel both insert (gid, branch_id, 'try'); exactly one
 * wins, and the loser reads the winner's committed row (READ COMMITTED,
 * set on each MySQL transaction: a read after the wait sees the latest
 * commit, and no gap locks).
 *
 * - Try: insert (try, 'try'). Inserted: run the business. Otherwise the
 *   branch's rows say: a Cancel came first (try-slot op 'cancel' or a
 *   phase2 'cancel') → TrySuspendedError; else → duplicate.
 * - Confirm: insert (phase2, 'confirm'). Not inserted: 'confirm' → duplicate,
 *   'cancel' → BarrierViolationError 'cancelled'. Inserted: the try slot
 *   must hold op 'try', else BarrierViolationError 'not-tried' (its throw
 *   rolls the insert back); then run the business.
 * - Cancel: insert (try, 'cancel'), inserted only when no Try ran here; then
 *   insert (phase2, 'cancel'). Not inserted: 'cancel' → duplicate, 'confirm'
 *   → BarrierViolationError 'confirmed'. If the try-slot insert succeeded
 *   → empty-rollback (no business; that row refuses a late Try); else run the
 *   business.
 *
 * "Inserted or not": on SQLite `INSERT … ON CONFLICT DO NOTHING` and its
 * `changes` count. On MySQL a plain INSERT whose duplicate-key error (1062,
 * and only that) means "not inserted": InnoDB undoes just that statement and
 * the transaction goes on. Not `ON DUPLICATE KEY UPDATE` + affectedRows:
 * mysql2 connects with CLIENT_FOUND_ROWS by default, and then a duplicate
 * reports affectedRows 1, the same as an insert. Not INSERT IGNORE: it also
 * swallows other errors.
 */
export class SqlBarrier implements Barrier<Knex.Transaction> {
  private readonly dialect: BarrierSqlDialect;
  private readonly table: string;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly now: () => number;
  private readonly onRetry: ((retry: SqlBarrierRetry) => void) | undefined;
  private readonly txConfig: Knex.TransactionConfig;

  constructor(
    private readonly knex: Knex,
    options: SqlBarrierOptions = {},
  ) {
    this.dialect = barrierDialectOf(knex);
    this.table = checkBarrierTableName(options.tableName ?? DEFAULT_BARRIER_TABLE);
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 4));
    this.retryDelayMs = Math.max(0, options.retryDelayMs ?? 20);
    this.now = options.now ?? Date.now;
    this.onRetry = options.onRetry;
    // Per transaction, whatever the pool's session level: SQLite has only SERIALIZABLE (and knex warns if asked).
    this.txConfig = this.dialect === 'mysql' ? { isolationLevel: 'read committed' } : {};
  }

  async run<R>(call: BranchCall, business: (tx: Knex.Transaction) => Promise<R>): Promise<BarrierResult<R>> {
    const guarded = async (tx: Knex.Transaction): Promise<R> => {
      try {
        return await business(tx);
      } catch (err) {
        throw new BusinessFailure(err);
      }
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.knex.transaction((tx) => this.decide(tx, call, guarded), this.txConfig);
      } catch (err) {
        if (err instanceof BusinessFailure) throw err.error;
        const pause = attempt * this.retryDelayMs * (0.5 + Math.random());
        const retryable = this.dialect === 'mysql' && MYSQL_RETRYABLE_ERRNOS.has(errno(err) ?? 0);
        // No retry the caller could not wait for: past its deadline the answer is dropped anyway.
        if (!retryable || attempt >= this.maxAttempts || Date.now() + pause >= call.deadline) throw err;
        this.onRetry?.({
          gid: call.gid,
          branchId: call.branchId,
          phase: call.phase,
          attempt,
          error: `${String((err as { code?: unknown }).code)}: ${(err as Error).message}`,
        });
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  private async decide<R>(
    tx: Knex.Transaction,
    call: BranchCall,
    business: (tx: Knex.Transaction) => Promise<R>,
  ): Promise<BarrierResult<R>> {
    const { gid, branchId } = call;
    switch (call.phase) {
      case 'try': {
        if (await this.insert(tx, call, 'try', 'try')) return { outcome: 'applied', value: await business(tx) };
        const rows = await this.rows(tx, call);
        if (rows.try === 'cancel' || rows.phase2 === 'cancel') throw new TrySuspendedError(gid, branchId);
        return { outcome: 'duplicate' };
      }
      case 'confirm': {
        if (!(await this.insert(tx, call, 'phase2', 'confirm'))) {
          const { phase2 } = await this.rows(tx, call);
          if (phase2 === 'confirm') return { outcome: 'duplicate' };
          if (phase2 === 'cancel') throw new BarrierViolationError(gid, branchId, 'confirm', 'cancelled');
          throw new Error(`barrier table ${this.table}: unexpected phase2 row ${String(phase2)}`);
        }
        // Rows are only ever inserted, so a committed try-slot op is final. A Try not yet committed is not seen
        // and this Confirm answers not-tried: the coordinator only confirms after the Try answered OK (committed).
        const { try: tried } = await this.rows(tx, call);
        if (tried !== 'try') throw new BarrierViolationError(gid, branchId, 'confirm', 'not-tried');
        return { outcome: 'applied', value: await business(tx) };
      }
      case 'cancel': {
        // Keys are locked try slot, then phase2 (Try takes only the first, Confirm only the second: its try-slot
        // read takes no lock), so calls of one branch never wait on each other in a cycle.
        const tryNeverRan = await this.insert(tx, call, 'try', 'cancel');
        if (!(await this.insert(tx, call, 'phase2', 'cancel'))) {
          const { phase2 } = await this.rows(tx, call);
          if (phase2 === 'cancel') return { outcome: 'duplicate' };
          if (phase2 === 'confirm') throw new BarrierViolationError(gid, branchId, 'cancel', 'confirmed');
          throw new Error(`barrier table ${this.table}: unexpected phase2 row ${String(phase2)}`);
        }
        if (tryNeverRan) return { outcome: 'empty-rollback' };
        return { outcome: 'applied', value: await business(tx) };
      }
      default: {
        // Only reachable from untyped callers; throwing rolls back instead of committing nothing.
        const phase: never = call.phase;
        throw new Error(`unknown branch phase ${String(phase)}`);
      }
    }
  }

  /** Inserts the row unless its key exists; true when it was inserted. Waits on an uncommitted row with the key. */
  private async insert(tx: Knex.Transaction, call: BranchCall, slot: Slot, op: Op): Promise<boolean> {
    const values = [this.table, call.gid, call.branchId, slot, op, this.now()];
    const insert = 'INSERT INTO ?? (gid, branch_id, slot, op, created_at) VALUES (?, ?, ?, ?, ?)';
    if (this.dialect === 'sqlite') {
      // better-sqlite3's run() info: { changes, lastInsertRowid }.
      const res = await tx.raw<{ changes: number }>(`${insert} ON CONFLICT DO NOTHING`, values);
      return res.changes === 1;
    }
    try {
      // mysql2: [ResultSetHeader, fields].
      const [res] = await tx.raw<[{ affectedRows: number }]>(insert, values);
      if (res.affectedRows !== 1) throw new Error(`barrier insert affected ${res.affectedRows} rows`);
      return true;
    } catch (err) {
      if (errno(err) === MYSQL_DUPLICATE_KEY_ERRNO) return false;
      throw err;
    }
  }

  /** The ops in the branch's two slots, as committed (READ COMMITTED on MySQL, one writer on SQLite). */
  private async rows(tx: Knex.Transaction, call: BranchCall): Promise<{ try?: string; phase2?: string }> {
    const rows = await tx<{ gid: string; branch_id: string; slot: string; op: string }>(this.table)
      .select('slot', 'op')
      .where({ gid: call.gid, branch_id: call.branchId });
    const out: { try?: string; phase2?: string } = {};
    for (const r of rows) {
      if (r.slot === 'try') out.try = r.op;
      else if (r.slot === 'phase2') out.phase2 = r.op;
    }
    return out;
  }
}
