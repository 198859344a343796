import type { Knex } from 'knex';
import { namedLockName, withMysqlNamedLock } from '../db/mysql-named-lock';
import {
  barrierDialectOf,
  barrierMigration,
  barrierTableDdl,
  checkBarrierTableName,
  DEFAULT_BARRIER_TABLE,
  type BarrierSqlDialect,
} from '../../migrations/20261201000000_tcc_barrier';

export { barrierDialectOf, barrierTableDdl, checkBarrierTableName, DEFAULT_BARRIER_TABLE, type BarrierSqlDialect };

/** The migration's name, as stored in the bookkeeping table: never rename it. */
export const BARRIER_MIGRATION_NAME = '20261201000000_tcc_barrier';

/** Options of {@link migrateBarrierSchema}. */
export interface BarrierSchemaOptions {
  /** Name of the barrier table. Default `tcc_barriers`. */
  tableName?: string;
  /**
   * knex's bookkeeping table for these migrations (knex adds `<name>_lock`).
   * Default `<tableName>_migrations` (`tcc_barriers_migrations`): one per
   * barrier table, so a second barrier table in the same database is not
   * taken as already created. Never the application's own `knex_migrations`,
   * so the two sets of migrations ignore each other.
   */
  migrationTableName?: string;
  /** How long to wait for another process holding knex's migration lock, ms. Default 60 000. */
  lockWaitMs?: number;
}

type Migration = ReturnType<typeof barrierMigration>;

function isMigrationBusy(err: unknown, bookkeepingTable: string): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  const message = e?.message ?? '';
  return (
    e?.name === 'MigrationLocked' ||
    /already locked/i.test(message) ||
    // Two processes creating the bookkeeping tables at once: the loser tries again
    // (only those tables: a barrier table that already exists is a real error).
    e?.code === 'ER_DUP_ENTRY' ||
    ((e?.code === 'ER_TABLE_EXISTS_ERROR' || /already exists/i.test(message)) && message.includes(bookkeepingTable)) ||
    /SQLITE_BUSY/.test(e?.code ?? '')
  );
}

/**
 * Creates (or brings up to date) the barrier table in the participant's own
 * database through knex migrations kept in their own bookkeeping table, so it
 * coexists with the application's knex migrations. Safe to call at every
 * start and from several replicas at once: they queue on knex's migration
 * lock (retrying for up to `lockWaitMs`). A lock left set by a process killed
 * mid-migration is not cleared automatically (nothing proves its holder is
 * gone): clear it with `knex.migrate.forceFreeMigrationsLock({ tableName })`.
 *
 * Without knex migrations, run the statements of {@link barrierTableDdl} once.
 */
export async function migrateBarrierSchema(knex: Knex, options: BarrierSchemaOptions = {}): Promise<void> {
  const tableName = checkBarrierTableName(options.tableName ?? DEFAULT_BARRIER_TABLE);
  const migration = barrierMigration(tableName);
  const source: Knex.MigrationSource<readonly [string, Migration]> = {
    getMigrations: () => Promise.resolve([[BARRIER_MIGRATION_NAME, migration] as const]),
    getMigrationName: (m) => m[0],
    getMigration: (m) => Promise.resolve(m[1]),
  };
  const bookkeeping = options.migrationTableName ?? `${tableName}_migrations`;
  const config: Knex.MigratorConfig = { migrationSource: source, tableName: bookkeeping };
  const waitMs = options.lockWaitMs ?? 60_000;
  const giveUpAt = Date.now() + waitMs;
  const migrate = async () => {
    for (;;) {
      try {
        await knex.migrate.latest(config);
        return;
      } catch (err) {
        if (!isMigrationBusy(err, bookkeeping) || Date.now() > giveUpAt) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  };
  if (barrierDialectOf(knex) !== 'mysql') return migrate();
  // knex creates its lock table and then inserts its one row if the table is empty: two
  // processes starting together on MySQL could both insert one, and with two rows knex's lock
  // can never be taken again (its UPDATE must match exactly one). A named lock (server-wide,
  // outside transactions, released by the server if its holder dies) makes them take turns.
  await withMysqlNamedLock(knex, namedLockName(knex, 'tcc_barrier', bookkeeping), waitMs, async () => {
    await keepOneLockRow(knex, `${bookkeeping}_lock`);
    await migrate();
  });
}

/**
 * A lock table left with several rows by two processes that created it at once (before the
 * named lock): knex's lock could never be taken again. Keeps the first row; only ever run
 * while holding the named lock, so no migrator of this table is running.
 */
async function keepOneLockRow(knex: Knex, lockTable: string): Promise<void> {
  if (!(await knex.schema.hasTable(lockTable))) return;
  const rows = await knex<{ index: number }>(lockTable).select('index').orderBy('index');
  if (rows.length > 1) await knex(lockTable).where('index', '>', rows[0].index).delete();
}
