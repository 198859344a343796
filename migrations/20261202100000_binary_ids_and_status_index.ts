import type { Knex } from 'knex';

/**
 * Ids compare byte for byte, and the Admin listing by status has its index.
 *
 * MySQL/MariaDB: the core schema's id columns took the server's default
 * collation (utf8mb4_general_ci on MariaDB, utf8mb4_0900_ai_ci on MySQL 8),
 * so `Order-ABC` and `order-abc` were one transaction and branch ids `x` and
 * `X` one branch. Ids are limited to `A-Z a-z 0-9 . _ : -` (the edge refuses
 * anything else), so the id columns become `ascii_bin` like the barrier
 * table; `owner` holds a node name (same alphabet today) and becomes
 * `utf8mb4_bin` so whatever a claim stores there still fits. MODIFY restates
 * each column whole (type, NULL-ness, default), which keeps the primary keys
 * and indexes, now compared in the new collation. Converting cannot collide:
 * the old case-insensitive keys already kept case variants apart (at most one
 * of them could exist). SQLite compares TEXT with BINARY by default: no-op.
 *
 * `tcc_isolation_probe` is where the start-up check of a MySQL store
 * transaction's isolation level writes its one-off row (see
 * SqlTransactionStore.checkIsolation); it stays empty otherwise.
 */
const ID = 'CHARACTER SET ascii COLLATE ascii_bin';
const OWNER = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';

function isMysql(knex: Knex): boolean {
  return (knex.client as { config: { client: string } }).config.client === 'mysql2';
}

export async function up(knex: Knex): Promise<void> {
  if (isMysql(knex)) {
    await knex.raw(
      `ALTER TABLE tcc_transactions MODIFY gid VARCHAR(128) ${ID} NOT NULL, MODIFY owner VARCHAR(64) ${OWNER} NULL DEFAULT NULL`,
    );
    await knex.raw(
      `ALTER TABLE tcc_branches MODIFY gid VARCHAR(128) ${ID} NOT NULL, MODIFY branch_id VARCHAR(128) ${ID} NOT NULL`,
    );
    await knex.raw(
      `ALTER TABLE tcc_logs MODIFY gid VARCHAR(128) ${ID} NOT NULL, MODIFY branch_id VARCHAR(128) ${ID} NOT NULL DEFAULT ''`,
    );
  }
  await knex.schema.alterTable('tcc_transactions', (t) => {
    // Admin ListTransactions {statuses}: keyset pages `status = ? AND gid > ? ORDER BY gid`.
    t.index(['status', 'gid'], 'tcc_transactions_status_gid');
  });
  await knex.schema.createTable('tcc_isolation_probe', (t) => {
    if (isMysql(knex)) t.specificType('token', `VARCHAR(64) ${ID} NOT NULL`).primary();
    else t.string('token', 64).notNullable().primary();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tcc_isolation_probe');
  await knex.schema.alterTable('tcc_transactions', (t) => {
    t.dropIndex(['status', 'gid'], 'tcc_transactions_status_gid');
  });
  if (isMysql(knex)) {
    // Back to the table's default collation; fails on purpose (duplicate key)
    // if case-variant ids were stored meanwhile, rather than merge them.
    await knex.raw('ALTER TABLE tcc_logs MODIFY gid VARCHAR(128) NOT NULL, MODIFY branch_id VARCHAR(128) NOT NULL DEFAULT \'\'');
    await knex.raw('ALTER TABLE tcc_branches MODIFY gid VARCHAR(128) NOT NULL, MODIFY branch_id VARCHAR(128) NOT NULL');
    await knex.raw('ALTER TABLE tcc_transactions MODIFY gid VARCHAR(128) NOT NULL, MODIFY owner VARCHAR(64) NULL DEFAULT NULL');
  }
}
