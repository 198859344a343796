import type { Knex } from 'knex';

/**
 * Recovery's due queries by status: deadline rollbacks read `status='TRYING'
 * AND due_at <= now` and phase-two rounds the decided statuses, each in due_at
 * order, so neither scans past the other's backlog.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_transactions', (t) => {
    t.index(['status', 'due_at'], 'tcc_transactions_status_due');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_transactions', (t) => {
    t.dropIndex(['status', 'due_at'], 'tcc_transactions_status_due');
  });
}
