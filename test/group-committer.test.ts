import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadConfig } from '../src/config/config';
import { startCoordinator } from '../src/coordinator';
import { toGrpcFailure } from '../src/server/status-mapping';
import { createTransactionStore } from '../src/store/create-store';
import { GroupCommitter } from '../src/store/group-committer';
import { StoreDeadlineExceededError, StoreQueueFullError } from '../src/store/store-errors';
import type { NewBranch, PhaseTwoCommand, StoreCommand, TransactionStore, TryOutcomeCommand } from '../src/store/transaction-store';

/*
 * Unit tests of the group committer over a real SQLite store (a file in a
 * temp directory): batching, isolation of a failing caller, the bounded
 * queue, callers whose deadline passed, and batches past SQLite's 500-row
 * statement limit.
 */

const STUCK = { attempts: 10, ageMs: 0 };

function branches(gid: string, n: number): NewBranch[] {
  return Array.from({ length: n }, (_, i) => ({ branchId: `b${i}`, participant: '127.0.0.1:1', action: 'a', payload: Buffer.from(`${gid}:${i}`) }));
}

/** A real store whose writes wait for `open()` while `closed`: holds a batch in flight on demand. */
type GatedStore = TransactionStore & { close_(): void; open(): void };

function gatedStore(inner: TransactionStore): GatedStore {
  let gate: Promise<void> = Promise.resolve();
  let release: () => void = () => undefined;
  const gated = {
    dialect: inner.dialect,
    async execute(commands: readonly StoreCommand[]): Promise<unknown> {
      await gate;
      return inner.execute(commands);
    },
    close_() {
      gate = new Promise<void>((r) => (release = r));
    },
    open() {
      release();
    },
  };
  // Every other method (the reads) is the real store's.
  Object.setPrototypeOf(gated, inner);
  return gated as unknown as GatedStore;
}

/** The real store, telling `onBatch` the commands of every batch it writes. */
function recording(inner: TransactionStore, onBatch: (commands: readonly StoreCommand[]) => void): TransactionStore {
  const execute = inner.execute.bind(inner);
  const spy = Object.create(inner) as TransactionStore;
  spy.execute = ((commands: readonly StoreCommand[]) => {
    onBatch(commands);
    return execute(commands);
  }) as TransactionStore['execute'];
  return spy;
}

