/**
 * Storage failing under a running coordinator answers UNAVAILABLE (never
 * INTERNAL), takes health to NOT_SERVING while it fails and back to SERVING by
 * itself once it works, and loses no acknowledged decision:
 * - SQLite with a real file-size limit (RLIMIT_FSIZE, set with prlimit on the
 *   coordinator process: writes past it fail with EFBIG, SQLite reports
 *   SQLITE_FULL / SQLITE_IOERR), lifted again with prlimit --pid;
 * - SQLite opened read-only (SQLITE_READONLY, a real driver error);
 * - a MySQL connection killed mid-transaction (KILL CONNECTION from a second
 *   connection on the shared MariaDB, which does not stop the server).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import knexFactory from 'knex';
import * as mysql from 'mysql2/promise';
import type { RunningCoordinator } from '../src/coordinator';
import { toGrpcFailure } from '../src/server/status-mapping';
import { createTransactionStore } from '../src/store/create-store';
import { GroupCommitter } from '../src/store/group-committer';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import {
  codeName,
  createCoordinatorClient,
  expectGrpcError,
  isServiceError,
  MARIADB_HOST,
  MARIADB_PORT,
  MARIADB_USER,
  onMariadb,
  pollUntil,
  startTestCoordinator,
  type TestCoordinatorClient,
} from './helpers/backends';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';
import { checkHealth, createHealthClient, type HealthClient } from './helpers/health-client';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const FSIZE_LIMIT = 3 * 1024 * 1024;

describe('SQLite storage full (a real file-size limit on the coordinator process)', function () {
  this.timeout(240_000);
  let dir: string;
  let file: string;
  let participant: TestParticipant;
  let proc: CoordinatorProcess | undefined;
  let client: TestCoordinatorClient | undefined;
  let health: HealthClient | undefined;

  before(async () => {
    participant = await startTestParticipant();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-disk-full-'));
    file = path.join(dir, 'tcc.sqlite');
  });

  after(async () => {
    client?.close();
    health?.close();
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await killHard(proc);
    await participant.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers UNAVAILABLE once writes fail, NOT_SERVING meanwhile, SERVING and OK again when the limit is lifted; every acknowledged transaction survives a restart', async () => {
    const env = {
      TCC_DB_URL: `sqlite:${file}`,
      TCC_HEALTH_CHECK_INTERVAL_MS: '200',
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '200',
      TCC_MAX_PAYLOAD_BYTES: String(64 * 1024),
    };
    proc = await spawnCoordinator(env, 60_000, { launcher: ['prlimit', `--fsize=${FSIZE_LIMIT}:unlimited`, '--'] });
    client = createCoordinatorClient(proc.address, 20_000);
    health = createHealthClient(proc.address);
    const payload = Buffer.alloc(60 * 1024, 0x61);
    const acknowledged: string[] = [];
    const failures: string[] = [];
    // Fill the WAL up to the limit: each Execute writes its 60 KiB payload.
    for (let i = 0; i < 400 && failures.length < 5; i++) {
      try {
        const t = await client.execute({ branches: [{ participant: participant.target, action: 'pay', payload }], wait: true });
        // Decided (acknowledged); the phase-two result may not have been recorded any more.
        expect(t.status).to.be.oneOf(['CONFIRMED', 'CONFIRMING']);
        acknowledged.push(t.gid);
      } catch (err) {
        if (!isServiceError(err)) throw err;
        failures.push(`${codeName(err.code)}: ${err.details}`);
      }
    }
    expect(acknowledged.length, 'some Executes fit under the limit').to.be.greaterThan(0);
    expect(failures.length, `every failure is UNAVAILABLE: ${failures.join(' | ')}`).to.equal(5);
    for (const f of failures) expect(f).to.match(/^UNAVAILABLE: transaction store unavailable \(SQLITE_(FULL|IOERR\w*)\); retry later$/);
    // Small writes too, until nothing fits any more: health's write probe must fail as well.
    for (let i = 0; i < 50; i++) {
      const ok = await client.begin({ timeout_ms: 60_000 }).then(
        () => true,
        (err: unknown) => {
          if (!isServiceError(err) || err.code !== grpc.status.UNAVAILABLE) throw err;
          return false;
        },
      );
      if (!ok) break;
    }
    await pollUntil(() => checkHealth(health!), (s) => s === 'NOT_SERVING', 'health NOT_SERVING while writes fail', 20_000, 100);
    expect(proc.child.exitCode, 'the size limit does not kill the process').to.equal(null);

    execFileSync('prlimit', ['--pid', String(proc.child.pid), '--fsize=unlimited:unlimited']);
    await pollUntil(() => checkHealth(health!), (s) => s === 'SERVING', 'health SERVING after the limit is lifted', 30_000, 100);
    const after = await client.execute({ branches: [{ participant: participant.target, action: 'pay', payload }], wait: true });
    expect(after.status).to.equal('CONFIRMED');
    acknowledged.push(after.gid);

    client.close();
    health.close();
    await killHard(proc);
    proc = await spawnCoordinator(env, 60_000);
    client = createCoordinatorClient(proc.address, 20_000);
    health = createHealthClient(proc.address);
    for (const gid of acknowledged) {
      await pollUntil(() => client!.getTransaction({ gid }), (t) => t.status === 'CONFIRMED', `${gid} CONFIRMED after the restart`, 30_000, 100);
    }
  });
});

describe('SQLite opened read-only', function () {
  this.timeout(60_000);
  it('a write fails with the real SQLITE_READONLY, mapped to UNAVAILABLE, not INTERNAL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-readonly-'));
    const file = path.join(dir, 'tcc.sqlite');
    await (await createTransactionStore({ url: `sqlite:${file}` })).close();
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file, options: { readonly: true } }, useNullAsDefault: true });
    const store = new SqlTransactionStore(knex, 'sqlite');
    try {
      const err = await store.execute([{ kind: 'create', gid: 'g1', now: Date.now(), deadlineAt: Date.now() + 60_000 }] as const).then(
        () => expect.fail('a read-only database took a write'),
        (e: unknown) => e,
      );
      const failure = toGrpcFailure(err);
      expect(codeName(failure.code)).to.equal('UNAVAILABLE');
      expect(failure.details).to.match(/SQLITE_READONLY/);
      // The storage, not a caller's command, failed: a batch fails all its callers at once, without bisecting into one write per caller.
      const committer = new GroupCommitter(store);
      const all = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          committer.submit([{ kind: 'create', gid: `g${i}`, now: Date.now(), deadlineAt: Date.now() + 60_000 }] as const).then(
            () => 'written',
            (e: unknown) => codeName(toGrpcFailure(e).code),
          ),
        ),
      );
      expect(all).to.deep.equal(Array(8).fill('UNAVAILABLE'));
      expect(committer.stats().fallbackWrites).to.equal(0);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

onMariadb((backend) => {
  describe('a MySQL connection killed mid-transaction (KILL CONNECTION)', function () {
    this.timeout(120_000);
    let coordinator: RunningCoordinator | undefined;
    let client: TestCoordinatorClient | undefined;
    let admin: mysql.Connection | undefined;
    let locker: mysql.Connection | undefined;

    before(async () => {
      coordinator = await startTestCoordinator(backend);
      client = createCoordinatorClient(coordinator.address, 30_000);
      const database = new URL(backend.url).pathname.slice(1);
      admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: MARIADB_USER, database });
      locker = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: MARIADB_USER, database });
    });

    after(async () => {
      await locker?.end().catch(() => undefined);
      await admin?.end().catch(() => undefined);
      client?.close();
      await coordinator?.shutdown();
    });

    it('the caller gets UNAVAILABLE, nothing is half-written, the pool recovers and the next call succeeds', async () => {
      const gid = `killed-${Date.now()}`;
      await client!.begin({ gid, timeout_ms: 60_000 });
      // Hold the transaction's row lock, so the coordinator's next write on it waits inside its transaction.
      await locker!.query('BEGIN');
      await locker!.query('SELECT gid FROM tcc_transactions WHERE gid = ? FOR UPDATE', [gid]);
      const blocked = client!.try({ gid, branch: { branch_id: 'b1', participant: '127.0.0.1:1', action: 'pay' } });
      blocked.catch(() => undefined);
      const victim = await pollUntil(
        async () => {
          const [rows] = await admin!.query(
            "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID NOT IN (CONNECTION_ID(), ?) AND INFO LIKE '%tcc_transactions%'",
            [locker!.threadId],
          );
          return (rows as { id: number }[])[0]?.id;
        },
        (id) => id !== undefined,
        "the coordinator's connection waiting for the row lock",
        20_000,
        50,
      );
      await admin!.query(`KILL CONNECTION ${Number(victim)}`);
      const got = await blocked.then(
        (v) => `OK ${JSON.stringify(v)}`,
        (e: unknown) => (isServiceError(e) ? `${codeName(e.code)}: ${e.details}` : String(e)),
      );
      expect(got).to.match(/^UNAVAILABLE: /);
      const err = await expectGrpcError(blocked, grpc.status.UNAVAILABLE, 'Try whose connection was killed');
      expect(err.details).to.not.match(/tcc_transactions|SELECT|INSERT/i);
      await locker!.query('ROLLBACK');

      // Nothing of the killed transaction was kept: the branch is not registered.
      const txn = await client!.getTransaction({ gid });
      expect(txn.status).to.equal('TRYING');
      expect(txn.branches).to.have.length(0);
      const next = await client!.begin({ timeout_ms: 60_000 });
      expect(next.gid).to.be.a('string').and.not.equal('');
    });
  });
});
