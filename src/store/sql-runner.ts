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

/** One statement and its values. */
export interface Statement {
  sql: string;
  params: readonly unknown[];
}

/** The rows a statement sent later matched: unset until its answer is in. */
export interface RowCount {
  matched: number | undefined;
}

/** Runs SQL with `?` placeholders on one connection, inside the transaction already open on it. */
export interface SqlRunner {
  /** The rows of a query. */
  all(sql: string, params: readonly unknown[]): Promise<SqlRow[]>;
  /** Rows an INSERT/UPDATE/DELETE matched (MySQL: mysql2 connects with FOUND_ROWS; SQLite: changes). */
  run(sql: string, params: readonly unknown[]): Promise<number>;
  /**
   * A statement whose result nobody reads. MySQL sends it with the next
   * `all`, `run` or `flush`, in order, as one multi-statement query (one
   * round trip for several; its error fails that call, and the server runs
   * nothing after the failing statement); it resolves at once, unless what
   * waits already would pass the query size bound with it (then that is sent
   * first). SQLite runs it at once.
   */
  defer(sql: string, params: readonly unknown[]): Promise<void>;
  /**
   * Like `defer`, for a statement whose matched-row count is read later: the
   * count is set on the answer once the statement went out and was answered
   * (MySQL: with the next query, or `flush`; SQLite: at once). A
   * compare-and-set whose losers are looked up afterwards need not cost a round
   * trip of its own.
   */
  deferCount(sql: string, params: readonly unknown[]): Promise<RowCount>;
  /**
   * The rows of several queries, run in order. MySQL sends them (after what
   * is deferred) as one multi-statement query, several when they would pass
   * the query size bound together: one round trip for reads that do not
   * depend on each other's answers.
   */
  allEach(statements: readonly Statement[]): Promise<SqlRow[][]>;
  /** Sends what is deferred, if anything (before the connection is used by other means). */
  flush(): Promise<void>;
  /** Forgets what is deferred and not sent (the transaction is being rolled back). */
  discard(): void;
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
  /** With `multipleStatements` (create-store connects so), a query of k > 1 statements answers an array of k results. */
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
    ...runner,
    all: async (sql, params) => {
      const rows = await runner.all(sql, params);
      onRows(rows, sql);
      return rows;
    },
    allEach: async (statements) => {
      const each = await runner.allEach(statements);
      each.forEach((rows, i) => onRows(rows, statements[i].sql));
      return each;
    },
  };
}

function sqliteRunner(db: SqliteDatabase, onQuery: () => void): SqlRunner {
  let cache = sqliteCaches.get(db);
  if (!cache) sqliteCaches.set(db, (cache = new Map<string, SqliteStatement>()));
  const statements = cache;
  const prepared = (sql: string): SqliteStatement => {
    onQuery();
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
    allEach: async (statements) => statements.map((st) => prepared(st.sql).all(...sqliteParams(st.params))),
    // No round trip to save in-process: at once, so its error is thrown where it was made.
    defer: async (sql, params) => void prepared(sql).run(...sqliteParams(params)),
    deferCount: async (sql, params) => ({ matched: prepared(sql).run(...sqliteParams(params)).changes }),
    flush: async () => {},
    discard: () => {},
  };
}

/** Bytes a statement takes in a query at most: its text, and each value (strings as 4-byte utf8mb4 characters) escaped. */
function queryBytes(sql: string, params: readonly unknown[]): number {
  let n = sql.length;
  for (const p of params) n += Buffer.isBuffer(p) ? 2 * p.length : typeof p === 'string' ? 4 * p.length : 24;
  return n;
}

/** A statement held back to go with the next query; `count` is told its matched rows. */
interface Deferred extends Statement {
  count?: RowCount;
}

