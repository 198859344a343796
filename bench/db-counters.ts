/**
 * What one scenario costs the database, per committed transaction:
 *
 * - MariaDB/MySQL: the difference of `SHOW GLOBAL STATUS` counters over the
 *   measured window. They are server-wide: anything else running on the same
 *   server (another engineer's tests) is counted too, and the report says so.
 *   Statements = the SELECT/INSERT/UPDATE/DELETE/REPLACE Com_* counters (the
 *   bench's own SHOW GLOBAL STATUS is Com_show_status, not among them);
 *   fsyncs = Innodb_data_fsyncs + Innodb_os_log_fsyncs (MariaDB ≥ 10.8 has
 *   no separate log counter; whichever exist are summed).
 * - Both stores: the coordinator's own Prometheus counter of group-commit
 *   batches (tcc_store_batch_duration_seconds_count), one local database
 *   transaction each, and on SQLite its fdatasyncs of the WAL
 *   (tcc_store_wal_syncs_total: the store syncs the WAL off the event loop, one
 *   sync serving every commit written before it began; SQLite's checkpoint
 *   syncs are not counted). SQLite has no server-side statement counter.
 */
import * as http from 'node:http';
import * as mysql from 'mysql2/promise';
import { mysqlConnectionOptions } from './bench-db';

const STATEMENT_COUNTERS = [
  'Com_select',
  'Com_insert',
  'Com_insert_select',
  'Com_update',
  'Com_update_multi',
  'Com_delete',
  'Com_delete_multi',
  'Com_replace',
];
const FSYNC_COUNTERS = ['Innodb_data_fsyncs', 'Innodb_os_log_fsyncs'];

export interface MysqlWindow {
  statements: number;
  fsyncs: number;
  /** Which fsync counters the server has (for the legend). */
  fsyncCounters: string[];
}

export class MysqlCounters {
  private constructor(private readonly conn: mysql.Connection) {}

  static async open(baseUrl: string): Promise<MysqlCounters> {
    return new MysqlCounters(await mysql.createConnection(mysqlConnectionOptions(baseUrl)));
  }

  async snapshot(): Promise<Map<string, number>> {
    const names = [...STATEMENT_COUNTERS, ...FSYNC_COUNTERS].map((n) => `'${n}'`).join(',');
    const [rows] = await this.conn.query(`SHOW GLOBAL STATUS WHERE Variable_name IN (${names})`);
    return new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, Number(r.Value)]));
  }

  static diff(a: Map<string, number>, b: Map<string, number>): MysqlWindow {
    const sum = (names: string[]) => names.reduce((s, n) => s + ((b.get(n) ?? 0) - (a.get(n) ?? 0)), 0);
    return { statements: sum(STATEMENT_COUNTERS), fsyncs: sum(FSYNC_COUNTERS), fsyncCounters: FSYNC_COUNTERS.filter((n) => b.has(n)) };
  }

  /** Version and durability settings, for the report's settings line. */
  async serverSettings(): Promise<string> {
    const [rows] = await this.conn.query(
      'SELECT VERSION() AS v, @@innodb_flush_log_at_trx_commit AS f, @@sync_binlog AS s, @@log_bin AS b',
    );
    const r = (rows as { v: string; f: number; s: number; b: number }[])[0];
    return `${r.v}, innodb_flush_log_at_trx_commit=${r.f}, log_bin=${r.b ? 'ON' : 'OFF'}, sync_binlog=${r.s}`;
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}

/** The coordinator's own store counters, from its /metrics. */
export interface StoreCounters {
  /** Group-commit batches so far (tcc_store_batch_duration_seconds_count). */
  batches?: number;
  /** Statements those batches sent, BEGIN/COMMIT included (tcc_store_statements_total). */
  statements?: number;
  /** Queries those batches sent, one round trip each on MySQL (tcc_store_queries_total). */
  queries?: number;
  /** SQLite: the store's fdatasyncs of the WAL (tcc_store_wal_syncs_total). */
  walSyncs?: number;
}

/** One scrape of the coordinator's /metrics (empty when unreachable). */
export function scrapeStoreCounters(metricsAddr: string): Promise<StoreCounters> {
  return new Promise((resolve) => {
    const req = http.get(`http://${metricsAddr}/metrics`, { timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve({});
        const num = (re: RegExp) => {
          const m = re.exec(body);
          return m ? Number(m[1]) : undefined;
        };
        resolve({
          batches: num(/^tcc_store_batch_duration_seconds_count(?:\{[^}]*\})?\s+(\S+)/m),
          statements: num(/^tcc_store_statements_total(?:\{[^}]*\})?\s+(\S+)/m),
          queries: num(/^tcc_store_queries_total(?:\{[^}]*\})?\s+(\S+)/m),
          walSyncs: num(/^tcc_store_wal_syncs_total(?:\{[^}]*\})?\s+(\S+)/m),
        });
      });
      res.on('error', () => resolve({}));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({}));
  });
}
