import type { Knex } from 'knex';

/**
 * The participant barrier's table (src/participant/sql-barrier.ts), created in
 * the participant's OWN database, next to the business tables its handlers
 * change: the barrier record and the business change commit in one local
 * transaction. The coordinator never runs this migration (it is not in
 * src/store/migration-source.ts); participants apply it with
 * `migrateBarrierSchema(knex)` or run {@link barrierTableDdl}'s statements.
 */

/** Default name of the barrier table. */
export const DEFAULT_BARRIER_TABLE = 'tcc_barriers';

/** Dialects the barrier supports: MySQL/MariaDB (mysql2) and SQLite (better-sqlite3). */
export type BarrierSqlDialect = 'mysql' | 'sqlite';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * Validates a barrier table name: it is spliced into DDL and index names
 * (MySQL caps those at 64 characters), so letters, digits and `_`, at most 48.
 */
export function checkBarrierTableName(name: string): string {
  if (!TABLE_NAME.test(name)) {
    throw new TypeError(`barrier table name ${JSON.stringify(name)}: expected 1-48 of A-Z a-z 0-9 _, not starting with a digit`);
  }
  return name;
}

/**
 * The CREATE statements of the barrier table, for people not using knex
 * migrations (and what the migration itself runs, so the two never differ).
 * With the default name:
 *
 * MySQL / MariaDB:
 * ```sql
 * CREATE TABLE tcc_barriers (
 *   gid VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
 *   branch_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
 *   slot VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
 *   op VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
 *   created_at BIGINT NOT NULL,
 *   PRIMARY KEY (gid, branch_id, slot),
 *   KEY tcc_barriers_created_at (created_at)
 * ) ENGINE=InnoDB
 * ```
 * SQLite:
 * ```sql
 * CREATE TABLE tcc_barriers (
 *   gid VARCHAR(128) NOT NULL,
 *   branch_id VARCHAR(128) NOT NULL,
 *   slot VARCHAR(8) NOT NULL,
 *   op VARCHAR(8) NOT NULL,
 *   created_at BIGINT NOT NULL,
 *   PRIMARY KEY (gid, branch_id, slot)
 * );
 * CREATE INDEX tcc_barriers_created_at ON tcc_barriers (created_at);
 * ```
 *
 * One row per (gid, branch_id, slot): slot `try` (written by the Try, or by
 * a Cancel that came first, which is what blocks a late Try) and slot
 * `phase2` (written by Confirm or Cancel, whichever came first, which is
 * what makes them exclusive). `op` says which call wrote the row
 * (`try` | `confirm` | `cancel`); `created_at` is epoch ms, indexed for
 * retention (pruneSqlBarriers).
 *
 * Ids compare byte for byte (ascii_bin on MySQL, SQLite's default BINARY):
 * MySQL's default case-insensitive collation would make gids `Tx1` and `tx1`
 * one branch, and a Try of one would be taken for a duplicate of the other.
 * The coordinator only accepts ids of `A-Z a-z 0-9 . _ : -`, at most 128.
 */
export function barrierTableDdl(dialect: BarrierSqlDialect, tableName: string = DEFAULT_BARRIER_TABLE): string[] {
  const t = checkBarrierTableName(tableName);
  if (dialect === 'mysql') {
    const id = (n: number) => `VARCHAR(${n}) CHARACTER SET ascii COLLATE ascii_bin NOT NULL`;
    return [
      `CREATE TABLE ${t} (\n` +
        `  gid ${id(128)},\n` +
        `  branch_id ${id(128)},\n` +
        `  slot ${id(8)},\n` +
        `  op ${id(8)},\n` +
        `  created_at BIGINT NOT NULL,\n` +
        `  PRIMARY KEY (gid, branch_id, slot),\n` +
        `  KEY ${t}_created_at (created_at)\n` +
        `) ENGINE=InnoDB`,
    ];
  }
  return [
    `CREATE TABLE ${t} (\n` +
      `  gid VARCHAR(128) NOT NULL,\n` +
      `  branch_id VARCHAR(128) NOT NULL,\n` +
      `  slot VARCHAR(8) NOT NULL,\n` +
      `  op VARCHAR(8) NOT NULL,\n` +
      `  created_at BIGINT NOT NULL,\n` +
      `  PRIMARY KEY (gid, branch_id, slot)\n` +
      `)`,
    `CREATE INDEX ${t}_created_at ON ${t} (created_at)`,
  ];
}

/** The dialect of a knex instance the barrier supports; throws for any other driver. */
export function barrierDialectOf(knex: Knex): BarrierSqlDialect {
  const driver = (knex.client as { driverName?: string }).driverName;
  if (driver === 'mysql2') return 'mysql';
  if (driver === 'better-sqlite3') return 'sqlite';
  throw new Error(`the SQL barrier supports the knex clients mysql2 and better-sqlite3, not ${String(driver)}`);
}

/** This migration for a barrier table named `tableName` (what migrateBarrierSchema runs). */
export function barrierMigration(tableName: string = DEFAULT_BARRIER_TABLE): {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
} {
  const t = checkBarrierTableName(tableName);
  return {
    async up(knex: Knex): Promise<void> {
      for (const statement of barrierTableDdl(barrierDialectOf(knex), t)) await knex.raw(statement);
    },
    async down(knex: Knex): Promise<void> {
      await knex.schema.dropTableIfExists(t);
    },
  };
}

const defaultMigration = barrierMigration();

export async function up(knex: Knex): Promise<void> {
  await defaultMigration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await defaultMigration.down(knex);
}
