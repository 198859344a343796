import type { Knex } from 'knex';

/** How big one multi-row statement may get on a backend. */
export interface StatementLimits {
  /** Most rows in one multi-row INSERT (SQLite: knex writes it as a compound SELECT, at most 500 terms). */
  maxRows: number;
  /** Most bound values in one statement (SQLite's SQLITE_MAX_VARIABLE_NUMBER). */
  maxValues: number;
  /** Most bytes of row data in one statement (MySQL: within max_allowed_packet once escaped). */
  maxBytes: number;
}

/** Bytes of a statement's text beside its row data: column names, the other columns' values, keywords. */
const STATEMENT_TEXT_BYTES = 64 * 1024;

/**
 * SQLite: 500 compound-SELECT terms (SQLITE_MAX_COMPOUND_SELECT) and 32 766
 * bound values (SQLITE_MAX_VARIABLE_NUMBER since 3.32; better-sqlite3 bundles
 * a newer one). MySQL: knex inlines values (no placeholder limit), so bytes
 * are the bound; 4 MiB of data stays under MariaDB's default 16 MiB
 * max_allowed_packet even hex-escaped. {@link mysqlLimits} derives it from
 * the server's actual setting.
 */
export const SQLITE_LIMITS: StatementLimits = { maxRows: 500, maxValues: 32_766, maxBytes: 16 * 1024 * 1024 };
export const MYSQL_DEFAULT_LIMITS: StatementLimits = { maxRows: 1_000, maxValues: 60_000, maxBytes: 4 * 1024 * 1024 };

/**
 * Limits for a MySQL server whose max_allowed_packet is `maxAllowedPacket`:
 * binary values travel hex-escaped (twice their size), and 64 KiB stay for
 * the statement's text.
 */
export function mysqlLimits(maxAllowedPacket: number): StatementLimits {
  const bytes = Math.floor((maxAllowedPacket - STATEMENT_TEXT_BYTES) / 2);
  return { ...MYSQL_DEFAULT_LIMITS, maxBytes: Math.max(64 * 1024, bytes) };
}

/**
 * The packet (MySQL max_allowed_packet) one branch row with a payload of
 * `payloadBytes` needs: the payload hex-encoded (knex inlines values) plus
 * the statement's text. Rows are never split, so this is the floor the
 * server's setting must clear; {@link mysqlLimits} sizes multi-row statements.
 */
export function largestRowPacket(payloadBytes: number): number {
  return 2 * payloadBytes + STATEMENT_TEXT_BYTES;
}

/** Bytes a value takes in a statement, at most (strings as 4-byte utf8mb4 characters). */
function valueBytes(v: unknown): number {
  if (Buffer.isBuffer(v)) return v.length;
  if (typeof v === 'string') return v.length * 4;
  return 24;
}

function rowBytes(row: Record<string, unknown>): number {
  let n = 0;
  for (const v of Object.values(row)) n += valueBytes(v) + 8;
  return n;
}

/**
 * Splits `items` into consecutive chunks within `limits`, measuring each item
 * with `size` (values, bytes). An item over the byte limit on its own still
 * goes, alone: splitting it is impossible, and the database names the problem.
 */
export function chunk<T>(items: readonly T[], limits: StatementLimits, size: (item: T) => { values: number; bytes: number }): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let values = 0;
  let bytes = 0;
  for (const item of items) {
    const s = size(item);
    if (cur.length && (cur.length >= limits.maxRows || values + s.values > limits.maxValues || bytes + s.bytes > limits.maxBytes)) {
      out.push(cur);
      cur = [];
      values = 0;
      bytes = 0;
    }
    cur.push(item);
    values += s.values;
    bytes += s.bytes;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Inserts `rows` into `table` in as many statements as the limits need, in order, on `db` (a transaction, so all or none). */
export async function insertChunked(db: Knex | Knex.Transaction, table: string, rows: readonly Record<string, unknown>[], limits: StatementLimits): Promise<void> {
  for (const part of chunk(rows, limits, (r) => ({ values: Object.keys(r).length, bytes: rowBytes(r) }))) {
    await db(table).insert(part);
  }
}

/**
 * Splits an id list for `whereIn` (each chunk one statement). Callers run the
 * chunks inside one transaction, so the change stays all or none.
 */
export function chunkIds(ids: readonly string[], limits: StatementLimits): string[][] {
  // A whereIn is no compound SELECT, but keep chunks as small: statements stay short on every backend.
  return chunk(ids, limits, (id) => ({ values: 1, bytes: valueBytes(id) + 8 }));
}