function mysqlRunner(conn: MysqlConnection, maxQueryBytes: number, onQuery: () => void): SqlRunner {
  // The text protocol (client-side escaping, one round trip): the statements'
  // IN lists vary in length, so server-side prepared statements would mostly
  // be prepared for one use.
  // Deferred statements wait here and go in front of the next statement sent:
  // a round trip (0.2 ms on loopback, more across hosts) costs more than most
  // of a batch's statements, and a batch's writes rarely need their answers.
  // Together they stay within maxQueryBytes (max_allowed_packet), as each
  // statement alone does; one larger than that goes alone.
  let deferred: Deferred[] = [];
  let deferredBytes = 0;
  /** One query of `statements`; answers each statement's result. */
  const query = (statements: readonly Deferred[]) => {
    const text = statements.length === 1 ? statements[0].sql : statements.map((s) => s.sql).join(';\n');
    const values = statements.length === 1 ? statements[0].params : statements.flatMap((s) => s.params);
    onQuery();
    return new Promise<unknown[]>((resolve, reject) => {
      conn.query(text, values, (err, result) => {
        if (!err) {
          // Several statements answer an array of one result each.
          const results = statements.length > 1 ? (result as unknown[]) : [result];
          statements.forEach((st, k) => {
            if (st.count) st.count.matched = (results[k] as { affectedRows: number }).affectedRows;
          });
          return resolve(results);
        }
        // mysql2 keeps the statement with every value inlined: never logged or passed on (see stripStatement).
        delete (err as { sql?: unknown }).sql;
        reject(err);
      });
    });
  };
  const takeDeferred = () => {
    const statements = deferred;
    deferred = [];
    deferredBytes = 0;
    return statements;
  };
  const flush = async () => {
    if (deferred.length) await query(takeDeferred());
  };
  const hold = async (st: Deferred) => {
    const bytes = queryBytes(st.sql, st.params);
    if (deferredBytes + bytes > maxQueryBytes) await flush();
    deferred.push(st);
    deferredBytes += bytes;
  };
  /** `sql` after what is deferred, in one query when they fit together; answers its result. */
  const send = async (sql: string, params: readonly unknown[]) => {
    if (deferredBytes + queryBytes(sql, params) > maxQueryBytes) await flush();
    const results = await query([...takeDeferred(), { sql, params }]);
    return results[results.length - 1];
  };
  return {
    all: async (sql, params) => (await send(sql, params)) as SqlRow[],
    run: async (sql, params) => ((await send(sql, params)) as { affectedRows: number }).affectedRows,
    allEach: async (statements) => {
      const out: SqlRow[][] = [];
      let group: Statement[] = [];
      let bytes = 0;
      const sendGroup = async () => {
        const results = await query([...takeDeferred(), ...group]);
        for (const r of results.slice(results.length - group.length)) out.push(r as SqlRow[]);
        group = [];
        bytes = 0;
      };
      for (const st of statements) {
        const b = queryBytes(st.sql, st.params);
        if (group.length && deferredBytes + bytes + b > maxQueryBytes) await sendGroup();
        if (!group.length && deferredBytes + b > maxQueryBytes) await flush();
        group.push(st);
        bytes += b;
      }
      if (group.length) await sendGroup();
      return out;
    },
    defer: async (sql, params) => void (await hold({ sql, params })),
    deferCount: async (sql, params) => {
      const count: RowCount = { matched: undefined };
      await hold({ sql, params, count });
      return count;
    },
    flush,
    discard: () => void takeDeferred(),
  };
}

/** Options of {@link createSqlRunner}. */
export interface SqlRunnerOptions {
  /** Told the rows of every query. Default: nobody. */
  onRows?: RowsObserver;
  /** Told each query sent to the database (MySQL: one round trip, of one statement or several; SQLite: one statement). Default: nobody. */
  onQuery?: () => void;
  /** MySQL: most bytes of statements (text and escaped values) sent in one query; the connection's max_allowed_packet bounds it. Default 4 MiB. */
  maxQueryBytes?: number;
}

/** A runner on `connection`, the raw driver connection of a knex transaction (better-sqlite3 Database or mysql2 Connection). */
export function createSqlRunner(dialect: 'sqlite' | 'mysql', connection: unknown, options: SqlRunnerOptions = {}): SqlRunner {
  const onQuery = options.onQuery ?? (() => {});
  const runner =
    dialect === 'sqlite' ? sqliteRunner(connection as SqliteDatabase, onQuery) : mysqlRunner(connection as MysqlConnection, options.maxQueryBytes ?? 4 * 1024 * 1024, onQuery);
  return observed(runner, options.onRows);
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
