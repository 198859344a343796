import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import type { BarrierResult } from '../src/participant/barrier';
import { createBranchCall, type BranchCall } from '../src/participant/branch-call';
import { BarrierViolationError, TryRefusedError, TrySuspendedError } from '../src/participant/errors';
import { DEFAULT_REDIS_BARRIER_TTL_MS, RedisBarrier } from '../src/participant/redis-barrier';
import { RedisChangeSet } from '../src/participant/redis-change-set';
import { BARRIER_SCRIPT_FILES, LUA_ROOT, barrierScripts, loadLuaScript } from '../src/participant/redis-scripts';
import { allSequences, expectedOutcome, type AppliedCounts, type BarrierAnswer, type BarrierOp } from './helpers/barrier-model';
import { REDIS_URL, requireRedis } from './helpers/redis';

const START_AVAILABLE = 10;
const QTY = 3;
const TTL_MS = 60_000;

type Outcome = BarrierResult<unknown>['outcome'];

/** What a call answered, in the model's terms, plus the barrier's finer outcome when OK. */
interface Answer {
  answer: BarrierAnswer;
  outcome?: Outcome;
  error?: Error;
}

/** Maps a barrier call to the coordinator's view; anything but the barrier's own refusals is a test failure. */
async function answerOf(run: Promise<BarrierResult<unknown>>): Promise<Answer> {
  try {
    return { answer: 'ok', outcome: (await run).outcome };
  } catch (err) {
    if (err instanceof TrySuspendedError) return { answer: 'refused', error: err };
    if (err instanceof BarrierViolationError) return { answer: 'violation', error: err };
    throw err;
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error('expected a rejection, got a result');
}

/** Per call of a sequence: 'applied' | 'duplicate' | 'empty-rollback' for OK answers, from the model. */
function expectedOutcomes(seq: readonly BarrierOp[]): (Outcome | undefined)[] {
  const { answers } = expectedOutcome(seq);
  return seq.map((op, i) => {
    if (answers[i] !== 'ok') return undefined;
    const before = expectedOutcome(seq.slice(0, i)).applied;
    const after = expectedOutcome(seq.slice(0, i + 1)).applied;
    if (after[op] > before[op]) return 'applied';
    // Cancel in the model's 'none' state: nothing tried or cancelled before it.
    const untouched = !seq.slice(0, i).some((o) => o === 'try' || o === 'cancel');
    return op === 'cancel' && untouched ? 'empty-rollback' : 'duplicate';
  });
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/**
 * The serial order of `ops` (indices into it) whose model answers and applied
 * counts are exactly what concurrent calls produced, or undefined when none is.
 */
function matchingSerialOrder(ops: readonly BarrierOp[], answers: readonly Answer[], applied: AppliedCounts): number[] | undefined {
  return permutations(ops.map((_op, i) => i)).find((order) => {
    const seq = order.map((i) => ops[i]);
    const model = expectedOutcome(seq);
    const outcomes = expectedOutcomes(seq);
    return (
      order.every((callIndex, step) => answers[callIndex].answer === model.answers[step] && answers[callIndex].outcome === outcomes[step]) &&
      model.applied.try === applied.try &&
      model.applied.confirm === applied.confirm &&
      model.applied.cancel === applied.cancel
    );
  });
}

/**
 * An inventory participant: stock of one SKU in a hash (available, reserved),
 * and, per branch, a hash counting how many times each phase's change ran.
 * The counter comes first in every change set, so a refused or failed call
 * that applied anything at all would show in it.
 */
class Inventory {
  readonly stockKey: string;

  constructor(
    readonly prefix: string,
    readonly sku = 'X1',
  ) {
    this.stockKey = `${prefix}stock:${sku}`;
  }

  countersKey(branchId: string): string {
    return `${this.prefix}applied:${branchId}`;
  }

  call(phase: BranchCall['phase'], branchId: string, qty = QTY, gid = 'g1'): BranchCall {
    const payload = Buffer.from(JSON.stringify({ sku: this.sku, qty }));
    return createBranchCall(phase, { gid, branch_id: branchId, action: 'reserve', payload });
  }

  /** The business function of each phase (it returns the SKU, to check the applied value). */
  readonly business = async (call: BranchCall, tx: RedisChangeSet): Promise<string> => {
    const { sku, qty } = call.json<{ sku: string; qty: number }>();
    // A business function may await before describing its changes.
    await Promise.resolve();
    tx.hincrby(this.countersKey(call.branchId), call.phase, 1);
    switch (call.phase) {
      case 'try':
        tx.hincrby(this.stockKey, 'available', -qty, { min: 0 }).hincrby(this.stockKey, 'reserved', qty);
        break;
      case 'confirm':
        tx.hincrby(this.stockKey, 'reserved', -qty, { min: 0 });
        break;
      case 'cancel':
        tx.hincrby(this.stockKey, 'available', qty).hincrby(this.stockKey, 'reserved', -qty, { min: 0 });
        break;
    }
    return sku;
  };

  run(barrier: RedisBarrier, call: BranchCall): Promise<BarrierResult<string>> {
    return barrier.run(call, (tx) => this.business(call, tx));
  }

  async stock(redis: Redis): Promise<{ available: number; reserved: number }> {
    const [available, reserved] = await redis.hmget(this.stockKey, 'available', 'reserved');
    return { available: Number(available ?? 0), reserved: Number(reserved ?? 0) };
  }

  async applied(redis: Redis, branchId: string): Promise<AppliedCounts> {
    const [t, confirm, cancel] = await redis.hmget(this.countersKey(branchId), 'try', 'confirm', 'cancel');
    return { try: Number(t ?? 0), confirm: Number(confirm ?? 0), cancel: Number(cancel ?? 0) };
  }
}

describe('RedisBarrier', function () {
  this.timeout(60_000);
  let redis: Redis;
  let prefix: string;
  let inventory: Inventory;
  let barrier: RedisBarrier;

  before(async function () {
    await requireRedis(this);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    if (redis) await redis.quit();
  });

  beforeEach(async () => {
    // Unique per test, and free of glob characters (it is used as a SCAN pattern).
    prefix = `tcc:test:redis-barrier:${process.pid}:${randomBytes(6).toString('hex')}:`;
    inventory = new Inventory(prefix);
    barrier = new RedisBarrier({ redis, keyPrefix: `${prefix}barrier:`, ttlMs: TTL_MS });
    await redis.hset(inventory.stockKey, 'available', START_AVAILABLE, 'reserved', 0);
  });
  afterEach(async () => {
    if (!redis) return;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length > 0) await redis.del(...keys);
  });

  const record = (branchId: string, gid = 'g1'): Promise<Record<string, string>> => redis.hgetall(barrier.keyOf(gid, branchId));

  describe('each rule on its own', () => {
    it('Try applies its changes once and records try; a duplicate Try changes nothing', async () => {
      expect(await inventory.run(barrier, inventory.call('try', 'b1'))).to.deep.equal({ outcome: 'applied', value: 'X1' });
      expect(await inventory.run(barrier, inventory.call('try', 'b1'))).to.deep.equal({ outcome: 'duplicate' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE - QTY, reserved: QTY });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 0 });
      expect(await record('b1')).to.deep.equal({ try: 'try' });
    });

    it('Confirm after Try applies once; a duplicate Confirm, and a Try after it, change nothing', async () => {
      await inventory.run(barrier, inventory.call('try', 'b1'));
      expect(await inventory.run(barrier, inventory.call('confirm', 'b1'))).to.deep.equal({ outcome: 'applied', value: 'X1' });
      expect(await inventory.run(barrier, inventory.call('confirm', 'b1'))).to.deep.equal({ outcome: 'duplicate' });
      expect(await inventory.run(barrier, inventory.call('try', 'b1'))).to.deep.equal({ outcome: 'duplicate' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE - QTY, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 1, cancel: 0 });
      expect(await record('b1')).to.deep.equal({ try: 'try', phase2: 'confirm' });
    });

    it('Cancel after Try applies once (the stock is back); a duplicate Cancel changes nothing', async () => {
      await inventory.run(barrier, inventory.call('try', 'b1'));
      expect(await inventory.run(barrier, inventory.call('cancel', 'b1'))).to.deep.equal({ outcome: 'applied', value: 'X1' });
      expect(await inventory.run(barrier, inventory.call('cancel', 'b1'))).to.deep.equal({ outcome: 'duplicate' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 1 });
      expect(await record('b1')).to.deep.equal({ try: 'try', phase2: 'cancel' });
    });

    it('empty rollback: Cancel without a Try applies nothing and records the Cancel', async () => {
      expect(await inventory.run(barrier, inventory.call('cancel', 'b1'))).to.deep.equal({ outcome: 'empty-rollback' });
      expect(await inventory.run(barrier, inventory.call('cancel', 'b1'))).to.deep.equal({ outcome: 'duplicate' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });
      expect(await record('b1')).to.deep.equal({ try: 'cancel', phase2: 'cancel' });
    });

    it('anti-suspension: a Try after an empty rollback is refused and reserves nothing', async () => {
      await inventory.run(barrier, inventory.call('cancel', 'b1', QTY, 'g-susp'));
      const err = await rejection(inventory.run(barrier, inventory.call('try', 'b1', QTY, 'g-susp')));
      expect(err).to.be.instanceOf(TrySuspendedError);
      expect(err).to.include({ gid: 'g-susp', branchId: 'b1' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });
      expect(await record('b1', 'g-susp')).to.deep.equal({ try: 'cancel', phase2: 'cancel' });
    });

    it('anti-suspension: a retried Try after Try and Cancel is refused too', async () => {
      await inventory.run(barrier, inventory.call('try', 'b1'));
      await inventory.run(barrier, inventory.call('cancel', 'b1'));
      expect(await rejection(inventory.run(barrier, inventory.call('try', 'b1')))).to.be.instanceOf(TrySuspendedError);
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 1 });
    });

    it('violations: Confirm without Try, Confirm after Cancel, Cancel after Confirm; none writes anything', async () => {
      const notTried = await rejection(inventory.run(barrier, inventory.call('confirm', 'b1')));
      expect(notTried).to.be.instanceOf(BarrierViolationError);
      expect(notTried).to.include({ gid: 'g1', branchId: 'b1', phase: 'confirm', found: 'not-tried' });
      expect(await redis.exists(barrier.keyOf('g1', 'b1'))).to.equal(0);

      await inventory.run(barrier, inventory.call('cancel', 'b2'));
      const cancelled = await rejection(inventory.run(barrier, inventory.call('confirm', 'b2')));
      expect(cancelled).to.be.instanceOf(BarrierViolationError);
      expect(cancelled).to.include({ branchId: 'b2', phase: 'confirm', found: 'cancelled' });

      await inventory.run(barrier, inventory.call('try', 'b3'));
      await inventory.run(barrier, inventory.call('confirm', 'b3'));
      const confirmed = await rejection(inventory.run(barrier, inventory.call('cancel', 'b3')));
      expect(confirmed).to.be.instanceOf(BarrierViolationError);
      expect(confirmed).to.include({ branchId: 'b3', phase: 'cancel', found: 'confirmed' });

      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE - QTY, reserved: 0 });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });
      expect(await inventory.applied(redis, 'b2')).to.deep.equal({ try: 0, confirm: 0, cancel: 0 });
      expect(await inventory.applied(redis, 'b3')).to.deep.equal({ try: 1, confirm: 1, cancel: 0 });
      expect(await record('b2')).to.deep.equal({ try: 'cancel', phase2: 'cancel' });
      expect(await record('b3')).to.deep.equal({ try: 'try', phase2: 'confirm' });
    });

    it('a business function that throws leaves no record; the retried call runs', async () => {
      const boom = new Error('business failed');
      const err = await rejection(
        barrier.run(inventory.call('try', 'b1'), async (tx) => {
          tx.hincrby(inventory.stockKey, 'available', -1);
          throw boom;
        }),
      );
      expect(err).to.equal(boom);
      expect(await redis.exists(barrier.keyOf('g1', 'b1'))).to.equal(0);
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      expect(await inventory.run(barrier, inventory.call('try', 'b1'))).to.deep.equal({ outcome: 'applied', value: 'X1' });
    });

    it('records are per branch and per transaction', async () => {
      await inventory.run(barrier, inventory.call('try', 'b1', 1, 'gA'));
      expect(await inventory.run(barrier, inventory.call('try', 'b2', 1, 'gA'))).to.include({ outcome: 'applied' });
      expect(await inventory.run(barrier, inventory.call('try', 'b1', 1, 'gB'))).to.include({ outcome: 'applied' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE - 3, reserved: 3 });
      expect(barrier.keyOf('gA', 'b1')).to.equal(`${prefix}barrier:gA/b1`);
    });

    it("keeps ids with ':' apart: gid a:b + branch c and gid a + branch b:c are two branches", async () => {
      expect(barrier.keyOf('a:b', 'c')).to.not.equal(barrier.keyOf('a', 'b:c'));
      expect(await inventory.run(barrier, inventory.call('try', 'c', 1, 'a:b'))).to.include({ outcome: 'applied' });
      expect(await inventory.run(barrier, inventory.call('try', 'b:c', 1, 'a'))).to.include({ outcome: 'applied' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE - 2, reserved: 2 });
    });
  });

  describe(`every sequence of up to 5 calls of one branch (${allSequences(5).length} generated)`, () => {
    for (const seq of allSequences(5)) {
      it(seq.join(' → '), async () => {
        const model = expectedOutcome(seq);
        const outcomes = expectedOutcomes(seq);
        const answers: Answer[] = [];
        for (const op of seq) answers.push(await answerOf(inventory.run(barrier, inventory.call(op, 'b'))));

        expect(answers.map((a) => a.answer), 'answers').to.deep.equal(model.answers);
        expect(answers.map((a) => a.outcome), 'outcomes of the OK answers').to.deep.equal(outcomes);
        expect(await inventory.applied(redis, 'b'), 'changes applied').to.deep.equal(model.applied);
        const { try: t, confirm, cancel } = model.applied;
        expect(await inventory.stock(redis), 'stock').to.deep.equal({
          available: START_AVAILABLE - QTY * t + QTY * cancel,
          reserved: QTY * (t - confirm - cancel),
        });
        const rec = await record('b');
        const pttl = await redis.pttl(barrier.keyOf('g1', 'b'));
        if (rec.phase2 !== undefined) expect(pttl, 'a finished branch expires').to.be.within(1, TTL_MS);
        else expect(pttl, 'an unfinished branch does not expire').to.be.oneOf([-1, -2]);
      });
    }
  });

  describe('concurrent calls of one branch, each on its own connection', () => {
    const ROUNDS = 250;
    const clients: Redis[] = [];

    before(async () => {
      for (let i = 0; i < 3; i++) clients.push(new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }));
      await Promise.all(clients.map((c) => c.ping()));
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.quit()));
    });

    async function race(ops: readonly BarrierOp[]): Promise<Map<string, number>> {
      const barriers = ops.map((_op, i) => new RedisBarrier({ redis: clients[i], keyPrefix: `${prefix}barrier:`, ttlMs: TTL_MS }));
      const orders = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        const branchId = `race-${round}`;
        // Issued in rotating order, and each held back by 0-2 event-loop turns at
        // random: the first one issued would otherwise always reach Redis first.
        const issue = ops.map((_op, i) => (i + round) % ops.length);
        const pending: Promise<Answer>[] = new Array<Promise<Answer>>(ops.length);
        for (const i of issue) {
          const call = inventory.call(ops[i], branchId, 1);
          const turns = Math.floor(Math.random() * 3);
          pending[i] = answerOf(
            barriers[i].run(call, async (tx) => {
              for (let t = 0; t < turns; t++) await new Promise<void>((resolve) => setImmediate(resolve));
              return inventory.business(call, tx);
            }),
          );
        }
        const answers = await Promise.all(pending);
        const applied = await inventory.applied(redis, branchId);

        const order = matchingSerialOrder(ops, answers, applied);
        expect(order, `round ${round}: ${JSON.stringify({ answers: answers.map((a) => a.outcome ?? a.answer), applied })} matches no serial order`).to.not.equal(undefined);
        // The invariant itself: each change at most once, never frozen after the Cancel.
        expect(applied.try, `round ${round}: try applied`).to.be.at.most(1);
        expect(applied.cancel, `round ${round}: cancel applied`).to.equal(applied.try);
        expect(await inventory.stock(redis), `round ${round}: stock`).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
        const label = (order ?? []).map((i) => ops[i]).join(',');
        orders.set(label, (orders.get(label) ?? 0) + 1);
      }
      return orders;
    }

    it(`Try vs Cancel, ${ROUNDS} rounds: one of the two serial orders each time, nothing left reserved`, async () => {
      const orders = await race(['try', 'cancel']);
      // Both orders must have happened, or the race tested nothing.
      expect([...orders.keys()].sort()).to.deep.equal(['cancel,try', 'try,cancel']);
    });

    it(`Try vs duplicate Try vs Cancel, ${ROUNDS} rounds: a serial order each time, nothing left reserved`, async () => {
      const orders = await race(['try', 'try', 'cancel']);
      const tryFirst = [...orders.keys()].some((o) => o.startsWith('try'));
      const cancelFirst = [...orders.keys()].some((o) => o.startsWith('cancel'));
      expect({ tryFirst, cancelFirst }, JSON.stringify([...orders])).to.deep.equal({ tryFirst: true, cancelFirst: true });
    });
  });

  describe('guards', () => {
    it('out of stock: Try is refused with the default reason, writes no record, changes nothing; after a restock the same Try applies', async () => {
      await redis.hset(inventory.stockKey, 'available', 2);
      const err = await rejection(inventory.run(barrier, inventory.call('try', 'b1')));
      expect(err).to.be.instanceOf(TryRefusedError);
      expect(err).to.not.be.instanceOf(TrySuspendedError);
      expect(err.message).to.equal(`${inventory.stockKey} available would go below 0`);
      expect(await redis.exists(barrier.keyOf('g1', 'b1'))).to.equal(0);
      expect(await inventory.stock(redis)).to.deep.equal({ available: 2, reserved: 0 });
      // The counter change comes before the guarded one: it was not applied either.
      expect(await redis.exists(inventory.countersKey('b1'))).to.equal(0);

      await redis.hincrby(inventory.stockKey, 'available', 5);
      expect(await inventory.run(barrier, inventory.call('try', 'b1'))).to.deep.equal({ outcome: 'applied', value: 'X1' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: 4, reserved: QTY });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 0, cancel: 0 });
    });

    it('a custom refusal text; max bounds; incrby guards', async () => {
      const key = `${prefix}seats`;
      await redis.set(key, 8);
      const tooMany = await rejection(
        barrier.run(inventory.call('try', 'b1'), async (tx) => {
          tx.incrby(key, 3, { max: 10, refusal: 'the room is full' });
        }),
      );
      expect(tooMany).to.be.instanceOf(TryRefusedError).and.have.property('message', 'the room is full');
      const defaultMax = await rejection(barrier.run(inventory.call('try', 'b1'), async (tx) => void tx.incrby(key, 3, { max: 10 })));
      expect(defaultMax.message).to.equal(`${key} would go above 10`);
      expect(await barrier.run(inventory.call('try', 'b1'), async (tx) => void tx.incrby(key, 2, { min: 0, max: 10 }))).to.include({ outcome: 'applied' });
      expect(await redis.get(key)).to.equal('10');
    });

    it('guards see the earlier changes of the same call (two decrements are checked against their sum)', async () => {
      const twice = async (tx: RedisChangeSet): Promise<void> => {
        tx.hincrby(inventory.stockKey, 'available', -6, { min: 0 }).hincrby(inventory.stockKey, 'available', -6, { min: 0 });
      };
      expect(await rejection(barrier.run(inventory.call('try', 'b1'), twice))).to.be.instanceOf(TryRefusedError);
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
      const setThenAdd = async (tx: RedisChangeSet): Promise<void> => {
        tx.hset(inventory.stockKey, 'available', 1).hincrby(inventory.stockKey, 'available', -2, { min: 0 });
      };
      expect(await rejection(barrier.run(inventory.call('try', 'b1'), setThenAdd))).to.be.instanceOf(TryRefusedError);
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
    });

    it('a guard failing in phase two writes nothing either, so the retried Confirm applies once the data allows it', async () => {
      await inventory.run(barrier, inventory.call('try', 'b1'));
      await redis.hset(inventory.stockKey, 'reserved', 1); // someone else released part of it
      expect(await rejection(inventory.run(barrier, inventory.call('confirm', 'b1')))).to.be.instanceOf(TryRefusedError);
      expect(await record('b1')).to.deep.equal({ try: 'try' });
      expect(await redis.pttl(barrier.keyOf('g1', 'b1'))).to.equal(-1);
      await redis.hset(inventory.stockKey, 'reserved', QTY);
      expect(await inventory.run(barrier, inventory.call('confirm', 'b1'))).to.include({ outcome: 'applied' });
      expect(await inventory.applied(redis, 'b1')).to.deep.equal({ try: 1, confirm: 1, cancel: 0 });
    });
  });

  describe('what Redis holds is checked before the first write', () => {
    it('a counter that is not an integer fails the call with nothing applied and no record', async () => {
      await redis.hset(inventory.stockKey, 'reserved', 'lots');
      const err = await rejection(inventory.run(barrier, inventory.call('try', 'b1')));
      expect(err.message).to.match(/does not hold an integer/);
      expect(await redis.exists(barrier.keyOf('g1', 'b1'), inventory.countersKey('b1'))).to.equal(0);
      expect(await redis.hget(inventory.stockKey, 'available')).to.equal(String(START_AVAILABLE));
    });

    it('a key of another type fails the call with nothing applied and no record', async () => {
      const other = `${prefix}a-list`;
      await redis.rpush(other, 'x');
      const err = await rejection(
        barrier.run(inventory.call('try', 'b1'), async (tx) => {
          tx.hincrby(inventory.stockKey, 'available', -1).hset(other, 'f', 'v');
        }),
      );
      expect(err.message).to.match(/is a list, not a hash/);
      expect(await redis.exists(barrier.keyOf('g1', 'b1'))).to.equal(0);
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
    });

    it('a barrier key holding something the scripts did not write fails every phase, changing nothing', async () => {
      await redis.hset(barrier.keyOf('g1', 'b1'), 'try', 'maybe');
      for (const phase of ['try', 'confirm', 'cancel'] as const) {
        expect((await rejection(inventory.run(barrier, inventory.call(phase, 'b1')))).message, phase).to.match(/does not hold a barrier record/);
      }
      expect(await record('b1')).to.deep.equal({ try: 'maybe' });
      expect(await inventory.stock(redis)).to.deep.equal({ available: START_AVAILABLE, reserved: 0 });
    });

    it('a counter beyond ±(2^53-1), or an increment taking it there, fails the call with nothing applied', async () => {
      const key = `${prefix}big`;
      await redis.set(key, '9007199254740992');
      expect((await rejection(barrier.run(inventory.call('try', 'b1'), async (tx) => void tx.incrby(key, -1)))).message).to.match(/integer within/);
      await redis.set(key, String(Number.MAX_SAFE_INTEGER - 1));
      expect((await rejection(barrier.run(inventory.call('try', 'b1'), async (tx) => void tx.incrby(key, 2)))).message).to.match(/would leave/);
      expect(await barrier.run(inventory.call('try', 'b1'), async (tx) => void tx.incrby(key, 1))).to.include({ outcome: 'applied' });
      expect(await redis.get(key)).to.equal(String(Number.MAX_SAFE_INTEGER));
    });
  });

  describe('RedisChangeSet input checks', () => {
    it('refuses bad keys, fields, deltas, values and guards before anything reaches Redis', () => {
      const tx = new RedisChangeSet();
      expect(() => tx.hincrby('', 'f', 1)).to.throw(TypeError, /key/);
      expect(() => tx.hincrby('k', '', 1)).to.throw(TypeError, /field/);
      expect(() => tx.incrby('k', 1.5)).to.throw(RangeError, /not an integer/);
      expect(() => tx.incrby('k', 2 ** 53)).to.throw(RangeError);
      expect(() => tx.incrby('k', Number.NaN)).to.throw(RangeError);
      expect(() => tx.incrby('k', 1, { min: 5, max: 4 })).to.throw(RangeError, /min 5 is above max 4/);
      expect(() => tx.incrby('k', 1, { min: 0.5 })).to.throw(RangeError);
      expect(() => tx.incrby('k', 1, { min: 0, refusal: '' })).to.throw(TypeError, /refusal/);
      expect(() => tx.hset('k', 'f', Number.POSITIVE_INFINITY)).to.throw(RangeError);
      tx.hset('h', 'f', 'v');
      expect(() => tx.incrby('h', 1), 'a hash used as a string').to.throw(TypeError, /both/);
      expect(tx.changes).to.deep.equal([{ kind: 'hset', key: 'h', field: 'f', value: 'v' }]);
    });

    it('refuses changes added after the business function resolved, and the barrier record as a business key', async () => {
      let leaked: RedisChangeSet | undefined;
      await barrier.run(inventory.call('try', 'b1'), async (tx) => {
        leaked = tx;
      });
      expect(() => leaked?.incrby(`${prefix}late`, 1)).to.throw(/already handed to the barrier/);
      const err = await rejection(barrier.run(inventory.call('try', 'b2'), async (tx) => void tx.hset(barrier.keyOf('g1', 'b2'), 'try', 'try')));
      expect(err.message).to.match(/barrier record/);
      expect(await redis.exists(barrier.keyOf('g1', 'b2'))).to.equal(0);
    });
  });

  describe('expiry', () => {
    it('a tried-only record has no TTL; confirmed, cancelled and empty-rolled-back ones expire after ttlMs', async () => {
      const key = (b: string): string => barrier.keyOf('g1', b);
      await inventory.run(barrier, inventory.call('try', 'tried'));
      await inventory.run(barrier, inventory.call('try', 'tried'));
      expect(await redis.pttl(key('tried')), 'tried only').to.equal(-1);

      await inventory.run(barrier, inventory.call('try', 'confirmed'));
      await inventory.run(barrier, inventory.call('confirm', 'confirmed'));
      await inventory.run(barrier, inventory.call('try', 'cancelled'));
      await inventory.run(barrier, inventory.call('cancel', 'cancelled'));
      await inventory.run(barrier, inventory.call('cancel', 'empty'));
      for (const b of ['confirmed', 'cancelled', 'empty']) {
        expect(await redis.pttl(key(b)), b).to.be.within(TTL_MS - 5_000, TTL_MS);
      }
      // A refused late Try and a violation leave the TTL as it was.
      await rejection(inventory.run(barrier, inventory.call('try', 'empty')));
      await rejection(inventory.run(barrier, inventory.call('cancel', 'confirmed')));
      expect(await redis.pttl(key('empty'))).to.be.within(TTL_MS - 5_000, TTL_MS);
      expect(await redis.pttl(key('confirmed'))).to.be.within(TTL_MS - 5_000, TTL_MS);
    });

    it('ttlMs defaults to 7 days', async () => {
      const byDefault = new RedisBarrier({ redis, keyPrefix: `${prefix}barrier:` });
      await inventory.run(byDefault, inventory.call('cancel', 'b1'));
      expect(DEFAULT_REDIS_BARRIER_TTL_MS).to.equal(604_800_000);
      expect(await redis.pttl(byDefault.keyOf('g1', 'b1'))).to.be.within(DEFAULT_REDIS_BARRIER_TTL_MS - 5_000, DEFAULT_REDIS_BARRIER_TTL_MS);
    });

    it('refuses a ttlMs that is not a positive integer', () => {
      for (const ttlMs of [0, -1, 1.5, Number.POSITIVE_INFINITY]) {
        expect(() => new RedisBarrier({ redis, ttlMs }), String(ttlMs)).to.throw(RangeError, /ttlMs/);
      }
    });
  });

  describe('scripts', () => {
    it('are the files of src/participant/lua/, each with its header, sharing one fragment', () => {
      expect(LUA_ROOT).to.equal(path.resolve(__dirname, '..', '..', 'src', 'participant', 'lua'));
      const fragment = fs.readFileSync(path.join(LUA_ROOT, 'apply-changes.lua'), 'utf8');
      expect(fragment).to.include('local function check_changes');
      for (const [phase, file] of Object.entries(BARRIER_SCRIPT_FILES)) {
        const raw = fs.readFileSync(path.join(LUA_ROOT, file), 'utf8');
        expect(raw, file).to.match(/^-- TCC barrier, /);
        for (const part of ['KEYS[1]', 'KEYS[2..n]', 'ARGV[1]', 'Returns:']) expect(raw, `${file} header`).to.include(part);
        expect(raw, file).to.match(/^-- @include apply-changes$/m);
        expect(raw, `${file} does not copy the fragment`).to.not.include('local function');
        const loaded = barrierScripts()[phase as keyof typeof BARRIER_SCRIPT_FILES];
        expect(loaded, file).to.equal(raw.replace('-- @include apply-changes\n', () => fragment));
      }
    });

    it('expands @include lines, and refuses missing, nested and malformed ones', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-lua-'));
      try {
        fs.writeFileSync(path.join(dir, 'part.lua'), 'local x = 1\n');
        fs.writeFileSync(path.join(dir, 'nested.lua'), '-- @include part\n');
        fs.writeFileSync(path.join(dir, 'ok.lua'), '-- header\n-- @include part\nreturn x\n');
        fs.writeFileSync(path.join(dir, 'missing.lua'), '-- @include nowhere\n');
        fs.writeFileSync(path.join(dir, 'deep.lua'), '-- @include nested\n');
        fs.writeFileSync(path.join(dir, 'typo.lua'), '-- @include part.lua\n');
        expect(loadLuaScript('ok.lua', dir)).to.equal('-- header\nlocal x = 1\nreturn x\n');
        expect(() => loadLuaScript('missing.lua', dir)).to.throw(/nowhere\.lua cannot be read/);
        expect(() => loadLuaScript('deep.lua', dir)).to.throw(/cannot include others/);
        expect(() => loadLuaScript('typo.lua', dir)).to.throw(/malformed @include/);
        expect(() => loadLuaScript('absent.lua', dir)).to.throw(/must be shipped along with dist/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('run by EVALSHA, which falls back to EVAL after SCRIPT FLUSH', async () => {
      const sha = createHash('sha1').update(barrierScripts().cancel).digest('hex');
      // A client of its own: ioredis remembers per connection which scripts it has sent.
      const own = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      const ownBarrier = new RedisBarrier({ redis: own, keyPrefix: `${prefix}barrier:`, ttlMs: TTL_MS });
      const monitorBase = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      const monitor = await monitorBase.monitor();
      try {
        // MONITOR sees every client of the server: keep only the commands naming this test's keys.
        const seen: string[] = [];
        monitor.on('monitor', (_time: string, args: string[]) => {
          if (args.some((a) => a.startsWith(prefix))) seen.push(args[0].toLowerCase());
        });
        const cancel = (b: string): Promise<BarrierResult<string>> => inventory.run(ownBarrier, inventory.call('cancel', b));
        await cancel('b1');
        await cancel('b2');
        expect(await redis.script('EXISTS', sha)).to.deep.equal([1]);
        await redis.script('FLUSH', 'SYNC');
        expect(await redis.script('EXISTS', sha)).to.deep.equal([0]);
        expect(await cancel('b3')).to.deep.equal({ outcome: 'empty-rollback' });
        expect(await cancel('b4')).to.deep.equal({ outcome: 'empty-rollback' });
        expect(await redis.script('EXISTS', sha)).to.deep.equal([1]);
        const scriptCalls = async (): Promise<string[]> => {
          for (let i = 0; i < 100 && seen.filter((c) => c.startsWith('eval')).length < 5; i++) await new Promise((r) => setTimeout(r, 20));
          return seen.filter((c) => c.startsWith('eval'));
        };
        // ioredis sends EVAL the first time on a connection, EVALSHA afterwards, and EVAL again after NOSCRIPT.
        expect(await scriptCalls()).to.deep.equal(['eval', 'evalsha', 'evalsha', 'eval', 'evalsha']);
      } finally {
        monitor.disconnect();
        monitorBase.disconnect();
        await own.quit();
      }
    });
  });
});
