import type { Knex } from 'knex';

/**
 * A bounded timeline: past the first failed attempts of a branch in a phase,
 * further failed attempts are folded into one row per branch and phase,
 * counted in `repeats`, instead of adding a row each (a stuck transaction
 * used to grow by one row per attempt forever).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_logs', (t) => {
    t.integer('repeats').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tcc_logs', (t) => {
    t.dropColumn('repeats');
  });
}
