/**
 * Errors of the store layer that callers must tell apart (one class per
 * condition); the gRPC edge maps them to status codes. Nothing was written
 * for the caller that gets one.
 */

/** The group committer's queue is full: the work was refused at once, before anything was written. */
export class StoreQueueFullError extends Error {
  constructor(readonly maxQueuedCommands: number) {
    super('transaction store is overloaded (write queue full); retry later');
    this.name = 'StoreQueueFullError';
  }
}

/** The caller's deadline passed before its work was written: dropped, all of it. */
export class StoreDeadlineExceededError extends Error {
  constructor() {
    super('deadline passed before the request was written; nothing was done');
    this.name = 'StoreDeadlineExceededError';
  }
}

/** A store call took longer than the statement timeout; its connection was closed, so its transaction did not commit unless COMMIT had already reached the server. */
export class StoreTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`transaction store did not answer within ${timeoutMs} ms`);
    this.name = 'StoreTimeoutError';
  }
}

/**
 * The database failed in a way a retry later (possibly against another
 * replica) may not see: storage full, read-only, I/O error, corrupt, the
 * connection lost or killed. The transaction the call ran in was rolled back
 * (a COMMIT cut mid-way may have landed: the outcome is unknown), so the
 * caller gets UNAVAILABLE, never INTERNAL. Only the driver's error code is
 * kept: its message may quote SQL values.
 */
export class DatabaseUnavailableError extends Error {
  constructor(readonly code: string) {
    super(`transaction store unavailable (${code}); retry later`);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * The SQLite database file was deleted or replaced while the coordinator had
 * it open: whatever it writes now goes to a file nobody will open again, so it
 * acknowledges nothing more, for good (until restarted on a restored file).
 */
export class DatabaseFileLostError extends DatabaseUnavailableError {
  constructor(readonly file: string, readonly why: 'deleted' | 'replaced') {
    super('SQLITE_FILE_LOST');
    this.message = `the coordinator's SQLite database file was ${why} while in use; this coordinator stopped serving (restore the file, or restart with TCC_DB_INITIALIZE=true to start over on an empty database)`;
    this.name = 'DatabaseFileLostError';
  }
}

/**
 * The coordinator must not start on this database: it is not the one this
 * path held before (deleted, emptied or swapped), or the server cannot take
 * the largest statement the configured limits produce. The message says what
 * to do.
 */
export class DatabaseStartRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseStartRefusedError';
  }
}

/**
 * Driver codes that mean the storage, not the statement, failed.
 * SQLite (better-sqlite3 gives extended codes such as SQLITE_IOERR_WRITE):
 * full, read-only, I/O error, cannot open, corrupt or not a database. A
 * corrupt file is no passing condition, but it is the storage failing, not
 * the request: callers should go elsewhere and operators must look (health
 * turns NOT_SERVING). SQLITE_BUSY is left out: the group committer retries
 * it as a lock conflict. MySQL/MariaDB (mysql2): the connection lost, reset,
 * refused or killed (ER_CONNECTION_KILLED 1927, ER_SERVER_SHUTDOWN 1053), the
 * server read-only (a demoted primary: ER_OPTION_PREVENTS_STATEMENT 1290) or
 * out of space (ER_RECORD_FILE_FULL 1114, ER_DISK_FULL 1021).
 */
const UNAVAILABLE_CODE =
  /^(SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)(_\w+)?|PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|ER_CONNECTION_KILLED|ER_SERVER_SHUTDOWN|ER_OPTION_PREVENTS_STATEMENT|ER_RECORD_FILE_FULL|ER_DISK_FULL|ER_CON_COUNT_ERROR|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH)$/;

/** MySQL errnos of the same conditions, for errors that carry only the number. */
const UNAVAILABLE_ERRNO = new Set([1927, 1053, 1290, 1114, 1021, 1040]);

/** The storage failed (see {@link UNAVAILABLE_CODE}); a statement's own error is not this. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: unknown; errno?: unknown; name?: unknown; message?: unknown; fatal?: unknown };
  if (typeof e?.code === 'string' && UNAVAILABLE_CODE.test(e.code)) return true;
  if (typeof e?.errno === 'number' && UNAVAILABLE_ERRNO.has(e.errno) && typeof e.code === 'string' && e.code.startsWith('ER_')) return true;
  // knex waiting for a pool connection; mysql2 refusing a query on a connection it saw die.
  if (e?.name === 'KnexTimeoutError') return true;
  // (knex prefixes it with the statement that failed, e.g. "ROLLBACK - " after the connection died mid-transaction).
  return typeof e?.message === 'string' && /Can't add new command when connection is in closed state/.test(e.message);
}

/** `err` as a {@link DatabaseUnavailableError} when the storage failed, else `err` itself. */
export function asStoreError(err: unknown): unknown {
  if (err instanceof DatabaseUnavailableError || !isDatabaseUnavailable(err)) return err;
  const code = (err as { code?: unknown }).code;
  return new DatabaseUnavailableError(typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'CONNECTION_LOST');
}
