import type { Knex } from 'knex';
import { StoreTimeoutError } from './store-errors';

interface PoolClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(conn: unknown): Promise<unknown>;
}

/**
 * Closes a connection at once. mysql2's own close() only half-closes (FIN)
 * and marks the connection closing, which leaves a query waiting on a server
 * that stopped answering pending forever; destroying the socket fails that
 * query (PROTOCOL_CONNECTION_LOST) and knex's pool drops the connection. The
 * server rolls back whatever transaction was open on it. better-sqlite3 runs
 * synchronously: nothing to cut.
 */
function cut(conn: unknown): void {
  const c = conn as { stream?: { destroy(): void }; __knex__disposed?: unknown };
  if (c?.stream && typeof c.stream.destroy === 'function') {
    c.__knex__disposed = new Error('statement timeout');
    c.stream.destroy();
  }
}

/**
 * Runs `work` on one pooled connection for at most `timeoutMs`, waiting for
 * the connection included. Past it the caller gets {@link StoreTimeoutError}
 * and the connection is closed, so a half-open connection (a server that
 * stopped answering, a dropped route) fails the call instead of freezing it,
 * and the pool opens a fresh connection for the next one.
 */
export async function withTimedConnection<T>(knex: Knex, timeoutMs: number, work: (conn: unknown) => Promise<T>): Promise<T> {
  const client = knex.client as PoolClient;
  let conn: unknown;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (conn !== undefined) cut(conn);
      reject(new StoreTimeoutError(timeoutMs));
    }, timeoutMs);
  });
  expired.catch(() => undefined);
  const acquiring = client.acquireConnection();
  try {
    conn = await Promise.race([acquiring, expired]);
  } catch (err) {
    clearTimeout(timer);
    // Timed out waiting: the connection, when it comes, goes straight back.
    acquiring.then(
      (c) => client.releaseConnection(c),
      () => undefined,
    );
    throw err;
  }
  const running = work(conn);
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    // Back to the pool once the work has let go of it (at once unless cut; a cut connection errors quickly).
    const release = () => client.releaseConnection(conn);
    running.then(release, release).catch(() => undefined);
  }
}
