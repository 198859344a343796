import * as fs from 'node:fs';
import * as path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';
import { withMysqlNamedLock, namedLockName } from '../db/mysql-named-lock';
import { describeError, oneLine } from '../log/describe-error';
import { largestRowPacket, mysqlLimits, SQLITE_LIMITS, type StatementLimits } from './chunked-insert';
import { coordinatorMigrationSource, MIGRATION_TABLE } from './migration-source';
import { SqlTransactionStore } from './sql-transaction-store';
import { checkBeforeOpen, checkOpened, recordIdentity } from './sqlite-identity';
import { SqliteFileGuard } from './sqlite-file-guard';
import { SqliteWalSync } from './sqlite-wal-sync';
import { DatabaseStartRefusedError, type DatabaseFileLostError } from './store-errors';
import type { TransactionStore } from './transaction-store';

/** Options of {@link createTransactionStore}. */
export interface CreateStoreOptions {
  /** `sqlite:<file>` or `mysql://user:pass@host:port/db` (validated by loadConfig). */
  url: string;
  /** Apply pending migrations before answering. Default true. */
  migrate?: boolean;
  /** How long to wait for another replica holding the migration lock, ms. Default 60 000. */
  migrationLockWaitMs?: number;
  /** MySQL connection pool size. Default 10. */
  poolSize?: number;
  /** Longest one store call may take (TCC_DB_STATEMENT_TIMEOUT_MS), connection wait included. Default 30 000 ms. */
  statementTimeoutMs?: number;
  /** Where knex's and its pool's own messages go, one JSON line each. Default: knex's own (console). */
  logger?: Logger;
  /**
   * SQLite: start even when the marker next to the database names another
   * database than the one at the path (missing, empty or swapped), and make
   * the marker name this one (TCC_DB_INITIALIZE). Default false: such a start is refused.
   */
  initialize?: boolean;
  /** SQLite: told once when the database file is deleted or replaced under the running store. Default: nothing. */
  onDatabaseFileLost?: (err: DatabaseFileLostError) => void;
  /**
   * Largest branch payload the coordinator accepts (TCC_MAX_PAYLOAD_BYTES). On
   * MySQL the start is refused unless one branch row of that size fits the
   * server's max_allowed_packet. Default: no check.
   */
  maxPayloadBytes?: number;
}

