import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import * as mysql from 'mysql2/promise';
import { createTransactionStore } from '../src/store/create-store';
import { GroupCommitter } from '../src/store/group-committer';
import { StoreTimeoutError } from '../src/store/store-errors';
import type { TransactionStore } from '../src/store/transaction-store';

/*
 * A store call never hangs: a MySQL server that stops answering (here: its
 * own mariadbd, SIGSTOPped; the shared server is never touched) fails the
 * call within TCC_DB_STATEMENT_TIMEOUT_MS, and once the server answers again
 * the same store works without a restart. On SQLite a held write lock fails
 * the call after busy_timeout.
 */

const TIMEOUT_MS = 2_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function create(gid: string) {
  const now = Date.now();
  return [{ kind: 'create', gid, now, deadlineAt: now + 60_000 }] as const;
}

/** Resolves with the error the call rejected with, or fails when it resolved. */
/**
 * SIGSTOP is delivered asynchronously: until every thread of the server is
 * stopped (state T in /proc), a query sent meanwhile may still be answered.
 */
async function stopAndWait(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const giveUp = Date.now() + 10_000;
  for (;;) {
    const states = fs.readdirSync(`/proc/${pid}/task`).map((t) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((st) => st === 'T' || st === 't')) return;
    if (Date.now() > giveUp) throw new Error(`mariadbd ${pid} not stopped after SIGSTOP: thread states ${states.join('')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the store call to fail');
}

describe('store calls on a MySQL server that stopped answering (own mariadbd, SIGSTOP)', function () {
  this.timeout(180_000);
  let dir: string;
  let server: ChildProcess | undefined;
  let store: TransactionStore | undefined;
  let port: number;

  before(async function () {
    const installDb = which('mariadb-install-db');
    const mariadbd = which('mariadbd');
    if (!installDb || !mariadbd) {
      const why = 'mariadb-install-db and mariadbd (Debian package mariadb-server) are needed to start a private server';
      if (process.env.CI === 'true') throw new Error(`${why}; with CI=true this is a failure`);
      console.warn(`\n  !!! statement-timeout test SKIPPED: ${why}.\n`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-mariadbd-'));
    const data = path.join(dir, 'data');
    const inst = spawnSync(installDb, ['--no-defaults', `--datadir=${data}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=normal'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (inst.status !== 0) throw new Error(`mariadb-install-db failed (${inst.status}): ${inst.stderr}`);
    port = await freePort();
    server = spawn(
      mariadbd,
      [
        '--no-defaults',
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(dir, 'sock')}`,
        `--pid-file=${path.join(dir, 'pid')}`,
        `--log-error=${path.join(dir, 'error.log')}`,
        '--skip-grant-tables',
        '--user=root',
        '--innodb-buffer-pool-size=16M',
        '--skip-log-bin',
      ],
      { stdio: 'ignore' },
    );
    const giveUpAt = Date.now() + 90_000;
    for (;;) {
      try {
        const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 2_000 });
        await c.query('CREATE DATABASE IF NOT EXISTS tcc');
        await c.end();
        break;
      } catch (err) {
        if (server.exitCode !== null || Date.now() > giveUpAt) {
          const log = fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2_000) : '';
          throw new Error(`private mariadbd did not answer on port ${port}: ${String(err)}\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    store = await createTransactionStore({ url: `mysql://root@127.0.0.1:${port}/tcc`, statementTimeoutMs: TIMEOUT_MS });
  });

  after(async function () {
    this.timeout(60_000);
    if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, 'SIGCONT');
    await store?.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a write and a read fail within the timeout; after SIGCONT the same store works again', async () => {
    const s = store!;
    await s.execute(create('before'));
    expect(await s.getTransaction('before')).to.not.equal(null);

    await stopAndWait(server!.pid!);
    try {
      const t0 = Date.now();
      const [w, r] = await Promise.all([rejection(s.execute(create('during'))), rejection(s.getTransaction('before'))]);
      const took = Date.now() - t0;
      expect(w).to.be.instanceOf(StoreTimeoutError);
      expect(r).to.be.instanceOf(StoreTimeoutError);
      // Bounded by the timeout, with slack for a loaded machine; without it the calls never return.
      expect(took).to.be.at.least(TIMEOUT_MS - 100).and.below(TIMEOUT_MS + 8_000);
      // A call that needs a fresh connection (handshake never answered) is bounded too.
      const more = await Promise.all(Array.from({ length: 12 }, (_, i) => rejection(s.getTransaction(`x${i}`))));
      expect(more.every((e) => e instanceof StoreTimeoutError)).to.equal(true);
      // A batch failing because the database is gone fails all its callers at once: no isolation writes, each waiting again.
      const gc = new GroupCommitter(s);
      const t1 = Date.now();
      const batch = await Promise.all(Array.from({ length: 16 }, (_, i) => rejection(gc.submit(create(`gc${i}`)))));
      // A connection attempt begun earlier may fail first (connect ETIMEDOUT): that too is the database, not a command.
      const what = batch.map((e) => (e instanceof StoreTimeoutError ? 'timeout' : String((e as { code?: string }).code)));
      expect(what.every((w) => w === 'timeout' || w === 'ETIMEDOUT'), what.join(',')).to.equal(true);
      expect(gc.stats().fallbackWrites).to.equal(0);
      expect(Date.now() - t1).to.be.below(2 * TIMEOUT_MS + 8_000);
    } finally {
      process.kill(server!.pid!, 'SIGCONT');
    }

    // Connection attempts begun while it was stopped may still fail; the same store answers again soon after.
    const back = Date.now() + 30_000;
    for (;;) {
      try {
        await s.ping();
        break;
      } catch (err) {
        if (Date.now() > back) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await s.execute(create('after'));
    expect(await s.getTransaction('after')).to.not.equal(null);
    expect(await s.getTransaction('before')).to.not.equal(null);
    // The write cut mid-way was rolled back by the server when its connection closed.
    expect(await s.getTransaction('during')).to.equal(null);
  });
});

describe('store calls on SQLite while another process holds the write lock', function () {
  this.timeout(60_000);
  it('fail (SQLITE_BUSY, within busy_timeout) instead of waiting forever, then work again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-sqlite-lock-'));
    const file = path.join(dir, 'tcc.sqlite');
    const store = await createTransactionStore({ url: `sqlite:${file}`, statementTimeoutMs: TIMEOUT_MS });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const t0 = Date.now();
      const err = (await rejection(store.execute(create('blocked')))) as Error & { code?: string };
      expect(err.code === 'SQLITE_BUSY' || err instanceof StoreTimeoutError, err.message).to.equal(true);
      expect(Date.now() - t0).to.be.below(30_000);
      other.exec('ROLLBACK');
      await store.execute(create('free'));
      expect(await store.getTransaction('free')).to.not.equal(null);
      expect(await store.getTransaction('blocked')).to.equal(null);
    } finally {
      other.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
