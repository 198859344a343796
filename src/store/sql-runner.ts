/**
 * Statements of the store's hot path, run on the driver's own connection
 * (the one a knex transaction holds) rather than through the query builder.
 * The CPU profile of the coordinator put knex's per-call work (building and
 * compiling the query, and on SQLite preparing the statement again for every
 * call) at a third of the process's time; the batch writer's statements are a
 * few fixed shapes, so they are written once as SQL text and, on SQLite,
 * prepared once. knex keeps migrations, admin queries and the pool.
 */

/** One row as the driver returns it. */
export type SqlRow = Record<string, unknown>;

/** Runs SQL with `?` placeholders on one connection, inside the transaction already open on it. */
export interface SqlRunner {
  /** The rows of a query. */
  all(sql: string, params: readonly unknown[]): Promise<SqlRow[]>;
  /** Rows an INSERT/UPDATE/DELETE matched (MySQL: mysql2 connects with FOUND_ROWS; SQLite: changes). */
  run(sql: string, params: readonly unknown[]): Promise<number>;
}

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): SqlRow[];
  run(...params: unknown[]): { changes: number };
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

interface MysqlConnection {
  query(sql: string, values: readonly unknown[], cb: (err: Error | null, result: unknown) => void): unknown;
}

/**
 * Prepared statements kept per SQLite connection: the shapes of small
 * batches recur (a few per IN-list length). A long statement (a large batch)
 * is prepared for its one use: its preparation is small beside its rows, and
 * each one kept would hold its compiled program's memory.
 */
const STATEMENT_CACHE_SIZE = 128;
const CACHED_SQL_MAX = 2_048;
const sqliteCaches = new WeakMap<object, Map<string, SqliteStatement>>();

/** better-sqlite3 binds numbers, strings, bigints, Buffers and null; booleans as 0/1 like knex does. */
function sqliteParams(params: readonly unknown[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

/** Told the rows of every query (observers of what the store reads); not told when absent. */
export type RowsObserver = (rows: SqlRow[], sql: string) => void;

function observed(runner: SqlRunner, onRows: RowsObserver | undefined): SqlRunner {
  if (!onRows) return runner;
  return {
    run: (sql, params) => runner.run(sql, params),
    all: async (sql, params) => {
      const rows = await runner.all(sql, params);
      onRows(rows, sql);
      return rows;
    },
  };
}

function sqliteRunner(db: SqliteDatabase): SqlRunner {
  let cache = sqliteCaches.get(db);
  if (!cache) sqliteCaches.set(db, (cache = new Map<string, SqliteStatement>()));
  const statements = cache;
  const prepared = (sql: string): SqliteStatement => {
    let s = statements.get(sql);
    if (s) return s;
    s = db.prepare(sql);
    if (sql.length > CACHED_SQL_MAX) return s;
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
    statements.set(sql, s);
    return s;
  };
  return {
    // better-sqlite3 is synchronous: a thrown error becomes the rejection.
    all: async (sql, params) => prepared(sql).all(...sqliteParams(params)),
    run: async (sql, params) => prepared(sql).run(...sqliteParams(params)).changes,
  };
}

function mysqlRunner(conn: MysqlConnection): SqlRunner {
  // The text protocol (client-side escaping, one round trip): the statements'
  // IN lists vary in length, so server-side prepared statements would mostly
  // be prepared for one use.
  const query = (sql: string, params: readonly unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      conn.query(sql, params, (err, result) => {
        if (!err) return resolve(result);
        // mysql2 keeps the statement with every value inlined: never logged or passed on (see stripStatement).
        delete (err as { sql?: unknown }).sql;
        reject(err);
      });
    });
  return {
    all: async (sql, params) => (await query(sql, params)) as SqlRow[],
    run: async (sql, params) => ((await query(sql, params)) as { affectedRows: number }).affectedRows,
  };
}

/** A runner on `connection`, the raw driver connection of a knex transaction (better-sqlite3 Database or mysql2 Connection). */
export function createSqlRunner(dialect: 'sqlite' | 'mysql', connection: unknown, onRows?: RowsObserver): SqlRunner {
  return observed(dialect === 'sqlite' ? sqliteRunner(connection as SqliteDatabase) : mysqlRunner(connection as MysqlConnection), onRows);
}

const placeholderLists: string[] = [];

/** `?, ?, …` with `n` placeholders (cached: the same few lengths recur). */
export function placeholders(n: number): string {
  return (placeholderLists[n] ??= Array.from({ length: n }, () => '?').join(', '));
}

/** `(?, ?), (?, ?), …`: `n` tuples of `width` placeholders. */
export function tuplePlaceholders(n: number, width: number): string {
  const one = `(${placeholders(width)})`;
  return Array.from({ length: n }, () => one).join(', ');
}
