/**
 * The participant SDK's gRPC adapter: a real ParticipantServer on
 * 127.0.0.1:0 called by a real grpc-js client, with a scripted barrier (the
 * SQL barrier has its own suite, test/sql-barrier.test.ts).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { BranchRequest } from '../src/generated/tcc/v1/BranchRequest';
import type { ParticipantClient } from '../src/generated/tcc/v1/Participant';
import { createLogger } from '../src/log/logger';
import {
  BarrierViolationError,
  createParticipantHandlers,
  createParticipantServer,
  noBarrier,
  ParticipantServer,
  TryRefusedError,
  TrySuspendedError,
  type ActionHandlers,
  type Barrier,
  type BarrierResult,
  type BranchCall,
  type BranchPhase,
} from '../src/participant';
import { unaryOnce } from '../src/participant/unary-once';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { codeName, expectGrpcError, pollUntil, sleep } from './helpers/backends';
import { CALL_FORMS, callParticipantAs, type FormCallOptions } from './helpers/participant-forms';

/** Scripted per gid: what the barrier answers instead of running the business function. */
type Script = 'duplicate' | 'empty-rollback' | Error;

class ScriptedBarrier implements Barrier<string> {
  readonly calls: BranchCall[] = [];
  /** What each business function threw, in order. */
  readonly businessErrors: unknown[] = [];
  readonly script = new Map<string, Script>();

  async run<R>(call: BranchCall, business: (tx: string) => Promise<R>): Promise<BarrierResult<R>> {
    this.calls.push(call);
    const scripted = this.script.get(call.gid);
    if (scripted instanceof Error) throw scripted;
    if (scripted) return { outcome: scripted };
    try {
      return { outcome: 'applied', value: await business(`tx-of-${call.gid}`) };
    } catch (err) {
      this.businessErrors.push(err);
      throw err;
    }
  }
}

interface Seen {
  tx: string;
  call: BranchCall;
}

