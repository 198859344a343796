/**
 * A fresh store per scenario: a SQLite file in a temp folder, or a new MySQL
 * database tcc_bench_<timestamp> that is dropped afterwards. The bench reads
 * the store directly (status counts) so it never has to trust the coordinator
 * under test for what it measures.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as mysql from 'mysql2/promise';
import { registerCleanup } from './processes';

export type DbKind = 'sqlite' | 'mysql';

export interface BenchDb {
  kind: DbKind;
  url: string;
  label: string;
  /** Transactions by status, read directly from the store. */
  statusCounts(): Promise<Record<string, number>>;
  /** Transactions whose gid starts with `prefix`, by status (the backlog scenario tags its gids). */
  statusCountsWithPrefix(prefix: string): Promise<Record<string, number>>;
  cleanup(): Promise<void>;
}

const byStatus = (rows: { status: string; n: number | bigint }[]) => Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));

/** A fresh store; its clean-up also runs if the run is cut short (see registerCleanup). */
export async function createDb(kind: DbKind, mysqlUrl: string): Promise<BenchDb> {
  const db = kind === 'sqlite' ? createSqliteDb() : await createMysqlDb(mysqlUrl);
  let once: Promise<void> | undefined;
  const cleanup = () => (once ??= db.cleanup());
  const unregister = registerCleanup(cleanup);
  return {
    ...db,
    cleanup: () => {
      unregister();
      return cleanup();
    },
  };
}

function createSqliteDb(): BenchDb {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-bench-'));
  const file = path.join(dir, 'tcc.sqlite');
  let reader: Database.Database | undefined;
  const open = () => {
    if (!reader) {
      reader = new Database(file, { readonly: true, fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
    }
    return reader;
  };
  return {
    kind: 'sqlite',
    url: `sqlite:${file}`,
    label: file,
    async statusCounts() {
      return byStatus(open().prepare('SELECT status, COUNT(*) AS n FROM tcc_transactions GROUP BY status').all() as { status: string; n: number }[]);
    },
    async statusCountsWithPrefix(prefix) {
      // Range on the primary key instead of LIKE: SQLite's LIKE is case-insensitive and skips the index.
      const rows = open()
        .prepare('SELECT status, COUNT(*) AS n FROM tcc_transactions WHERE gid >= ? AND gid < ? GROUP BY status')
        .all(prefix, prefixEnd(prefix)) as { status: string; n: number }[];
      return byStatus(rows);
    },
    async cleanup() {
      reader?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The smallest string above every string starting with `prefix` (prefix is ASCII). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export function mysqlConnectionOptions(baseUrl: string): mysql.ConnectionOptions {
  const u = new URL(baseUrl);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    connectTimeout: 10_000,
  };
}

async function createMysqlDb(baseUrl: string): Promise<BenchDb> {
  const u = new URL(baseUrl);
  const name = `tcc_bench_${Date.now()}`;
  const admin = await mysql.createConnection(mysqlConnectionOptions(baseUrl));
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw err;
  }
  const cred = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : 'root@';
  return {
    kind: 'mysql',
    url: `mysql://${cred}${u.host}/${name}`,
    label: name,
    async statusCounts() {
      const [rows] = await admin.query(`SELECT status, COUNT(*) AS n FROM \`${name}\`.tcc_transactions GROUP BY status`);
      return byStatus(rows as { status: string; n: number }[]);
    },
    async statusCountsWithPrefix(prefix) {
      const [rows] = await admin.query(
        `SELECT status, COUNT(*) AS n FROM \`${name}\`.tcc_transactions WHERE gid >= ? AND gid < ? GROUP BY status`,
        [prefix, prefixEnd(prefix)],
      );
      return byStatus(rows as { status: string; n: number }[]);
    },
    async cleanup() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}
