import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { loadTccProto } from '../src/protocol/tcc-proto';
import type { ParticipantHandlers } from '../src/generated/tcc/v1/Participant';
import {
  BranchOutcomeUnknownError,
  BranchRefusedError,
  CoordinatorUnavailableError,
  InvalidRequestError,
  TccClient,
  TccError,
  TransactionNotFoundError,
  TransactionOutcomeUnknownError,
  TransactionRolledBackError,
  TransactionStateError,
  toTccError,
  type TransactionInfo,
} from '../src/client';
import { encodePayload } from '../src/client/payload';

type Phase = 'Try' | 'Confirm' | 'Cancel';

interface RecordedCall {
  method: Phase;
  gid: string;
  branchId: string;
  action: string;
  payload: Buffer;
  /** tcc-phase metadata the coordinator sends. */
  phaseHeader: string | undefined;
}

/**
 * A real tcc.v1.Participant: Try refuses actions starting with "refuse"
 * (ABORTED, a business "no"), accepts everything else; Confirm and Cancel
 * always succeed. Every call is recorded.
 */
class TestParticipant {
  readonly calls: RecordedCall[] = [];
  private readonly server = new grpc.Server();
  target = '';

  async start(): Promise<void> {
    const handler =
      (method: Phase): grpc.handleUnaryCall<Parameters<ParticipantHandlers['Try']>[0]['request'], { result?: Buffer }> =>
      (call, callback) => {
        const req = call.request;
        this.calls.push({
          method,
          gid: req.gid,
          branchId: req.branch_id,
          action: req.action,
          payload: Buffer.from(req.payload),
          phaseHeader: call.metadata.get('tcc-phase')[0]?.toString(),
        });
        if (method === 'Try' && req.action.startsWith('refuse')) {
          callback({ code: grpc.status.ABORTED, details: 'insufficient funds' });
          return;
        }
        if (method === 'Confirm' && req.action.startsWith('stuck')) {
          callback({ code: grpc.status.UNAVAILABLE, details: 'confirm keeps failing' });
          return;
        }
        callback(null, { result: Buffer.from(`${method.toLowerCase()}:${req.action}`) });
      };
    // Unary only (no Calls): the coordinator falls back to the unary methods for it.
    const handlers: Pick<ParticipantHandlers, 'Try' | 'Confirm' | 'Cancel'> = { Try: handler('Try'), Confirm: handler('Confirm'), Cancel: handler('Cancel') };
    this.server.addService(loadTccProto().grpcObject.tcc.v1.Participant.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.target = `127.0.0.1:${port}`;
  }

  callsFor(gid: string, method?: Phase): RecordedCall[] {
    return this.calls.filter((c) => c.gid === gid && (method === undefined || c.method === method));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Awaits a rejection and returns the error; fails the test if `p` resolves. */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

let gidSeq = 0;
function newGid(label: string): string {
  return `sdk-${label}-${process.pid}-${Date.now()}-${++gidSeq}`;
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
}

describe('client SDK: error mapping and payloads (no server)', () => {
  it('maps each gRPC status and call to the condition class', () => {
    const cases: Array<[grpc.status, Parameters<typeof toTccError>[1], new (...args: never[]) => TccError]> = [
      [grpc.status.ABORTED, 'try', BranchRefusedError],
      [grpc.status.ABORTED, 'commit', TransactionRolledBackError],
      [grpc.status.ABORTED, 'execute', TransactionRolledBackError],
      [grpc.status.NOT_FOUND, 'get', TransactionNotFoundError],
      [grpc.status.NOT_FOUND, 'commit', TransactionNotFoundError],
      [grpc.status.INVALID_ARGUMENT, 'begin', InvalidRequestError],
      [grpc.status.FAILED_PRECONDITION, 'rollback', TransactionStateError],
      [grpc.status.ALREADY_EXISTS, 'begin', TransactionStateError],
      [grpc.status.FAILED_PRECONDITION, 'try', TransactionStateError],
      [grpc.status.UNAVAILABLE, 'commit', TransactionOutcomeUnknownError],
      [grpc.status.DEADLINE_EXCEEDED, 'execute', TransactionOutcomeUnknownError],
      [grpc.status.CANCELLED, 'rollback', TransactionOutcomeUnknownError],
      [grpc.status.INTERNAL, 'commit', TransactionOutcomeUnknownError],
      [grpc.status.UNKNOWN, 'commit', TransactionOutcomeUnknownError],
      [grpc.status.UNAVAILABLE, 'try', BranchOutcomeUnknownError],
      [grpc.status.UNAVAILABLE, 'get', CoordinatorUnavailableError],
      [grpc.status.DEADLINE_EXCEEDED, 'begin', CoordinatorUnavailableError],
    ];
    for (const [code, call, cls] of cases) {
      const source = serviceError(code, 'server said so');
      const err = toTccError(source, call, { gid: 'g-1' });
      expect(err, `${grpc.status[code]} on ${call}`).to.be.instanceOf(cls).and.instanceOf(TccError).and.instanceOf(Error);
      expect(err.gid).to.equal('g-1');
      expect(err.call).to.equal(call);
      expect(err.cause).to.equal(source);
      expect(err.name).to.equal(cls.name);
    }
    // Not one of the named conditions: the base class, still with the code.
    const other = toTccError(serviceError(grpc.status.UNAUTHENTICATED, 'no token'), 'get', { gid: 'g-1' });
    expect(other.constructor).to.equal(TccError);
    expect(other.code).to.equal(grpc.status.UNAUTHENTICATED);
  });

  it('keeps the reason of a rollback and the branch of a refusal', () => {
    const rolledBack = toTccError(serviceError(grpc.status.ABORTED, 'try refused'), 'commit', { gid: 'g' });
    expect(rolledBack).to.be.instanceOf(TransactionRolledBackError);
    expect((rolledBack as TransactionRolledBackError).reason).to.equal('try refused');
    // The coordinator's wording names the gid again: the reason is what follows.
    const worded = toTccError(serviceError(grpc.status.ABORTED, 'transaction g rolled back: deadline passed'), 'execute', { gid: 'g' });
    expect((worded as TransactionRolledBackError).reason).to.equal('deadline passed');
    const refused = toTccError(serviceError(grpc.status.ABORTED, 'no stock'), 'try', { gid: 'g', participant: 'inv:1', action: 'reserve' });
    expect(refused).to.be.instanceOf(BranchRefusedError);
    expect(refused).to.include({ participant: 'inv:1', action: 'reserve', reason: 'no stock', code: grpc.status.ABORTED });
  });

  it('encodes payloads: bytes as-is, strings as UTF-8, objects as JSON', () => {
    expect(encodePayload(Buffer.from([1, 2, 3]), 'try')).to.deep.equal(Buffer.from([1, 2, 3]));
    expect(encodePayload(new Uint8Array([4, 5]), 'try')).to.deep.equal(Buffer.from([4, 5]));
    expect(encodePayload('héllo', 'try').toString('utf8')).to.equal('héllo');
    expect(JSON.parse(encodePayload({ amount: 5 }, 'try').toString('utf8'))).to.deep.equal({ amount: 5 });
    expect(encodePayload(undefined, 'try').length).to.equal(0);
    const cyclic: Record<string, unknown> = { secret: 'SECRET-4242' };
    cyclic.self = cyclic;
    const err = (() => {
      try {
        encodePayload(cyclic, 'try', 'g');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).to.be.instanceOf(InvalidRequestError);
    expect((err as Error).message).to.not.include('SECRET-4242');
  });

  it('rejects bad arguments before sending, as InvalidRequestError', async () => {
    const client = new TccClient('127.0.0.1:1');
    try {
      expect(await rejectionOf(client.begin({ timeoutMs: -1 }))).to.be.instanceOf(InvalidRequestError);
      expect(await rejectionOf(client.get('g', { callTimeoutMs: 0 }))).to.be.instanceOf(InvalidRequestError);
      expect(await rejectionOf(client.execute({ branches: [{ participant: 'p', action: 'a', payload: () => 1 }] }))).to.be.instanceOf(
        InvalidRequestError,
      );
    } finally {
      client.close();
    }
    expect(() => new TccClient('', {})).to.throw(InvalidRequestError);
  });
});

describe('client SDK: coordinator unreachable', () => {
  let down: TccClient;
  before(async () => {
    down = new TccClient(`127.0.0.1:${await closedPort()}`, { callTimeoutMs: 500 });
  });
  after(() => down.close());

  it('commit gives TransactionOutcomeUnknownError', async () => {
    const err = await rejectionOf(down.commit('some-gid'));
    expect(err).to.be.instanceOf(TransactionOutcomeUnknownError);
    expect((err as TransactionOutcomeUnknownError).gid).to.equal('some-gid');
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).to.include((err as TccError).code);
  });

  it('get gives CoordinatorUnavailableError', async () => {
    const err = await rejectionOf(down.get('some-gid'));
    expect(err).to.be.instanceOf(CoordinatorUnavailableError);
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).to.include((err as TccError).code);
  });

  it('a closed client rejects without calling', async () => {
    const closed = new TccClient('127.0.0.1:1');
    closed.close();
    const err = await rejectionOf(closed.get('x'));
    expect(err).to.be.instanceOf(TccError);
    expect((err as TccError).code).to.equal(grpc.status.FAILED_PRECONDITION);
  });
});

describe('client SDK against a real coordinator and participant', function () {
  this.timeout(30_000);

  let tmpDir: string;
  let coordinator: RunningCoordinator | undefined;
  let participant: TestParticipant;
  let client: TccClient;

  before(async () => {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-client-sdk-'));
    participant = new TestParticipant();
    await participant.start();
    const config = loadConfig({
      TCC_GRPC_ADDR: '127.0.0.1:0',
      TCC_DB_URL: 'sqlite:' + path.join(tmpDir, 'tcc.sqlite'),
      TCC_LOG_LEVEL: 'silent',
      TCC_RETRY_INITIAL_MS: '50',
    });
    coordinator = await startCoordinator(config);
    client = new TccClient(coordinator.address, { callTimeoutMs: 10_000 });
  });

  after(async () => {
    client?.close();
    await coordinator?.shutdown();
    await participant?.stop();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  });

  describe('transaction()', () => {
    it('commits when the callback resolves: the participant gets Confirm with the Try payload', async () => {
      const gid = newGid('commit');
      const out = await client.transaction({ gid, wait: true }, async (tx) => {
        expect(tx.gid).to.equal(gid);
        expect(tx.deadlineUnixMs).to.be.a('number').and.greaterThan(Date.now());
        const r = await tx.try(participant.target, 'debit', { account: 'A', amount: 5 });
        expect(r.result.toString()).to.equal('try:debit');
        expect(r.branchId).to.be.a('string').and.not.equal('');
        return 'done';
      });
      expect(out.gid).to.equal(gid);
      expect(out.value).to.equal('done');
      expect(out.transaction.status).to.equal('CONFIRMED');

      const confirms = await waitFor('Confirm', () => participant.callsFor(gid, 'Confirm').length > 0 && participant.callsFor(gid, 'Confirm'));
      expect(JSON.parse(confirms[0].payload.toString())).to.deep.equal({ account: 'A', amount: 5 });
      expect(confirms[0].phaseHeader).to.equal('confirm');
      expect(participant.callsFor(gid, 'Cancel')).to.have.length(0);
    });

    it('rolls back when the callback throws: Cancel, and TransactionRolledBackError with cause = the thrown error', async () => {
      const gid = newGid('throw');
      const boom = new Error('boom');
      const err = await rejectionOf(
        client.transaction({ gid, wait: true }, async (tx) => {
          await tx.try(participant.target, 'debit', 'raw text');
          throw boom;
        }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      const rb = err as TransactionRolledBackError;
      expect(rb.cause).to.equal(boom);
      expect(rb.gid).to.equal(gid);

      const cancels = await waitFor('Cancel', () => participant.callsFor(gid, 'Cancel').length > 0 && participant.callsFor(gid, 'Cancel'));
      expect(cancels[0].payload.toString()).to.equal('raw text');
      expect(participant.callsFor(gid, 'Confirm')).to.have.length(0);
      const info = await waitFor('CANCELLED', async () => {
        const t = await client.get(gid);
        return t.status === 'CANCELLED' && t;
      });
      expect(info.branches).to.have.length(1);
    });

    it('a refused Try rejects tx.try with BranchRefusedError, and the transaction is rolled back', async () => {
      const gid = newGid('refuse');
      let refusal: unknown;
      const err = await rejectionOf(
        client.transaction({ gid, wait: true }, async (tx) => {
          await tx.try(participant.target, 'debit', Buffer.from('first'));
          try {
            await tx.try(participant.target, 'refuse-credit', { card: 'SECRET-4242' });
          } catch (e) {
            refusal = e;
            throw e;
          }
        }),
      );
      expect(refusal).to.be.instanceOf(BranchRefusedError);
      const refused = refusal as BranchRefusedError;
      expect(refused.gid).to.equal(gid);
      expect(refused.participant).to.equal(participant.target);
      expect(refused.action).to.equal('refuse-credit');
      expect(refused.code).to.equal(grpc.status.ABORTED);
      expect(refused.message).to.not.include('SECRET-4242');

      expect(err).to.be.instanceOf(TransactionRolledBackError);
      expect((err as TransactionRolledBackError).cause).to.equal(refusal);

      // The accepted branch is cancelled; the refused one reserved nothing.
      await waitFor('Cancel of the accepted branch', () => participant.callsFor(gid, 'Cancel').length > 0);
      expect(participant.callsFor(gid, 'Cancel').map((c) => c.action)).to.deep.equal(['debit']);
      expect(participant.callsFor(gid, 'Confirm')).to.have.length(0);
      const info = await waitFor('CANCELLED', async () => {
        const t = await client.get(gid);
        return t.status === 'CANCELLED' && t;
      });
      const byAction = Object.fromEntries(info.branches.map((b) => [b.action, b]));
      expect(byAction['refuse-credit'].tryOutcome).to.equal('TRY_REFUSED');
      expect(byAction['refuse-credit'].phaseTwo).to.equal('PHASE_TWO_SKIPPED');
      expect(byAction['debit'].phaseTwo).to.equal('PHASE_TWO_DONE');
    });

    it('waits for a Try the callback forgot to await before committing', async () => {
      const gid = newGid('unawaited');
      let handle: Parameters<Parameters<TccClient['transaction']>[1]>[0] | undefined;
      const out = await client.transaction({ gid, wait: true }, async (tx) => {
        handle = tx;
        void tx.try(participant.target, 'debit', 'late');
      });
      expect(out.transaction.status).to.equal('CONFIRMED');
      expect(out.transaction.branches).to.have.length(1);
      expect(participant.callsFor(gid, 'Confirm')).to.have.length(1);
      // The handle is closed once the callback is over.
      expect(await rejectionOf(handle!.try(participant.target, 'debit'))).to.be.instanceOf(TransactionStateError);
    });

    it('does not call the callback when Begin fails', async () => {
      const port = await closedPort();
      const down = new TccClient(`127.0.0.1:${port}`, { callTimeoutMs: 500 });
      let called = false;
      try {
        const err = await rejectionOf(
          down.transaction({}, async () => {
            called = true;
          }),
        );
        expect(err).to.be.instanceOf(CoordinatorUnavailableError);
        expect(called).to.equal(false);
      } finally {
        down.close();
      }
    });
  });

  describe('begin / try / commit / rollback / get', () => {
    it('Begin with a client gid is idempotent while TRYING', async () => {
      const gid = newGid('begin');
      const a = await client.begin({ gid, timeoutMs: 30_000 });
      const b = await client.begin({ gid, timeoutMs: 30_000 });
      expect(a.gid).to.equal(gid);
      expect(b.gid).to.equal(gid);
      expect(a.deadlineUnixMs).to.be.a('number').and.greaterThan(Date.now());
      await client.rollback(gid);
    });

    it('maps a transaction: numbers, camelCase, string statuses, branches and logs', async () => {
      const { gid } = await client.begin();
      expect(gid).to.be.a('string').and.not.equal('');
      const payload = Buffer.from('0123456789');
      const tried = await client.try(gid, { participant: participant.target, action: 'debit', payload, branchId: 'b-1' }, { timeoutMs: 2_000 });
      expect(tried.branchId).to.equal('b-1');
      expect(Buffer.isBuffer(tried.result)).to.equal(true);

      const before: TransactionInfo = await client.get(gid);
      expect(before.status).to.equal('TRYING');
      expect(before.createdUnixMs).to.be.a('number').and.within(Date.now() - 60_000, Date.now() + 1_000);
      expect(before.deadlineUnixMs).to.be.a('number').and.greaterThan(before.createdUnixMs);
      expect(before.branches).to.have.length(1);
      expect(before.branches[0]).to.include({
        branchId: 'b-1',
        participant: participant.target,
        action: 'debit',
        tryOutcome: 'TRY_SUCCEEDED',
        phaseTwo: 'PHASE_TWO_NOT_DUE',
        payloadBytes: payload.length,
      });

      const committed = await client.commit(gid, { wait: true });
      expect(committed.status).to.equal('CONFIRMED');
      expect(committed.branches[0].phaseTwo).to.equal('PHASE_TWO_DONE');

      const after = await client.get(gid);
      expect(after.logs.length).to.be.greaterThan(0);
      for (const log of after.logs) {
        expect(log.id).to.be.a('number');
        expect(log.startedUnixMs).to.be.a('number');
        expect(log.phase).to.be.oneOf(['try', 'confirm', 'cancel', 'decision']);
      }
    });

    it('maps operator actions: a branch resolved by hand, the operator on its log row, decided time and owner', async () => {
      const info = await client.execute({ branches: [{ participant: participant.target, action: 'stuck-debit', branchId: 'b1' }] });
      expect(info.status).to.equal('CONFIRMING');
      expect(info.decidedUnixMs).to.be.within(Date.now() - 10_000, Date.now());
      await waitFor('a failed Confirm', async () => (await client.get(info.gid)).branches[0].attempts >= 1);
      await coordinator!.engine.resolveBranch(info.gid, 'b1', { reason: 'confirmed by hand in the ledger', operator: 'ops@example' });
      const after = await client.get(info.gid);
      expect(after.status).to.equal('CONFIRMED');
      expect(after.owner).to.equal('');
      expect(after.branches[0]).to.include({ phaseTwo: 'PHASE_TWO_RESOLVED', tryAttempts: 1 });
      const resolved = after.logs.find((l) => l.phase === 'resolve');
      expect(resolved).to.include({ branchId: 'b1', outcome: 'resolved', operator: 'ops@example', error: 'confirmed by hand in the ledger' });
    });

    it('Commit after a rollback gives TransactionRolledBackError; Rollback after a commit gives TransactionStateError', async () => {
      const rolled = await client.begin();
      await client.try(rolled.gid, { participant: participant.target, action: 'debit' });
      const info = await client.rollback(rolled.gid, { wait: true });
      expect(info.status).to.equal('CANCELLED');
      const commitErr = await rejectionOf(client.commit(rolled.gid));
      expect(commitErr).to.be.instanceOf(TransactionRolledBackError);
      expect((commitErr as TransactionRolledBackError).gid).to.equal(rolled.gid);

      const committed = await client.begin();
      await client.try(committed.gid, { participant: participant.target, action: 'debit' });
      await client.commit(committed.gid);
      const rollbackErr = await rejectionOf(client.rollback(committed.gid));
      expect(rollbackErr).to.be.instanceOf(TransactionStateError);
      expect((rollbackErr as TransactionStateError).code).to.equal(grpc.status.FAILED_PRECONDITION);
    });

    it('get of an unknown gid gives TransactionNotFoundError', async () => {
      const gid = newGid('missing');
      const err = await rejectionOf(client.get(gid));
      expect(err).to.be.instanceOf(TransactionNotFoundError);
      expect((err as TransactionNotFoundError).gid).to.equal(gid);
      expect((err as TransactionNotFoundError).code).to.equal(grpc.status.NOT_FOUND);
    });

    it('invalid input gives InvalidRequestError', async () => {
      const { gid } = await client.begin();
      const err = await rejectionOf(client.try(gid, { participant: '', action: '' }));
      expect(err).to.be.instanceOf(InvalidRequestError);
      expect((err as InvalidRequestError).code).to.equal(grpc.status.INVALID_ARGUMENT);
      await client.rollback(gid);
    });
  });

  describe('execute()', () => {
    it('commits every branch', async () => {
      const gid = newGid('execute');
      const info = await client.execute({
        gid,
        wait: true,
        branches: [
          { participant: participant.target, action: 'debit', payload: { amount: 1 } },
          { participant: participant.target, action: 'credit', payload: 'two' },
        ],
      });
      expect(info.gid).to.equal(gid);
      expect(info.status).to.equal('CONFIRMED');
      expect(info.branches).to.have.length(2);
      expect(participant.callsFor(gid, 'Confirm').map((c) => c.action).sort()).to.deep.equal(['credit', 'debit']);
    });

    it('a refused branch gives TransactionRolledBackError with the reason, and cancels the rest', async () => {
      const gid = newGid('execute-refused');
      const err = await rejectionOf(
        client.execute({
          gid,
          sequential: true,
          branches: [
            { participant: participant.target, action: 'debit', payload: { amount: 1 } },
            { participant: participant.target, action: 'refuse-credit', payload: 'SECRET-4242' },
          ],
        }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      const rb = err as TransactionRolledBackError;
      expect(rb.gid).to.equal(gid);
      expect(rb.code).to.equal(grpc.status.ABORTED);
      expect(rb.reason).to.be.a('string').and.not.equal('');
      expect(rb.message).to.not.include('SECRET-4242');
      await waitFor('Cancel of the accepted branch', () => participant.callsFor(gid, 'Cancel').length > 0);
      expect(participant.callsFor(gid, 'Confirm')).to.have.length(0);
      const info = await waitFor('CANCELLED', async () => {
        const t = await client.get(gid);
        return t.status === 'CANCELLED' && t;
      });
      expect(info.reason).to.not.equal('');
      expect(rb.reason).to.equal(info.reason);
    });

    it('without a gid, still names the transaction in its errors (the SDK picks the gid)', async () => {
      const err = await rejectionOf(
        client.execute({ branches: [{ participant: participant.target, action: 'refuse-debit' }] }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      const gid = (err as TransactionRolledBackError).gid;
      expect(gid).to.be.a('string').and.not.equal('');
      const info = await client.get(gid!);
      expect(info.status).to.be.oneOf(['CANCELLING', 'CANCELLED']);
    });
  });
});
