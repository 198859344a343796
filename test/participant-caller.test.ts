import { expect } from 'chai';
import { ParticipantCaller, type ParticipantCall } from '../src/engine/participant-caller';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

describe('ParticipantCaller', function () {
  this.timeout(20_000);
  const participants: TestParticipant[] = [];

  before(async () => {
    for (let i = 0; i < 3; i++) participants.push(await startTestParticipant());
  });
  after(async () => {
    for (const p of participants) await p.stop();
  });
  beforeEach(() => participants.forEach((p) => p.resetBehaviors()));

  const req = (target: string, over: Partial<ParticipantCall> = {}): ParticipantCall => ({
    target,
    phase: 'confirm',
    gid: 'g1',
    branchId: 'b1',
    action: 'act',
    payload: Buffer.from('p'),
    timeoutMs: 5_000,
    ...over,
  });

  it('keeps at most maxClients channels; an evicted channel finishes its in-flight call and a later call reconnects', async () => {
    const caller = new ParticipantCaller({ maxClients: 2 });
    try {
      const [p1, p2, p3] = participants;
      p1.setBehavior('confirm', 'ok', { delayMs: 300 });
      const slow = caller.call(req(p1.target));
      await p1.waitForCalls((c) => c.phase === 'confirm', 5_000);
      // Two more targets push p1's channel out while its call is in flight.
      expect((await caller.call(req(p2.target))).outcome).to.equal('ok');
      expect((await caller.call(req(p3.target))).outcome).to.equal('ok');
      expect((await slow).outcome, 'the in-flight call on the evicted channel').to.equal('ok');
      p1.resetBehaviors();
      expect((await caller.call(req(p1.target))).outcome, 'a new call to the evicted target').to.equal('ok');
    } finally {
      caller.close();
    }
  });

  it('reads statuses by the contract: refusal only from Try, anything else unknown', async () => {
    const caller = new ParticipantCaller();
    try {
      const p = participants[0];
      p.setBehavior('try', 'refuse');
      p.setBehavior('confirm', 'refuse');
      expect((await caller.call(req(p.target, { phase: 'try' }))).outcome).to.equal('refused');
      // ABORTED from a Confirm is not a refusal: Confirm is called again until it succeeds.
      expect((await caller.call(req(p.target, { phase: 'confirm' }))).outcome).to.equal('unknown');
      p.setBehavior('cancel', 'hang');
      const hung = await caller.call(req(p.target, { phase: 'cancel', timeoutMs: 100 }));
      expect(hung.outcome).to.equal('unknown');
      expect(hung.grpcCode).to.equal(4);
    } finally {
      caller.close();
    }
  });
});
