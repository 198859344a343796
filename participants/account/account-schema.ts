import type { Knex } from 'knex';
import { migrateBarrierSchema } from '../../src/participant';
import { barrierDialectOf, type BarrierSqlDialect } from '../../src/participant/barrier-schema';

/** The accounts table. */
export const ACCOUNTS_TABLE = 'accounts';

/**
 * knex's bookkeeping table for the account service's own migrations: not
 * `knex_migrations` (an application sharing the database may use it) and not
 * the barrier's (`tcc_barriers_migrations`, managed by migrateBarrierSchema).
 */
export const ACCOUNT_MIGRATION_TABLE = 'account_migrations';

/**
 * `accounts(id, balance, frozen)`, amounts in integer minor units (cents).
 * `balance` is what the account holds, `frozen` the part reserved by debits
 * tried but not yet confirmed or cancelled; `balance - frozen` is what a new
 * debit may take. The CHECKs are the last line of defence behind the
 * conditional UPDATEs in account-store.ts: a bug there fails the statement
 * (and the call, which the coordinator retries) instead of storing a negative
 * amount. MySQL enforces CHECK from 8.0.16, MariaDB from 10.2, SQLite always.
 *
 * Ids compare byte for byte (ascii_bin on MySQL, SQLite's default BINARY):
 * with MySQL's default case-insensitive collation `Alice` and `alice` would
 * be one account.
 */
export function accountsTableDdl(dialect: BarrierSqlDialect): string {
  const id = dialect === 'mysql' ? 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL' : 'VARCHAR(64) NOT NULL';
  return (
    `CREATE TABLE ${ACCOUNTS_TABLE} (\n` +
    `  id ${id},\n` +
    `  balance BIGINT NOT NULL DEFAULT 0,\n` +
    `  frozen BIGINT NOT NULL DEFAULT 0,\n` +
    `  PRIMARY KEY (id),\n` +
    `  CONSTRAINT accounts_balance_not_negative CHECK (balance >= 0),\n` +
    `  CONSTRAINT accounts_frozen_within_balance CHECK (frozen >= 0 AND frozen <= balance)\n` +
    `)${dialect === 'mysql' ? ' ENGINE=InnoDB' : ''}`
  );
}

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Append new migrations here, in order; never rename one that has shipped (the name is stored). */
const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  [
    '20261210000000_accounts',
    {
      async up(knex) {
        await knex.raw(accountsTableDdl(barrierDialectOf(knex)));
      },
      async down(knex) {
        await knex.schema.dropTableIfExists(ACCOUNTS_TABLE);
      },
    },
  ],
];

const migrationSource: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: () => Promise.resolve([...MIGRATIONS]),
  getMigrationName: (m) => m[0],
  getMigration: (m) => Promise.resolve(m[1]),
};

/** Another replica is migrating (knex's lock is taken, or both created the bookkeeping tables at once). */
function isMigrationBusy(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string } | null;
  const message = e?.message ?? '';
  return (
    e?.name === 'MigrationLocked' ||
    /already locked/i.test(message) ||
    e?.code === 'ER_DUP_ENTRY' ||
    ((e?.code === 'ER_TABLE_EXISTS_ERROR' || /already exists/i.test(message)) && message.includes(ACCOUNT_MIGRATION_TABLE)) ||
    /SQLITE_BUSY/.test(e?.code ?? '')
  );
}

/**
 * Creates (or brings up to date) the service's tables in its own database:
 * the accounts table through its own knex migrations, and the SDK's barrier
 * table through migrateBarrierSchema. Safe at every start and from several
 * replicas at once: they queue on knex's migration locks (up to `lockWaitMs`).
 */
export async function migrateAccountSchema(knex: Knex, lockWaitMs = 60_000): Promise<void> {
  const config: Knex.MigratorConfig = { migrationSource, tableName: ACCOUNT_MIGRATION_TABLE };
  const giveUpAt = Date.now() + lockWaitMs;
  for (;;) {
    try {
      await knex.migrate.latest(config);
      break;
    } catch (err) {
      if (!isMigrationBusy(err) || Date.now() > giveUpAt) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
  await migrateBarrierSchema(knex, { lockWaitMs });
}
