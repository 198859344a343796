import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import Redis from 'ioredis';
import { RedisSingletonLease } from '../src/lease/redis-singleton-lease';
import { createLogger } from '../src/log/logger';
import { REDIS_URL, requireRedis } from './helpers/redis';
import { sleep } from './helpers/backends';

/*
 * The Redis lease that lets one replica at a time do singleton work (the
 * deadline sweep, retention). Real Redis, a unique key prefix per test.
 */
describe('Redis singleton lease', function () {
  this.timeout(10_000);
  const logger = createLogger({ level: 'silent' });
  let redisA: Redis;
  let redisB: Redis;
  let prefix: string;

  before(async function () {
    await requireRedis(this);
    redisA = new Redis(REDIS_URL);
    redisB = new Redis(REDIS_URL);
  });
  beforeEach(() => {
    prefix = `tcc-test:lease:${randomBytes(6).toString('hex')}:`;
  });
  afterEach(async () => {
    const keys = await redisA.keys(`${prefix}*`);
    if (keys.length) await redisA.del(...keys);
  });
  after(() => {
    redisA?.disconnect();
    redisB?.disconnect();
  });

  it('is held by one process at a time, renewed by its holder, and passed on when released', async () => {
    const a = new RedisSingletonLease({ redis: redisA, node: 'a', logger, keyPrefix: prefix });
    const b = new RedisSingletonLease({ redis: redisB, node: 'b', logger, keyPrefix: prefix });
    expect(await a.hold('sweep', 5_000)).to.equal(true);
    expect(await b.hold('sweep', 5_000)).to.equal(false);
    expect(await a.hold('sweep', 5_000), 'renewed by its holder').to.equal(true);
    expect(await redisA.pttl(`${prefix}sweep`)).to.be.within(4_000, 5_000);
    expect(await b.hold('retention', 5_000), 'leases are per name').to.equal(true);
    await a.releaseAll();
    expect(await b.hold('sweep', 5_000), 'taken over once released').to.equal(true);
    expect(await a.hold('sweep', 5_000)).to.equal(false);
  });

  it('expires when its holder stops renewing it (a dead replica), and another process takes it', async () => {
    const a = new RedisSingletonLease({ redis: redisA, node: 'a', logger, keyPrefix: prefix });
    const b = new RedisSingletonLease({ redis: redisB, node: 'b', logger, keyPrefix: prefix });
    expect(await a.hold('sweep', 200)).to.equal(true);
    expect(await b.hold('sweep', 200)).to.equal(false);
    await sleep(300);
    expect(await b.hold('sweep', 200)).to.equal(true);
  });

  it('a restarted process with the same node id does not inherit the lease of the old one', async () => {
    const before = new RedisSingletonLease({ redis: redisA, node: 'same', logger, keyPrefix: prefix });
    const after = new RedisSingletonLease({ redis: redisB, node: 'same', logger, keyPrefix: prefix });
    expect(await before.hold('sweep', 5_000)).to.equal(true);
    expect(await after.hold('sweep', 5_000)).to.equal(false);
  });

  it('counts as held when Redis does not answer: the work runs (safely) rather than on no replica', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    dead.on('error', () => undefined);
    try {
      const lease = new RedisSingletonLease({ redis: dead, node: 'a', logger, keyPrefix: prefix, commandTimeoutMs: 300 });
      const t0 = Date.now();
      expect(await lease.hold('sweep', 1_000)).to.equal(true);
      expect(Date.now() - t0).to.be.below(1_000);
    } finally {
      dead.disconnect();
    }
  });
});
