import type { Knex } from 'knex';

/**
 * The coordinator's tables. Times are epoch milliseconds (BIGINT) so both
 * dialects compare them the same way and no timezone setting matters.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = (knex.client as { config: { client: string } }).config.client === 'mysql2';
  // MEDIUMBLOB (16 MiB) on MySQL: BLOB stops at 64 KiB, under the payload limit's maximum.
  const blob = (t: Knex.CreateTableBuilder, name: string) =>
    mysql ? t.specificType(name, 'MEDIUMBLOB').notNullable() : t.binary(name).notNullable();

  await knex.schema.createTable('tcc_transactions', (t) => {
    t.string('gid', 128).primary();
    t.string('status', 16).notNullable();
    t.string('reason', 1024).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('deadline_at').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('due_at').nullable();
    t.string('owner', 64).nullable();
    t.string('last_error', 1024).notNullable().defaultTo('');
    t.boolean('stuck').notNullable().defaultTo(false);
    t.index(['due_at'], 'tcc_transactions_due');
    t.index(['status', 'created_at'], 'tcc_transactions_status_created');
  });

  await knex.schema.createTable('tcc_branches', (t) => {
    t.string('gid', 128).notNullable();
    t.string('branch_id', 128).notNullable();
    t.integer('seq').notNullable();
    t.string('participant', 256).notNullable();
    t.string('action', 128).notNullable();
    blob(t, 'payload');
    t.string('try_state', 16).notNullable();
    // Try calls sent for this branch (a client may retry a Try with the same branch_id).
    t.integer('try_attempts').notNullable().defaultTo(1);
    t.string('phase_two', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_retry_at').nullable();
    t.string('last_error', 1024).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['gid', 'branch_id']);
    t.index(['participant'], 'tcc_branches_participant');
  });

  await knex.schema.createTable('tcc_logs', (t) => {
    t.bigIncrements('id').primary();
    t.string('gid', 128).notNullable();
    t.string('branch_id', 128).notNullable().defaultTo('');
    t.string('phase', 16).notNullable();
    t.integer('attempt').notNullable().defaultTo(0);
    t.string('outcome', 16).notNullable();
    t.integer('grpc_code').notNullable().defaultTo(0);
    t.string('error', 1024).notNullable().defaultTo('');
    t.bigInteger('started_at').notNullable();
    t.integer('duration_ms').notNullable().defaultTo(0);
    t.string('node', 64).notNullable().defaultTo('');
    t.index(['gid', 'id'], 'tcc_logs_gid');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tcc_logs');
  await knex.schema.dropTableIfExists('tcc_branches');
  await knex.schema.dropTableIfExists('tcc_transactions');
}
