/**
 * SQLite commits made durable off the event loop (issue 9): the connection
 * writes the WAL with `synchronous = NORMAL` and the store fdatasyncs it on
 * libuv's thread pool before it answers. These tests pin that nothing is
 * answered before that sync — a write for its own commit, a read for a commit
 * it may have seen — that one sync serves every commit written before it
 * began and none written after, and that a failed sync is never forgotten.
 * Real SQLite files; the syncer is wrapped (not replaced) where a test must
 * hold a sync or make one fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { createTransactionStore, knexConfigFor, migrateToLatest } from '../src/store/create-store';
import { SqlTransactionStore } from '../src/store/sql-transaction-store';
import { SqliteWalSync, ThreadPoolWalSyncer, type WalFileSyncer } from '../src/store/sqlite-wal-sync';
import { DatabaseUnavailableError } from '../src/store/store-errors';
import { createCoordinatorClient, startTestCoordinator } from './helpers/backends';
import { startTestParticipant } from './helpers/test-participant';

/** The real syncer, each WAL sync held until the test lets it go; counts what it did. */
class HeldSyncer implements WalFileSyncer {
  readonly real = new ThreadPoolWalSyncer();
  walSyncs = 0;
  directorySyncs: string[] = [];
  fail: Error | undefined;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private waiting: (() => void)[] = [];

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  /** Resolves once a WAL sync is waiting at the gate. */
  started(): Promise<void> {
    return new Promise((r) => this.waiting.push(r));
  }
  async syncWal(wal: string): Promise<bigint | undefined> {
    this.walSyncs++;
    for (const w of this.waiting.splice(0)) w();
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    return this.real.syncWal(wal);
  }
  async syncDirectory(dir: string): Promise<void> {
    this.directorySyncs.push(dir);
    await this.real.syncDirectory(dir);
  }
  close(): Promise<void> {
    return this.real.close();
  }
}

/** Whether `p` settled within `ms`. */
async function settles(p: Promise<unknown>, ms = 150): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

const create = (gid: string) => ({ kind: 'create', gid, now: Date.now(), deadlineAt: Date.now() + 60_000 }) as const;

