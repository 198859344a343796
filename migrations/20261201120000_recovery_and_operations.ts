import type { Knex } from 'knex';

/**
 * Recovery and operations: when a transaction was decided (stuck-by-age and
 * the timeline), who asked for an operator action, and the indexes that
 * retention and the stuck listing scan by.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_transactions', (t) => {
    t.bigInteger('decided_at').nullable();
    // Retention deletes finished transactions by status and age.
    t.index(['status', 'updated_at'], 'tcc_transactions_status_updated');
    // `ListTransactions {stuck_only}` pages by gid among the stuck ones.
    t.index(['stuck', 'gid'], 'tcc_transactions_stuck');
  });
  await knex.schema.alterTable('tcc_logs', (t) => {
    t.string('operator', 128).notNullable().defaultTo('');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_logs', (t) => {
    t.dropColumn('operator');
  });
  await knex.schema.alterTable('tcc_transactions', (t) => {
    t.dropIndex(['stuck', 'gid'], 'tcc_transactions_stuck');
    t.dropIndex(['status', 'updated_at'], 'tcc_transactions_status_updated');
    t.dropColumn('decided_at');
  });
}