/** A latch a slow handler waits on. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const SECRET_MESSAGE = 'password=hunter2-in-message';
const SECRET_STACK = 'stack-secret-7f3a';
const SECRET_CAUSE = 'cause-secret-91bc';
const SECRET_PAYLOAD = 'payload-secret-c0de';

function secretError(): Error {
  const err = new Error(`connecting to the ledger failed: ${SECRET_MESSAGE}`, { cause: new Error(SECRET_CAUSE) });
  err.stack = `Error: connecting to the ledger failed\n    at connect (/srv/${SECRET_STACK}.js:1:1)`;
  return err;
}

type HealthStatus = { status: string };
type HealthClient = grpc.Client & {
  check(req: { service: string }, o: grpc.CallOptions, cb: grpc.requestCallback<HealthStatus>): void;
  watch(req: { service: string }): grpc.ClientReadableStream<HealthStatus>;
};

function healthClient(address: string): HealthClient {
  const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (t: string, c: grpc.ChannelCredentials) => HealthClient } } };
  };
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

function checkHealth(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + 5_000 }, (e, r) => (e ? reject(e) : resolve(r!.status))),
  );
}

function participantClient(address: string): ParticipantClient {
  return new (loadTccProto().grpcObject.tcc.v1.Participant)(address, grpc.credentials.createInsecure());
}

for (const form of CALL_FORMS) describe(`participant service (gRPC adapter), ${form} calls`, function () {
  this.timeout(20_000);
  const callParticipant = (client: ParticipantClient, phase: BranchPhase, req: BranchRequest, opts?: FormCallOptions) =>
    callParticipantAs(form, client, phase, req, opts);

  const barrier = new ScriptedBarrier();
  const seen: Record<BranchPhase, Seen[]> = { try: [], confirm: [], cancel: [] };
  const logLines: string[] = [];
  let slow = latch();
  let slowFinished = 0;

  const recordAll = (result: (call: BranchCall) => unknown): ActionHandlers<string> => ({
    async try(tx, call) {
      seen.try.push({ tx, call });
      return result(call) as never;
    },
    async confirm(tx, call) {
      seen.confirm.push({ tx, call });
    },
    async cancel(tx, call) {
      seen.cancel.push({ tx, call });
    },
  });
  const throwing = (make: (call: BranchCall) => Error): ActionHandlers<string> => ({
    try: async (_tx, call) => {
      throw make(call);
    },
    confirm: async (_tx, call) => {
      throw make(call);
    },
    cancel: async (_tx, call) => {
      throw make(call);
    },
  });

  const actions: Record<string, ActionHandlers<string>> = {
    // The payload says what the Try returns.
    result: recordAll((call) => {
      const { kind } = call.json<{ kind: string }>();
      switch (kind) {
        case 'buffer':
          return Buffer.from([0, 1, 2, 255]);
        case 'uint8-view':
          // A view on the middle of a larger buffer: only its own bytes must go out.
          return new Uint8Array(new TextEncoder().encode('<<view>>').buffer, 2, 4);
        case 'string':
          return 'réservé ok';
        case 'json':
          return { reservation: 'r-1', amounts: [1, 2], ok: true };
        case 'number':
          return 42;
        case 'null':
          return null;
        case 'undefined':
          return undefined;
        case 'bigint':
          return { amount: BigInt(1) };
        default:
          throw new Error(`test: unknown kind ${kind}`);
      }
    }),
    refuse: throwing(() => new TryRefusedError('insufficient funds on account A')),
    json: {
      try: async (_tx, call) => call.json<object>(),
      confirm: async (_tx, call) => void call.json(),
      cancel: async (_tx, call) => void call.json(),
    },
    boom: throwing(secretError),
    slow: recordAll(() => undefined),
  };
  actions.slow.try = async () => {
    await slow.wait;
    slowFinished++;
    return 'late';
  };

  let server: ParticipantServer<string>;
  let client: ParticipantClient;

  const req = (gid: string, action: string, payload: string | Buffer = '{}'): BranchRequest => ({
    gid,
    branch_id: `${gid}-b1`,
    action,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  });

  before(async () => {
    server = createParticipantServer({
      barrier,
      actions,
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    });
    const address = await server.listen('127.0.0.1:0');
    expect(address).to.match(/^127\.0\.0\.1:\d+$/);
    expect(address).to.not.equal('127.0.0.1:0');
    expect(server.address).to.equal(address);
    client = participantClient(address);
  });

  after(async () => {
    slow.open();
    client?.close();
    await server?.shutdown(1_000);
  });

  it('encodes the Try result: bytes as they are, strings as UTF-8, other values as JSON, undefined as empty', async () => {
    const tryResult = async (kind: string) =>
      (await callParticipant(client, 'try', req(`enc-${kind}`, 'result', JSON.stringify({ kind })))).result;
    expect([...(await tryResult('buffer'))]).to.deep.equal([0, 1, 2, 255]);
    expect((await tryResult('uint8-view')).toString('utf8')).to.equal('view');
    expect((await tryResult('string')).toString('utf8')).to.equal('réservé ok');
    expect(JSON.parse((await tryResult('json')).toString('utf8'))).to.deep.equal({
      reservation: 'r-1',
      amounts: [1, 2],
      ok: true,
    });
    expect((await tryResult('number')).toString('utf8')).to.equal('42');
    expect((await tryResult('null')).toString('utf8')).to.equal('null');
    expect((await tryResult('undefined')).length).to.equal(0);
  });

  it('gives handlers the barrier transaction and the call: ids, phase, payload, traceparent, deadline; Confirm/Cancel answer empty', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const md = new grpc.Metadata();
    md.set('traceparent', traceparent);
    const before = Date.now();
    const payload = JSON.stringify({ kind: 'undefined', n: 1 });
    await callParticipant(client, 'try', req('ctx-1', 'result', payload), { metadata: md, deadlineMs: 3_000 });
    const confirm = await callParticipant(client, 'confirm', req('ctx-1', 'result', payload));
    const cancel = await callParticipant(client, 'cancel', req('ctx-2', 'result', payload));
    expect(confirm.result.length).to.equal(0);
    expect(cancel.result.length).to.equal(0);

    const t = seen.try.find((s) => s.call.gid === 'ctx-1')!;
    expect(t.tx).to.equal('tx-of-ctx-1');
    expect(t.call).to.include({ gid: 'ctx-1', branchId: 'ctx-1-b1', action: 'result', phase: 'try', traceparent });
    expect(t.call.payload.toString('utf8')).to.equal(payload);
    expect(t.call.deadline).to.be.within(before + 2_000, before + 3_100);
    expect(seen.confirm.find((s) => s.call.gid === 'ctx-1')?.call.phase).to.equal('confirm');
    expect(seen.cancel.find((s) => s.call.gid === 'ctx-2')?.call.phase).to.equal('cancel');
  });

  it('answers duplicate and empty-rollback with OK and an empty result, without running the handler', async () => {
    barrier.script.set('dup-1', 'duplicate');
    barrier.script.set('empty-1', 'empty-rollback');
    const tries = seen.try.length;
    const cancels = seen.cancel.length;
    const dup = await callParticipant(client, 'try', req('dup-1', 'result', '{"kind":"string"}'));
    const empty = await callParticipant(client, 'cancel', req('empty-1', 'result'));
    expect(dup.result.length, 'a duplicate Try has no result').to.equal(0);
    expect(empty.result.length).to.equal(0);
    expect(seen.try.length).to.equal(tries);
    expect(seen.cancel.length).to.equal(cancels);
  });

  it('maps TryRefusedError to ABORTED with its message, from every phase, and TrySuspendedError from the barrier too', async () => {
    for (const phase of ['try', 'confirm', 'cancel'] as const) {
      const err = await expectGrpcError(callParticipant(client, phase, req(`ref-${phase}`, 'refuse')), grpc.status.ABORTED, phase);
      expect(err.details).to.equal('insufficient funds on account A');
    }
    barrier.script.set('susp-1', new TrySuspendedError('susp-1', 'susp-1-b1'));
    const err = await expectGrpcError(callParticipant(client, 'try', req('susp-1', 'result')), grpc.status.ABORTED);
    expect(err.details).to.equal('branch susp-1-b1 of susp-1 was cancelled before its Try arrived');
  });

  it('maps BarrierViolationError to FAILED_PRECONDITION with its message', async () => {
    barrier.script.set('viol-1', new BarrierViolationError('viol-1', 'viol-1-b1', 'confirm', 'cancelled'));
    barrier.script.set('viol-2', new BarrierViolationError('viol-2', 'viol-2-b1', 'cancel', 'confirmed'));
    const e1 = await expectGrpcError(callParticipant(client, 'confirm', req('viol-1', 'result')), grpc.status.FAILED_PRECONDITION);
    expect(e1.details).to.equal('confirm of branch viol-1-b1 of viol-1 refused by the barrier: branch is cancelled');
    const e2 = await expectGrpcError(callParticipant(client, 'cancel', req('viol-2', 'result')), grpc.status.FAILED_PRECONDITION);
    expect(e2.details).to.contain('branch is confirmed');
  });

  it('maps InvalidPayloadError (payload not JSON) to FAILED_PRECONDITION from every phase; valid JSON parses', async () => {
    for (const phase of ['try', 'confirm', 'cancel'] as const) {
      const err = await expectGrpcError(
        callParticipant(client, phase, req(`badjson-${phase}`, 'json', `not json ${SECRET_PAYLOAD}`)),
        grpc.status.FAILED_PRECONDITION,
        phase,
      );
      expect(err.details).to.equal('payload of action json: not valid JSON');
    }
    const ok = await callParticipant(client, 'try', req('goodjson', 'json', '{"a":[1,"x"]}'));
    expect(JSON.parse(ok.result.toString('utf8'))).to.deep.equal({ a: [1, 'x'] });
  });

  it('answers an unknown action FAILED_PRECONDITION to Try and UNIMPLEMENTED to Confirm/Cancel, without calling the barrier', async () => {
    const barrierCalls = barrier.calls.length;
    for (const action of ['no-such-action', 'toString', '__proto__', 'constructor', '']) {
      const t = await expectGrpcError(
        callParticipant(client, 'try', req('unknown-1', action)),
        grpc.status.FAILED_PRECONDITION,
        `Try of "${action}"`,
      );
      expect(t.details).to.equal(`no handlers for action "${action}" (try)`);
      await expectGrpcError(callParticipant(client, 'confirm', req('unknown-1', action)), grpc.status.UNIMPLEMENTED, `Confirm of "${action}"`);
      await expectGrpcError(callParticipant(client, 'cancel', req('unknown-1', action)), grpc.status.UNIMPLEMENTED, `Cancel of "${action}"`);
    }
    expect(barrier.calls.length, 'barrier calls').to.equal(barrierCalls);
  });

  it('answers anything else INTERNAL "internal error": no message, stack, cause or payload reaches the caller, and logs carry name + message only', async () => {
    logLines.length = 0;
    for (const phase of ['try', 'confirm', 'cancel'] as const) {
      const err = await expectGrpcError(
        callParticipant(client, phase, req(`boom-${phase}`, 'boom', SECRET_PAYLOAD)),
        grpc.status.INTERNAL,
        phase,
      );
      expect(err.details, phase).to.equal('internal error');
      const everything = JSON.stringify({ message: err.message, details: err.details, metadata: err.metadata.getMap() });
      for (const secret of [SECRET_MESSAGE, SECRET_STACK, SECRET_CAUSE, SECRET_PAYLOAD]) {
        expect(everything, `${phase}: ${secret} reached the caller`).to.not.contain(secret);
      }
    }
    const failures = logLines.filter((l) => l.includes('branch call failed')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(failures).to.have.length(3);
    for (const line of failures) {
      expect(line).to.include({ level: 'error', code: 'INTERNAL', action: 'boom' });
      expect(line.gid).to.match(/^boom-/);
      expect(line.branch_id).to.match(/^boom-.*-b1$/);
      expect(line.err).to.equal(`Error: connecting to the ledger failed: ${SECRET_MESSAGE}`);
    }
    const logs = logLines.join('\n');
    for (const secret of [SECRET_STACK, SECRET_CAUSE, SECRET_PAYLOAD]) expect(logs, `${secret} logged`).to.not.contain(secret);
  });

  it('fails INTERNAL, inside the barrier, a Try whose result has no JSON encoding', async () => {
    const errorsBefore = barrier.businessErrors.length;
    const err = await expectGrpcError(callParticipant(client, 'try', req('bigint-1', 'result', '{"kind":"bigint"}')), grpc.status.INTERNAL);
    expect(err.details).to.equal('internal error');
    // Thrown by the business function the barrier ran: a real barrier rolls the reservation back.
    expect(barrier.businessErrors.slice(errorsBefore)).to.have.length(1);
    expect(barrier.businessErrors.at(-1)).to.be.instanceOf(TypeError);
  });

  it('answers a call still running at its deadline only once (DEADLINE_EXCEEDED); its late finish is logged, not sent', async () => {
    slow = latch();
    slowFinished = 0;
    logLines.length = 0;
    const started = Date.now();
    const err = await expectGrpcError(callParticipant(client, 'try', req('slow-1', 'slow'), { deadlineMs: 200 }), grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).to.be.below(2_000);
    expect(err.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    // The server's deadline is a moment after the client's (it counts from when the call arrived).
    await sleep(50);
    slow.open();
    await pollUntil(async () => logLines.some((l) => l.includes('answer dropped')), Boolean, 'the dropped-answer log line');
    expect(slowFinished).to.equal(1);
    const dropped = JSON.parse(logLines.find((l) => l.includes('answer dropped'))!) as Record<string, unknown>;
    expect(dropped).to.include({ level: 'warn', gid: 'slow-1', phase: 'try', action: 'slow', finished_with: 'result' });
    // The server goes on serving.
    expect((await callParticipant(client, 'try', req('after-slow', 'result', '{"kind":"string"}'))).result.toString()).to.equal('réservé ok');
  });

  it('reports SERVING through grpc.health.v1 for the server and tcc.v1.Participant', async () => {
    const health = healthClient(server.address!);
    try {
      expect(await checkHealth(health, '')).to.equal('SERVING');
      expect(await checkHealth(health, 'tcc.v1.Participant')).to.equal('SERVING');
      await expectGrpcError(checkHealth(health, 'tcc.v1.Coordinator'), grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
  });
});

for (const form of CALL_FORMS) describe(`participant server lifecycle, ${form} calls`, function () {
  this.timeout(20_000);
  const callParticipant = (client: ParticipantClient, phase: BranchPhase, req: BranchRequest, opts?: FormCallOptions) =>
    callParticipantAs(form, client, phase, req, opts);
  const silent = createLogger({ level: 'silent' });

  it('goes NOT_SERVING when shutdown starts, lets an in-flight call finish, then closes', async () => {
    const gate = latch();
    const server = new ParticipantServer({
      barrier: noBarrier,
      actions: {
        hold: {
          try: async () => {
            await gate.wait;
            return 'drained';
          },
          confirm: async () => undefined,
          cancel: async () => undefined,
        },
      },
      logger: silent,
    });
    const address = await server.listen('127.0.0.1:0');
    const client = participantClient(address);
    const health = healthClient(address);
    try {
      const statuses: string[] = [];
      const watch = health.watch({ service: '' });
      watch.on('data', (m: HealthStatus) => statuses.push(m.status));
      watch.on('error', () => undefined); // cancelled below
      await pollUntil(async () => statuses, (s) => s.includes('SERVING'), 'SERVING on the health watch');

      const inFlight = callParticipant(client, 'try', { gid: 'g', branch_id: 'b', action: 'hold', payload: Buffer.alloc(0) });
      await sleep(100); // the call has reached the handler
      let closed = false;
      const shutdown = server.shutdown(10_000).then(() => (closed = true));
      await pollUntil(async () => statuses, (s) => s.at(-1) === 'NOT_SERVING', 'NOT_SERVING on the health watch');
      // The watch is a call too: the drain would wait for it.
      watch.cancel();
      expect(closed, 'closed while a call is in flight').to.equal(false);
      gate.open();
      expect((await inFlight).result.toString()).to.equal('drained');
      const t0 = Date.now();
      await shutdown;
      expect(Date.now() - t0, 'drained at once, not at the grace period').to.be.below(5_000);
      await expectGrpcError(checkHealth(health, ''), [grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);
      await server.listen('127.0.0.1:0').then(
        () => expect.fail('listen after shutdown resolved'),
        (err: Error) => expect(err.message).to.equal('participant server is shut down'),
      );
    } finally {
      gate.open();
      client.close();
      health.close();
      await server.shutdown(100);
    }
  });

  it('cuts calls still running when the grace period ends', async () => {
    const never = new Promise<never>(() => undefined);
    const server = createParticipantServer({
      barrier: noBarrier,
      actions: { stuck: { try: () => never, confirm: () => never, cancel: () => never } },
      logger: silent,
    });
    const address = await server.listen('127.0.0.1:0');
    const client = participantClient(address);
    try {
      const call = callParticipant(client, 'cancel', { gid: 'g', branch_id: 'b', action: 'stuck' }, { deadlineMs: 10_000 });
      await sleep(100);
      const t0 = Date.now();
      await server.shutdown(300);
      const took = Date.now() - t0;
      expect(took).to.be.within(250, 3_000);
      const err = await call.then(
        () => expect.fail('a cut call succeeded'),
        (e: grpc.ServiceError) => e,
      );
      expect(err.code, codeName(err.code)).to.not.equal(grpc.status.OK);
      expect(err.code, 'cut, not timed out').to.not.equal(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      client.close();
    }
  });

  it('shuts down a server that never listened, once, and listens no more', async () => {
    const server = new ParticipantServer({ barrier: noBarrier, actions: {}, logger: silent });
    const first = server.shutdown(1_000);
    expect(server.shutdown(5)).to.equal(first);
    await first;
    await server.listen('127.0.0.1:0').then(
      () => expect.fail('listen after shutdown resolved'),
      (err: Error) => expect(err.message).to.equal('participant server is shut down'),
    );
    expect(server.address).to.equal(undefined);
  });

  it('refuses a service without a barrier or with an incomplete action', () => {
    expect(() => createParticipantHandlers({ actions: {} } as never)).to.throw(TypeError, /barrier is required/);
    expect(() =>
      createParticipantHandlers({ barrier: noBarrier, actions: { half: { try: async () => undefined } } as never }),
    ).to.throw(TypeError, 'action "half" has no confirm handler');
  });
});

describe('unaryOnce', () => {
  type FakeCall = grpc.ServerUnaryCall<unknown, unknown> & { cancelled: boolean };
  const fakeCall = (deadline = Infinity): FakeCall => ({ cancelled: false, getDeadline: () => deadline }) as FakeCall;
  const failure = () => ({ code: grpc.status.INTERNAL, details: 'internal error' });

  it('answers at most once, and not at all once the call has ended', async () => {
    const answers: unknown[] = [];
    const late: string[] = [];
    let finish!: (v: string) => void;
    const handler = unaryOnce(
      () => new Promise<unknown>((resolve) => (finish = resolve)),
      failure,
      (_call, outcome) => late.push(outcome),
    );
    const call = fakeCall();
    handler(call, (err, value) => answers.push(err ?? value));
    call.cancelled = true; // grpc-js ended it (deadline) while the handler ran
    finish('too late');
    await sleep(10);
    expect(answers).to.deep.equal([]);
    expect(late).to.deep.equal(['result']);

    const live = fakeCall();
    const syncThrow = unaryOnce(
      () => {
        throw new Error('thrown before any promise');
      },
      failure,
      () => expect.fail('not late'),
    );
    syncThrow(live, (err, value) => answers.push(err ?? value));
    await sleep(10);
    expect(answers).to.deep.equal([{ code: grpc.status.INTERNAL, details: 'internal error' }]);

    // Past its deadline but not yet cancelled (grpc-js's timer has not run): still not answered.
    const expired = fakeCall(Date.now() - 1);
    const failing = unaryOnce(() => Promise.reject(new Error('x')), failure, (_call, outcome) => late.push(outcome));
    failing(expired, (err, value) => answers.push(err ?? value));
    await sleep(10);
    expect(answers).to.have.length(1);
    expect(late).to.deep.equal(['result', 'error']);
  });
});