describe('[sqlite] WAL sync off the event loop', function () {
  this.timeout(30_000);
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-walsync-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('the store over a held syncer', () => {
    let knex: Knex;
    let store: SqlTransactionStore;
    let syncer: HeldSyncer;
    let file: string;
    let walSync: SqliteWalSync;

    beforeEach(async () => {
      file = path.join(dir, 'tcc.sqlite');
      syncer = new HeldSyncer();
      walSync = new SqliteWalSync({ syncer });
      const { config } = knexConfigFor(`sqlite:${file}`, 1, 30_000, undefined, walSync);
      knex = knexFactory(config);
      await migrateToLatest(knex);
      store = new SqlTransactionStore(knex, 'sqlite', { walSync });
    });
    afterEach(async () => {
      syncer.release();
      await store.close();
    });

    it('runs the connection with synchronous = NORMAL (the sync is the store\'s), FULL without a WAL sync', async () => {
      const [{ synchronous }] = await knex.raw<{ synchronous: number }[]>('PRAGMA synchronous');
      expect(synchronous, 'NORMAL').to.equal(1);
      const plain = knexFactory(knexConfigFor(`sqlite:${path.join(dir, 'other.sqlite')}`, 1).config);
      try {
        const [{ synchronous: full }] = await plain.raw<{ synchronous: number }[]>('PRAGMA synchronous');
        expect(full, 'FULL').to.equal(2);
      } finally {
        await plain.destroy();
      }
    });

    it('answers a write only after the WAL sync that followed its commit', async () => {
      syncer.hold();
      const started = syncer.started();
      const written = store.execute([create('w1')]);
      await started;
      // Committed: another connection to the file sees the row, yet the write is not answered.
      const other = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
      try {
        expect(await other('tcc_transactions').where({ gid: 'w1' }).first(), 'committed').to.not.equal(undefined);
      } finally {
        await other.destroy();
      }
      expect(await settles(written), 'answered before the sync').to.equal(false);
      syncer.release();
      const [r] = await written;
      expect(r.created).to.equal(true);
    });

    it('answers a read that may have seen an unsynced commit only after that commit is synced', async () => {
      syncer.hold();
      const started = syncer.started();
      const written = store.execute([create('r1')]);
      await started;
      const read = store.getTransaction('r1');
      expect(await settles(read), 'read answered before the sync').to.equal(false);
      syncer.release();
      expect((await read)?.gid).to.equal('r1');
      await written;
      // Nothing unsynced: a read does not wait for (or start) a sync.
      const before = syncer.walSyncs;
      expect((await store.getTransaction('r1'))?.status).to.equal('TRYING');
      expect(syncer.walSyncs).to.equal(before);
    });

    it('makes a read queued behind a write on the one connection wait for that write\'s sync', async () => {
      syncer.hold();
      const written = store.execute([create('q1')]);
      // Queued for the connection the write holds: it runs right after the COMMIT.
      const read = store.getTransaction('q1');
      expect(await settles(read), 'read answered before the write was synced').to.equal(false);
      syncer.release();
      expect((await read)?.gid).to.equal('q1');
      await written;
    });

    it('does not let a sync that began before a commit stand for it', async () => {
      syncer.hold();
      const started = syncer.started();
      const first = store.execute([create('a1')]);
      await started;
      // a1's sync is running (held); a2 commits after it began.
      const secondStarted = syncer.started();
      const second = store.execute([create('a2')]);
      await new Promise((r) => setTimeout(r, 50));
      // Let a1's sync finish, and hold the next one (started for a2) at once.
      syncer.release();
      syncer.hold();
      await first;
      await secondStarted;
      expect(await settles(second), 'a2 answered on the sync that began before its commit').to.equal(false);
      syncer.release();
      await second;
      expect(syncer.walSyncs).to.equal(2);
    });

    it('serves every commit written before a sync began with that one sync', async () => {
      syncer.hold();
      const started = syncer.started();
      const first = store.execute([create('b0')]);
      await started;
      // Ten writes commit while b0's sync is held: all wait for one more sync, not ten.
      const rest = Array.from({ length: 10 }, (_, i) => store.execute([create(`b${i + 1}`)]));
      await new Promise((r) => setTimeout(r, 100));
      syncer.release();
      await Promise.all([first, ...rest]);
      expect(syncer.walSyncs).to.equal(2);
    });

    it('fails every later call once a sync failed (UNAVAILABLE), even when the disk answers again', async () => {
      syncer.fail = Object.assign(new Error('input/output error'), { code: 'EIO' });
      const err = await store.execute([create('f1')]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(DatabaseUnavailableError);
      expect((err as DatabaseUnavailableError).code).to.equal('WAL_SYNC_EIO');
      syncer.fail = undefined;
      for (const later of [store.execute([create('f2')]), store.getTransaction('f1'), store.findExpired(Date.now(), 10)]) {
        const e = await later.then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(e, `a call after the failed sync: ${String(e)}`).to.be.instanceOf(DatabaseUnavailableError);
      }
    });

    it('syncs the directory of a new WAL file once, and again when the WAL is a new file', async () => {
      await store.execute([create('d1')]);
      await store.execute([create('d2')]);
      expect(syncer.directorySyncs).to.deep.equal([dir]);
      // The last connection closing checkpoints and removes the WAL; the next opens a new one.
      await knex.destroy();
      expect(fs.existsSync(`${file}-wal`), 'WAL removed on close').to.equal(false);
      knex = knexFactory(knexConfigFor(`sqlite:${file}`, 1, 30_000, undefined, walSync).config);
      store = new SqlTransactionStore(knex, 'sqlite', { walSync });
      await store.execute([create('d3')]);
      expect(syncer.directorySyncs).to.deep.equal([dir, dir]);
      expect((await store.getTransaction('d3'))?.gid).to.equal('d3');
    });
  });

  describe('ThreadPoolWalSyncer', () => {
    it('answers the inode it synced, undefined without a WAL, and follows a WAL replaced at the path', async () => {
      const syncer = new ThreadPoolWalSyncer();
      const wal = path.join(dir, 'x.sqlite-wal');
      try {
        expect(await syncer.syncWal(wal)).to.equal(undefined);
        fs.writeFileSync(wal, 'a');
        const first = await syncer.syncWal(wal);
        expect(first).to.equal(fs.statSync(wal, { bigint: true }).ino);
        expect(await syncer.syncWal(wal)).to.equal(first);
        fs.rmSync(wal);
        fs.writeFileSync(`${wal}.new`, 'b');
        fs.renameSync(`${wal}.new`, wal);
        const second = await syncer.syncWal(wal);
        expect(second).to.equal(fs.statSync(wal, { bigint: true }).ino);
        expect(second).to.not.equal(first);
      } finally {
        await syncer.close();
      }
    });
  });

  it('is what createTransactionStore gives a SQLite store: NORMAL on the connection, commits still durable across a reopen', async () => {
    const url = `sqlite:${path.join(dir, 'made.sqlite')}`;
    let store = (await createTransactionStore({ url })) as SqlTransactionStore;
    try {
      const [{ synchronous }] = await store.knex.raw<{ synchronous: number }[]>('PRAGMA synchronous');
      expect(synchronous).to.equal(1);
      await store.execute([create('m1')]);
    } finally {
      await store.close();
    }
    store = (await createTransactionStore({ url })) as SqlTransactionStore;
    try {
      expect((await store.getTransaction('m1'))?.status).to.equal('TRYING');
    } finally {
      await store.close();
    }
  });

  it('a coordinator on SQLite syncs the WAL itself, at most once per batch, and shows the count on /metrics', async () => {
    const participant = await startTestParticipant();
    const coordinator = await startTestCoordinator({ name: 'sqlite', url: `sqlite:${path.join(dir, 'coord.sqlite')}` }, { TCC_FINAL_WRITE_DELAY_MS: '0' });
    const client = createCoordinatorClient(coordinator.address, 30_000);
    try {
      const store = coordinator.engine.store;
      const syncs = store.walSyncCount();
      const batches = coordinator.engine.committer.stats().batches;
      const done = await client.execute({
        branches: [
          { participant: participant.target, action: 'a' },
          { participant: participant.target, action: 'b' },
        ],
        wait: true,
      });
      expect(done.status).to.equal('CONFIRMED');
      const batchCount = coordinator.engine.committer.stats().batches - batches;
      // One caller at a time: each batch's commit waited for a sync of its own.
      expect(store.walSyncCount() - syncs, `syncs for ${batchCount} batches`).to.equal(batchCount);
      const text = await coordinator.engine.metrics.registry.metrics();
      expect(Number(/^tcc_store_wal_syncs_total (\S+)$/m.exec(text)?.[1])).to.equal(store.walSyncCount());
    } finally {
      client.close();
      await coordinator.shutdown();
      await participant.stop();
    }
  });
});
