/**
 * The coordinator's participant calls over tcc.v1.Participant/Calls streams
 * (src/engine/participant-caller.ts, target-streams.ts, participant-stream.ts),
 * against real grpc-js test participants on 127.0.0.1:0.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { ParticipantCaller, type CallResult, type ParticipantCall, type ParticipantCallerOptions } from '../src/engine/participant-caller';
import { createCoordinatorClient, forEachBackend, pollUntil, sleep, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

let seq = 0;
const req = (target: string, over: Partial<ParticipantCall> = {}): ParticipantCall => {
  seq++;
  return {
    target,
    phase: 'confirm',
    gid: `g-${seq}`,
    branchId: `b-${seq}`,
    action: 'act',
    payload: Buffer.from(`p-${seq}`),
    timeoutMs: 5_000,
    ...over,
  };
};

describe('participant calls over streams (coordinator side)', function () {
  this.timeout(30_000);
  const participants: TestParticipant[] = [];
  const callers: ParticipantCaller[] = [];

  const participant = async (options?: { unaryOnly?: boolean }): Promise<TestParticipant> => {
    const p = await startTestParticipant(options);
    participants.push(p);
    return p;
  };
  const caller = (options: ParticipantCallerOptions = {}): ParticipantCaller => {
    const c = new ParticipantCaller(options);
    callers.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of callers.splice(0)) c.close();
    for (const p of participants.splice(0)) await p.stop();
  });

  it('sends calls as messages on one long-lived stream, with each answer matched to its call', async () => {
    const p = await participant();
    const c = caller({ streamsPerTarget: 1 });
    for (let i = 0; i < 5; i++) {
      const r = req(p.target, { phase: (['try', 'confirm', 'cancel'] as const)[i % 3] });
      const res = await c.call(r);
      expect(res.outcome).to.equal('ok');
      expect(res.result.toString()).to.equal(`${r.phase}-ok:${r.branchId}`);
    }
    const many = Array.from({ length: 30 }, () => req(p.target));
    const results = await Promise.all(many.map((r) => c.call(r)));
    results.forEach((res, i) => expect(res.result.toString()).to.equal(`confirm-ok:${many[i].branchId}`));
    expect(p.calls.map((x) => x.transport)).to.deep.equal(Array(35).fill('stream'));
    expect(p.streamsOpened, 'streams opened for 35 calls').to.equal(1);
  });

  it('the unary transport never opens a stream', async () => {
    const p = await participant();
    const c = caller({ transport: 'unary' });
    for (let i = 0; i < 3; i++) expect((await c.call(req(p.target))).outcome).to.equal('ok');
    expect(p.streamsOpened).to.equal(0);
    expect(p.calls.map((x) => x.transport)).to.deep.equal(['unary', 'unary', 'unary']);
  });

  it('reads statuses from answers as from unary calls: refusal only from Try, the refusal text kept, anything else unknown', async () => {
    const p = await participant();
    const c = caller();
    p.setBehavior('try', 'refuse');
    p.setBehavior('confirm', 'refuse');
    p.setBehavior('cancel', 'internal');
    const t = await c.call(req(p.target, { phase: 'try', action: 'book' }));
    expect(t).to.include({ outcome: 'refused', grpcCode: grpc.status.ABORTED, error: 'ABORTED: refused by test participant (try book)' });
    const cf = await c.call(req(p.target, { phase: 'confirm' }));
    expect(cf).to.include({ outcome: 'unknown', grpcCode: grpc.status.ABORTED, error: 'ABORTED: participant call failed' });
    const cn = await c.call(req(p.target, { phase: 'cancel' }));
    // Class only: the participant's own INTERNAL text never reaches the caller.
    expect(cn).to.include({ outcome: 'unknown', grpcCode: grpc.status.INTERNAL, error: 'INTERNAL: participant call failed' });
    p.setBehavior('try', 'refuse-precondition');
    expect((await c.call(req(p.target, { phase: 'try' }))).outcome).to.equal('refused');
    expect(p.calls.every((x) => x.transport === 'stream')).to.equal(true);
  });

  it('puts tcc-gid, tcc-branch-id, tcc-phase and traceparent in each message, and its deadline in timeout_ms', async () => {
    const p = await participant();
    const c = caller();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const before = Date.now();
    const r = req(p.target, { phase: 'cancel', timeoutMs: 3_000, traceparent });
    expect((await c.call(r)).outcome).to.equal('ok');
    const got = p.calls[0];
    expect(got.transport).to.equal('stream');
    expect(got.metadata).to.deep.equal({ 'tcc-gid': r.gid, 'tcc-branch-id': r.branchId, 'tcc-phase': 'cancel' });
    // A child of the given context: same trace id, the caller's span as parent.
    expect(got.traceparent).to.match(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(got).to.include({ gid: r.gid, branch_id: r.branchId, action: 'act' });
    expect(got.payload.toString()).to.equal(r.payload.toString());
    expect(got.deadline).to.be.within(before + 2_000, Date.now() + 3_000);
  });

  it('falls back to unary for a participant without Calls, re-sending the calls pending on the stream (none is unknown), and probes again later', async () => {
    const p = await participant({ unaryOnly: true });
    const c = caller({ streamReprobeMs: 4_000 });
    // Concurrent first calls: all of them are pending on streams when UNIMPLEMENTED arrives.
    const first = Array.from({ length: 8 }, (_, i) => req(p.target, { phase: (['try', 'confirm', 'cancel'] as const)[i % 3] }));
    const results = await Promise.all(first.map((r) => c.call(r)));
    const fellBackAt = Date.now();
    expect(results.map((r) => r.outcome)).to.deep.equal(Array(8).fill('ok'));
    results.forEach((res, i) => expect(res.result.toString()).to.equal(`${first[i].phase}-ok:${first[i].branchId}`));
    // Each ran exactly once, unary: UNIMPLEMENTED means the stream ran nothing.
    expect(p.calls.map((x) => x.branch_id).sort()).to.deep.equal(first.map((r) => r.branchId).sort());
    expect(p.calls.every((x) => x.transport === 'unary')).to.equal(true);

    // The participant learns Calls; until the probe interval passes the target stays unary.
    p.unaryOnly = false;
    await p.restart();
    p.clearCalls();
    // The channel may still be in its reconnect backoff from the restart: unreachable until it reconnects.
    await pollUntil(() => c.call(req(p.target)), (x: CallResult) => x.outcome === 'ok', 'a call after the restart', 10_000);
    expect(Date.now() - fellBackAt, 'test setup too slow for the probe interval').to.be.below(3_500);
    expect(p.calls.map((x) => x.transport), 'within the probe interval').to.deep.equal(['unary']);
    await sleep(fellBackAt + 4_300 - Date.now());
    expect((await c.call(req(p.target))).outcome).to.equal('ok');
    expect(p.calls.map((x) => x.transport), 'after the probe interval').to.deep.equal(['unary', 'stream']);
  });

  it('gives each call its own deadline: no answer by then is unknown (DEADLINE_EXCEEDED), the late answer is ignored, the stream goes on', async () => {
    const p = await participant();
    const c = caller({ streamsPerTarget: 1 });
    expect((await c.call(req(p.target))).outcome).to.equal('ok');
    p.setBehavior('confirm', 'ok', { action: 'slow', delayMs: 800 });
    p.setBehavior('confirm', 'hang', { action: 'never' });
    const t0 = Date.now();
    const [slow, never, fast] = await Promise.all([
      c.call(req(p.target, { action: 'slow', timeoutMs: 200 })),
      c.call(req(p.target, { action: 'never', timeoutMs: 300 })),
      c.call(req(p.target, { action: 'fast', timeoutMs: 5_000 })),
    ]);
    expect(Date.now() - t0, 'settled by the deadlines, not by the answers').to.be.below(790);
    for (const r of [slow, never]) expect(r).to.include({ outcome: 'unknown', grpcCode: grpc.status.DEADLINE_EXCEEDED, error: 'DEADLINE_EXCEEDED: participant timed out' });
    expect(fast.outcome).to.equal('ok');
    // The slow call's answer arrives now, for a call_id no longer pending: it must settle nothing else.
    await sleep(900);
    const after = req(p.target);
    const res = await c.call(after);
    expect(res.result.toString()).to.equal(`confirm-ok:${after.branchId}`);
    expect(p.streamsOpened, 'the same stream throughout').to.equal(1);
  });

  it('a stream cut mid-call (participant killed) leaves every call pending on it unknown (UNAVAILABLE) at once; the next call opens a new stream', async () => {
    const p = await participant();
    const c = caller({ streamsPerTarget: 1 });
    p.setBehavior('confirm', 'hang');
    const pending = Array.from({ length: 3 }, () => c.call(req(p.target, { timeoutMs: 20_000 })));
    await p.waitForCalls(() => true, 10_000, 3);
    const t0 = Date.now();
    await p.stop();
    const results = await Promise.all(pending);
    expect(Date.now() - t0, 'at the cut, not at the 20 s deadline').to.be.below(10_000);
    for (const r of results) expect(r).to.include({ outcome: 'unknown', grpcCode: grpc.status.UNAVAILABLE, error: 'UNAVAILABLE: participant unreachable' });
    p.resetBehaviors();
    await p.restart();
    const r = await pollUntil(() => c.call(req(p.target)), (x: CallResult) => x.outcome === 'ok', 'a call after the restart', 10_000);
    expect(r.outcome).to.equal('ok');
    expect(p.streamsOpened).to.equal(2);
  });

  it('a stream that answered and then ends UNIMPLEMENTED is broken, not a participant without Calls: its pending call is unknown and not re-sent unary', async () => {
    // A participant (or a proxy before it) that has Calls, answers one call, then ends the stream with UNIMPLEMENTED
    // while a second call may already be running: re-sending that call unary could run it twice.
    const unaryCalls: string[] = [];
    const server = new grpc.Server();
    const unary: grpc.handleUnaryCall<{ branch_id: string }, { result: Buffer }> = (call, cb) => {
      unaryCalls.push(call.request.branch_id);
      cb(null, { result: Buffer.alloc(0) });
    };
    server.addService(loadTccProto().grpcObject.tcc.v1.Participant.service, {
      Try: unary,
      Confirm: unary,
      Cancel: unary,
      Calls: (stream: grpc.ServerDuplexStream<{ call_id: string }, unknown>) => {
        let seen = 0;
        stream.on('data', (m: { call_id: string }) => {
          seen++;
          if (seen === 1) stream.write({ call_id: m.call_id, code: 0, message: '', result: Buffer.from('first') });
          else stream.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'gone' });
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    try {
      const c = caller({ streamsPerTarget: 1 });
      const target = `127.0.0.1:${port}`;
      expect((await c.call(req(target))).outcome).to.equal('ok');
      const second = await c.call(req(target));
      expect(second).to.include({ outcome: 'unknown', transport: 'stream' });
      expect(unaryCalls, 'no call re-sent unary').to.deep.equal([]);
    } finally {
      server.forceShutdown();
    }
  });

  it('takes answers out of order and several calls at once on one stream', async () => {
    const p = await participant();
    const c = caller({ streamsPerTarget: 1 });
    p.setBehavior('confirm', 'ok', { action: 'slow', delayMs: 600 });
    const order: string[] = [];
    const slow = req(p.target, { action: 'slow' });
    const fast = req(p.target, { action: 'fast' });
    const track = (r: ParticipantCall) => c.call(r).then((res) => (order.push(r.action), res));
    const slowP = track(slow);
    await p.waitForCalls((x) => x.action === 'slow');
    const [s, f] = await Promise.all([slowP, track(fast)]);
    expect(order).to.deep.equal(['fast', 'slow']);
    expect(s.result.toString()).to.equal(`confirm-ok:${slow.branchId}`);
    expect(f.result.toString()).to.equal(`confirm-ok:${fast.branchId}`);
    p.resetMaxInFlight();
    p.setBehavior('confirm', 'ok', { delayMs: 300 });
    await Promise.all(Array.from({ length: 10 }, () => c.call(req(p.target))));
    expect(p.maxInFlight('confirm'), 'calls of one stream run concurrently').to.be.at.least(5);
    expect(p.streamsOpened).to.equal(1);
  });

  it('ignores answers with an unknown or repeated call_id', async () => {
    const p = await participant();
    p.quirks = { duplicateAnswers: true, strayAnswers: true };
    const c = caller({ streamsPerTarget: 1 });
    const calls = Array.from({ length: 12 }, () => req(p.target));
    const results = await Promise.all(calls.map((r) => c.call(r)));
    results.forEach((res, i) => {
      expect(res.outcome).to.equal('ok');
      expect(res.result.toString()).to.equal(`confirm-ok:${calls[i].branchId}`);
    });
    const again = await c.call(req(p.target));
    expect(again.outcome).to.equal('ok');
    expect(p.streamsOpened).to.equal(1);
  });

  it('bounds memory: beyond maxCallsPerStream on every stream a call goes unary; an idle stream is closed; close() ends every stream', async () => {
    const p = await participant();
    const c = caller({ streamsPerTarget: 1, maxCallsPerStream: 2, streamIdleMs: 300 });
    p.setBehavior('confirm', 'ok', { delayMs: 300 });
    const results = await Promise.all(Array.from({ length: 5 }, () => c.call(req(p.target))));
    expect(results.map((r) => r.outcome)).to.deep.equal(Array(5).fill('ok'));
    expect(p.calls.map((x) => x.transport).sort()).to.deep.equal(['stream', 'stream', 'unary', 'unary', 'unary']);
    // Idle past streamIdleMs: the stream is closed, the next call opens another.
    await sleep(800);
    expect((await c.call(req(p.target))).outcome).to.equal('ok');
    expect(p.streamsOpened).to.equal(2);
    // close(): the stream is half-closed; the call already sent still gets its answer.
    const inFlight = c.call(req(p.target));
    await p.waitForCalls(() => true, 5_000, 7);
    c.close();
    expect((await inFlight).outcome).to.equal('ok');
  });

  it('spreads a multi-address target over every backend (round_robin, several streams)', async () => {
    const p1 = await participant();
    const p2 = await participant();
    // The same resolver → subchannel path as a dns:/// name with several addresses.
    const target = `ipv4:127.0.0.1:${p1.port},127.0.0.1:${p2.port}`;
    const c = caller({ streamsPerTarget: 4 });
    expect((await c.call(req(target))).outcome).to.equal('ok');
    // Let the balancer connect to both addresses before the other streams open.
    await pollUntil(async () => (await c.call(req(target))).outcome, (o) => o === 'ok', 'warm-up');
    await sleep(500);
    const results = await Promise.all(Array.from({ length: 40 }, () => c.call(req(target))));
    expect(results.every((r) => r.outcome === 'ok')).to.equal(true);
    const n1 = p1.calls.filter((x) => x.transport === 'stream').length;
    const n2 = p2.calls.filter((x) => x.transport === 'stream').length;
    expect(n1, 'calls on backend 1').to.be.at.least(5);
    expect(n2, 'calls on backend 2').to.be.at.least(5);
    expect(n1 + n2).to.equal(42);
  });
});

forEachBackend((backend) => {
  describe('a transaction whose Confirm stream is cut mid-call', function () {
    this.timeout(60_000);
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    let p: TestParticipant;

    before(async () => {
      p = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, { TCC_BRANCH_TIMEOUT_MS: '10000', TCC_SWEEP_INTERVAL_MS: '100' });
      client = createCoordinatorClient(coordinator.address);
    });
    after(async () => {
      client.close();
      await coordinator.shutdown();
      await p.stop();
    });

    it('ends CONFIRMED: the unknown Confirm is sent again by recovery, over a new stream', async () => {
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'b1', participant: p.target, action: 'pay', payload: Buffer.from('1') } });
      await client.try({ gid, branch: { branch_id: 'b2', participant: p.target, action: 'ship', payload: Buffer.from('2') } });
      p.setBehavior('confirm', 'hang');
      await client.commit({ gid });
      await p.waitForCalls((x) => x.phase === 'confirm' && x.gid === gid, 10_000, 2);
      await p.stop();
      p.resetBehaviors();
      await p.restart();
      const done = await pollUntil(() => client.getTransaction({ gid }), (t) => t.status === 'CONFIRMED', `${gid} CONFIRMED`, 30_000);
      expect(done.branches.map((b) => b.phase_two)).to.deep.equal(['PHASE_TWO_DONE', 'PHASE_TWO_DONE']);
      const confirms = p.callsFor('confirm', gid);
      expect(confirms.length, 'Confirm sent again after the cut').to.be.at.least(4);
      expect(confirms.every((x) => x.transport === 'stream')).to.equal(true);
      expect(p.callsFor('cancel', gid)).to.have.length(0);
      expect(done.logs.some((l) => l.phase === 'confirm' && /UNAVAILABLE/.test(l.error ?? ''))).to.equal(true);
    });
  });
});
