/**
 * The participant SDK's Participant/Calls stream (src/participant/calls-stream.ts),
 * driven message by message by a raw grpc-js client against a real
 * ParticipantServer on 127.0.0.1:0.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { BranchAnswer__Output } from '../src/generated/tcc/v1/BranchAnswer';
import type { BranchCall } from '../src/generated/tcc/v1/BranchCall';
import type { ParticipantClient } from '../src/generated/tcc/v1/Participant';
import { createLogger } from '../src/log/logger';
import { noBarrier, ParticipantServer, type BranchCall as SdkCall } from '../src/participant';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { pollUntil, sleep } from './helpers/backends';

/** A raw Calls stream: what was answered, in order, and how the stream ended. */
class RawStream {
  readonly answers: BranchAnswer__Output[] = [];
  status: grpc.StatusObject | undefined;
  readonly call: grpc.ClientDuplexStream<BranchCall, BranchAnswer__Output>;

  constructor(client: ParticipantClient) {
    this.call = client.Calls(new grpc.Metadata());
    this.call.on('data', (a: BranchAnswer__Output) => this.answers.push(a));
    this.call.on('error', () => undefined);
    this.call.on('status', (s: grpc.StatusObject) => (this.status = s));
  }

  send(msg: BranchCall): void {
    this.call.write(msg);
  }

  answerFor(callId: string, timeoutMs = 10_000): Promise<BranchAnswer__Output> {
    return pollUntil(async () => this.answers.find((a) => a.call_id === callId), (a) => a !== undefined, `answer to ${callId}`, timeoutMs).then(
      (a) => a!,
    );
  }
}

const request = (gid: string, action = 'ok', payload = '{}') => ({ gid, branch_id: `${gid}-b`, action, payload: Buffer.from(payload) });

