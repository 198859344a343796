import { expect } from 'chai';
import { TargetLimiter } from '../src/engine/target-limiter';

/*
 * The per-target slots shared by client-started phase two and recovery
 * (issue 9): new traffic must not starve a backlog's recovery of a
 * participant, nor the backlog new traffic.
 */
describe('TargetLimiter: client rounds and recovery on one target', function () {
  const T = '127.0.0.1:1';

  it('while recovery waits for a target, client rounds hold at most half its slots; a freed slot wakes recovery and stays free for it', async () => {
    const limiter = new TargetLimiter(4, 60_000);
    let wakes = 0;
    limiter.onRecoverySlotFree(() => wakes++);
    const held = await Promise.all([0, 1, 2, 3].map(() => limiter.acquire(T, 0)));
    expect(held.every((r) => r !== null)).to.equal(true);
    expect(limiter.tryAcquire(T), 'recovery while clients hold every slot').to.equal(null);

    // A client waits; clients still hold 3 of 4 slots, over half: the freed slot is recovery's.
    const waiter = limiter.acquire(T, 1_000);
    held[0]!();
    expect(wakes).to.equal(1);
    expect(limiter.inFlight(T)).to.equal(3);
    const forRecovery = limiter.tryAcquire(T);
    expect(forRecovery, 'recovery takes the freed slot').to.not.equal(null);

    // Clients drop to half: the next freed slot goes to the waiting client.
    held[1]!();
    held[2]!();
    const granted = await waiter;
    expect(granted, 'the client waiter, once clients hold under half').to.not.equal(null);
    expect(limiter.inFlight(T)).to.equal(3); // held[3], recovery's, the waiter's
    for (const r of [held[3], forRecovery, granted]) r!();
    expect(limiter.inFlight(T)).to.equal(0);
  });

  it('without recovery waiting, client rounds may take every slot, in arrival order', async () => {
    const limiter = new TargetLimiter(2, 60_000);
    const a = await limiter.acquire(T, 0);
    const b = await limiter.acquire(T, 0);
    expect([a, b].every((r) => r !== null)).to.equal(true);
    const order: string[] = [];
    const c = limiter.acquire(T, 1_000).then((r) => (order.push('c'), r));
    const d = limiter.acquire(T, 1_000).then((r) => (order.push('d'), r));
    a!();
    b!();
    const [rc, rd] = await Promise.all([c, d]);
    expect(order).to.deep.equal(['c', 'd']);
    rc!();
    rd!();
    expect(limiter.inFlight(T)).to.equal(0);
  });

  it('the share for recovery lapses when recovery stops asking', async () => {
    const limiter = new TargetLimiter(2, 50);
    const a = await limiter.acquire(T, 0);
    const b = await limiter.acquire(T, 0);
    expect(limiter.tryAcquire(T)).to.equal(null);
    a!();
    expect(await limiter.acquire(T, 0), 'held back for recovery').to.equal(null);
    await new Promise((r) => setTimeout(r, 80));
    const again = await limiter.acquire(T, 0);
    expect(again, 'clients may take it once recovery has not asked for a while').to.not.equal(null);
    again!();
    b!();
  });
});
