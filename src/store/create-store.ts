import * as fs from 'node:fs';
import * as path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { coordinatorMigrationSource, MIGRATION_TABLE } from './migration-source';
import { SqlTransactionStore } from './sql-transaction-store';
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
}

export function knexConfigFor(url: string, poolSize = 10): { config: Knex.Config; dialect: 'sqlite' | 'mysql' } {
  if (url.startsWith('sqlite:')) {
    const file = path.resolve(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return {
      dialect: 'sqlite',
      config: {
        client: 'better-sqlite3',
        connection: { filename: file },
        useNullAsDefault: true,
        // One connection: SQLite has one writer anyway, and it keeps every
        // read-then-write in this process strictly serialized.
        pool: {
          min: 1,
          max: 1,
          afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
            try {
              // WAL + FULL: a commit is on disk (fsync) before the engine acts on it.
              conn.pragma('journal_mode = WAL');
              conn.pragma('synchronous = FULL');
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
        connectTimeout: 10_000,
      },
      pool: {
        min: 0,
        max: poolSize,
        afterCreate: (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) => {
          // READ COMMITTED: reads after a row lock see the latest commits, and
          // no gap locks (REPEATABLE READ's gap locks deadlock concurrent inserts).
          conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => done(err, conn));
        },
      },
    },
  };
}

function isMigrationLockBusy(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === 'MigrationLocked' ||
    /already locked/i.test(e?.message ?? '') ||
    // Two replicas creating the bookkeeping tables at once: the loser retries.
    e?.code === 'ER_TABLE_EXISTS_ERROR' ||
    e?.code === 'ER_DUP_ENTRY'
  );
}

/**
 * Applies pending migrations under knex's migration lock. knex fails at once
 * when another process holds the lock, so replicas starting together wait
 * here until the first one has finished.
 */
export async function migrateToLatest(knex: Knex, lockWaitMs = 60_000): Promise<void> {
  const giveUpAt = Date.now() + lockWaitMs;
  for (;;) {
    try {
      await knex.migrate.latest({ migrationSource: coordinatorMigrationSource, tableName: MIGRATION_TABLE });
      return;
    } catch (err) {
      if (!isMigrationLockBusy(err) || Date.now() > giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
  }
}

/** Opens the store for `url` and, by default, migrates it. */
export async function createTransactionStore(options: CreateStoreOptions): Promise<TransactionStore> {
  const { config, dialect } = knexConfigFor(options.url, options.poolSize);
  const knex = knexFactory(config);
  try {
    await knex.raw('select 1');
    if (options.migrate !== false) await migrateToLatest(knex, options.migrationLockWaitMs);
  } catch (err) {
    await knex.destroy();
    throw err;
  }
  return new SqlTransactionStore(knex, dialect);
}
