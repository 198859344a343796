import type { Knex } from 'knex';

/**
 * Which authenticated client began each transaction (client authentication:
 * TCC_CLIENT_AUTH). Its own table so the claim (insert of the primary key)
 * is the compare-and-set that decides who owns a gid, written before the
 * transaction itself. The gid compares byte for byte (ascii_bin on MySQL,
 * SQLite's default BINARY), as ids must.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = (knex.client as { config: { client: string } }).config.client === 'mysql2';
  await knex.schema.createTable('tcc_owners', (t) => {
    if (mysql) t.specificType('gid', 'VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL').primary();
    else t.string('gid', 128).notNullable().primary();
    t.string('identity', 128).notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tcc_owners');
}