/** SQLite file of a `sqlite:` URL, made absolute. */
export function sqliteFileOf(url: string): string {
  return path.resolve(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
}

/**
 * knex's own messages (warn/error/deprecate/debug) as single pino lines:
 * left to knex they go to the console as multi-line text, some with stacks.
 */
function knexLog(logger: Logger): NonNullable<Knex.Config['log']> {
  const line = (level: 'debug' | 'warn' | 'error', what: string) => (message: unknown) =>
    logger[level]({ knex: oneLine(typeof message === 'string' ? message : describeError(message)) }, what);
  return { debug: line('debug', 'knex debug'), warn: line('warn', 'knex warning'), error: line('error', 'knex error'), deprecate: line('warn', 'knex deprecation') };
}

/**
 * Takes the statement out of a failed query's error before anyone logs or
 * maps it: knex prefixes the message with the SQL (with compileSqlOnError
 * off, with placeholders rather than the bound values), and mysql2 keeps the
 * statement with every value inlined in `sql`: a 1 MB payload made a 10 MB
 * log line. Runs on knex's query-error event, before the error is rethrown.
 */
export function stripStatement(err: unknown, query: { sql?: unknown }): void {
  if (!(err instanceof Error)) return;
  const prefix = typeof query.sql === 'string' ? `${query.sql} - ` : undefined;
  if (prefix !== undefined && err.message.startsWith(prefix)) err.message = err.message.slice(prefix.length);
  delete (err as { sql?: unknown }).sql;
}

/** Pool connection failures as pino lines, at most one every few seconds (an outage fails every attempt). */
function logPoolEvents(knex: Knex, logger: Logger): void {
  const pool = (knex.client as { pool?: { on(event: string, fn: (...args: unknown[]) => void): void } }).pool;
  if (!pool) return;
  let lastAt = 0;
  let suppressed = 0;
  const warn = (what: string) => (_id: unknown, err: unknown) => {
    const now = Date.now();
    if (now - lastAt < 5_000) {
      suppressed++;
      return;
    }
    lastAt = now;
    logger.warn({ err: describeError(err), suppressed: suppressed || undefined }, what);
    suppressed = 0;
  };
  pool.on('createFail', warn('database connection failed'));
  pool.on('destroyFail', warn('closing a database connection failed'));
}

/**
 * knex's configuration for `url`. SQLite runs in WAL mode with `synchronous =
 * FULL` (every COMMIT fsyncs), unless `walSync` is given: then `synchronous =
 * NORMAL`, and the store makes commits durable through it, off the event loop.
 */
export function knexConfigFor(
  url: string,
  poolSize = 10,
  timeoutMs = 30_000,
  logger?: Logger,
  walSync?: SqliteWalSync,
): { config: Knex.Config; dialect: 'sqlite' | 'mysql' } {
  // The statement in an error keeps its placeholders, never the bound values (payloads, reasons).
  const common: Knex.Config = { compileSqlOnError: false, ...(logger ? { log: knexLog(logger) } : {}) };
  if (url.startsWith('sqlite:')) {
    const file = sqliteFileOf(url);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return {
      dialect: 'sqlite',
      config: {
        ...common,
        client: 'better-sqlite3',
        connection: { filename: file },
        useNullAsDefault: true,
        // A call waiting for the one connection fails rather than waits forever.
        acquireConnectionTimeout: timeoutMs,
        // One connection: SQLite has one writer anyway, and it keeps every
        // read-then-write in this process strictly serialized.
        pool: {
          min: 1,
          max: 1,
          afterCreate: (conn: { pragma(s: string, o?: { simple: true }): unknown }, done: (err: Error | null, conn: unknown) => void) => {
            try {
              // A commit is on disk before the engine acts on it: FULL fsyncs in COMMIT itself; with
              // walSync, NORMAL writes the WAL and the store waits for walSync's fsync (sqlite-wal-sync.ts).
              const wal = conn.pragma('journal_mode = WAL', { simple: true }) === 'wal';
              if (wal && walSync) {
                conn.pragma('synchronous = NORMAL');
                walSync.attach(file);
              } else conn.pragma('synchronous = FULL');
              conn.pragma('busy_timeout = 5000');
              done(null, conn);
            } catch (err) {
              done(err as Error, conn);
            }
          },
        },
      },
    };
  }
  const u = new URL(url.replace(/^mariadb:/, 'mysql:'));
  return {
    dialect: 'mysql',
    config: {
      ...common,
      client: 'mysql2',
      connection: {
        host: u.hostname,
        port: u.port ? Number(u.port) : 3306,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        database: decodeURIComponent(u.pathname.replace(/^\//, '')),
        charset: 'utf8mb4',
        supportBigNumbers: true,
        bigNumberStrings: false,
        connectTimeout: Math.min(10_000, timeoutMs),
        // The batch writer sends a batch's writes whose answers it does not need with its
        // next statement, as one query (sql-runner.ts): a round trip per statement saved.
        // Every statement is built from fixed text with values bound by mysql2's escaping;
        // no caller's text is ever part of a statement.
        multipleStatements: true,
        // Probes an idle connection whose server went away without a word (half-open).
        enableKeepAlive: true,
        keepAliveInitialDelay: 10_000,
      },
      // No session settings: whoever needs an isolation level states it on
      // each transaction (SqlTransactionStore, the SQL barrier), where a pooler
      // or proxy cannot lose it between the pool and the statement.
      acquireConnectionTimeout: timeoutMs,
      pool: { min: 0, max: poolSize },
    },
  };
}

function isMigrationLockBusy(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === 'MigrationLocked' ||
    /already locked/i.test(e?.message ?? '') ||
    // Two processes creating the bookkeeping tables at once: the loser retries.
    e?.code === 'ER_TABLE_EXISTS_ERROR' ||
    e?.code === 'ER_DUP_ENTRY'
  );
}

const migrateOptions = { migrationSource: coordinatorMigrationSource, tableName: MIGRATION_TABLE };

/**
 * Applies pending migrations under knex's migration lock.
 *
 * On MySQL, replicas first queue on a session-level named lock (GET_LOCK,
 * one per database): knex's own lock fails at once when taken, and replicas
 * polling it while another runs DDL were seen to stall the migration for a
 * minute under load. The named lock lives outside transactions and metadata
 * locks and is released by the server if its holder dies. Holding it also
 * proves nobody else is migrating, so a knex lock row left set by a process
 * that crashed mid-migration can be cleared instead of wedging every replica.
 */
export async function migrateToLatest(knex: Knex, lockWaitMs = 60_000): Promise<void> {
  if ((knex.client as { config: { client: string } }).config.client === 'mysql2') {
    // One lock per database: the name's hash keeps it within MySQL's 64 characters.
    await withMysqlNamedLock(knex, namedLockName(knex, 'tcc_migrate'), lockWaitMs, async () => {
      try {
        await knex.migrate.latest(migrateOptions);
      } catch (err) {
        if (!isMigrationLockBusy(err)) throw err;
        await knex.migrate.forceFreeMigrationsLock(migrateOptions);
        await knex.migrate.latest(migrateOptions);
      }
    });
    return;
  }
  // SQLite: one process owns the file; still retry on a busy lock rather than fail.
  const giveUpAt = Date.now() + lockWaitMs;
  for (;;) {
    try {
      await knex.migrate.latest(migrateOptions);
      return;
    } catch (err) {
      if (!isMigrationLockBusy(err) || Date.now() > giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
  }
}

/** The server's max_allowed_packet: multi-row statements are sized to fit it. */
async function maxAllowedPacket(knex: Knex): Promise<number> {
  const [rows] = (await knex.raw('SELECT @@max_allowed_packet AS n')) as [{ n: number | string }[]];
  return Number(rows[0].n);
}

/**
 * Refuses a MySQL server that cannot take one branch row of `maxPayloadBytes`:
 * multi-row statements are split to fit the packet, one row cannot be, and
 * the server's "packet too large" would only surface on the first big Try.
 */
function checkPacketFits(maxAllowedPacket: number, maxPayloadBytes: number | undefined): void {
  if (maxPayloadBytes === undefined) return;
  const need = largestRowPacket(maxPayloadBytes);
  if (need <= maxAllowedPacket) return;
  const fits = Math.max(0, Math.floor((maxAllowedPacket - largestRowPacket(0)) / 2));
  throw new DatabaseStartRefusedError(
    `refusing to start: TCC_MAX_PAYLOAD_BYTES=${maxPayloadBytes} needs the database server's max_allowed_packet to be at least ${need} bytes ` +
      `(a branch's payload is written hex-encoded, twice its size, in one statement), but the server's max_allowed_packet is ${maxAllowedPacket}. ` +
      `Raise max_allowed_packet on the server (SET GLOBAL and its configuration file) to ${need} or more, ` +
      `or lower TCC_MAX_PAYLOAD_BYTES to ${fits} or less (TCC_MAX_BRANCHES does not matter: branches are written in as many statements as needed).`,
  );
}

/** Opens the store for `url` and, by default, migrates it. */
export async function createTransactionStore(options: CreateStoreOptions): Promise<TransactionStore> {
  const walSync = options.url.startsWith('sqlite:') ? new SqliteWalSync() : undefined;
  const { config, dialect } = knexConfigFor(options.url, options.poolSize, options.statementTimeoutMs, options.logger, walSync);
  const file = dialect === 'sqlite' ? sqliteFileOf(options.url) : undefined;
  // Before anything opens the file: opening a missing one would create an empty database.
  if (file) checkBeforeOpen(file, options.initialize === true);
  const knex = knexFactory(config);
  knex.on('query-error', stripStatement);
  if (options.logger) logPoolEvents(knex, options.logger);
  let statementLimits: StatementLimits = SQLITE_LIMITS;
  try {
    await knex.raw('select 1');
    if (dialect === 'mysql') {
      const packet = await maxAllowedPacket(knex);
      checkPacketFits(packet, options.maxPayloadBytes);
      statementLimits = mysqlLimits(packet);
    }
    if (file) await checkOpened(knex, file, options.initialize === true);
    if (options.migrate !== false) await migrateToLatest(knex, options.migrationLockWaitMs);
    let guard: SqliteFileGuard | undefined;
    if (file) {
      await recordIdentity(knex, file);
      guard = new SqliteFileGuard(file, options.onDatabaseFileLost);
      guard.arm();
    }
    const store = new SqlTransactionStore(knex, dialect, { statementLimits, callTimeoutMs: options.statementTimeoutMs, fileGuard: guard, walSync });
    // Refuse to start rather than decide under another isolation level.
    await store.checkIsolation();
    return store;
  } catch (err) {
    await knex.destroy();
    throw err;
  }
}