describe('participant SDK: the Calls stream', function () {
  this.timeout(30_000);
  const seen: SdkCall[] = [];
  const logLines: string[] = [];
  const gates = new Map<string, () => void>();
  const gate = (gid: string) => new Promise<void>((resolve) => gates.set(gid, resolve));
  let server: ParticipantServer;
  let client: ParticipantClient;

  before(async () => {
    server = new ParticipantServer({
      barrier: noBarrier,
      maxStreamCallsInFlight: 3,
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
      actions: {
        ok: {
          try: async (_tx, call) => {
            seen.push(call);
            return `tried ${call.branchId}`;
          },
          confirm: async (_tx, call) => void seen.push(call),
          cancel: async (_tx, call) => void seen.push(call),
        },
        held: {
          try: async (_tx, call) => {
            await gate(call.gid);
            return `held ${call.gid}`;
          },
          confirm: async (_tx, call) => gate(call.gid),
          cancel: async (_tx, call) => gate(call.gid),
        },
      },
    });
    client = new (loadTccProto().grpcObject.tcc.v1.Participant)(await server.listen('127.0.0.1:0'), grpc.credentials.createInsecure());
  });
  after(async () => {
    for (const open of gates.values()) open();
    client.close();
    await server.shutdown(1_000);
  });

  it('runs each message as its phase, with metadata, traceparent and deadline from the message', async () => {
    const s = new RawStream(client);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const before = Date.now();
    s.send({ call_id: '7', phase: 'TRY', request: request('m1'), timeout_ms: 3_000, metadata: { 'tcc-gid': 'm1', traceparent } });
    const a = await s.answerFor('7');
    expect(a).to.include({ code: 0, message: '' });
    expect(a.result.toString()).to.equal('tried m1-b');
    const call = seen.find((c) => c.gid === 'm1')!;
    expect(call).to.include({ phase: 'try', branchId: 'm1-b', action: 'ok', traceparent });
    expect(call.deadline).to.be.within(before + 2_000, Date.now() + 3_000);
    s.send({ call_id: '8', phase: 'CANCEL', request: request('m1'), timeout_ms: 0, metadata: {} });
    expect((await s.answerFor('8')).code).to.equal(0);
    expect(seen.find((c) => c.gid === 'm1' && c.phase === 'cancel')?.deadline, 'timeout_ms 0: no deadline').to.equal(Infinity);
    s.call.end();
  });

  it('answers bad messages INVALID_ARGUMENT and keeps the stream up: unknown phase, missing request, a call_id already in flight', async () => {
    const s = new RawStream(client);
    s.send({ call_id: '1', phase: 'PHASE_UNSPECIFIED', request: request('bad1'), timeout_ms: 5_000 });
    s.send({ call_id: '2', phase: 7 as never, request: request('bad2'), timeout_ms: 5_000 });
    s.send({ call_id: '3', phase: 'TRY', timeout_ms: 5_000 });
    s.send({ call_id: '4', phase: 'TRY', request: request('held-dup', 'held'), timeout_ms: 10_000 });
    s.send({ call_id: '4', phase: 'TRY', request: request('other', 'ok'), timeout_ms: 10_000 });
    for (const id of ['1', '2', '3']) expect((await s.answerFor(id)).code, `call ${id}`).to.equal(grpc.status.INVALID_ARGUMENT);
    const dup = await s.answerFor('4');
    expect(dup).to.include({ code: grpc.status.INVALID_ARGUMENT, message: 'call_id already in flight on this stream' });
    expect(seen.some((c) => c.gid === 'other'), 'the duplicate did not run').to.equal(false);
    gates.get('held-dup')!();
    await pollUntil(async () => s.answers.filter((a) => a.call_id === '4').length, (n) => n === 2, 'the first call 4 answered');
    expect(s.answers.filter((a) => a.call_id === '4')[1].result.toString()).to.equal('held held-dup');
    s.send({ call_id: '5', phase: 'CONFIRM', request: request('after-bad'), timeout_ms: 5_000 });
    expect((await s.answerFor('5')).code).to.equal(0);
    expect(s.status, 'the stream is still open').to.equal(undefined);
    s.call.end();
  });

  it('answers RESOURCE_EXHAUSTED beyond maxStreamCallsInFlight on one stream, without running the call', async () => {
    const s = new RawStream(client);
    for (let i = 1; i <= 3; i++) s.send({ call_id: String(i), phase: 'CONFIRM', request: request(`cap-${i}`, 'held'), timeout_ms: 10_000 });
    await pollUntil(async () => gates.has('cap-3'), Boolean, 'three calls running');
    s.send({ call_id: '4', phase: 'CONFIRM', request: request('cap-4', 'ok'), timeout_ms: 10_000 });
    expect((await s.answerFor('4')).code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(seen.some((c) => c.gid === 'cap-4')).to.equal(false);
    for (let i = 1; i <= 3; i++) gates.get(`cap-${i}`)!();
    for (let i = 1; i <= 3; i++) expect((await s.answerFor(String(i))).code).to.equal(0);
    s.send({ call_id: '5', phase: 'CONFIRM', request: request('cap-5', 'ok'), timeout_ms: 10_000 });
    expect((await s.answerFor('5')).code, 'room again').to.equal(0);
    s.call.end();
  });

  it('answers out of order: a later, quicker call first', async () => {
    const s = new RawStream(client);
    s.send({ call_id: '1', phase: 'TRY', request: request('ooo-slow', 'held'), timeout_ms: 10_000 });
    await pollUntil(async () => gates.has('ooo-slow'), Boolean, 'slow call running');
    s.send({ call_id: '2', phase: 'TRY', request: request('ooo-fast', 'ok'), timeout_ms: 10_000 });
    await s.answerFor('2');
    gates.get('ooo-slow')!();
    await s.answerFor('1');
    expect(s.answers.map((a) => a.call_id)).to.deep.equal(['2', '1']);
    s.call.end();
  });

  it('half-close: answers the calls in flight, then ends the stream OK', async () => {
    const s = new RawStream(client);
    s.send({ call_id: '1', phase: 'CONFIRM', request: request('hc-1', 'held'), timeout_ms: 10_000 });
    s.send({ call_id: '2', phase: 'CANCEL', request: request('hc-2', 'held'), timeout_ms: 10_000 });
    await pollUntil(async () => gates.has('hc-1') && gates.has('hc-2'), Boolean, 'both calls running');
    s.call.end();
    await sleep(200);
    expect(s.status, 'not ended while calls are in flight').to.equal(undefined);
    gates.get('hc-2')!();
    gates.get('hc-1')!();
    await pollUntil(async () => s.status, (st) => st !== undefined, 'the stream to end');
    expect(s.status!.code).to.equal(grpc.status.OK);
    expect(s.answers.map((a) => [a.call_id, a.code]).sort()).to.deep.equal([
      ['1', 0],
      ['2', 0],
    ]);
  });

  it('bounds a call by timeout_ms (DEADLINE_EXCEEDED at it, the late result dropped and logged), and stops writing once the caller cancels', async () => {
    const s = new RawStream(client);
    logLines.length = 0;
    s.send({ call_id: '1', phase: 'TRY', request: request('dl-1', 'held'), timeout_ms: 200 });
    expect((await s.answerFor('1')).code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    gates.get('dl-1')!();
    await pollUntil(async () => logLines.some((l) => l.includes('answer dropped') && l.includes('dl-1')), Boolean, 'the dropped answer logged');
    expect(s.answers.filter((a) => a.call_id === '1')).to.have.length(1);

    s.send({ call_id: '2', phase: 'TRY', request: request('cx-1', 'held'), timeout_ms: 10_000 });
    await pollUntil(async () => gates.has('cx-1'), Boolean, 'call running');
    s.call.cancel();
    await sleep(100);
    gates.get('cx-1')!();
    await pollUntil(async () => logLines.some((l) => l.includes('answer dropped') && l.includes('cx-1')), Boolean, 'the dropped answer logged');
    // The server is still fine.
    const s2 = new RawStream(client);
    s2.send({ call_id: '1', phase: 'TRY', request: request('after-cancel'), timeout_ms: 5_000 });
    expect((await s2.answerFor('1')).code).to.equal(0);
    s2.call.end();
  });
});