describe('GroupCommitter (SQLite store)', function () {
  this.timeout(120_000);
  let dir: string;
  let store: TransactionStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-gc-'));
    store = await createTransactionStore({ url: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent submits share batches, each caller gets its own results', async () => {
    const gc = new GroupCommitter(store);
    const now = Date.now();
    const res = await Promise.all(
      Array.from({ length: 100 }, (_, i) => gc.submit([{ kind: 'create', gid: `g${i}`, now, deadlineAt: now + 60_000 }] as const)),
    );
    expect(res.map(([r]) => r.txn.gid)).to.deep.equal(Array.from({ length: 100 }, (_, i) => `g${i}`));
    expect(res.every(([r]) => r.created)).to.equal(true);
    const s = gc.stats();
    expect(s.batches).to.be.at.least(1).and.below(100);
    expect(s.fallbackWrites).to.equal(0);
    expect(await store.getTransaction('g99')).to.not.equal(null);
  });

  it('starts a batch at once when idle; what arrives while one is written waits for its end and goes in one batch, even with several batches allowed', async () => {
    const gated = gatedStore(store);
    const seen: number[] = [];
    const execute = gated.execute.bind(gated);
    gated.execute = ((commands: readonly StoreCommand[]) => {
      seen.push(commands.length);
      return execute(commands);
    }) as TransactionStore['execute'];
    const gc = new GroupCommitter(gated, { maxConcurrentBatches: 4 });
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    gated.close_();
    const first = gc.submit([create('alone')] as const);
    // No event-loop turn, no timer: the lone caller's batch is under way after the current microtasks.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(seen, 'batches started before any event-loop turn').to.deep.equal([1]);
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      later.push(gc.submit([create(`later-${i}`)] as const));
      await new Promise((r) => setImmediate(r));
    }
    expect(seen, 'nothing starts while the first batch is written').to.deep.equal([1]);
    gated.open();
    await Promise.all([first, ...later]);
    expect(seen).to.deep.equal([1, 6]);
  });

  it('lazy work starts no batch of its own: it rides, first and in order, in the batch the next eager work starts', async () => {
    const seen: string[][] = [];
    const spy = recording(store, (commands) => seen.push(commands.map((c) => c.gid)));
    const gc = new GroupCommitter(spy, { lazyWriteMs: 60_000 });
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    let lazyDone = false;
    const lazy = gc.submit([create('lazy')] as const, { lazy: true }).then((r) => ((lazyDone = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen, 'no batch for lazy work alone').to.deep.equal([]);
    expect(lazyDone).to.equal(false);
    expect(await store.getTransaction('lazy')).to.equal(null);
    const [[eager], [rode]] = await Promise.all([gc.submit([create('eager')] as const), lazy]);
    expect(seen).to.deep.equal([['lazy', 'eager']]);
    expect(eager.created && rode.created).to.equal(true);
    expect(gc.stats().batches).to.equal(1);
  });

  it('lazy work left over when a batch is full waits too, even with batches to spare', async () => {
    const seen: string[][] = [];
    const spy = recording(store, (commands) => seen.push(commands.map((c) => c.gid)));
    const gc = new GroupCommitter(spy, { lazyWriteMs: 60_000, maxBatchCommands: 1, maxConcurrentBatches: 4 });
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    const eager = gc.submit([create('eager')] as const);
    const lazy = gc.submit([create('lazy')] as const, { lazy: true });
    await eager;
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).to.deep.equal([['eager']]);
    await Promise.all([gc.submit([create('next')] as const), lazy]);
    expect(seen).to.deep.equal([['eager'], ['lazy'], ['next']]);
  });

  it('lazy work goes on its own after lazyWriteMs, or at once when flushed', async () => {
    const gc = new GroupCommitter(store, { lazyWriteMs: 150 });
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    const started = Date.now();
    const [timed] = await gc.submit([create('timed')] as const, { lazy: true });
    expect(timed.created).to.equal(true);
    expect(Date.now() - started, 'written once its time was up, not before').to.be.at.least(140);
    const gc2 = new GroupCommitter(store, { lazyWriteMs: 60_000 });
    const flushed = gc2.submit([create('flushed')] as const, { lazy: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(gc2.stats().batches).to.equal(0);
    gc2.flushLazy();
    const [r] = await flushed;
    expect(r.created).to.equal(true);
    expect(await store.getTransaction('flushed')).to.not.equal(null);
  });

  it('after a batch, work arriving before the next event-loop turn goes in one batch (callers seen after a blocking commit do not each start one)', async () => {
    const seen: number[] = [];
    const spy = recording(store, (commands) => seen.push(commands.length));
    const gc = new GroupCommitter(spy);
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    await gc.submit([create('first')] as const);
    // The batch is over (its end handled) and nothing waits.
    for (let k = 0; k < 20; k++) await Promise.resolve();
    // As after better-sqlite3's blocking commit: callers arrive one by one, microtasks apart, before the next turn.
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      later.push(gc.submit([create(`next-${i}`)] as const));
      for (let k = 0; k < 10; k++) await Promise.resolve();
    }
    await Promise.all(later);
    expect(seen).to.deep.equal([1, 5]);
  });

  it("one caller's failing command fails only that caller; the others' writes are durable", async () => {
    const gc = new GroupCommitter(store);
    const now = Date.now();
    await gc.submit([{ kind: 'create', gid: 'bad', now, deadlineAt: now + 60_000 }] as const);
    const before = gc.stats();
    // A payload of null breaks the NOT NULL column: that register throws inside the batch.
    const broken: NewBranch = { branchId: 'x', participant: '127.0.0.1:1', action: 'a', payload: null as unknown as Buffer };
    const calls = Array.from({ length: 40 }, (_, i) =>
      i === 17
        ? gc.submit([{ kind: 'register', gid: 'bad', now, branches: [broken], maxBranches: 10 }] as const)
        : gc.submit([{ kind: 'create', gid: `ok${i}`, now, deadlineAt: now + 60_000 }] as const),
    );
    const settled = await Promise.allSettled(calls);
    const rejected = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
    expect(rejected).to.deep.equal([17]);
    for (let i = 0; i < 40; i++) if (i !== 17) expect(await store.getTransaction(`ok${i}`), `ok${i}`).to.not.equal(null);
    expect(await store.getBranches('bad')).to.deep.equal([]);
    const s = gc.stats();
    expect(s.batches - before.batches).to.equal(1);
    // Bisecting: a few writes, not one per caller.
    expect(s.fallbackWrites).to.be.above(0).and.at.most(2 * Math.ceil(Math.log2(40)) + 2);
  });

  it('a full queue refuses client work at once with a typed error (RESOURCE_EXHAUSTED), never recovery work', async () => {
    const gated = gatedStore(store);
    const gc = new GroupCommitter(gated, { maxQueuedCommands: 5 });
    const now = Date.now();
    const create = (gid: string) => ({ kind: 'create', gid, now, deadlineAt: now + 60_000 }) as const;
    gated.close_();
    const inFlight = gc.submit([create('first')] as const, { client: true });
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const queued = Array.from({ length: 5 }, (_, i) => gc.submit([create(`q${i}`)] as const, { client: true }));
    // Refused at once: not queued behind the batch in flight.
    const refused = await Promise.race([
      gc.submit([create('over')] as const, { client: true }).then(
        () => 'written',
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r('still queued after 2 s'), 2_000)),
    ]);
    expect(refused).to.be.instanceOf(StoreQueueFullError);
    expect(toGrpcFailure(refused).code).to.equal(status.RESOURCE_EXHAUSTED);
    // Phase-two and recovery writes are never refused.
    const recovery = gc.submit([create('recovery')] as const);
    gated.open();
    await Promise.all([inFlight, ...queued, recovery]);
    expect(await store.getTransaction('over')).to.equal(null);
    expect(await store.getTransaction('recovery')).to.not.equal(null);
    expect(gc.stats().rejectedQueueFull).to.equal(1);
  });

  it('drops, unwritten, the work of callers whose deadline passed before their batch started', async () => {
    const gated = gatedStore(store);
    const gc = new GroupCommitter(gated);
    const now = Date.now();
    gated.close_();
    const first = gc.submit([{ kind: 'create', gid: 'first', now, deadlineAt: now + 60_000 }] as const);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // Both commands of this caller go or neither does.
    const late = gc.submit(
      [
        { kind: 'create', gid: 'late', now, deadlineAt: now + 60_000 },
        { kind: 'register', gid: 'late', now, branches: branches('late', 2), maxBranches: 10 },
      ] as const,
      { client: true, deadline: Date.now() + 100 },
    );
    const patient = gc.submit([{ kind: 'create', gid: 'patient', now, deadlineAt: now + 60_000 }] as const, {
      client: true,
      deadline: Date.now() + 600_000,
    });
    const lateOutcome = late.then(
      () => 'written',
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    gated.open();
    await first;
    expect(await lateOutcome).to.be.instanceOf(StoreDeadlineExceededError);
    expect(toGrpcFailure(await lateOutcome).code).to.equal(status.DEADLINE_EXCEEDED);
    await patient;
    expect(await store.getTransaction('late')).to.equal(null);
    expect(await store.getBranches('late')).to.deep.equal([]);
    expect(await store.getTransaction('patient')).to.not.equal(null);
    expect(gc.stats().droppedExpired).to.equal(1);
  });

  it('1,000 concurrent transactions never fall back to per-caller writes (batches past 500 log rows)', async () => {
    const gc = new GroupCommitter(store);
    const N = 1_000;
    const B = 4;
    const now = Date.now();
    const gids = Array.from({ length: N }, (_, i) => `t${i}`);
    await Promise.all(
      gids.map((gid) =>
        gc.submit([
          { kind: 'create', gid, now, deadlineAt: now + 600_000 },
          { kind: 'register', gid, now, branches: branches(gid, B), maxBranches: 10 },
        ] as const),
      ),
    );
    await Promise.all(
      gids.map((gid) => {
        const outcomes: TryOutcomeCommand[] = Array.from({ length: B }, (_, i) => ({
          kind: 'tryOutcome',
          gid,
          branchId: `b${i}`,
          state: 'SUCCEEDED',
          error: '',
          now,
          log: { gid, branchId: `b${i}`, phase: 'try', attempt: 1, outcome: 'ok', grpcCode: 0, error: '', startedAt: now, durationMs: 1, node: 'n' },
        }));
        return gc.submit([...outcomes, { kind: 'decide', gid, decision: 'commit', reason: '', now, node: 'n', claimToken: 'n/test', leaseUntil: now + 60_000 }]);
      }),
    );
    // One phaseTwo command carries B log rows: a batch of 256 carries 1,024.
    const rounds = await Promise.all(
      gids.map((gid) => {
        const cmd: PhaseTwoCommand = {
          kind: 'phaseTwo',
    claimToken: 'n/test',
          gid,
          now,
          node: 'n',
          results: Array.from({ length: B }, (_, i) => ({ branchId: `b${i}`, attempted: true, ok: true, error: '', nextRetryAt: now })),
          logs: Array.from({ length: B }, (_, i) => ({
            gid,
            branchId: `b${i}`,
            phase: 'confirm' as const,
            attempt: 1,
            outcome: 'ok',
            grpcCode: 0,
            error: '',
            startedAt: now,
            durationMs: 1,
            node: 'n',
          })),
          stuck: STUCK,
        };
        return gc.submit([cmd] as const);
      }),
    );
    expect(rounds.every(([r]) => r.txn?.status === 'CONFIRMED')).to.equal(true);
    const s = gc.stats();
    expect(s.fallbackWrites, 'writes after a failed batch').to.equal(0);
    expect(s.batches).to.be.below(3 * N);
    expect((await store.getLogs('t999')).length).to.equal(2 * B + 1);
  });
});

describe('client deadlines reach the group committer', function () {
  this.timeout(60_000);
  it('Begin and Execute whose deadline has passed store nothing and call no participant', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-gc-'));
    const c = await startCoordinator(
      loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`, TCC_LOG_LEVEL: 'silent' }),
    );
    try {
      const past = Date.now() - 1;
      let err: unknown;
      await c.engine.begin({ gid: 'gone-begin', deadline: past }).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(StoreDeadlineExceededError);
      err = undefined;
      await c.engine
        .execute({ gid: 'gone-exec', deadline: past, branches: [{ participant: '127.0.0.1:1', action: 'a', payload: Buffer.alloc(0) }] })
        .catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(StoreDeadlineExceededError);
      expect(await c.engine.store.getTransaction('gone-begin')).to.equal(null);
      expect(await c.engine.store.getTransaction('gone-exec')).to.equal(null);
      // The same calls with time left are written.
      await c.engine.begin({ gid: 'kept', deadline: Date.now() + 60_000 });
      expect(await c.engine.store.getTransaction('kept')).to.not.equal(null);
    } finally {
      await c.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
