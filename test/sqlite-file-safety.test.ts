/**
 * The SQLite database file deleted or replaced under a running coordinator:
 * it stops acknowledging (UNAVAILABLE, health NOT_SERVING, recovery stops
 * calling participants, one error log line), and a restart on the empty or
 * foreign database the path now holds is refused until TCC_DB_INITIALIZE=true.
 * Real files, a real coordinator process, a real participant.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { createTransactionStore } from '../src/store/create-store';
import { markerPathFor } from '../src/store/sqlite-identity';
import { DatabaseFileLostError, DatabaseStartRefusedError } from '../src/store/store-errors';
import { createCoordinatorClient, expectGrpcError, pollUntil, sleep, type TestCoordinatorClient } from './helpers/backends';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';
import { checkHealth, createHealthClient, type HealthClient } from './helpers/health-client';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

describe('SQLite database file deleted or replaced under a running coordinator', function () {
  this.timeout(180_000);
  let dir: string;
  let file: string;
  let participant: TestParticipant;
  let proc: CoordinatorProcess | undefined;
  let client: TestCoordinatorClient | undefined;
  let health: HealthClient | undefined;

  const env = (extra: Record<string, string> = {}) => ({
    TCC_DB_URL: `sqlite:${file}`,
    TCC_HEALTH_CHECK_INTERVAL_MS: '200',
    TCC_SWEEP_INTERVAL_MS: '200',
    TCC_RETRY_INITIAL_MS: '50',
    TCC_RETRY_MAX_MS: '200',
    TCC_BRANCH_TIMEOUT_MS: '2000',
    TCC_SHUTDOWN_GRACE_MS: '0',
    ...extra,
  });

  async function start(extra: Record<string, string> = {}): Promise<void> {
    proc = await spawnCoordinator(env(extra), 60_000);
    client = createCoordinatorClient(proc.address, 20_000);
    health = createHealthClient(proc.address);
  }

  async function stop(): Promise<void> {
    client?.close();
    health?.close();
    client = undefined;
    health = undefined;
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await killHard(proc);
    proc = undefined;
  }

  /** What `rm data/tcc.sqlite*` removes: the database with its WAL and shared-memory files. */
  function removeDatabaseFiles(): void {
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }

  /** The error of a start that must be refused; a start that succeeds is killed and fails the test. */
  async function refusedStart(): Promise<Error> {
    let started: CoordinatorProcess | undefined;
    try {
      started = await spawnCoordinator(env(), 60_000);
    } catch (err) {
      return err as Error;
    }
    await killHard(started);
    return expect.fail('the coordinator started on a database that is not the one its marker names');
  }

  const execute = (wait = true) =>
    client!.execute({ branches: [{ participant: participant.target, action: 'pay', payload: Buffer.from('x') }], wait });

  before(async () => {
    participant = await startTestParticipant();
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-file-safety-'));
    file = path.join(dir, 'tcc.sqlite');
    participant.resetBehaviors();
  });

  afterEach(async () => {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  after(async () => {
    await participant.stop();
  });

  it('rm of the files: every later call answers UNAVAILABLE, health turns NOT_SERVING, recovery stops; the restart is refused, TCC_DB_INITIALIZE=true starts over', async () => {
    await start();
    expect(fs.existsSync(markerPathFor(file)), 'the first start writes the marker').to.equal(true);
    for (let i = 0; i < 5; i++) expect((await execute()).status).to.equal('CONFIRMED');

    // A decided transaction whose Confirm keeps failing: recovery retries it every ~200 ms.
    participant.setBehavior('confirm', 'unavailable');
    const pending = await execute(false);
    expect(pending.status).to.equal('CONFIRMING');
    await participant.waitForCalls((c) => c.phase === 'confirm' && c.gid === pending.gid, 10_000, 3);

    removeDatabaseFiles();
    // Without the check these all answer OK, written to the unlinked file and lost at the next start.
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const err = await expectGrpcError(execute(), grpc.status.UNAVAILABLE, `Execute ${i} after the rm`);
      answers.push(err.details);
    }
    expect(answers[0]).to.match(/SQLite database file was deleted/);
    expect(await checkHealth(health!)).to.be.oneOf(['NOT_SERVING', 'SERVING']);
    await pollUntil(() => checkHealth(health!), (s) => s === 'NOT_SERVING', 'health NOT_SERVING after the rm', 15_000, 100);
    await expectGrpcError(client!.getTransaction({ gid: pending.gid }), grpc.status.UNAVAILABLE, 'GetTransaction after the rm');

    // Recovery reads nothing it may act on: the Confirm retries stop (one may have been in flight).
    participant.setBehavior('confirm', 'ok');
    await sleep(500);
    const confirmsThen = participant.callsFor('confirm', pending.gid).length;
    await sleep(2_000);
    expect(participant.callsFor('confirm', pending.gid).length).to.be.at.most(confirmsThen + 1);
    const lost = proc!.lines.filter((l) => l.level === 'error' && /SQLite database file was deleted/.test(String(l.msg)));
    expect(lost, 'one error log line').to.have.length(1);
    expect(await checkHealth(health!)).to.equal('NOT_SERVING');
    await stop();

    // The marker says a database existed here: an empty new one is not silently started on.
    const refused = await refusedStart();
    expect(refused.message).to.match(/exited \(2\)/);
    expect(refused.message).to.match(/TCC_DB_INITIALIZE=true/);
    expect(refused.message).to.match(/missing or empty/);
    expect(fs.existsSync(file), 'the refused start creates no database file').to.equal(false);

    await start({ TCC_DB_INITIALIZE: 'true' });
    expect((await execute()).status).to.equal('CONFIRMED');
    await stop();
    // The marker now names the new database: a plain restart works.
    await start();
    expect((await execute()).status).to.equal('CONFIRMED');
  });

  it('a file moved over the path (another database) is detected too, and the restart on it is refused', async () => {
    await start();
    expect((await execute()).status).to.equal('CONFIRMED');
    const other = path.join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE t (a INTEGER)');
    db.close();
    fs.renameSync(other, file);

    const err = await expectGrpcError(execute(), grpc.status.UNAVAILABLE, 'Execute after the file was replaced');
    expect(err.details).to.match(/replaced/);
    await pollUntil(() => checkHealth(health!), (s) => s === 'NOT_SERVING', 'health NOT_SERVING after the replacement', 15_000, 100);
    await stop();

    // The WAL of the database that was here would be replayed onto the newcomer (SQLite
    // cannot tell it belongs to another file): an operator swapping files swaps the set.
    for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
    const refused = await refusedStart();
    expect(refused.message).to.match(/exited \(2\)/);
    expect(refused.message).to.match(/holds no coordinator database id/);
  });

  it('store: a write committed after the rm is not acknowledged, nor is a read answered; both stay refused', async () => {
    const store = await createTransactionStore({ url: `sqlite:${file}` });
    try {
      const create = (gid: string) => [{ kind: 'create', gid, now: Date.now(), deadlineAt: Date.now() + 60_000 }] as const;
      await store.execute(create('before'));
      removeDatabaseFiles();
      const write = await store.execute(create('after')).then(() => 'acknowledged', (e: unknown) => e);
      expect(write).to.be.instanceOf(DatabaseFileLostError);
      const read = await store.getTransaction('before').then(() => 'answered', (e: unknown) => e);
      expect(read).to.be.instanceOf(DatabaseFileLostError);
    } finally {
      await store.close();
    }
  });

  it('store: a database swapped for another coordinator database is refused; a database without a marker (from before markers) is adopted', async () => {
    const a = path.join(dir, 'a', 'tcc.sqlite');
    const b = path.join(dir, 'b', 'tcc.sqlite');
    for (const f of [a, b]) await (await createTransactionStore({ url: `sqlite:${f}` })).close();
    fs.copyFileSync(b, a);
    const err = await createTransactionStore({ url: `sqlite:${a}` }).then(
      () => expect.fail('opened another coordinator database'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(DatabaseStartRefusedError);
    expect((err as Error).message).to.match(/holds another database/);

    // Upgrading: the marker is missing, the database is adopted and the marker written.
    fs.rmSync(markerPathFor(b));
    await (await createTransactionStore({ url: `sqlite:${b}` })).close();
    expect(fs.readFileSync(markerPathFor(b), 'utf8').trim()).to.match(/^[0-9a-f-]{36}$/);
    // With the flag the swapped-in database is taken and the marker re-pointed.
    await (await createTransactionStore({ url: `sqlite:${a}`, initialize: true })).close();
    await (await createTransactionStore({ url: `sqlite:${a}` })).close();
  });
});
