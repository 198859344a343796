import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * A MySQL named lock for `purpose` in the database `knex` connects to:
 * `<prefix>_` and a hash of the database name and `purpose` (lock names are
 * server-wide and at most 64 characters). `purpose` defaults to none.
 */
export function namedLockName(knex: Knex, prefix: string, purpose = ''): string {
  const db = String((knex.client as { connectionSettings?: { database?: string } }).connectionSettings?.database ?? '');
  // Without a purpose: the database name alone, as the coordinator's migration lock always was
  // (replicas of an older version must keep meeting on the same name).
  const key = purpose ? `${db}\u0000${purpose}` : db;
  return `${prefix}_${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/**
 * Runs `fn` holding MySQL's named lock `name` (GET_LOCK) on a connection of
 * its own, waiting for it up to `waitMs`. The lock lives outside transactions
 * and metadata locks, and the server releases it if its holder dies: processes
 * running migrations at once take turns on it. Shared by the coordinator's
 * migrations and the participant SDK's barrier schema.
 */
export async function withMysqlNamedLock(knex: Knex, name: string, waitMs: number, fn: () => Promise<void>): Promise<void> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(conn: unknown): Promise<unknown> };
  const conn = await client.acquireConnection();
  try {
    const [rows] = (await knex.raw('SELECT GET_LOCK(?, ?) AS got', [name, Math.max(1, Math.ceil(waitMs / 1000))]).connection(conn)) as [{ got: number | null }[]];
    if (rows[0]?.got !== 1) throw new Error(`another process held the lock ${name} for over ${waitMs} ms`);
    try {
      await fn();
    } finally {
      await knex.raw('SELECT RELEASE_LOCK(?)', [name]).connection(conn);
    }
  } finally {
    await client.releaseConnection(conn);
  }
}
